"""The per-string negative ELBO against exact references: trajectory enumeration (uniform) and quadrature (masked).

The references are built here from the processes' defining formulas (schedules, transition matrices, the D3PM
reverse kernel, the continuous-time masked ELBO), not from the code under test: the uniform one sums
``log q(x_{1:T} | x_0) − log p_θ(x_{0:T})`` over every trajectory of a 2-token, 2-letter, 3-step chain.
"""

import itertools
import math

import numpy as np
import pytest
import torch
from scipy import integrate

from rhm_memo.diffusion import MaskedDiffusion, UniformDiffusion

V, D = 2, 2
STRINGS = [list(s) for s in itertools.product(range(V), repeat=D)]


def make_denoiser(seed: int):
    """A fixed denoiser whose logits depend on every token of x_t and on the conditioning."""
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(D, V, D, V + 1, generator=g, dtype=torch.float64)  # (i, y, j, x_t[j]); V + 1: the mask id
    b = torch.randn(D, V, generator=g, dtype=torch.float64)

    def denoiser(x_t, cond):
        gathered = a[:, :, torch.arange(D), :]  # (i, y, j, token)
        logits = torch.stack([gathered[..., j, :][..., x_t[:, j]] for j in range(D)]).sum(0)  # (i, y, B)
        return logits.permute(2, 0, 1) + cond.double()[:, None, None] * 3 * b

    return denoiser


def probs(denoiser, x_t, cond):
    return torch.softmax(denoiser(torch.tensor([x_t]), torch.tensor([cond], dtype=torch.float32))[0], -1).numpy()


# ---------------------------------------------------------------------- uniform: trajectory enumeration
def schedule(T, b1, bT, kind):
    """(alpha (T+1,), alpha_bar (T+1,)) from the schedule formulas."""
    if kind == "paper":
        betas = b1 + (bT - b1) * np.arange(T + 1) / T
        alphas = 1 - betas
        return alphas, np.cumprod(alphas)
    betas = np.concatenate([[0.0], b1 + (bT - b1) * np.arange(T) / max(T - 1, 1)])
    alphas = 1 - betas
    return alphas, np.cumprod(alphas)


def mix(keep):
    """The v×v matrix keep·I + (1 − keep)/v (row: from, column: to)."""
    return keep * np.eye(V) + (1 - keep) / V


def exact_uniform(denoiser, x0, T, kind, b1=0.05, bT=0.4):
    """(−ELBO, −log p_θ(x_0)) by enumerating every trajectory x_1..x_T (v^d states per step)."""
    alphas, ab = schedule(T, b1, bT, kind)
    states = [list(s) for s in itertools.product(range(V), repeat=D)]

    def reverse(x_t, t):
        """p_θ(x_{t−1} = · | x_t) per token: ∝ Q_t[y, x_t] Σ_{x̃} M_{t−1}[x̃, y] p̃(x̃ | x_t)."""
        cond = ab[t] + (1 - ab[t]) / V
        p0 = probs(denoiser, x_t, cond)  # (D, V)
        out = (p0 @ mix(ab[t - 1])) * mix(alphas[t])[:, x_t].T  # (D, V)
        return out / out.sum(-1, keepdims=True)

    kernels = {(tuple(x), t): reverse(x, t) for x in states for t in range(1, T + 1)}

    def p_step(x_prev, x_t, t):
        k = kernels[(tuple(x_t), t)]
        return np.prod([k[i, x_prev[i]] for i in range(D)])

    nelbo = 0.0
    for traj in itertools.product(states, repeat=T):  # traj[t - 1] = x_t
        q = np.prod([mix(ab[1])[x0[i], traj[0][i]] for i in range(D)])
        for t in range(2, T + 1):
            q *= np.prod([mix(alphas[t])[traj[t - 2][i], traj[t - 1][i]] for i in range(D)])
        path = [x0, *traj]  # path[t] = x_t
        log_p = -D * math.log(V) + sum(math.log(p_step(path[t - 1], path[t], t)) for t in range(1, T + 1))
        nelbo += q * (math.log(q) - log_p)
    marginal = {tuple(x): V**-D for x in states}  # the reverse chain's forward algorithm, from x_T uniform
    for t in range(T, 0, -1):
        marginal = {tuple(y): sum(p * p_step(y, list(x), t) for x, p in marginal.items()) for y in states}
    return nelbo, -math.log(marginal[tuple(x0)])


def mean_and_se(values):
    return values.mean().item(), values.std().item() / math.sqrt(values.numel())


