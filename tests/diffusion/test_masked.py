"""Tests of MaskedDiffusion: schedule, masking frequencies, ELBO weight, the sampler's time grid and call reuse."""

import math

import pytest
import torch
from diffusion_helpers import Constant, Counting, Oracle, check_common_loss_errors, gen

from rhm_memo.diffusion import MaskedDiffusion

# ----------------------------------------------------------------------------------------------------------------------
# Schedule and forward process


def test_sizes_and_no_state():
    proc = MaskedDiffusion(6)
    assert (proc.vocab_size, proc.input_size, proc.mask_id, proc.num_steps) == (6, 7, 6, 200)
    assert proc.state_dict() == {} and list(proc.parameters()) == []


def test_schedule_and_loss_weight():
    proc = MaskedDiffusion(6, eps=1e-3)
    t = torch.linspace(0.01, 1, 100, dtype=torch.float64)
    torch.testing.assert_close(proc.alpha(t), 1 - (1 - 1e-3) * t)
    assert proc.alpha(torch.zeros(1)).item() == 1.0 and proc.alpha(torch.ones(1)).item() == pytest.approx(1e-3)
    h = 1e-6  # central difference: the weight is −α'/(1 − α) with the numerical derivative
    deriv = (proc.alpha(t + h) - proc.alpha(t - h)) / (2 * h)
    torch.testing.assert_close(proc.loss_weight(t), -deriv / (1 - proc.alpha(t)), rtol=1e-8, atol=0)
    torch.testing.assert_close(proc.loss_weight(t), 1 / t)  # the log-linear schedule's weight
    torch.testing.assert_close(proc.conditioning(t), proc.alpha(t).float())


def test_sample_time_in_unit_interval():
    proc = MaskedDiffusion(6)
    t = proc.sample_time(50_000, gen())
    assert t.dtype == torch.float64 and t.min() > 0 and t.max() <= 1
    assert abs(t.mean().item() - 0.5) < 5 * math.sqrt(1 / 12 / 50_000)
    assert torch.equal(t, proc.sample_time(50_000, gen()))


def test_masking_fraction_matches_schedule():
    v, n, d = 6, 20_000, 8
    proc = MaskedDiffusion(v)
    x0 = torch.randint(v, (n, d), generator=gen(1))
    for t in [0.05, 0.5, 0.95, 1.0]:
        x_t = proc.q_sample(x0, torch.full((n,), t, dtype=torch.float64), gen(2))
        masked = x_t == v
        assert torch.equal(x_t[~masked], x0[~masked])  # kept tokens are the originals
        p = 1 - proc.alpha(torch.tensor(t)).item()
        assert abs(masked.double().mean().item() - p) <= 5 * math.sqrt(p * (1 - p) / (n * d)) + 1e-12


# ----------------------------------------------------------------------------------------------------------------------
# Loss


def test_loss_formula_with_uniform_prediction():
    """With logits 0, each masked token costs log v, weighted by 1/t: per row (#masked / d) · log(v) / t."""
    v, d = 6, 16
    proc = MaskedDiffusion(v)
    x0 = torch.randint(v, (50, d), generator=gen(1))
    t = torch.linspace(0.02, 1, 50, dtype=torch.float64)
    got = proc.loss_at(Constant(torch.zeros(d, v)), x0, t, gen(2))
    x_t = proc.q_sample(x0, t, gen(2))  # loss_at draws exactly this x_t from the same seed
    expected = (x_t == v).double().mean(-1) * math.log(v) / t
    torch.testing.assert_close(got["loss_per_row"].double(), expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(got["loss"], got["loss_per_row"].mean())
    # expectation over t of (1 − α_t) log v / t is (1 − ε) log v
    big = proc.loss(Constant(torch.zeros(d, v)), torch.randint(v, (4000, d), generator=gen(3)), generator=gen(4))
    assert big["loss"].item() == pytest.approx((1 - proc.eps) * math.log(v), rel=0.05)


def test_predictions_at_unmasked_positions_are_ignored():
    v = 5
    proc = MaskedDiffusion(v)
    x0 = torch.randint(v, (64, 8), generator=gen(1))
    oracle = Oracle(x0, v)

    def oracle_on_masks_garbage_elsewhere(x_t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        wrong = Oracle((x0 + 1) % v, v)(x_t, cond)
        return torch.where((x_t == v)[..., None], oracle(x_t, cond), wrong)

    assert proc.loss(oracle_on_masks_garbage_elsewhere, x0, generator=gen(2))["loss"] < 1e-5


# ----------------------------------------------------------------------------------------------------------------------
# Sampler


def test_sampler_mask_fraction_follows_the_grid():
    """Starting all-masked at t = 1, a token is still masked at grid time t_k with probability exactly t_k."""
    v, n, d, steps = 4, 2000, 16, 10
    proc = MaskedDiffusion(v, reuse_predictions=False)
    seen = []

    def recorder(x_t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        seen.append((x_t == v).double().mean().item())
        return torch.zeros(*x_t.shape, v)

    proc.sample(recorder, n, d, gen(1), steps=steps)
    for k, frac in zip(range(steps, 0, -1), seen):
        p = k / steps
        assert abs(frac - p) <= 5 * math.sqrt(p * (1 - p) / (n * d)) + 1e-12


def test_prediction_reuse_skips_calls_and_is_exact_for_time_free_denoisers():
    v, d, steps = 6, 8, 1000
    logits = torch.randn(d, v, generator=gen(1))
    reuse = Counting(Constant(logits))
    out = MaskedDiffusion(v).sample(reuse, 4, d, gen(2), steps=steps)
    # each row changes at most d times, so at most 1 + 4 * d calls, of the changed rows only
    assert len(reuse.batch_sizes) <= 1 + 4 * d and sum(reuse.batch_sizes) <= 4 + 4 * d
    full = Counting(Constant(logits))
    same = MaskedDiffusion(v, reuse_predictions=False).sample(full, 4, d, gen(2), steps=steps)
    assert full.batch_sizes == [4] * steps
    assert torch.equal(out, same)  # a denoiser that ignores cond gives identical samples either way


# ----------------------------------------------------------------------------------------------------------------------
# Bad arguments


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"vocab_size": 1}, "vocab_size"),
        ({"vocab_size": 6, "num_steps": 0}, "num_steps"),
        ({"vocab_size": 6, "eps": 0.0}, "eps"),
        ({"vocab_size": 6, "eps": 1.0}, "eps"),
        ({"vocab_size": 6, "reuse_predictions": 1}, "reuse_predictions"),
    ],
)
def test_bad_constructor_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MaskedDiffusion(**kwargs)


def test_bad_call_arguments():
    proc = MaskedDiffusion(6)
    x0, ok = check_common_loss_errors(proc)
    with pytest.raises(ValueError, match="shape"):
        proc.loss_at(ok, x0, torch.full((5,), 0.5))
    with pytest.raises(ValueError, match="float times"):
        proc.loss_at(ok, x0, torch.ones(4, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        proc.loss_at(ok, x0, torch.tensor([0.0, 0.5, 0.5, 0.5]))
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        proc.loss_at(ok, x0, torch.tensor([1.5, 0.5, 0.5, 0.5]))
    with pytest.raises(ValueError, match="steps"):
        proc.sample(ok, 2, 8, gen(), steps=0)
