"""Samples for the monitors: drawn once per evaluation step, split over ranks, gathered, shared by monitors."""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from rhm_memo.checks import check_int

#: Attribute of the LightningModule under which the current evaluation's samples are shared.
_CACHE = "_monitor_samples"


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


def _ema_callback(trainer):
    """Lightning's weight-averaging callback of this trainer, if any."""
    from lightning.pytorch.callbacks import WeightAveraging

    found = [c for c in trainer.callbacks if isinstance(c, WeightAveraging)]
    return found[0] if found else None


def monitor_samples(trainer, pl_module, spec: SampleSpec) -> tuple[torch.Tensor, float, bool]:
    """All ranks' samples for this step, ``(B, d)`` on every rank; also the sampling seconds and EMA use.

    Each rank draws ``ceil(num_samples / world_size)`` strings with its own generator (seeded from ``seed``,
    the step and the rank) in eval mode under ``torch.inference_mode()`` and the trainer's precision
    context (bf16 autocast when training is bf16; the process draws in float64); the shares are gathered.
    Every rank must call this (it is a collective). A second monitor asking for the same step and spec gets
    the same tensor (and the same sampling time) without sampling again. With an uneven split the gathered
    strings are cut to ``num_samples``.
    """
    step = trainer.global_step
    cached = getattr(pl_module, _CACHE, None)
    if cached is not None and cached[0] == (step, spec):
        return cached[1], cached[3], cached[2]
    world, rank = trainer.world_size, trainer.global_rank
    per_rank = -(-spec.num_samples // world)
    generator = torch.Generator(device=pl_module.device)
    generator.manual_seed(spec.seed + 1_000_003 * step + 7919 * rank)
    ema = _ema_callback(trainer) if spec.use_ema else None
    use_ema = ema is not None
    start = time.perf_counter()
    if use_ema:
        ema.on_validation_epoch_start(trainer, pl_module)  # swaps the averaged weights in
    try:
        with torch.inference_mode(), trainer.precision_plugin.forward_context():
            local = pl_module.sample(per_rank, generator, steps=spec.sample_steps, batch_size=spec.batch_size)
    finally:
        if use_ema:
            ema.on_validation_epoch_end(trainer, pl_module)  # and back
    gathered = pl_module.all_gather(local)
    samples = gathered.reshape(-1, local.shape[-1])[: spec.num_samples] if world > 1 else local
    if pl_module.device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    setattr(pl_module, _CACHE, ((step, spec), samples, use_ema, seconds))
    return samples, seconds, use_ema
