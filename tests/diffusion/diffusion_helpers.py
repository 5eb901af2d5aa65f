"""Helpers imported by the diffusion tests: seeded generators, both processes by name, and test denoisers.

The denoisers: an oracle, a constant, a counting wrapper and a tiny trainable network.
"""

import pytest
import torch
import torch.nn.functional as F

from rhm_memo.diffusion import DiffusionProcess, MaskedDiffusion, UniformDiffusion

#: Runs a test once per process, with its name ("uniform" or "masked") as the ``name`` argument.
PROCESSES = pytest.mark.parametrize("name", ["uniform", "masked"])


def gen(seed: int = 0) -> torch.Generator:
    """A seeded CPU generator."""
    return torch.Generator().manual_seed(seed)


def make(name: str, v: int, num_steps: int | None = None, **kwargs) -> DiffusionProcess:
    """The process ``name`` ("uniform" or "masked") over ``v`` tokens with ``num_steps`` steps (default: its own)."""
    if num_steps is not None:
        kwargs["num_steps"] = num_steps
    if name == "uniform":
        return UniformDiffusion(v, **kwargs)
    return MaskedDiffusion(v, **kwargs)


def check_common_loss_errors(proc: DiffusionProcess) -> tuple[torch.Tensor, "Constant"]:
    """Assert the loss errors every process raises; return a valid ``(4, 8)`` x0 and denoiser for more checks."""
    v = proc.vocab_size
    x0 = torch.randint(v, (4, 8), generator=gen())
    ok = Constant(torch.zeros(8, v))
    with pytest.raises(ValueError, match="n_trajectories"):
        proc.loss(ok, x0, n_trajectories=0)
    with pytest.raises(ValueError, match="x0 must be a"):
        proc.loss(ok, x0.float())
    with pytest.raises(ValueError, match="logits of shape"):
        proc.loss(Constant(torch.zeros(8, v + 1)), x0)  # for the masked process: no logit for the mask class
    return x0, ok


class Oracle:
    """Denoiser with logit ``margin`` on the true x_0 of every row.

    ``x0`` of shape ``(B, d)`` is matched row by row (for ``loss(..., n_trajectories=n)`` pass
    ``x0.repeat_interleave(n, 0)``, the order the process uses); a ``(d,)`` target is broadcast to any batch.
    """

    def __init__(self, x0: torch.Tensor, v: int, margin: float = 1e4) -> None:
        self.x0, self.v, self.margin = x0, v, margin

    def __call__(self, x_t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        x0 = self.x0.expand(x_t.shape[0], -1) if self.x0.dim() == 1 else self.x0
        assert x0.shape == x_t.shape and cond.shape == (x_t.shape[0],)
        return self.margin * F.one_hot(x0, self.v).float()


class Constant:
    """Denoiser that returns the same ``(d, v)`` logits for every input."""

    def __init__(self, logits: torch.Tensor) -> None:
        self.logits = logits

    def __call__(self, x_t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.logits.expand(x_t.shape[0], -1, -1)


class Counting:
    """Wraps a denoiser and records the batch size of every call."""

    def __init__(self, denoiser) -> None:
        self.denoiser, self.batch_sizes = denoiser, []

    def __call__(self, x_t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        self.batch_sizes.append(x_t.shape[0])
        return self.denoiser(x_t, cond)


class TinyNet(torch.nn.Module):
    """Embedding + time feature + linear head: the smallest trainable denoiser."""

    def __init__(self, input_size: int, v: int, width: int = 8) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(input_size, width)
        self.time = torch.nn.Linear(1, width)
        self.head = torch.nn.Linear(width, v)

    def forward(self, x_t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.head(torch.tanh(self.embed(x_t) + self.time(cond[:, None, None])))
