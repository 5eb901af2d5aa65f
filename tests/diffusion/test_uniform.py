"""Tests of UniformDiffusion against explicit transition matrices, Bayes' rule and brute-force sums."""

import math

import pytest
import torch
from diffusion_helpers import Constant, Oracle, check_common_loss_errors, gen

from rhm_memo.diffusion import UniformDiffusion


def q_matrices(proc: UniformDiffusion) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Explicit float64 ``Q_t = α_t I + β_t/v 11ᵀ`` and ``Q̄_t = Q_1 ⋯ Q_t`` for t = 0..T (index 0: identity)."""
    v = proc.vocab_size
    q, qbar = [torch.eye(v, dtype=torch.float64)], [torch.eye(v, dtype=torch.float64)]
    for t in range(1, proc.num_steps + 1):
        beta = float(proc.betas[t])
        q.append((1 - beta) * torch.eye(v, dtype=torch.float64) + beta / v * torch.ones(v, v, dtype=torch.float64))
        qbar.append(qbar[-1] @ q[-1])
    return q, qbar


def log_onehot(x: torch.Tensor, v: int) -> torch.Tensor:
    """``log onehot(x)`` in float64: 0 on x, -inf elsewhere."""
    return torch.where(torch.nn.functional.one_hot(x, v).bool(), 0.0, -math.inf).double()


# ----------------------------------------------------------------------------------------------------------------------
# Schedule and forward marginals


def test_schedule_matches_formulas():
    proc = UniformDiffusion(6, num_steps=200, beta_start=0.001, beta_end=0.1)
    assert proc.betas.shape == (201,) and proc.alpha_bar.dtype == torch.float64
    prod = 1.0
    for t in range(1, 201):
        beta = 0.001 + (0.1 - 0.001) * (t - 1) / 199
        prod *= 1 - beta
        assert proc.betas[t].item() == pytest.approx(beta, rel=1e-12)
        assert proc.alpha_bar[t].item() == pytest.approx(prod, rel=1e-10)
    assert proc.alpha_bar[0] == 1 and proc.betas[0] == 0
    assert UniformDiffusion(3, num_steps=1, beta_start=0.2, beta_end=0.2).alpha_bar.tolist() == [1.0, 0.8]


def paper_schedule_loop(T: int, beta_start: float, beta_end: float) -> tuple[list[float], list[float]]:
    """The paper code's ``ddpm_schedules`` as a plain loop: β_t = β₁ + (β_T − β₁) t/T, ᾱ_t = Π_{s=0..t} (1 − β_s)."""
    betas, alpha_bar, prod = [], [], 1.0
    for t in range(T + 1):
        beta = beta_start + (beta_end - beta_start) * t / T
        prod *= 1 - beta
        betas.append(beta)
        alpha_bar.append(prod)
    return betas, alpha_bar


def ours_alpha_bar_loop(T: int, beta_start: float, beta_end: float) -> list[float]:
    """Our ᾱ_t, t = 0..T, as a plain loop: ᾱ_0 = 1, β_t = β₁ + (β_T − β₁)(t − 1)/(T − 1) for t = 1..T."""
    alpha_bar = [1.0]
    for t in range(1, T + 1):
        alpha_bar.append(alpha_bar[-1] * (1 - (beta_start + (beta_end - beta_start) * (t - 1) / (T - 1))))
    return alpha_bar


def test_paper_schedule_matches_paper_code_loop():
    """schedule="paper": every buffer entry t = 0..T equals the paper code's formula, ᾱ_0 = 1 − β₁ included."""
    proc = UniformDiffusion(6, num_steps=200, beta_start=0.001, beta_end=0.1, schedule="paper")
    betas, alpha_bar = paper_schedule_loop(200, 0.001, 0.1)
    assert proc.betas.shape == proc.alphas.shape == proc.alpha_bar.shape == (201,)
    assert proc.alpha_bar.dtype == torch.float64
    for t in range(201):
        assert proc.betas[t].item() == pytest.approx(betas[t], rel=1e-12)
        assert proc.alphas[t].item() == pytest.approx(1 - betas[t], rel=1e-12)
        assert proc.alpha_bar[t].item() == pytest.approx(alpha_bar[t], rel=1e-10)
    assert proc.alpha_bar[0].item() == pytest.approx(0.999, rel=1e-15) and proc.betas[0].item() == 0.001
    assert proc.betas[200].item() == pytest.approx(0.1, rel=1e-15)
    one_step = UniformDiffusion(3, num_steps=1, beta_start=0.2, beta_end=0.4, schedule="paper")
    torch.testing.assert_close(one_step.alpha_bar, torch.tensor([0.8, 0.8 * 0.6], dtype=torch.float64))


