"""What every backbone shares: the inputs the data and the process fix (``BackboneInputs``) and the base class.

A backbone's constructor takes a :class:`BackboneInputs` first, then its own hyperparameters (the YAML
``init_args``). ``DiffusionModule`` builds the inputs and calls ``net(inputs)``, so a config names only the
hyperparameters, and ``model.net.class_path`` accepts subclasses of :class:`Backbone` only.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from rhm_memo.checks import check_int


@dataclass(frozen=True)
class BackboneInputs:
    """What the data and the diffusion process fix about a backbone (``DiffusionModule`` fills it in).

    Args:
        input_size: Number of token ids in x_t: the process's ``input_size`` (v, or v + 1 with a mask id v).
        vocab_size: Number v of real tokens: the classes predicted per position.
        seq_len: Tokens per string, d = s**L.
        s: Symbols per rule s (branching factor) of the grammar; None when not known (the U-Net needs it).
        cond_schedule: ``cond`` at every time of the process's time grid (``process.cond_schedule()``); None
            when not known.
    """

    input_size: int
    vocab_size: int
    seq_len: int
    s: int | None = None
    cond_schedule: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        for name in ("input_size", "vocab_size", "seq_len"):
            check_int(name, getattr(self, name), 1)
        if self.s is not None:
            check_int("s", self.s, 2)
        if self.cond_schedule is not None:  # stored as a tuple of floats: hashable, and plain data
            schedule = self.cond_schedule
            if isinstance(schedule, torch.Tensor):
                schedule = schedule.flatten().tolist()
            if isinstance(schedule, (str, bytes)) or not isinstance(schedule, Sequence):
                raise ValueError(f"cond_schedule must be a sequence of floats, got {type(schedule).__name__}")
            object.__setattr__(self, "cond_schedule", tuple(float(c) for c in schedule))


class Backbone(nn.Module, ABC):
    """A denoiser built from :class:`BackboneInputs`: ``(x_t (B, d) int64, cond (B,))`` → logits ``(B, d, v)``.

    Subclasses take ``inputs`` as their first argument and call ``super().__init__(inputs)``, which sets
    ``inputs``, ``input_size``, ``out_size`` (= v) and ``seq_len``.

    Args:
        inputs: Sizes and schedule from the data and the process (supplied by ``DiffusionModule``).
    """

    def __init__(self, inputs: BackboneInputs) -> None:
        super().__init__()
        if not isinstance(inputs, BackboneInputs):
            raise TypeError(f"a backbone is built from BackboneInputs, got {type(inputs).__name__}")
        self.inputs = inputs
        self.input_size, self.out_size, self.seq_len = inputs.input_size, inputs.vocab_size, inputs.seq_len

    @abstractmethod
    def forward(self, x_t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """``x_t``: ``(B, d)`` token ids, ``cond``: ``(B,)`` → logits of x_0 ``(B, d, out_size)``."""

    @abstractmethod
    def flops(self, batch: int) -> int:
        """Forward FLOPs for ``batch`` strings (multiply-add = 2 FLOPs)."""
