"""Tests of rhm_memo.models.unet: the paper code's U-Net, its weight scales, receptive field and time input."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from rhm_memo.models import BackboneInputs, HierarchicalUNet
from rhm_memo.models.unet import PAPER_UNET_SCHEDULE, ScaledConv1d, paper_alphabar

V = 6


def paper_cond(beta_min: float, beta_max: float, steps: int, v: int) -> torch.Tensor:
    """cond = ᾱ_t + (1 − ᾱ_t)/v at t = 0..steps for the paper code's schedule (its diffusion: 0.001, 0.1, 200)."""
    a = paper_alphabar(beta_min, beta_max, steps)
    return a + (1 - a) / v


def paper_reference(model: HierarchicalUNet, x_t: torch.Tensor, t: torch.Tensor, steps: int) -> torch.Tensor:
    """The paper code's bpUNET forward, transcribed step by step (one-hot input, t/T time, its own schedule)."""
    v, s, w = model.input_size, model.s, model.width
    x = F.one_hot(x_t, v).transpose(1, 2).float()
    a = paper_alphabar(*PAPER_UNET_SCHEDULE)
    index = ((t / steps) * PAPER_UNET_SCHEDULE[2]).long()
    mean = (a * 1.0 + (1 - a) / v).mean()
    std = ((a * 1.0 + (1 - a) / v**2).mean() - mean**2) ** 0.5
    h = (a[index, None, None] * x + (1 - a[index, None, None]) / v - mean) / std
    h = F.gelu(F.conv1d(h, model.embed.weight) / v**0.5)
    outs = [h]
    for block in model.down:
        h = F.conv1d(h, block.conv.weight, stride=s) / (s * w) ** 0.5
        h = F.gelu(F.layer_norm(h.transpose(1, 2), (w,), block.norm.weight, block.norm.bias).transpose(1, 2))
        outs.append(h)
    for block in model.up:
        h = torch.cat((h, outs.pop()), 1)
        h = F.conv_transpose1d(h, block.conv.weight, stride=s) / (s * 2 * w) ** 0.5
        h = F.gelu(F.layer_norm(h.transpose(1, 2), (w,), block.norm.weight, block.norm.bias).transpose(1, 2))
    return (F.conv1d(torch.cat((h, outs.pop()), 1), model.readout.weight) / (2 * w)).transpose(1, 2)


def test_paper_time_schedule_reproduces_paper_forward():
    """With ``paper_time_schedule`` the logits equal the paper code's forward, mismatched schedule included."""
    torch.manual_seed(0)
    cond_schedule = paper_cond(0.001, 0.1, 200, V)
    inputs = BackboneInputs(V, V, 16, s=2, cond_schedule=cond_schedule)
    model = HierarchicalUNet(inputs, width=8, paper_time_schedule=PAPER_UNET_SCHEDULE)
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, V, (6, 16), generator=g)
    t = torch.tensor([1, 2, 7, 50, 199, 200])
    with torch.no_grad():
        torch.testing.assert_close(model(x, cond_schedule[t]), paper_reference(model, x, t, 200), rtol=1e-4, atol=1e-5)


def test_default_time_input_is_standardized_posterior_of_own_schedule():
    """By default the input is (p(x_0|x_t) − μ)/σ with ᾱ and the statistics of the process's own schedule."""
    cond_schedule = paper_cond(0.001, 0.1, 200, V)
    model = HierarchicalUNet(BackboneInputs(V, V, 8, s=2, cond_schedule=cond_schedule), width=4)
    a = paper_alphabar(0.001, 0.1, 200)
    mean = (a + (1 - a) / V).mean()
    std = ((a + (1 - a) / V**2).mean() - mean**2) ** 0.5
    x = torch.randint(0, V, (5, 8), generator=torch.Generator().manual_seed(2))
    t = torch.tensor([1, 10, 100, 150, 200])
    expected = (a[t, None, None] * F.one_hot(x, V).transpose(1, 2) + (1 - a[t, None, None]) / V - mean) / std
    torch.testing.assert_close(model.time_input(x, cond_schedule[t]), expected, rtol=1e-4, atol=1e-5)
    p = model.time_input(x, cond_schedule[t]) * model.cond_std + model.cond_mean
    torch.testing.assert_close(p.sum(1), torch.ones(5, 8))  # a probability vector per position


def test_default_standardization_without_schedule():
    """Without a schedule μ = (1 + 1/K)/2: cond = 1 maps the observed channel to +1, cond = 1/K to −1."""
    model = HierarchicalUNet(BackboneInputs(V, V, 4, s=2), width=4)
    x = torch.zeros(2, 4, dtype=torch.long)
    h = model.time_input(x, torch.tensor([1.0, 1 / V]))
    torch.testing.assert_close(h[:, 0, 0], torch.tensor([1.0, -1.0]))


