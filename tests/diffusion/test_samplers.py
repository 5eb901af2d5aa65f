"""Sampler tests shared by every diffusion process: shapes, dtypes, seeds, oracle targets, exact marginals, calls.

Each test runs on both processes; what only one process does (the uniform chain's last-step re-noising, the
masked sampler's grid and prediction reuse) is tested in ``test_uniform.py`` and ``test_masked.py``.
"""

import pytest
import torch
from diffusion_helpers import PROCESSES, Constant, Counting, Oracle, TinyNet, gen, make


@pytest.mark.parametrize(
    ("name", "num_steps", "steps"),
    [("uniform", 50, None), ("uniform", 1, None), ("masked", 200, 1), ("masked", 200, 7), ("masked", 200, 200)],
)
def test_oracle_reproduces_target(name, num_steps, steps):
    """A denoiser sure of x_0 makes every sample equal x_0, with any number of steps; int64 of shape (num, d)."""
    v = 6
    proc = make(name, v, num_steps)
    target = torch.randint(v, (16,), generator=gen(1))
    out = proc.sample(Oracle(target, v), 9, 16, gen(2), steps=steps)
    assert out.shape == (9, 16) and out.dtype == torch.int64
    assert bool((out == target).all())


@PROCESSES
def test_determinism_and_range(name):
    """Same seed ⇒ same samples, another seed ⇒ other samples; every token is a real token (no mask left)."""
    v = 5
    proc = make(name, v, 30)
    logits = torch.randn(12, v, generator=gen(1))
    a = proc.sample(Constant(logits), 50, 12, gen(7))
    b = proc.sample(Constant(logits), 50, 12, gen(7))
    c = proc.sample(Constant(logits), 50, 12, gen(8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.min() >= 0 and a.max() < v


@pytest.mark.parametrize(
    ("name", "num_steps", "kwargs"),
    [("uniform", 30, {"beta_start": 0.3, "beta_end": 0.7}), ("masked", 10, {})],
)
def test_constant_prediction_gives_its_marginals(name, num_steps, kwargs):
    """A constant p̃(x_0) = π makes the sampler draw x_0 ~ π at each position (5 binomial sd).

    Uniform: every kernel is then the exact reverse of the chain started from π (up to ᾱ_T < 1e-6). Masked: each
    token is unmasked once, to a draw from π.
    """
    v, n = 4, 40_000
    proc = make(name, v, num_steps, **kwargs)
    if name == "uniform":
        assert proc.alpha_bar[-1] < 1e-6
    pi = torch.tensor([[0.5, 0.3, 0.15, 0.05], [0.05, 0.05, 0.1, 0.8]], dtype=torch.float64)
    out = proc.sample(Constant(pi.log()), n, 2, gen(3))
    for pos in range(2):
        freq = torch.bincount(out[:, pos], minlength=v).double() / n
        assert bool(((freq - pi[pos]).abs() <= 5 * (pi[pos] * (1 - pi[pos]) / n).sqrt() + 1e-6).all())


@pytest.mark.parametrize(("name", "kwargs"), [("uniform", {}), ("masked", {"reuse_predictions": False})])
def test_denoiser_called_once_per_step_on_the_whole_batch(name, kwargs):
    """Without prediction reuse the sampler calls the denoiser exactly num_steps times, each on all num rows."""
    proc = make(name, 3, 13, **kwargs)
    counter = Counting(Constant(torch.zeros(4, 3)))
    proc.sample(counter, 5, 4, gen())
    assert counter.batch_sizes == [5] * 13


@PROCESSES
def test_denoiser_sees_the_documented_inputs(name):
    """The denoiser gets (B, d) int64 ids in 0..input_size-1 and (B,) float32 cond in [0, 1], rising as noise falls.

    B is num, or (masked sampler reusing predictions) the number of rows that changed at the previous step.
    """
    v, num, d = 4, 6, 8
    proc = make(name, v, 12)
    conds = []

    def recorder(x_t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        assert x_t.dtype == torch.int64 and x_t.dim() == 2 and 1 <= x_t.shape[0] <= num and x_t.shape[1] == d
        assert int(x_t.min()) >= 0 and int(x_t.max()) < proc.input_size
        assert cond.dtype == torch.float32 and cond.shape == (x_t.shape[0],)
        assert bool((cond == cond[0]).all())  # one noise level for the whole batch
        conds.append(float(cond[0]))
        return torch.zeros(*x_t.shape, v)

    proc.sample(recorder, num, d, gen(1))
    assert 1 <= len(conds) <= 12 and all(0.0 <= c <= 1.0 for c in conds)
    assert conds == sorted(set(conds))  # from pure noise towards x_0


@PROCESSES
def test_network_denoiser(name):
    """A small trainable network (in eval mode) as denoiser gives strings of real tokens of the asked shape."""
    v = 6
    proc = make(name, v, 20)
    net = TinyNet(proc.input_size, v).eval()
    out = proc.sample(net, 10, 8, gen(1))
    assert out.shape == (10, 8) and out.dtype == torch.int64 and out.min() >= 0 and out.max() < v


@PROCESSES
def test_default_steps_and_device_arguments(name):
    """steps=None means num_steps and device=None the process's device: spelling them out changes nothing."""
    v = 5
    proc = make(name, v, 9)
    logits = torch.randn(6, v, generator=gen(1))
    default = proc.sample(Constant(logits), 20, 6, gen(4))
    explicit = proc.sample(Constant(logits), 20, 6, gen(4), steps=9, device="cpu")
    assert torch.equal(default, explicit) and default.device.type == "cpu"


@PROCESSES
def test_bad_sample_arguments(name):
    """sample() needs an explicit torch.Generator and a positive num and seq_len."""
    v = 6
    proc = make(name, v, 10)
    ok = Constant(torch.zeros(8, v))
    for generator in (None, 0):
        with pytest.raises(ValueError, match=r"torch\.Generator"):
            proc.sample(ok, 2, 8, generator)
    with pytest.raises(ValueError, match="num"):
        proc.sample(ok, 0, 8, gen())
    with pytest.raises(ValueError, match="seq_len"):
        proc.sample(ok, 2, 0, gen())
