"""The paper code's hierarchical 1-D convolutional U-Net (its ``bpUNET``), with its time input.

Architecture (our code, same computation as the paper code's ``diffusion/unet.py``):

* **time input**: the one-hot of x_t (``K = input_size`` channels) is replaced by the standardized posterior
  ``(p(x_0 | x_t) − μ) / σ``: ``p = cond`` on the channel of the observed token, ``(1 − cond)/(K − 1)`` on the
  others (for uniform diffusion this is exactly p(x_0 = k | x_t) under a uniform prior, and ``cond`` its
  diagonal value ᾱ_t + (1 − ᾱ_t)/v); ``μ`` is the mean of ``cond`` over the process's time grid and
  ``σ = sqrt((μ − 1/K)(1 − μ))``, the paper code's ``std`` rewritten in terms of ``μ``;
* a 1×1 embedding convolution to ``width`` channels, GELU;
* L down blocks [Conv1d, kernel = stride = s → LayerNorm over channels → GELU];
* L up blocks [concatenate the skip → ConvTranspose1d, kernel = stride = s → LayerNorm → GELU]; the first up
  block's "skip" is the bottleneck itself (the paper code concatenates it with itself), the next ones take
  the down outputs of matching length;
* the readout concatenates the embedding output and applies a 1×1 convolution to ``out_size`` channels.

Convolutions have no bias and use the paper code's parametrization: the stored weights are N(0, 1) and the
output is divided by ``sqrt(kernel · in_channels)`` (by ``kernel · in_channels`` at the readout). The
LayerNorms keep their affine weight and bias, as in the paper code.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from rhm_memo.checks import check_int
from rhm_memo.models.base import Backbone, BackboneInputs

#: The paper code's U-Net-internal schedule (β_min, β_max, T), different from its diffusion's (0.001, 0.1, 200).
PAPER_UNET_SCHEDULE = (1e-4, 0.02, 1000)


def paper_alphabar(beta_min: float, beta_max: float, steps: int) -> torch.Tensor:
    """ᾱ_t, t = 0..steps, of the paper code's ``ddpm_schedules``: β linear over t = 0..steps, ᾱ_t = Π_{i≤t}(1 − β_i).

    As in that code ᾱ_0 = 1 − β_min (not 1) and the product is taken as exp(cumsum(log)) in float32.
    """
    betas = (beta_max - beta_min) * torch.arange(0, steps + 1, dtype=torch.float32) / steps + beta_min
    return torch.cumsum(torch.log(1 - betas), dim=0).exp()


def standardization(mean_cond: float, num_classes: int) -> tuple[float, float]:
    """(μ, σ) of the time input from the mean of ``cond`` over the time grid: ``σ = sqrt((μ − 1/K)(1 − μ))``.

    This equals the paper code's ``mean = E_t[ᾱ_t + (1 − ᾱ_t)/v]`` and ``std = sqrt(E_t[ᾱ_t + (1 − ᾱ_t)/v²] −
    mean²)`` with ``K = v`` and ``μ = mean``.
    """
    if not 1.0 / num_classes < mean_cond < 1.0:
        raise ValueError(
            f"the mean of cond over the time grid must lie in (1/input_size, 1) = ({1 / num_classes:.4g}, 1), "
            f"got {mean_cond!r}"
        )
    return mean_cond, math.sqrt((mean_cond - 1.0 / num_classes) * (1.0 - mean_cond))


class ScaledConv1d(nn.Module):
    """Bias-free Conv1d (or ConvTranspose1d) with kernel = stride, N(0, 1) weights, output divided by a fan-in.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        kernel: Kernel size, equal to the stride.
        transpose: Transposed convolution (upsampling by ``kernel``).
        readout: Divide by ``kernel · in_channels`` instead of its square root (the paper's last layer).
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel: int, transpose: bool = False, readout: bool = False
    ) -> None:
        super().__init__()
        self.kernel, self.transpose = kernel, transpose
        shape = (in_channels, out_channels, kernel) if transpose else (out_channels, in_channels, kernel)
        self.weight = nn.Parameter(torch.randn(shape))
        fan_in = kernel * in_channels  # the paper code's num_add, also for the transposed convolution
        self.scale = 1.0 / fan_in if readout else fan_in**-0.5

    def effective_weight(self) -> torch.Tensor:
        """The weight the convolution applies: ``weight · scale``."""
        return self.weight * self.scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Channels-last ``(B, n, in_channels)`` → ``(B, n / kernel, out_channels)`` (``n · kernel`` if transposed).

        Kernel = stride, so the convolution is one matrix product over non-overlapping windows: faster on CPU
        than ``F.conv1d`` and free of layout transposes. Equal to ``F.conv1d(x.mT, weight, stride=kernel)``
        (``conv_transpose1d`` when transposed) times ``scale``, transposed back.
        """
        b, n, c = x.shape
        k = self.kernel
        if self.transpose:  # weight (in, out, k): y[b, j*k + i, o] = Σ_c x[b, j, c] W[c, o, i]
            w = self.weight.permute(0, 2, 1).reshape(c, -1)
            return (x @ (w * self.scale)).reshape(b, n * k, -1)
        w = self.weight.permute(2, 1, 0).reshape(k * c, -1)  # weight (out, in, k): rows ordered (i, c)
        return x.reshape(b, n // k, k * c) @ (w * self.scale)


class ConvNormAct(nn.Module):
    """A ``ScaledConv1d`` → LayerNorm over channels → GELU.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        s: Kernel size and stride.
        transpose: Upsampling (transposed) convolution.
    """

    def __init__(self, in_channels: int, out_channels: int, s: int, transpose: bool) -> None:
        super().__init__()
        self.conv = ScaledConv1d(in_channels, out_channels, s, transpose=transpose)
        self.norm = nn.LayerNorm(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Channels-last ``(B, n, in_channels)`` → ``(B, n / s or n · s, out_channels)``."""
        return F.gelu(self.norm(self.conv(x)))