def test_weight_scales_and_no_conv_bias():
    """Stored weights are N(0, 1); effective weights have std 1/sqrt(kernel·fan_in) (1/fan_in at the readout).

    Convolutions have no bias; the only biases are the LayerNorms' affine shifts, as in the paper code.
    """
    torch.manual_seed(0)
    w, s = 64, 2
    model = HierarchicalUNet(BackboneInputs(V, V, 8, s=s), width=w)
    expected = {"embed": V**-0.5, "readout": 1 / (2 * w)}
    for i in range(model.L):
        expected[f"down.{i}.conv"] = (s * w) ** -0.5
        expected[f"up.{i}.conv"] = (s * 2 * w) ** -0.5  # the paper code's num_add = kernel · in_channels
    convs = {name: m for name, m in model.named_modules() if isinstance(m, ScaledConv1d)}
    assert set(convs) == set(expected)
    for name, conv in convs.items():
        assert conv.weight.std().item() == pytest.approx(1.0, rel=0.1)
        assert conv.effective_weight().std().item() == pytest.approx(expected[name], rel=0.1), name
    biases = [name for name, _ in model.named_parameters() if name.endswith("bias")]
    assert biases and all(".norm." in name for name in biases)


def test_receptive_field_is_global_and_cond_matters():
    """With s = 2, L = 3, changing token 0 changes the logits at every position; changing cond changes them."""
    torch.manual_seed(0)
    model = HierarchicalUNet(BackboneInputs(V, V, 8, s=2), width=16).eval()
    x = torch.randint(0, V, (3, 8), generator=torch.Generator().manual_seed(5))
    c = torch.tensor([0.3, 0.6, 0.9])
    y = model(x, c)
    x2 = x.clone()
    x2[:, 0] = (x[:, 0] + 1) % V
    assert (model(x2, c) - y).abs().amax(dim=-1).min() > 1e-6
    assert (model(x, torch.tensor([0.8, 0.2, 0.5])) - y).abs().amax(dim=-1).min() > 1e-6


def test_flops_match_counted_convolutions():
    """``flops`` equals the convolution FLOPs counted by FlopCounterMode."""
    for s, d in [(2, 16), (3, 27)]:
        model = HierarchicalUNet(BackboneInputs(V + 1, V, d, s=s), width=8)
        with FlopCounterMode(display=False) as counter:
            model(torch.zeros(3, d, dtype=torch.long), torch.ones(3))
        assert model.flops(3) == counter.get_total_flops()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"seq_len": 12}, "power of s"),
        ({"seq_len": 9, "s": 2}, "power of s"),
        ({"s": 1}, r"\bs\b"),
        ({"s": None}, "branching factor s"),
        ({"width": 0}, "width"),
        ({"input_size": 1}, "input_size"),
        ({"cond_schedule": [0.5]}, "cond_schedule"),
        ({"cond_schedule": [1.0, 1.0]}, "mean of cond"),
        ({"paper_time_schedule": PAPER_UNET_SCHEDULE}, "needs cond_schedule"),
        ({"input_size": V + 1, "cond_schedule": [1.0, 0.5], "paper_time_schedule": PAPER_UNET_SCHEDULE}, "input_size"),
        ({"cond_schedule": [1.0, 0.5], "paper_time_schedule": (0.02, 1e-4, 1000)}, "paper_time_schedule"),
    ],
)
def test_bad_args(kwargs, match):
    """Invalid sizes and schedules raise ValueError naming the problem."""
    args = {"input_size": V, "vocab_size": V, "seq_len": 16, "s": 2, "width": 4, **kwargs}
    inputs = {k: args.pop(k) for k in ("input_size", "vocab_size", "seq_len", "s", "cond_schedule") if k in args}
    with pytest.raises(ValueError, match=match):
        HierarchicalUNet(BackboneInputs(**inputs), **args)


def test_standardization_formula_matches_paper_statistics():
    """σ = sqrt((μ − 1/v)(1 − μ)) equals the paper code's sqrt(E[ᾱ + (1 − ᾱ)/v²] − μ²) on its U-Net schedule."""
    a = paper_alphabar(*PAPER_UNET_SCHEDULE).double()
    mean = (a + (1 - a) / V).mean().item()
    std = math.sqrt((a + (1 - a) / V**2).mean().item() - mean**2)
    assert math.sqrt((mean - 1 / V) * (1 - mean)) == pytest.approx(std, rel=1e-9)