@pytest.mark.parametrize("kind", ["ours", "paper"])
@pytest.mark.parametrize("num_times", [3, 1])
def test_uniform_estimate_is_unbiased_for_the_exact_sum(kind, num_times):
    """Averaged over noise draws, the estimate equals the −ELBO of trajectory enumeration (K = T: every step
    once; K = 1: one random step weighted T), and the −ELBO bounds the model's exact −log p_θ(x_0)."""
    T, denoiser = 3, make_denoiser(0)
    process = UniformDiffusion(V, num_steps=T, beta_start=0.05, beta_end=0.4, schedule=kind)
    g = torch.Generator().manual_seed(1)
    for x0 in STRINGS:
        exact, nll = exact_uniform(denoiser, x0, T, kind)
        assert exact >= nll - 1e-12
        rows = torch.tensor([x0]).repeat(20000, 1)
        mean, se = mean_and_se(process.negative_elbo(denoiser, rows, num_times=num_times, generator=g))
        assert abs(mean - exact) < 4 * se + 1e-9, (x0, mean, exact, se)


def test_uniform_exact_mode_is_the_default_and_has_less_variance():
    """num_times defaults to T; with it the only randomness left is x_t, so the spread is below K = 1's."""
    process = UniformDiffusion(V, num_steps=3, beta_start=0.05, beta_end=0.4)
    rows = torch.tensor([[0, 1]]).repeat(4000, 1)
    denoiser = make_denoiser(2)
    full = process.negative_elbo(denoiser, rows, generator=torch.Generator().manual_seed(0))
    same = process.negative_elbo(denoiser, rows, num_times=3, generator=torch.Generator().manual_seed(0))
    assert torch.equal(full, same)
    one = process.negative_elbo(denoiser, rows, num_times=1, generator=torch.Generator().manual_seed(0))
    assert full.std() < one.std()


def test_uniform_prior_term_is_the_kl_to_uniform():
    process = UniformDiffusion(4, num_steps=5, beta_start=0.1, beta_end=0.5)
    ab = float(np.prod(1 - (0.1 + 0.4 * np.arange(5) / 4)))
    q = np.full(4, (1 - ab) / 4)
    q[0] += ab
    expected = 3 * float((q * np.log(q * 4)).sum())
    assert process.prior_term(torch.zeros(2, 3, dtype=torch.long)).tolist() == pytest.approx([expected] * 2)


# ---------------------------------------------------------------------- masked: quadrature over t
def exact_masked(denoiser, x0, eps):
    """∫_0^1 Σ_S P_t(S) w(t) Σ_{i∈S} −log p_θ(x_0^i | x_S) dt over the masked sets S, by quadrature."""
    mask = V

    def integrand(t):
        alpha = 1 - (1 - eps) * t
        total = 0.0
        for masked in itertools.product([False, True], repeat=D):
            k = sum(masked)
            if k == 0:
                continue
            x_t = [mask if m else x for m, x in zip(masked, x0)]
            p0 = probs(denoiser, x_t, alpha)
            ce = sum(-math.log(p0[i, x0[i]]) for i in range(D) if masked[i])
            total += (1 - alpha) ** k * alpha ** (D - k) * (1 - eps) / (1 - alpha) * ce
        return total

    return integrate.quad(integrand, 0, 1, epsabs=1e-10)[0]


@pytest.mark.parametrize("num_times", [8, 1])
def test_masked_estimate_is_unbiased_for_the_integral(num_times):
    eps, denoiser = 1e-3, make_denoiser(3)
    process = MaskedDiffusion(V, num_steps=10, eps=eps)
    g = torch.Generator().manual_seed(4)
    for x0 in STRINGS:
        exact = exact_masked(denoiser, x0, eps)
        rows = torch.tensor([x0]).repeat(20000, 1)
        mean, se = mean_and_se(process.negative_elbo(denoiser, rows, num_times=num_times, generator=g))
        assert abs(mean - exact) < 4 * se, (x0, mean, exact, se)


# ---------------------------------------------------------------------- arguments
@pytest.mark.parametrize("process", [UniformDiffusion(V, num_steps=3), MaskedDiffusion(V, num_steps=3)])
def test_negative_elbo_shape_dtype_and_bad_arguments(process):
    x0 = torch.tensor(STRINGS)
    out = process.negative_elbo(make_denoiser(0), x0, num_times=2, generator=torch.Generator().manual_seed(0))
    assert out.shape == (4,) and out.dtype == torch.float64 and bool((out > 0).all())
    with pytest.raises(ValueError, match="num_times"):
        process.negative_elbo(make_denoiser(0), x0, num_times=0)
    with pytest.raises(ValueError, match="x0"):
        process.negative_elbo(make_denoiser(0), x0.float())


def test_uniform_num_times_above_T_is_refused():
    with pytest.raises(ValueError, match="at most the number of steps T=3"):
        UniformDiffusion(V, num_steps=3).negative_elbo(make_denoiser(0), torch.tensor(STRINGS), num_times=4)