def test_paper_and_ours_alpha_bar_50_differ_as_documented():
    """T = 200, β 0.001→0.1: ᾱ_50 is 0.5025 (paper) vs 0.5142 (ours), from plain loops and from the buffers."""
    paper = paper_schedule_loop(200, 0.001, 0.1)[1]
    ours = ours_alpha_bar_loop(200, 0.001, 0.1)
    assert round(paper[50], 4) == 0.5025 and round(ours[50], 4) == 0.5142
    assert paper[50] == pytest.approx(ours[51], rel=1e-2)  # the paper's ᾱ_t is about our ᾱ_{t+1}
    assert UniformDiffusion(6, schedule="paper").alpha_bar[50].item() == pytest.approx(paper[50], rel=1e-12)
    assert UniformDiffusion(6).alpha_bar[50].item() == pytest.approx(ours[50], rel=1e-12)
    # the re-noising of a perfect denoiser's 16-token samples: 1 − (ᾱ_0 + (1 − ᾱ_0)/v)^d with ᾱ_0 = 0.999, v = 6
    assert 1 - (0.999 + 0.001 / 6) ** 16 == pytest.approx(0.01325, abs=5e-6)


def test_ours_schedule_is_the_default_and_unchanged():
    """schedule="ours" is the default; its buffers equal the plain loop and have β_0 = 0, ᾱ_0 = 1 exactly."""
    default, ours = UniformDiffusion(6), UniformDiffusion(6, schedule="ours")
    assert default.schedule == "ours"
    for name in ("betas", "alphas", "alpha_bar"):
        assert torch.equal(getattr(default, name), getattr(ours, name))
    for t, expected in enumerate(ours_alpha_bar_loop(200, 0.001, 0.1)):
        assert ours.alpha_bar[t].item() == pytest.approx(expected, rel=1e-10)
    assert ours.alpha_bar[0].item() == 1.0 and ours.betas[0].item() == 0.0


def test_paper_schedule_marginals_and_posterior_from_explicit_matrices():
    """schedule="paper": marginal = Q_0 Q_1 ⋯ Q_t (t = 0 included) and the posterior is Bayes' rule on them."""
    v, T, b1, bT = 3, 6, 0.05, 0.6
    proc = UniformDiffusion(v, num_steps=T, beta_start=b1, beta_end=bT, schedule="paper")
    betas = paper_schedule_loop(T, b1, bT)[0]
    eye, ones = torch.eye(v, dtype=torch.float64), torch.ones(v, v, dtype=torch.float64)
    q = [(1 - b) * eye + b / v * ones for b in betas]
    qbar = [q[0]]
    for t in range(1, T + 1):
        qbar.append(qbar[-1] @ q[t])
    x0 = torch.arange(v)[:, None]
    for t in range(T + 1):
        torch.testing.assert_close(proc.marginal_probs(x0, torch.full((v,), t))[:, 0], qbar[t], rtol=0, atol=1e-14)
    a_all, k_all = torch.cartesian_prod(torch.arange(v), torch.arange(v)).unbind(-1)
    for t in range(1, T + 1):
        got = proc.log_posterior(k_all[:, None], torch.full((v * v,), t), log_onehot(a_all[:, None], v)).exp()[:, 0]
        for row, (a, k) in enumerate(zip(a_all.tolist(), k_all.tolist())):
            bayes = q[t][:, k] * qbar[t - 1][a, :] / qbar[t][a, k]
            torch.testing.assert_close(got[row], bayes, rtol=0, atol=1e-12)


