"""Tests of UniformDiffusion against explicit transition matrices, Bayes' rule and brute-force sums."""

import math

import pytest
import torch
from diffusion_helpers import Constant, Counting, Oracle, TinyNet

from rhm_memo.diffusion import UniformDiffusion


def gen(seed: int = 0) -> torch.Generator:
    """A seeded CPU generator."""
    return torch.Generator().manual_seed(seed)


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


def test_loss_is_zero_for_the_oracle():
    v, n = 6, 4
    proc = UniformDiffusion(v)
    x0 = torch.randint(v, (8, 16), generator=gen(1))
    out = proc.loss(Oracle(x0.repeat_interleave(n, 0), v), x0, n_trajectories=n, generator=gen(2))
    assert out["t"].shape == (32,) and out["loss_per_row"].shape == (32,)
    assert 0 <= out["loss"].abs() < 1e-5
    assert len(set(out["t"].view(8, n)[0].tolist())) > 1  # trajectories of a string get independent times
    # every t, the first (t = 1) and last included
    x0 = torch.randint(v, (200, 16), generator=gen(3))
    out = proc.loss_at(Oracle(x0, v), x0, torch.arange(1, 201), gen(4))
    assert out["loss_per_row"].abs().max() < 1e-5


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


def test_gradients_flow_and_are_finite():
    v = 6
    proc = UniformDiffusion(v, num_steps=20)
    net = TinyNet(proc.input_size, v)
    x0 = torch.randint(v, (20, 8), generator=gen(1))
    for out in [proc.loss(net, x0, 2, gen(2)), proc.loss_at(net, x0, torch.arange(1, 21), gen(3))]:
        net.zero_grad()
        out["loss"].backward()
        grads = [p.grad for p in net.parameters()]
        assert all(g is not None and bool(g.isfinite().all()) for g in grads)
        assert any(bool((g != 0).any()) for g in grads)


# ----------------------------------------------------------------------------------------------------------------------
# Sampler


def test_sampler_oracle_reproduces_target():
    v = 6
    proc = UniformDiffusion(v, num_steps=50)
    target = torch.randint(v, (16,), generator=gen(1))
    out = proc.sample(Oracle(target, v), 7, 16, gen(2))
    assert out.shape == (7, 16) and out.dtype == torch.int64
    assert bool((out == target).all())


def test_sampler_determinism_and_range():
    v = 5
    proc = UniformDiffusion(v, num_steps=30)
    logits = torch.randn(12, v, generator=gen(1))
    a = proc.sample(Constant(logits), 50, 12, gen(7))
    b = proc.sample(Constant(logits), 50, 12, gen(7))
    c = proc.sample(Constant(logits), 50, 12, gen(8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.min() >= 0 and a.max() < v


def test_sampler_is_exact_reverse_for_constant_prediction():
    """p̃ = π constant makes every kernel the exact q(x_{t−1}|x_t) of the chain from π: x_0 ~ π up to ᾱ_T < 1e-6."""
    v, n = 4, 40_000
    proc = UniformDiffusion(v, num_steps=30, beta_start=0.3, beta_end=0.7)
    assert proc.alpha_bar[-1] < 1e-6
    pi = torch.tensor([[0.5, 0.3, 0.15, 0.05], [0.05, 0.05, 0.1, 0.8]], dtype=torch.float64)
    out = proc.sample(Constant(pi.log()), n, 2, gen(3))
    for pos in range(2):
        freq = torch.bincount(out[:, pos], minlength=v).double() / n
        assert bool(((freq - pi[pos]).abs() <= 5 * (pi[pos] * (1 - pi[pos]) / n).sqrt() + 1e-6).all())


def test_sampler_calls_denoiser_T_times():
    proc = UniformDiffusion(3, num_steps=13)
    counter = Counting(Constant(torch.zeros(4, 3)))
    proc.sample(counter, 5, 4, gen())
    assert counter.batch_sizes == [5] * 13


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
    ],
)
def test_bad_constructor_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        UniformDiffusion(**kwargs)


def test_bad_call_arguments():
    v = 6
    proc = UniformDiffusion(v, num_steps=10)
    x0 = torch.randint(v, (4, 8), generator=gen())
    ok = Constant(torch.zeros(8, v))
    with pytest.raises(ValueError, match="n_trajectories"):
        proc.loss(ok, x0, n_trajectories=0)
    with pytest.raises(ValueError, match="x0 must be a"):
        proc.loss(ok, x0.float())
    with pytest.raises(ValueError, match="x0 must be a"):
        proc.loss(ok, x0[0])
    with pytest.raises(ValueError, match="logits of shape"):
        proc.loss(Constant(torch.zeros(8, v + 1)), x0)
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
    with pytest.raises(ValueError, match=r"torch\.Generator"):
        proc.sample(ok, 2, 8, None)
    with pytest.raises(ValueError, match="num"):
        proc.sample(ok, 0, 8, gen())
