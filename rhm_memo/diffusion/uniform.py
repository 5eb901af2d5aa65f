"""Uniform-transition D3PM (Austin et al. 2021), the paper's process: x0-prediction, per-token KL loss.

Schedule, with integer steps t = 1..T: ``β_t = β₁ + (β_T − β₁)(t − 1)/(T − 1)``, ``α_t = 1 − β_t``,
``ᾱ_t = Π_{s≤t} α_s`` (``ᾱ_0 = 1``). The paper code's schedule (``schedule="paper"``) indexes β from t = 0:
``β_t = β₁ + (β_T − β₁) t/T`` for t = 0..T and ``ᾱ_t = Π_{s=0..t} α_s``, so ``ᾱ_0 = 1 − β₁`` (not 1).
Transition ``Q_t = α_t I + (β_t/v) 11ᵀ``; marginal ``q(x_t | x_0) = ᾱ_t onehot(x_0) + (1 − ᾱ_t)/v``; posterior
``q(x_{t−1} | x_t, x_0) ∝ (α_t onehot(x_t) + β_t/v) ⊙ (ᾱ_{t−1} onehot(x_0) + (1 − ᾱ_{t−1})/v)``.

Reverse kernel (D3PM eq. 4): ``p_θ(x_{t−1} | x_t) ∝ Σ_{x0} q(x_{t−1}, x_t | x0) p̃_θ(x0 | x_t)``, which is
linear in ``p̃_θ = softmax(logits)`` and hence equals the posterior formula with ``onehot(x_0)`` replaced by
``p̃_θ``. Note that this is a sum of *joints*: it equals ``Σ_{x0} w(x0) q(x_{t−1} | x_t, x0)`` with weights
``w(x0) ∝ p̃_θ(x0 | x_t) q(x_t | x0)``, not with ``w = p̃_θ`` (tests pin both facts).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F

from rhm_memo.diffusion.base import (
    Denoiser,
    DiffusionProcess,
    _check_shape,
    _check_window,
    categorical,
    randint,
    uniform_float64,
)

_SCHEDULE = ("betas", "alphas", "alpha_bar")
_SCHEDULE_KINDS = ("ours", "paper")


class UniformDiffusion(DiffusionProcess):
    """Uniform D3PM with a linear β schedule; loss = mean per-token KL(q(x_{t−1}|x_t,x_0) ‖ p_θ(x_{t−1}|x_t)).

    Times are integer steps ``t`` in ``1..T``. The schedule buffers ``betas``, ``alphas``, ``alpha_bar`` have
    shape ``(T + 1,)`` and are indexed by ``t`` directly; they stay float64 on whatever device the module is
    moved to, even if the module is cast to another dtype. With ``schedule="ours"`` entry 0 is ``β_0 = 0``,
    ``α_0 = ᾱ_0 = 1``; with ``schedule="paper"`` it is ``β_0 = β₁``, ``α_0 = ᾱ_0 = 1 − β₁``, so the forward
    marginal, the posterior, the loss at t = 1 and the sampler's last step (which then samples x_0 from a
    posterior that re-noises it) all follow the paper code.

    Args:
        vocab_size: Number of tokens ``v`` (>= 2); the denoiser embeds ``v`` ids (no mask token).
        num_steps: Number of diffusion steps ``T`` (>= 1).
        beta_start: ``β₁`` in (0, 1), the noise rate of the first step (``"paper"``: of the extra step t = 0).
        beta_end: ``β_T`` in [β₁, 1), the noise rate of the last step.
        schedule: ``"ours"`` (default): ``β_t = β₁ + (β_T − β₁)(t − 1)/(T − 1)`` for t = 1..T and ``ᾱ_0 = 1``
            (a clean x_0 at t = 0). ``"paper"``: the paper code's ``ddpm_schedules``, ``β_t = β₁ + (β_T − β₁) t/T``
            for t = 0..T and ``ᾱ_t = Π_{s=0..t} (1 − β_s)``, so ``ᾱ_0 = 1 − β₁`` and ``ᾱ_t`` is about our
            ``ᾱ_{t+1}`` (T = 200, β 0.001→0.1: ᾱ_50 = 0.5025 vs 0.5142).
    """

    def __init__(
        self,
        vocab_size: int,
        num_steps: int = 200,
        beta_start: float = 0.001,
        beta_end: float = 0.1,
        schedule: Literal["ours", "paper"] = "ours",
    ) -> None:
        super().__init__(vocab_size, vocab_size, num_steps)
        for name, beta in [("beta_start", beta_start), ("beta_end", beta_end)]:
            if not isinstance(beta, (int, float)) or isinstance(beta, bool) or not 0.0 < beta < 1.0:
                raise ValueError(f"{name} must be a number in (0, 1), got {beta!r}")
        if beta_end < beta_start:
            raise ValueError(f"beta_end must be >= beta_start, got beta_start={beta_start}, beta_end={beta_end}")
        if schedule not in _SCHEDULE_KINDS:
            raise ValueError(f"schedule must be one of {_SCHEDULE_KINDS}, got {schedule!r}")
        self.beta_start = float(beta_start)
        self.beta_end = float(beta_end)
        self.schedule = schedule
        for name, value in zip(_SCHEDULE, self._schedule(torch.device("cpu"))):
            self.register_buffer(name, value, persistent=False)

    def _schedule(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(betas, alphas, alpha_bar)``, float64 of shape ``(T + 1,)``, indexed by t = 0..T.

        ``"ours"``: the t = 0 entries are 0, 1, 1. ``"paper"``: β is linear over t = 0..T and the t = 0 entries
        are β₁, 1 − β₁, 1 − β₁.
        """
        T = self.num_steps
        if self.schedule == "paper":
            frac = torch.arange(T + 1, dtype=torch.float64, device=device) / T
            betas = self.beta_start + (self.beta_end - self.beta_start) * frac
        else:
            steps = torch.arange(T, dtype=torch.float64, device=device)
            frac = steps / (T - 1) if T > 1 else steps
            betas = self.beta_start + (self.beta_end - self.beta_start) * frac
            betas = torch.cat([torch.zeros(1, dtype=torch.float64, device=device), betas])
        alphas = 1.0 - betas
        return betas, alphas, alphas.cumprod(0)

    def _apply(self, fn: Callable[[torch.Tensor], torch.Tensor], recurse: bool = True) -> UniformDiffusion:
        """Apply ``fn`` as ``nn.Module`` does, then rebuild the schedules in float64 if a dtype cast hit them."""
        super()._apply(fn, recurse)
        if self.alpha_bar.dtype != torch.float64:
            for name, value in zip(_SCHEDULE, self._schedule(self.alpha_bar.device)):
                setattr(self, name, value)
        return self

    def extra_repr(self) -> str:
        """Sizes and schedule shown by ``print(process)``."""
        return (
            f"{super().extra_repr()}, beta_start={self.beta_start}, beta_end={self.beta_end}, "
            f"schedule={self.schedule!r}"
        )

    # -- forward process --------------------------------------------------------------------------------------------

    def sample_time(
        self, batch: int, generator: torch.Generator | None = None, device: torch.device | str | None = None
    ) -> torch.Tensor:
        """``(batch,)`` int64 steps uniform in ``1..T``."""
        return randint(self.num_steps, (batch,), generator, device if device is not None else self.device) + 1

    def window_time(
        self,
        batch: int,
        window: int,
        num_windows: int,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """``(batch,)`` int64 steps uniform in window ``window`` = steps ``⌊wT/k⌋+1 .. ⌊(w+1)T/k⌋`` of 1..T."""
        _check_window(window, num_windows, self.num_steps)
        lo = window * self.num_steps // num_windows + 1
        hi = (window + 1) * self.num_steps // num_windows
        return lo + randint(hi - lo + 1, (batch,), generator, device if device is not None else self.device)

    def time_grid(self) -> torch.Tensor:
        """Every step t = 0..T (int64)."""
        return torch.arange(self.num_steps + 1, device=self.device)

    def conditioning(self, t: torch.Tensor) -> torch.Tensor:
        """``(B,)`` float32 ``ᾱ_t + (1 − ᾱ_t)/v``: the probability that a token of x_t equals its x_0 token."""
        ab = self.alpha_bar[t.to(self.alpha_bar.device)]
        return (ab + (1.0 - ab) / self.vocab_size).float().to(t.device)

    def marginal_probs(self, x0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """``(B, d, v)`` float64 ``q(x_t | x_0) = ᾱ_t onehot(x_0) + (1 − ᾱ_t)/v`` (closed form)."""
        ab = self.alpha_bar.to(x0.device)[t][:, None, None]
        return ab * F.one_hot(x0, self.vocab_size).double() + (1.0 - ab) / self.vocab_size

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """``x_t ~ q(x_t | x_0)``: each token kept with probability ᾱ_t, else replaced by a uniform token.

        The uniform token may equal x_0, so a token equals its x_0 with probability ``ᾱ_t + (1 − ᾱ_t)/v``.
        Draws (B, d) float64 uniforms, then (B, d) uniform tokens, from ``generator``.
        """
        keep = uniform_float64(tuple(x0.shape), generator, x0.device) < self.alpha_bar.to(x0.device)[t][:, None]
        noise = randint(self.vocab_size, tuple(x0.shape), generator, x0.device)
        return torch.where(keep, x0, noise)

    # -- reverse process --------------------------------------------------------------------------------------------

    def log_posterior(self, x_t: torch.Tensor, t: torch.Tensor, log_p0: torch.Tensor) -> torch.Tensor:
        """``(B, d, v)`` normalized log of ``(α_t onehot(x_t) + β_t/v) ⊙ (ᾱ_{t−1} p0 + (1 − ᾱ_{t−1})/v)``.

        ``log_p0`` is a ``(B, d, v)`` log-distribution over x_0: ``log onehot(x_0)`` (0 / −inf) gives the true
        posterior ``q(x_{t−1} | x_t, x_0)``, ``log_softmax(logits)`` the model's ``p_θ(x_{t−1} | x_t)``. The
        result has the dtype of ``log_p0``; entries of probability 0 are −inf (at t = 1 with ``schedule="ours"``,
        since ᾱ_0 = 1; with ``"paper"`` ᾱ_0 = 1 − β₁ < 1 and every entry is finite).
        """
        dtype = log_p0.dtype
        sched = {name: getattr(self, name).to(x_t.device) for name in _SCHEDULE}
        beta, alpha, ab_prev = sched["betas"][t], sched["alphas"][t], sched["alpha_bar"][t - 1]
        v = self.vocab_size

        def col(x: torch.Tensor) -> torch.Tensor:
            return x.to(dtype)[:, None, None]

        is_xt = F.one_hot(x_t, v).bool()
        log_fact1 = torch.where(is_xt, col((alpha + beta / v).log()), col((beta / v).log()))
        log_fact2 = torch.logaddexp(col(ab_prev.log()) + log_p0, col(torch.log1p(-ab_prev) - math.log(v)))
        logits = log_fact1 + log_fact2
        return logits - logits.logsumexp(-1, keepdim=True)

    def reverse_log_probs(self, x_t: torch.Tensor, t: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """``(B, d, v)`` ``log p_θ(x_{t−1} | x_t)`` from denoiser logits, in at least float32."""
        logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
        return self.log_posterior(x_t, t, logits.log_softmax(-1))

    def _check_time(self, t: torch.Tensor, batch: int) -> None:
        """Raise ``ValueError`` unless ``t`` is ``(batch,)`` integer steps in ``1..T``."""
        _check_shape("t", t, batch)
        if t.dtype.is_floating_point or t.dtype == torch.bool:
            raise ValueError(f"t must hold integer steps for UniformDiffusion, got dtype {t.dtype}")
        if bool((t < 1).any()) or bool((t > self.num_steps).any()):
            raise ValueError(f"t must lie in 1..{self.num_steps}, got values in {int(t.min())}..{int(t.max())}")

    def _row_loss(
        self, denoiser: Denoiser, x0: torch.Tensor, t: torch.Tensor, generator: torch.Generator | None
    ) -> torch.Tensor:
        """Per-row mean over tokens of ``KL(q(x_{t−1}|x_t,x_0) ‖ p_θ(x_{t−1}|x_t))``.

        At t = 1 the same formula is used: with ``schedule="ours"`` the posterior is ``onehot(x_0)`` (ᾱ_0 = 1),
        so the term is ``−log p_θ(x_0 | x_1)`` with ``p_θ(x_0 | x_1) ∝ (α_1 onehot(x_1) + β_1/v) ⊙ softmax(logits)``
        — the same kernel the sampler uses for its last step. (D3PM's reference code uses ``softmax(logits)``
        there.) With ``"paper"`` (ᾱ_0 = 1 − β₁) it is the KL to a posterior that is not a point mass.
        """
        x_t = self.q_sample(x0, t, generator)
        logits = self._logits(denoiser, x_t, self.conditioning(t))
        log_p = self.reverse_log_probs(x_t, t, logits)
        log_onehot = torch.zeros_like(log_p).masked_fill(F.one_hot(x0, self.vocab_size) == 0, float("-inf"))
        log_q = self.log_posterior(x_t, t, log_onehot)
        q = log_q.exp()
        kl = torch.where(q > 0, q * (log_q - log_p), 0.0).sum(-1)
        return kl.mean(-1)

    # -- negative ELBO ----------------------------------------------------------------------------------------------

    def max_elbo_times(self) -> int:
        """``T``: with ``num_times = T`` every step is visited once."""
        return self.num_steps

    def _elbo_times(
        self, batch: int, num_times: int, generator: torch.Generator | None, device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One step per window ``⌊kT/K⌋+1 .. ⌊(k+1)T/K⌋`` of 1..T, weighted by the window's number of steps."""
        if num_times > self.num_steps:
            raise ValueError(f"num_times must be at most the number of steps T={self.num_steps}, got {num_times}")
        k = torch.arange(num_times, device=device)
        lo = k * self.num_steps // num_times + 1
        size = (k + 1) * self.num_steps // num_times - lo + 1
        offset = (uniform_float64((batch, num_times), generator, device) * size).long()
        t = (lo + offset.clamp_max(size - 1)).reshape(-1)
        return t, size.double().repeat(batch)

    def _elbo_terms(
        self, denoiser: Denoiser, x0: torch.Tensor, t: torch.Tensor, generator: torch.Generator | None
    ) -> torch.Tensor:
        """``L_{t−1}`` summed over tokens: ``KL(q(x_{t−1}|x_t,x_0) ‖ p_θ(x_{t−1}|x_t))`` for t ≥ 2 and the
        reconstruction ``−log p_θ(x_0 | x_1)`` at t = 1 (the sampler's last-step kernel; under ``"ours"`` the
        two agree at t = 1, under ``"paper"`` the KL would be to a re-noised x_0)."""
        x_t = self.q_sample(x0, t, generator)
        logits = self._logits(denoiser, x_t, self.conditioning(t))
        log_p = self.reverse_log_probs(x_t, t, logits.double())
        log_onehot = torch.zeros_like(log_p).masked_fill(F.one_hot(x0, self.vocab_size) == 0, float("-inf"))
        log_q = self.log_posterior(x_t, t, log_onehot)
        q = log_q.exp()
        kl = torch.where(q > 0, q * (log_q - log_p), 0.0).sum(-1)
        nll = -log_p.gather(-1, x0.unsqueeze(-1)).squeeze(-1)
        return torch.where((t == 1)[:, None], nll, kl).sum(-1)

    def prior_term(self, x0: torch.Tensor) -> torch.Tensor:
        """``d · KL(q(x_T | x_0) ‖ uniform)``, the same for every string of length d."""
        ab = self.alpha_bar[-1].item()
        v = self.vocab_size
        q_same, q_other = ab + (1.0 - ab) / v, (1.0 - ab) / v
        kl = q_same * math.log(q_same * v) + (v - 1) * (q_other * math.log(q_other * v) if q_other > 0 else 0.0)
        return torch.full((x0.shape[0],), x0.shape[1] * kl, dtype=torch.float64, device=x0.device)

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
        """``(num, seq_len)`` strings: x_T uniform, then ``x_{t−1} ~ p_θ(x_{t−1} | x_t)`` for t = T..1.

        The last step (t = 1) samples x_0 from the same kernel with ``ᾱ_0``: with ``schedule="paper"``
        (ᾱ_0 = 1 − β₁) even a perfect denoiser's samples are re-noised, as in the paper code: a returned token
        differs from the denoiser's x_0 with probability ``(1 − ᾱ_0)(1 − 1/v)``. Exactly T denoiser calls of
        batch ``num``. The kernel is computed and sampled in float64. Only ``steps = T`` (the default) is
        implemented. Put the denoiser in eval mode first.
        """
        self._check_sample_args(num, seq_len, generator)
        if steps is not None and steps != self.num_steps:
            raise ValueError(f"UniformDiffusion samples with steps = num_steps = {self.num_steps} only, got {steps}")
        device = torch.device(device) if device is not None else self.device
        x = randint(self.vocab_size, (num, seq_len), generator, device)
        for step in range(self.num_steps, 0, -1):
            t = torch.full((num,), step, dtype=torch.int64, device=device)
            logits = self._logits(denoiser, x, self.conditioning(t))
            x = categorical(self.reverse_log_probs(x, t, logits.double()), generator)
        return x
