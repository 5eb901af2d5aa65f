"""The interface shared by all discrete diffusion processes, and the float64 random draws they use.

A **denoiser** is any callable ``denoiser(x_t, cond) -> logits`` with ``x_t`` a ``(B, d)`` int64 tensor of
token ids in ``0..input_size-1``, ``cond`` a ``(B,)`` float32 tensor (the process's :meth:`conditioning` of
the noise level) and ``logits`` a ``(B, d, v)`` float tensor over the ``v`` real tokens, predicting ``x_0``.

Randomness: every draw takes an explicit ``torch.Generator``. A generator is bound to a device, so noise is
drawn on ``generator.device`` and then moved to the data's device (a CPU generator therefore gives the same
numbers whether the data lives on CPU or GPU). ``generator=None`` (allowed for training losses only) draws
directly on the data's device from torch's default generator of that device, which Lightning seeds.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

import torch

from rhm_memo.checks import check_int

#: ``denoiser(x_t: (B, d) int64, cond: (B,) float32) -> logits: (B, d, v) float`` predicting x_0.
Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def uniform_float64(
    shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device | str | None
) -> torch.Tensor:
    """Float64 uniforms in [0, 1) drawn on the generator's device (``device`` if None), returned on ``device``."""
    where = generator.device if generator is not None else device
    return torch.rand(shape, dtype=torch.float64, generator=generator, device=where).to(device)


def randint(
    high: int, shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device | str | None
) -> torch.Tensor:
    """Int64 uniform integers in ``0..high-1`` drawn on the generator's device, returned on ``device``."""
    where = generator.device if generator is not None else device
    return torch.randint(high, shape, generator=generator, device=where).to(device)