class HierarchicalUNet(Backbone):
    """The paper's hierarchical conv U-Net (``bpUNET``): ``(x_t, cond)`` → logits of x_0 ``(B, d, out_size)``.

    Args:
        inputs: Supplied by ``DiffusionModule``: ``input_size`` token ids (one-hot channels; v for uniform
            diffusion, v + 1 with a mask id v), ``vocab_size`` classes per position, ``seq_len`` d = s**L with
            L >= 1, the grammar's branching factor ``s`` (kernel size and stride of every (transposed)
            convolution; required) and the process's ``cond_schedule``: ``cond`` at every step t = 0..T of its
            time grid (``cond`` = probability that a token of x_t equals its x_0 token). The schedule's mean μ
            standardizes the time input; without it μ = (1 + 1/K)/2, the middle of the range of ``cond`` under
            uniform diffusion (K = input_size). It is required with ``paper_time_schedule``.
        width: Channels of every hidden layer (the paper uses 4096).
        paper_time_schedule: ``(β_min, β_max, T')`` to reproduce the paper code's mismatched time input, e.g.
            ``(1e-4, 0.02, 1000)``: each row's step t is recovered as the entry of ``cond_schedule`` nearest to
            ``cond``, and the input uses ᾱ' at index ``int(t/T · T')`` of that other schedule, standardized with
            its own statistics. None (default): use ``cond`` itself.
    """

    def __init__(
        self,
        inputs: BackboneInputs,
        width: int = 256,
        paper_time_schedule: tuple[float, float, int] | None = None,
    ) -> None:
        super().__init__(inputs)
        input_size, out_size, seq_len, s = self.input_size, self.out_size, self.seq_len, inputs.s
        if s is None:
            raise ValueError(
                "HierarchicalUNet needs the grammar's branching factor s: BackboneInputs(s=...), "
                "DiffusionModule(s=...) (the CLI links it from data.s)"
            )
        check_int("input_size", input_size, 2)
        check_int("seq_len", seq_len, 2)
        check_int("width", width, 1)
        levels = round(math.log(seq_len, s))
        if s**levels != seq_len:
            raise ValueError(f"seq_len must be a power of s, got seq_len={seq_len}, s={s}")
        self.s, self.L, self.width = s, levels, width

        schedule = None
        if inputs.cond_schedule is not None:
            schedule = torch.tensor(inputs.cond_schedule, dtype=torch.float32)
            if schedule.numel() < 2 or not bool(((schedule >= 0) & (schedule <= 1)).all()):
                raise ValueError("cond_schedule must hold at least 2 values in [0, 1] (cond at t = 0..T)")
        self.paper_time = paper_time_schedule is not None
        if self.paper_time:
            if schedule is None:
                raise ValueError("paper_time_schedule needs cond_schedule (to recover the step t from cond)")
            if input_size != out_size:
                raise ValueError("paper_time_schedule reproduces uniform diffusion: it needs input_size == out_size")
            beta_min, beta_max, steps = paper_time_schedule
            if not (0 < beta_min < beta_max < 1) or not isinstance(steps, int) or steps < 1:
                raise ValueError(
                    f"paper_time_schedule must be (β_min, β_max, T') with 0 < β_min < β_max < 1, T' >= 1, "
                    f"got {paper_time_schedule!r}"
                )
            alphabar = paper_alphabar(beta_min, beta_max, steps)
            self.paper_steps = steps
            self.register_buffer("cond_schedule", schedule, persistent=False)
            self.register_buffer("paper_alphabar", alphabar, persistent=False)
            mean = float((alphabar + (1 - alphabar) / input_size).mean())
        else:
            mean = 0.5 * (1 + 1 / input_size) if schedule is None else float(schedule.mean())
        self.cond_mean, self.cond_std = standardization(mean, input_size)

        self.embed = ScaledConv1d(input_size, width, 1)
        self.down = nn.ModuleList(ConvNormAct(width, width, s, transpose=False) for _ in range(levels))
        self.up = nn.ModuleList(ConvNormAct(2 * width, width, s, transpose=True) for _ in range(levels))
        self.readout = ScaledConv1d(2 * width, out_size, 1, readout=True)

    def time_input(self, x_t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """The standardized posterior ``(p(x_0|x_t) − μ)/σ`` fed to the network: ``(B, input_size, d)`` float32."""
        K = self.input_size
        if self.paper_time:
            steps_process = self.cond_schedule.numel() - 1
            t = (self.cond_schedule[None, :] - cond.float()[:, None]).abs().argmin(dim=1)
            index = (t.float() / steps_process * self.paper_steps).long()  # the paper code's (t/T · T').long()
            alphabar = self.paper_alphabar[index]
            on, off = alphabar + (1 - alphabar) / K, (1 - alphabar) / K
        else:
            on = cond.float()
            off = (1 - on) / (K - 1)
        onehot = F.one_hot(x_t, K).transpose(1, 2).float()
        p = off[:, None, None] + (on - off)[:, None, None] * onehot
        return (p - self.cond_mean) / self.cond_std

    def forward(self, x_t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """``x_t``: ``(B, d)`` token ids, ``cond``: ``(B,)`` → logits of x_0 ``(B, d, out_size)``."""
        x = F.gelu(self.embed(self.time_input(x_t, cond).transpose(1, 2)))  # channels-last from here on
        skips = [x]
        for block in self.down:
            x = block(x)
            skips.append(x)
        for block in self.up:
            x = block(torch.cat((x, skips.pop()), dim=-1))
        return self.readout(torch.cat((x, skips.pop()), dim=-1))

    def flops(self, batch: int) -> int:
        """Forward FLOPs of the convolutions for ``batch`` strings (multiply-add = 2 FLOPs; see docs/models.md)."""
        w, d, s = self.width, self.seq_len, self.s
        total = 2 * self.input_size * w * d + 2 * (2 * w) * self.out_size * d
        for level in range(1, self.L + 1):
            total += 2 * (s * w) * w * (d // s**level)  # down block to length d / s**level
            total += 2 * (2 * w) * w * (d // s ** (level - 1))  # up block to length d / s**(level-1)
        return batch * total
