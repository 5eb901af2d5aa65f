"""Tests shared by every backbone: shapes, dtypes, determinism, bf16 autocast, gradients, one Adam step, tracing."""

import pytest
import torch
import torch.nn.functional as F

from rhm_memo.models import DiffusionTransformer, HierarchicalUNet

V, D, S = 6, 16, 2


def make(name: str, input_size: int) -> torch.nn.Module:
    """A tiny backbone of the given kind, with every zero-initialized layer of the transformer randomized."""
    torch.manual_seed(0)
    if name == "transformer":
        model = DiffusionTransformer(input_size, V, D, width=16, depth=2, heads=2)
        for linear in model.zero_init_layers():
            torch.nn.init.normal_(linear.weight, std=0.3)
            torch.nn.init.normal_(linear.bias, std=0.3)
        return model
    return HierarchicalUNet(input_size, V, D, s=S, width=16)


def batch(input_size: int, n: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """Random tokens in [0, input_size) and cond in [1/V, 1]."""
    g = torch.Generator().manual_seed(1)
    return torch.randint(0, input_size, (n, D), generator=g), 1 / V + (1 - 1 / V) * torch.rand(n, generator=g)


BACKBONES = pytest.mark.parametrize("name", ["transformer", "unet"])
SIZES = pytest.mark.parametrize("input_size", [V, V + 1])


@BACKBONES
@SIZES
def test_shape_dtype_and_determinism(name, input_size):
    """Logits are float32 of shape (B, d, v) for v and v+1 input ids; eval-mode forward is deterministic."""
    model = make(name, input_size).eval()
    x, c = batch(input_size)
    with torch.no_grad():
        y = model(x, c)
        assert y.shape == (8, D, V) and y.dtype == torch.float32
        assert torch.equal(y, model(x, c))
        assert bool(torch.isfinite(y).all())


@BACKBONES
@SIZES
def test_bf16_autocast_is_finite_and_close(name, input_size):
    """Under CPU bf16 autocast the logits are finite and close to the float32 ones; gradients are finite."""
    model = make(name, input_size)
    x, c = batch(input_size)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = model(x, c)
        loss = F.cross_entropy(y.float().flatten(0, 1), x.clamp(max=V - 1).flatten())
    loss.backward()
    assert bool(torch.isfinite(y).all())
    ref = model(x, c).detach()
    assert (y.float() - ref).abs().max() <= 0.1 * ref.abs().max() + 1e-3
    assert all(bool(torch.isfinite(p.grad).all()) for p in model.parameters() if p.grad is not None)


@BACKBONES
def test_gradients_finite_and_adam_step_reduces_loss(name):
    """With a cross-entropy loss all gradients are finite and one Adam step on a fixed batch lowers the loss."""
    model = make(name, V)
    x, c = batch(V, 32)
    target = torch.randint(0, V, (32, D), generator=torch.Generator().manual_seed(2))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def loss_fn() -> torch.Tensor:
        return F.cross_entropy(model(x, c).flatten(0, 1), target.flatten())

    loss = loss_fn()
    loss.backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and bool(torch.isfinite(g).all()) for g in grads)
    opt.step()
    with torch.no_grad():
        assert loss_fn().item() < loss.item()


@BACKBONES
def test_traces_as_one_graph(name):
    """``torch.compile(fullgraph=True)`` traces forward without graph breaks (eager backend, to stay fast)."""
    model = make(name, V).eval()
    x, c = batch(V)
    compiled = torch.compile(model, backend="eager", fullgraph=True)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x, c), model(x, c))


@BACKBONES
def test_flops_scale_with_batch(name):
    """``flops(batch)`` is positive and linear in the batch size."""
    model = make(name, V)
    assert model.flops(1) > 0 and model.flops(7) == 7 * model.flops(1)
