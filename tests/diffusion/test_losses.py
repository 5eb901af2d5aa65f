"""Loss tests shared by every diffusion process: the oracle's loss is zero, gradients reach every parameter.

What only one process does (the uniform KL against explicit matrices, the masked ELBO weight) is tested in
``test_uniform.py`` and ``test_masked.py``.
"""

import torch
from diffusion_helpers import PROCESSES, Oracle, TinyNet, gen, make


@PROCESSES
def test_loss_is_zero_for_the_oracle(name):
    """n trajectories per string, each with its own time: shapes, independent times, loss ≈ 0 for the oracle."""
    v, n = 6, 4
    proc = make(name, v)
    x0 = torch.randint(v, (8, 16), generator=gen(1))
    out = proc.loss(Oracle(x0.repeat_interleave(n, 0), v), x0, n_trajectories=n, generator=gen(2))
    assert out["t"].shape == (32,) and out["loss_per_row"].shape == (32,)
    assert 0 <= out["loss"] < 1e-5
    assert len(set(out["t"].view(8, n)[0].tolist())) > 1  # trajectories of a string get independent times


@PROCESSES
def test_gradients_flow_and_are_finite(name):
    """Through loss (random times, several trajectories) and loss_at (every time of the grid but 0)."""
    v = 6
    proc = make(name, v, num_steps=20)
    net = TinyNet(proc.input_size, v)
    x0 = torch.randint(v, (20, 8), generator=gen(1))
    for out in [proc.loss(net, x0, 2, gen(2)), proc.loss_at(net, x0, proc.time_grid()[1:], gen(3))]:
        net.zero_grad()
        out["loss"].backward()
        grads = [p.grad for p in net.parameters()]
        assert all(g is not None and bool(g.isfinite().all()) for g in grads)
        assert any(bool((g != 0).any()) for g in grads)