def test_oracle_loss_is_zero_at_every_step():
    """Every t, the first (t = 1) and last included, with both schedules. With "paper" (ᾱ_0 < 1) the t = 1 posterior
    is no point mass, but the oracle's kernel still equals it: loss ≈ 0."""
    v = 6
    x0 = torch.randint(v, (200, 16), generator=gen(3))
    for schedule in ["ours", "paper"]:
        out = UniformDiffusion(v, schedule=schedule).loss_at(Oracle(x0, v), x0, torch.arange(1, 201), gen(4))
        assert out["loss_per_row"].abs().max() < 1e-5, schedule


@pytest.mark.parametrize("schedule", ["ours", "paper"])
def test_last_step_renoising_of_a_perfect_denoiser(schedule):
    """The sampler's x_0 with a perfect denoiser: re-noised as 1 − (ᾱ_0 + (1 − ᾱ_0)/v)^d ("paper"), never ("ours").

    With p̃ = onehot(x_0) every kernel is the true posterior, so the returned x_0 follows q(x_0 | x_0) with the
    schedule's ᾱ_0 (up to ᾱ_T ≈ 1e-7, as x_T is uniform). T = 20 and β_T = 0.9 keep the test fast; ᾱ_0 depends
    on β₁ = 0.001 only. Monte Carlo over n strings, within 5 binomial standard deviations.
    """
    v, d, n, beta_start = 6, 16, 20_000, 0.001
    proc = UniformDiffusion(v, num_steps=20, beta_start=beta_start, beta_end=0.9, schedule=schedule)
    assert proc.alpha_bar[-1] < 1e-6
    ab0 = 1 - beta_start if schedule == "paper" else 1.0
    p_token = (1 - ab0) * (1 - 1 / v)  # a token differs from x_0
    p_string = 1 - (ab0 + (1 - ab0) / v) ** d  # a string differs from x_0 somewhere
    target = torch.randint(v, (d,), generator=gen(1))
    out = proc.sample(Oracle(target, v), n, d, gen(2))
    wrong_tokens = (out != target).double().mean().item()
    wrong_strings = (out != target).any(1).double().mean().item()
    if schedule == "ours":
        assert wrong_tokens == wrong_strings == 0.0
    else:
        assert p_string == pytest.approx(0.01325, abs=5e-6)
        assert abs(wrong_strings - p_string) <= 5 * math.sqrt(p_string * (1 - p_string) / n)
        assert abs(wrong_tokens - p_token) <= 5 * math.sqrt(p_token * (1 - p_token) / (n * d))


def test_schedule_is_non_persistent_and_stays_float64():
    proc = UniformDiffusion(6)
    assert proc.state_dict() == {} and list(proc.parameters()) == []
    before = proc.alpha_bar.clone()
    proc.to(torch.bfloat16)
    assert proc.alpha_bar.dtype == torch.float64 and torch.equal(proc.alpha_bar, before)
    proc.half().double().float()
    assert proc.betas.dtype == torch.float64 and torch.equal(proc.alpha_bar, before)


def test_q_matrix_products_equal_closed_form_marginal():
    proc = UniformDiffusion(3, num_steps=6, beta_start=0.05, beta_end=0.6)
    _, qbar = q_matrices(proc)
    x0 = torch.arange(3)[:, None]
    for t in range(1, 7):
        closed = proc.marginal_probs(x0, torch.full((3,), t))[:, 0]
        torch.testing.assert_close(closed, qbar[t], rtol=0, atol=1e-14)


def test_q_sample_frequencies_match_marginal():
    v, n = 4, 100_000
    proc = UniformDiffusion(v, num_steps=10, beta_start=0.05, beta_end=0.3)
    x0 = (torch.arange(n) % v)[:, None]
    for t in [1, 4, 10]:
        x_t = proc.q_sample(x0, torch.full((n,), t), gen(t))
        probs = proc.marginal_probs(x0, torch.full((n,), t))[:, 0]
        # frequency of every (x0, x_t) pair vs its probability; 5 binomial standard deviations (per pair n/v trials)
        for a in range(v):
            rows = x0[:, 0] == a
            freq = torch.bincount(x_t[rows, 0], minlength=v).double() / rows.sum()
            p = probs[rows][0]
            assert (freq - p).abs().max() <= 5 * (p * (1 - p) / rows.sum()).sqrt().max()


