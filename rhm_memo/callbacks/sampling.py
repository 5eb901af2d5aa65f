"""Samples for the monitors: drawn once per evaluation step, split over ranks, gathered, shared by monitors."""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass

import torch

from rhm_memo.callbacks.ema import averaged_weights
from rhm_memo.checks import check_bool, check_int, check_seed


@dataclass(frozen=True)
class SampleSpec:
    """What to sample: how many strings, sampler steps, batch per call, seed, EMA or raw weights."""

    num_samples: int = 10000
    sample_steps: int | None = None
    batch_size: int = 4096
    seed: int = 0
    use_ema: bool = True

    def __post_init__(self) -> None:
        for name in ("num_samples", "batch_size"):
            check_int(name, getattr(self, name), 1)
        if self.sample_steps is not None:
            check_int("sample_steps", self.sample_steps, 1)
        check_seed("seed", self.seed)
        check_bool("use_ema", self.use_ema)


@dataclass(frozen=True)
class Drawn:
    """One evaluation's samples: ``(B, d)`` on every rank, the seconds spent drawing them, EMA or raw weights."""

    step: int
    spec: SampleSpec
    samples: torch.Tensor
    seconds: float
    ema: bool


#: The last samples drawn for each trainer, so that monitors of the same step and spec share them.
_LAST: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def shared_samples(trainer) -> Drawn | None:
    """The samples the monitors of ``trainer`` drew last (None before the first evaluation)."""
    return _LAST.get(trainer)


def forget_samples(trainer) -> None:
    """Forget the trainer's shared samples, so that the next evaluation draws afresh (benchmarks)."""
    _LAST.pop(trainer, None)


def evaluation_generator(device: torch.device, seed: int, step: int, rank: int) -> torch.Generator:
    """The generator of one rank's evaluation at ``step``: seeded from ``seed``, the step and the rank."""
    generator = torch.Generator(device=device)
    generator.manual_seed(seed + 1_000_003 * step + 7919 * rank)
    return generator


def monitor_samples(trainer, pl_module, spec: SampleSpec) -> Drawn:
    """All ranks' samples for this step, ``(B, d)`` on every rank, with the sampling seconds and EMA use.

    Each rank draws ``ceil(num_samples / world_size)`` strings with its own generator (seeded from ``seed``,
    the step and the rank) in eval mode under ``torch.inference_mode()`` and the trainer's precision
    context (bf16 autocast when training is bf16; the process draws in float64); the shares are gathered.
    Every rank must call this (it is a collective). A second monitor asking for the same step and spec gets
    the same :class:`Drawn` (kept per trainer, never on the LightningModule) without sampling again. With an
    uneven split the gathered strings are cut to ``num_samples``.
    """
    step = trainer.global_step
    last = _LAST.get(trainer)
    if last is not None and (last.step, last.spec) == (step, spec):
        return last
    world, rank = trainer.world_size, trainer.global_rank
    per_rank = -(-spec.num_samples // world)
    generator = evaluation_generator(pl_module.device, spec.seed, step, rank)
    start = time.perf_counter()
    with averaged_weights(trainer, pl_module, spec.use_ema) as used_ema:
        with torch.inference_mode(), trainer.precision_plugin.forward_context():
            local = pl_module.sample(per_rank, generator, steps=spec.sample_steps, batch_size=spec.batch_size)
    gathered = pl_module.all_gather(local)
    samples = gathered.reshape(-1, local.shape[-1])[: spec.num_samples] if world > 1 else local
    if pl_module.device.type == "cuda":
        torch.cuda.synchronize()
    drawn = Drawn(step, spec, samples, time.perf_counter() - start, used_ema)
    _LAST[trainer] = drawn
    return drawn
