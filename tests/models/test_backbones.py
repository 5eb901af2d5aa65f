"""Tests shared by every backbone: shapes, dtypes, determinism, bf16 autocast, gradients, one Adam step, tracing."""

import pytest
import torch
import torch.nn.functional as F

from rhm_memo.models import Backbone, BackboneInputs, DiffusionTransformer, HierarchicalUNet

V, D, S = 6, 16, 2


def make(name: str, input_size: int) -> torch.nn.Module:
    """A tiny backbone of the given kind, with every zero-initialized layer of the transformer randomized."""
    torch.manual_seed(0)
    if name == "transformer":
        model = DiffusionTransformer(BackboneInputs(input_size, V, D), width=16, depth=2, heads=2)
        for linear in model.zero_init_layers():
            torch.nn.init.normal_(linear.weight, std=0.3)
            torch.nn.init.normal_(linear.bias, std=0.3)
        return model
    return HierarchicalUNet(BackboneInputs(input_size, V, D, s=S), width=16)


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


# ---------------------------------------------------------------------- BackboneInputs and the Backbone base class
def test_backbone_inputs_are_plain_frozen_data():
    """A tensor cond_schedule is stored as a tuple of floats; the inputs are frozen, hashable and compare by value."""
    schedule = torch.linspace(1.0, 0.2, 5)
    inputs = BackboneInputs(V, V, D, s=S, cond_schedule=schedule)
    assert inputs.cond_schedule == tuple(schedule.tolist()) and all(type(c) is float for c in inputs.cond_schedule)
    assert inputs == BackboneInputs(V, V, D, s=S, cond_schedule=schedule.tolist())
    assert hash(inputs) == hash(BackboneInputs(V, V, D, s=S, cond_schedule=tuple(schedule.tolist())))
    with pytest.raises(AttributeError):
        inputs.s = 3


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"input_size": 0}, "input_size"), ({"vocab_size": 1.5}, "vocab_size"), ({"seq_len": 0}, "seq_len"),
     ({"s": 1}, r"\bs\b"), ({"cond_schedule": "0.5"}, "cond_schedule")],
)  # fmt: skip
def test_backbone_inputs_bad_values(kwargs, match):
    """Non-positive or non-integer sizes, s < 2 and a non-sequence schedule raise ValueError naming the field."""
    with pytest.raises(ValueError, match=match):
        BackboneInputs(**{"input_size": V, "vocab_size": V, "seq_len": D, **kwargs})


@BACKBONES
def test_backbone_keeps_its_inputs(name):
    """Every backbone is a Backbone holding its inputs, with input_size, out_size = v and seq_len from them."""
    model = make(name, V + 1)
    assert isinstance(model, Backbone)
    assert model.inputs.input_size == model.input_size == V + 1
    assert model.inputs.vocab_size == model.out_size == V and model.inputs.seq_len == model.seq_len == D


@BACKBONES
def test_backbone_refuses_bare_sizes(name):
    """The old call with sizes as separate arguments fails with a TypeError naming BackboneInputs."""
    cls = DiffusionTransformer if name == "transformer" else HierarchicalUNet
    with pytest.raises(TypeError, match="BackboneInputs"):
        cls(V, V, D)