def test_conditioning_is_probability_token_unchanged():
    proc = UniformDiffusion(6)
    t = torch.arange(1, 201)
    cond = proc.conditioning(t)
    assert cond.dtype == torch.float32 and cond.shape == (200,)
    ab = proc.alpha_bar[1:]
    torch.testing.assert_close(cond, (ab + (1 - ab) / 6).float())
    assert bool((cond[1:] < cond[:-1]).all()) and cond[-1] > 1 / 6


def test_sample_time_range_and_dtype():
    proc = UniformDiffusion(6, num_steps=7)
    t = proc.sample_time(10_000, gen())
    assert t.dtype == torch.int64 and t.min() == 1 and t.max() == 7
    assert torch.equal(t, proc.sample_time(10_000, gen()))


# ----------------------------------------------------------------------------------------------------------------------
# Posterior and x0-parameterization


def test_posterior_equals_bayes_from_explicit_matrices():
    v, T = 3, 6
    proc = UniformDiffusion(v, num_steps=T, beta_start=0.05, beta_end=0.6)
    q, qbar = q_matrices(proc)
    x0, x_t = torch.cartesian_prod(torch.arange(v), torch.arange(v)).unbind(-1)  # all (x0, x_t) pairs
    for t in range(1, T + 1):
        got = proc.log_posterior(x_t[:, None], torch.full((v * v,), t), log_onehot(x0[:, None], v)).exp()[:, 0]
        torch.testing.assert_close(got.sum(-1), torch.ones(v * v, dtype=torch.float64), rtol=0, atol=1e-12)
        for row, (a, k) in enumerate(zip(x0.tolist(), x_t.tolist())):
            # q(x_{t-1} = j | x_t = k, x_0 = a) = Q_t[j, k] Q̄_{t-1}[a, j] / Q̄_t[a, k]
            bayes = q[t][:, k] * qbar[t - 1][a, :] / qbar[t][a, k]
            torch.testing.assert_close(got[row], bayes, rtol=0, atol=1e-12)


def test_x0_parameterization_is_sum_of_joints():
    """p_θ(x_{t−1}|x_t) ∝ Σ_{x0} p̃(x0) q(x_{t−1},x_t|x0) (D3PM eq. 4) = Σ w(x0) q(x_{t−1}|x_t,x0), w ∝ p̃ q(x_t|x0)."""
    v, T = 4, 5
    proc = UniformDiffusion(v, num_steps=T, beta_start=0.1, beta_end=0.5)
    q, qbar = q_matrices(proc)
    p0 = torch.softmax(torch.randn(v, generator=gen(), dtype=torch.float64) * 2, -1)
    naive_gap = 0.0
    for t in range(1, T + 1):
        for k in range(v):
            got = proc.log_posterior(torch.tensor([[k]]), torch.tensor([t]), p0.log()[None, None]).exp()[0, 0]
            joint = sum(p0[a] * q[t][:, k] * qbar[t - 1][a, :] for a in range(v))
            torch.testing.assert_close(got, joint / joint.sum(), rtol=0, atol=1e-12)
            post = [q[t][:, k] * qbar[t - 1][a, :] / qbar[t][a, k] for a in range(v)]
            w = p0 * qbar[t][:, k]
            torch.testing.assert_close(got, sum(w[a] / w.sum() * post[a] for a in range(v)), rtol=0, atol=1e-12)
            naive = sum(p0[a] * post[a] for a in range(v))  # Σ p̃(x0) q(x_{t−1}|x_t,x0): a different kernel
            naive_gap = max(naive_gap, float((naive - got).abs().max()))
    assert naive_gap > 1e-2