def categorical(logits: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """One draw per row of ``softmax(logits)`` over the last axis, by Gumbel-max in float64.

    ``logits`` may be unnormalized log-probabilities and may hold ``-inf`` (never drawn). The float64 Gumbel
    noise keeps the effective temperature exactly 1 (float32 sampling truncates the tails).
    """
    u = uniform_float64(tuple(logits.shape), generator, logits.device)
    tiny = torch.finfo(torch.float64).tiny
    gumbel = -(-u.clamp_min(tiny).log()).log()
    return (logits.double() + gumbel).argmax(-1)


class DiffusionProcess(torch.nn.Module, ABC):
    """A discrete diffusion process over strings of ``vocab_size`` tokens: noising, training loss, sampler.

    Subclasses hold their schedules as non-persistent buffers (``.to(device)`` moves them; checkpoints carry
    none of them) and have no learnable parameters. Time is process-specific: :class:`UniformDiffusion` uses
    integer steps ``t`` in ``1..T``, :class:`MaskedDiffusion` float times in ``(0, 1]``.

    Attributes:
        vocab_size: Number ``v`` of real tokens; denoiser logits are over these.
        input_size: Number of token ids the denoiser must embed (``v``, or ``v + 1`` with a mask token).
        num_steps: ``T``, the number of steps (uniform) or the default number of sampling steps (masked).
    """

    vocab_size: int
    input_size: int
    num_steps: int

    def __init__(self, vocab_size: int, input_size: int, num_steps: int) -> None:
        super().__init__()
        check_int("vocab_size", vocab_size, 2)
        check_int("num_steps", num_steps, 1)
        self.vocab_size = vocab_size
        self.input_size = input_size
        self.num_steps = num_steps
        # empty buffer that follows .to(device): the default device of sample_time() and sample()
        self.register_buffer("_device_anchor", torch.empty(0), persistent=False)

    @property
    def device(self) -> torch.device:
        """The device the process's buffers live on."""
        return self._device_anchor.device

    # -- process-specific -------------------------------------------------------------------------------------------

    @abstractmethod
    def sample_time(
        self, batch: int, generator: torch.Generator | None = None, device: torch.device | str | None = None
    ) -> torch.Tensor:
        """``(batch,)`` training times drawn uniformly (int steps 1..T, or float times in (0, 1])."""

    @abstractmethod
    def window_time(
        self,
        batch: int,
        window: int,
        num_windows: int,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """``(batch,)`` times drawn uniformly within noise window ``window`` of ``num_windows`` equal windows."""

    @abstractmethod
    def time_grid(self) -> torch.Tensor:
        """All training times (uniform: steps 0..T) or a grid of ``num_steps + 1`` times (masked: 0..1)."""

    @abstractmethod
    def conditioning(self, t: torch.Tensor) -> torch.Tensor:
        """``(B,)`` float32: probability that a token of x_t still equals its x_0 token at time ``t``."""

    def cond_schedule(self) -> torch.Tensor:
        """:meth:`conditioning` on :meth:`time_grid`: what a backbone may use to standardize its time input."""
        return self.conditioning(self.time_grid())

    @abstractmethod
    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Forward noising: ``x_t ~ q(x_t | x_0)``, int64 of the shape of ``x0``."""

    @abstractmethod
    def _check_time(self, t: torch.Tensor, batch: int) -> None:
        """Raise ``ValueError`` unless ``t`` is a valid ``(batch,)`` time tensor for this process."""

    @abstractmethod
    def _row_loss(
        self, denoiser: Denoiser, x0: torch.Tensor, t: torch.Tensor, generator: torch.Generator | None
    ) -> torch.Tensor:
        """``(B,)`` loss per row: the per-token loss averaged over the ``d`` tokens."""

    @abstractmethod
    def _elbo_times(
        self, batch: int, num_times: int, generator: torch.Generator | None, device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(batch * num_times,)`` times and their float64 weights for :meth:`negative_elbo`, row-major by string."""

    @abstractmethod
    def _elbo_terms(
        self, denoiser: Denoiser, x0: torch.Tensor, t: torch.Tensor, generator: torch.Generator | None
    ) -> torch.Tensor:
        """``(B,)`` float64: one noise draw of the ELBO's integrand at time ``t``, summed over the ``d`` tokens."""

    def prior_term(self, x0: torch.Tensor) -> torch.Tensor:
        """``(B,)`` float64: the ELBO's term that does not depend on the model, ``KL(q(x_T | x_0) ‖ p(x_T))``."""
        return torch.zeros(x0.shape[0], dtype=torch.float64, device=x0.device)

    def default_elbo_times(self) -> int:
        """The number of noise levels per string of :meth:`negative_elbo` when none is given."""
        return self.num_steps

    def max_elbo_times(self) -> int | None:
        """The most noise levels per string :meth:`negative_elbo` accepts (None: no limit)."""
        return None

    def elbo_times(self, num_times: int | None) -> int:
        """The noise levels to ask :meth:`negative_elbo` for: the default for None, lowered to the maximum (a
        uniform process's T: every step once); ``ValueError`` unless an integer >= 1."""
        num_times = self.default_elbo_times() if num_times is None else num_times
        check_int("num_times", num_times, 1)
        limit = self.max_elbo_times()
        return num_times if limit is None else min(num_times, limit)

    @abstractmethod
    def sample(
        self,
        denoiser: Denoiser,
        num: int,
        seq_len: int,
        generator: torch.Generator,
        steps: int | None = None,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """``(num, seq_len)`` int64 strings in ``0..v-1`` by ancestral sampling from pure noise."""

    # -- shared -----------------------------------------------------------------------------------------------------

    def loss(
        self, denoiser: Denoiser, x0: torch.Tensor, n_trajectories: int = 1, generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """Training loss: each row of ``x0`` repeated ``n_trajectories`` times, each with its own t and noise.

        Returns ``{"loss": scalar mean over rows, trajectories and tokens, "t": (B*n,) times,
        "loss_per_row": (B*n,)}``; rows are in ``repeat_interleave`` order (the copies of row i are adjacent).
        """
        self._check_x0(x0)
        check_int("n_trajectories", n_trajectories, 1)
        x0 = x0.repeat_interleave(n_trajectories, dim=0) if n_trajectories > 1 else x0
        t = self.sample_time(x0.shape[0], generator, x0.device)
        return self._loss_dict(denoiser, x0, t, generator)

    def loss_at(
        self, denoiser: Denoiser, x0: torch.Tensor, t: torch.Tensor, generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """The loss of :meth:`loss` at given times ``t`` (shape ``(B,)``), e.g. per noise window at validation."""
        self._check_x0(x0)
        self._check_time(t, x0.shape[0])
        return self._loss_dict(denoiser, x0, t.to(x0.device), generator)

    @torch.no_grad()
    def negative_elbo(
        self,
        denoiser: Denoiser,
        x0: torch.Tensor,
        num_times: int | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """``(B,)`` float64: an unbiased estimate of each string's negative ELBO, in nats (≥ ``−log p_θ(x_0)``).

        The per-string diffusion loss of the privacy literature: the whole string's ELBO, summed over its tokens
        and over the noise levels, with the model-free prior term included. ``num_times`` noise levels per string
        (default :meth:`default_elbo_times`), stratified over time: equal time windows, one level drawn in each,
        each weighted by its window's share of the sum or integral, with one noise draw ``x_t ~ q(x_t | x_0)``
        per level. :class:`UniformDiffusion` with ``num_times = T`` visits every step once, so only the noise
        ``x_t`` is random. Put the denoiser in eval mode first; batch the strings (``B · num_times`` rows go
        through the denoiser at once).
        """
        self._check_x0(x0)
        num_times = self.default_elbo_times() if num_times is None else num_times
        check_int("num_times", num_times, 1)
        batch = x0.shape[0]
        t, weight = self._elbo_times(batch, num_times, generator, x0.device)
        terms = self._elbo_terms(denoiser, x0.repeat_interleave(num_times, dim=0), t, generator)
        return (weight * terms).view(batch, num_times).sum(-1) + self.prior_term(x0)

    def _loss_dict(
        self, denoiser: Denoiser, x0: torch.Tensor, t: torch.Tensor, generator: torch.Generator | None
    ) -> dict[str, torch.Tensor]:
        """The loss dictionary from the per-row losses."""
        per_row = self._row_loss(denoiser, x0, t, generator)
        return {"loss": per_row.mean(), "t": t, "loss_per_row": per_row}

    def _logits(self, denoiser: Denoiser, x_t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Call the denoiser and check that its output has shape ``(B, d, v)``."""
        logits = denoiser(x_t, cond)
        expected = (*x_t.shape, self.vocab_size)
        if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != expected:
            got = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
            raise ValueError(f"denoiser must return logits of shape (B, d, v) = {expected}, got {got}")
        return logits

    def _check_x0(self, x0: torch.Tensor) -> None:
        """Raise ``ValueError`` unless ``x0`` is a non-empty ``(B, d)`` integer tensor.

        Token values are not checked (that would synchronize with the GPU at every step).
        """
        if not isinstance(x0, torch.Tensor) or x0.dim() != 2 or x0.dtype.is_floating_point or x0.dtype == torch.bool:
            desc = f"{x0.dtype} tensor of shape {tuple(x0.shape)}" if isinstance(x0, torch.Tensor) else type(x0)
            raise ValueError(f"x0 must be a (B, d) integer tensor of token ids, got {desc}")
        if x0.numel() == 0:
            raise ValueError(f"x0 must be non-empty, got shape {tuple(x0.shape)}")

    def _check_sample_args(self, num: int, seq_len: int, generator: torch.Generator) -> None:
        """Raise ``ValueError`` on a bad ``num``, ``seq_len`` or ``generator`` of :meth:`sample`."""
        check_int("num", num, 1)
        check_int("seq_len", seq_len, 1)
        if not isinstance(generator, torch.Generator):
            raise ValueError(f"sample() needs an explicit torch.Generator, got {type(generator).__name__}")

    def extra_repr(self) -> str:
        """Sizes shown by ``print(process)``."""
        return f"vocab_size={self.vocab_size}, input_size={self.input_size}, num_steps={self.num_steps}"


def _check_shape(name: str, t: torch.Tensor, batch: int) -> None:
    """Raise ``ValueError`` unless ``t`` is a tensor of shape ``(batch,)``."""
    if not isinstance(t, torch.Tensor) or tuple(t.shape) != (batch,):
        got = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
        raise ValueError(f"{name} must be a tensor of shape (B,) = ({batch},), got {got}")


def _check_window(window: int, num_windows: int, num_steps: int | None) -> None:
    """Raise ``ValueError`` unless ``0 <= window < num_windows`` (and every window holds a step)."""
    check_int("num_windows", num_windows, 1)
    if num_steps is not None and num_windows > num_steps:
        raise ValueError(f"num_windows={num_windows} exceeds the number of steps T={num_steps}")
    if not isinstance(window, int) or not 0 <= window < num_windows:
        raise ValueError(f"window must be an integer in 0..{num_windows - 1}, got {window!r}")
