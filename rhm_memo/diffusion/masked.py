"""Absorbing (masked) diffusion in continuous time, MDLM-style (Sahoo et al. 2024).

Token id ``v`` is the mask. Times are floats in (0, 1]; the log-linear schedule ``α_t = 1 − (1 − ε) t``
is the probability that a token of x_t is still unmasked (``α_0 = 1``, ``α_1 = ε``). The continuous-time
ELBO weights the cross-entropy ``−log p_θ(x_0 | x_t)`` of every masked token by ``−α'_t / (1 − α_t)``
(``= 1/t`` for this schedule); unmasked tokens are copied through ("carry-over unmasking") and cost 0.
"""

from __future__ import annotations

import torch

from rhm_memo.checks import check_int
from rhm_memo.diffusion.base import (
    Denoiser,
    DiffusionProcess,
    _check_shape,
    _check_window,
    categorical,
    uniform_float64,
)


class MaskedDiffusion(DiffusionProcess):
    """Masked diffusion with the log-linear schedule; loss = ELBO-weighted cross-entropy on masked tokens.

    Times are float64 in (0, 1]. There is no tabulated schedule (α_t is closed-form), hence no buffers
    besides the device anchor.

    Args:
        vocab_size: Number of real tokens ``v`` (>= 2); the mask id is ``v``, the denoiser embeds ``v + 1`` ids
            and its logits cover the ``v`` real tokens only.
        num_steps: Default number of sampling steps on the uniform time grid (>= 1).
        eps: ``ε`` in (0, 1): the unmasked fraction left at t = 1.
        reuse_predictions: In the sampler, call the denoiser only on rows that changed at the previous step and
            reuse the cached logits of the others (exact for a denoiser that ignores ``cond``; an approximation
            otherwise, since the cached logits were computed at an earlier noise level).
    """

    def __init__(
        self, vocab_size: int, num_steps: int = 200, eps: float = 1e-3, reuse_predictions: bool = True
    ) -> None:
        super().__init__(vocab_size, vocab_size + 1, num_steps)
        if not isinstance(eps, (int, float)) or isinstance(eps, bool) or not 0.0 < eps < 1.0:
            raise ValueError(f"eps must be a number in (0, 1), got {eps!r}")
        if not isinstance(reuse_predictions, bool):
            raise ValueError(f"reuse_predictions must be a bool, got {reuse_predictions!r}")
        self.eps = float(eps)
        self.reuse_predictions = reuse_predictions
        self.mask_id = vocab_size

    def extra_repr(self) -> str:
        """Sizes and schedule shown by ``print(process)``."""
        return f"{super().extra_repr()}, eps={self.eps}, reuse_predictions={self.reuse_predictions}"

    # -- schedule ---------------------------------------------------------------------------------------------------

    def alpha(self, t: torch.Tensor) -> torch.Tensor:
        """``α_t = 1 − (1 − ε) t`` in float64: the probability that a token is still unmasked at time t."""
        return 1.0 - (1.0 - self.eps) * t.double()

    def alpha_derivative(self, t: torch.Tensor) -> torch.Tensor:
        """``α'_t = −(1 − ε)`` in float64, shaped like ``t``."""
        return torch.full(t.shape, -(1.0 - self.eps), dtype=torch.float64, device=t.device)

    def loss_weight(self, t: torch.Tensor) -> torch.Tensor:
        """``−α'_t / (1 − α_t)`` in float64 (``= 1/t``): the ELBO weight of a masked token's cross-entropy."""
        return -self.alpha_derivative(t) / (1.0 - self.alpha(t))

    # -- forward process --------------------------------------------------------------------------------------------

    def sample_time(
        self, batch: int, generator: torch.Generator | None = None, device: torch.device | str | None = None
    ) -> torch.Tensor:
        """``(batch,)`` float64 times uniform in (0, 1] (``1 − u`` with u uniform in [0, 1))."""
        return 1.0 - uniform_float64((batch,), generator, device if device is not None else self.device)

    def window_time(
        self,
        batch: int,
        window: int,
        num_windows: int,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """``(batch,)`` float64 times uniform in ``(w/k, (w+1)/k]``."""
        _check_window(window, num_windows, None)
        u = uniform_float64((batch,), generator, device if device is not None else self.device)
        return (window + 1.0 - u) / num_windows

    def time_grid(self) -> torch.Tensor:
        """``num_steps + 1`` equally spaced float64 times from 0 to 1 (the sampler's default grid)."""
        return torch.linspace(0, 1, self.num_steps + 1, dtype=torch.float64, device=self.device)

    def conditioning(self, t: torch.Tensor) -> torch.Tensor:
        """``(B,)`` float32 ``α_t``: the probability that a token of x_t equals (is) its x_0 token."""
        return self.alpha(t).float()

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """``x_t ~ q(x_t | x_0)``: each token kept with probability α_t, else the mask id ``v``.

        Draws (B, d) float64 uniforms from ``generator``.
        """
        keep = uniform_float64(tuple(x0.shape), generator, x0.device) < self.alpha(t.to(x0.device))[:, None]
        return torch.where(keep, x0, self.mask_id)

    # -- loss -------------------------------------------------------------------------------------------------------

    def _check_time(self, t: torch.Tensor, batch: int) -> None:
        """Raise ``ValueError`` unless ``t`` is ``(batch,)`` floats in (0, 1]."""
        _check_shape("t", t, batch)
        if not t.dtype.is_floating_point:
            raise ValueError(f"t must hold float times in (0, 1] for MaskedDiffusion, got dtype {t.dtype}")
        if not bool(((t > 0) & (t <= 1)).all()):
            raise ValueError(f"t must lie in (0, 1], got values in {float(t.min())}..{float(t.max())}")

    def _row_loss(
        self, denoiser: Denoiser, x0: torch.Tensor, t: torch.Tensor, generator: torch.Generator | None
    ) -> torch.Tensor:
        """Per row: ``Σ_{masked i} w(t) · (−log p_θ(x_0^i | x_t)) / d`` with ``w(t) = −α'_t / (1 − α_t)``."""
        x_t = self.q_sample(x0, t, generator)
        logits = self._logits(denoiser, x_t, self.conditioning(t))
        logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
        ce = -logits.log_softmax(-1).gather(-1, x0.unsqueeze(-1)).squeeze(-1)
        masked = x_t == self.mask_id
        weight = self.loss_weight(t).to(ce.dtype)
        return torch.where(masked, ce, 0.0).mean(-1) * weight

    # -- negative ELBO ----------------------------------------------------------------------------------------------

    def _elbo_times(
        self, batch: int, num_times: int, generator: torch.Generator | None, device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One time per window ``((k, k+1]) / K`` of (0, 1], each weighted 1/K (stratified Monte Carlo)."""
        k = torch.arange(num_times, dtype=torch.float64, device=device)
        u = uniform_float64((batch, num_times), generator, device)
        t = ((k + 1.0 - u) / num_times).reshape(-1)
        return t, torch.full_like(t, 1.0 / num_times)

    def _elbo_terms(
        self, denoiser: Denoiser, x0: torch.Tensor, t: torch.Tensor, generator: torch.Generator | None
    ) -> torch.Tensor:
        """``w(t) Σ_{masked i} −log p_θ(x_0^i | x_t)``: the integrand of the continuous-time ELBO.

        The integral over t in (0, 1] is MDLM's bound; its prior term (x_1 keeps a fraction ε of x_0, the
        sampler starts from all-mask) is left out, as in MDLM.
        """
        return self._row_loss(denoiser, x0, t, generator).double() * x0.shape[1]

    # -- sampler ----------------------------------------------------------------------------------------------------

    @torch.no_grad()
    def sample(
        self,
        denoiser: Denoiser,
        num: int,
        seq_len: int,
        generator: torch.Generator,
        steps: int | None = None,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """``(num, seq_len)`` strings: from all-mask, ``steps`` reverse steps on the grid t_k = k / steps.

        From t to s < t, each masked token is unmasked with probability ``(α_s − α_t) / (1 − α_t)`` to a token
        drawn (float64 Gumbel-max) from ``p_θ(x_0 | x_t)``; unmasked tokens stay. The last step (s = 0) unmasks
        everything. With ``reuse_predictions``, the denoiser sees only the rows that changed at the previous
        step (all rows at the first step) and is not called when none did; otherwise it is called once per step
        on all ``num`` rows. Every step draws the same amount of noise, so outputs depend only on the seed.
        """
        self._check_sample_args(num, seq_len, generator)
        steps = self.num_steps if steps is None else steps
        check_int("steps", steps, 1)
        device = torch.device(device) if device is not None else self.device
        x = torch.full((num, seq_len), self.mask_id, dtype=torch.int64, device=device)
        logits = None
        changed = torch.ones(num, dtype=torch.bool, device=device)
        for k in range(steps, 0, -1):
            t = torch.full((num,), k / steps, dtype=torch.float64, device=device)
            if not self.reuse_predictions or logits is None or bool(changed.all()):
                logits = self._logits(denoiser, x, self.conditioning(t))
                logits = logits.clone() if self.reuse_predictions else logits  # the cache is written into below
            elif bool(changed.any()):
                logits[changed] = self._logits(denoiser, x[changed], self.conditioning(t[changed])).to(logits.dtype)
            alpha_t, alpha_s = self.alpha(t[:1]), self.alpha(torch.full_like(t[:1], (k - 1) / steps))
            p_unmask = 1.0 if k == 1 else (alpha_s - alpha_t) / (1.0 - alpha_t)
            u = uniform_float64((num, seq_len), generator, device)
            tokens = categorical(logits, generator)
            unmask = (x == self.mask_id) & (u < p_unmask)
            x = torch.where(unmask, tokens, x)
            changed = unmask.any(-1)
        return x