def test_reverse_log_probs_uses_at_least_float32():
    proc = UniformDiffusion(5, num_steps=10)
    x_t, t = torch.zeros(2, 3, dtype=torch.int64), torch.tensor([1, 10])
    assert proc.reverse_log_probs(x_t, t, torch.zeros(2, 3, 5, dtype=torch.bfloat16)).dtype == torch.float32
    assert proc.reverse_log_probs(x_t, t, torch.zeros(2, 3, 5, dtype=torch.float64)).dtype == torch.float64


# ----------------------------------------------------------------------------------------------------------------------
# Loss


def test_loss_positive_for_wrong_denoisers():
    v = 6
    proc = UniformDiffusion(v)
    x0 = torch.randint(v, (16, 16), generator=gen(1))
    out = proc.loss(Constant(torch.zeros(16, v)), x0, n_trajectories=4, generator=gen(2))
    assert out["loss"] > 1e-3 and bool((out["loss_per_row"] >= -1e-7).all())
    torch.testing.assert_close(out["loss"], out["loss_per_row"].mean())
    wrong = Oracle((x0 + 1) % v, v, margin=10.0)
    assert proc.loss_at(wrong, x0, torch.full((16,), 1), gen(3))["loss"] > 1.0


def test_loss_equals_explicit_kl():
    """loss_at vs a slow reference: explicit Q matrices, softmax, the D3PM sum of joints, KL by a Python loop."""
    v, T = 4, 8
    proc = UniformDiffusion(v, num_steps=T, beta_start=0.02, beta_end=0.4)
    q, qbar = q_matrices(proc)
    x0 = torch.randint(v, (T, 5), generator=gen(1))
    t = torch.arange(1, T + 1)
    logits = torch.randn(5, v, generator=gen(2), dtype=torch.float64)
    got = proc.loss_at(Constant(logits), x0, t, gen(3))["loss_per_row"]
    x_t = proc.q_sample(x0, t, gen(3))  # loss_at draws exactly this x_t from the same seed
    p0 = torch.softmax(logits, -1)
    for row in range(T):
        s, total = int(t[row]), 0.0
        for i in range(5):
            a, k = int(x0[row, i]), int(x_t[row, i])
            post = q[s][:, k] * qbar[s - 1][a, :] / qbar[s][a, k]
            joint = sum(p0[i, b] * q[s][:, k] * qbar[s - 1][b, :] for b in range(v))
            model = joint / joint.sum()
            total += sum(float(post[j] * (post[j] / model[j]).log()) for j in range(v) if post[j] > 0)
        assert got[row].item() == pytest.approx(total / 5, rel=1e-5, abs=1e-7)


# ----------------------------------------------------------------------------------------------------------------------
# Bad arguments


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"vocab_size": 1}, "vocab_size"),
        ({"vocab_size": 6, "num_steps": 0}, "num_steps"),
        ({"vocab_size": 6, "beta_start": 0.0}, "beta_start"),
        ({"vocab_size": 6, "beta_end": 1.0}, "beta_end"),
        ({"vocab_size": 6, "beta_start": -0.1}, "beta_start"),
        ({"vocab_size": 6, "beta_start": 0.2, "beta_end": 0.1}, "beta_end must be >= beta_start"),
        ({"vocab_size": 6.0}, "vocab_size"),
        ({"vocab_size": 6, "schedule": "d3pm"}, "schedule must be one of"),
    ],
)
def test_bad_constructor_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        UniformDiffusion(**kwargs)


def test_bad_call_arguments():
    proc = UniformDiffusion(6, num_steps=10)
    x0, ok = check_common_loss_errors(proc)
    with pytest.raises(ValueError, match="x0 must be a"):
        proc.loss(ok, x0[0])
    with pytest.raises(ValueError, match="shape"):
        proc.loss_at(ok, x0, torch.ones(3, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"1\.\.10"):
        proc.loss_at(ok, x0, torch.tensor([0, 1, 2, 3]))
    with pytest.raises(ValueError, match=r"1\.\.10"):
        proc.loss_at(ok, x0, torch.tensor([1, 2, 3, 11]))
    with pytest.raises(ValueError, match="integer steps"):
        proc.loss_at(ok, x0, torch.full((4,), 0.5))
    with pytest.raises(ValueError, match="steps = num_steps"):
        proc.sample(ok, 2, 8, gen(), steps=5)
