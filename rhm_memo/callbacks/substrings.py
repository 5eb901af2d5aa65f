"""SubstringMonitor: block frequencies of generated vs training strings vs the grammar, over-production, slop.

Thin glue over ``rhm_memo.metrics.substrings`` and ``rhm_memo.metrics.grammar``; shares its samples with a
``MemorizationMonitor`` of the same schedule and sampling settings.
"""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import torch
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities import rank_zero_info
from typing_extensions import override

from rhm_memo import metrics as M
from rhm_memo.callbacks.base import SamplingMonitor
from rhm_memo.checks import check_int


class SubstringMonitor(SamplingMonitor):
    """Per height: KL(gen‖train), KL(gen‖true), entropies, slop index (on all samples, against the grammar's top
    blocks, on novel samples), top blocks; rule usage per level.

    Args:
        num_samples: Strings generated per evaluation (give a MemorizationMonitor the same sampling settings
            to share its samples).
        sample_steps: Sampler steps (None: the process's default).
        batch_size: Strings per sampler call on each rank.
        per_octave: Log-spaced evaluations per doubling of the step (1: every power of 2; 0: none).
        every_n_steps: Also evaluate every N optimizer steps.
        at_end: Also evaluate at the end of training.
        start_step: No evaluation before this step (except at the end).
        use_ema: Sample with the EMA weights when an ``EMAWeightAveraging`` callback is present.
        seed: Seed of the sampling generators.
        top_blocks: How many of the most frequent training blocks per height to record.
        max_true_blocks: Use the grammar's exact block probabilities up to this many blocks per height.
        top_fraction: The "top decile" of the slop index.
        out_dir: Where to write the records (None: the run directory).
    """

    name = "substrings"

    def __init__(
        self,
        num_samples: int = 10000,
        sample_steps: int | None = None,
        batch_size: int = 4096,
        per_octave: int = 1,
        every_n_steps: int | None = None,
        at_end: bool = True,
        start_step: int = 1,
        use_ema: bool = True,
        seed: int = 0,
        top_blocks: int = 20,
        max_true_blocks: int = 10**6,
        top_fraction: float = 0.1,
        out_dir: str | None = None,
    ) -> None:
        super().__init__(num_samples, sample_steps, batch_size, per_octave, every_n_steps, at_end, use_ema, seed,
                         out_dir, start_step)  # fmt: skip
        check_int("top_blocks", top_blocks, 0)
        check_int("max_true_blocks", max_true_blocks, 0)
        if isinstance(top_fraction, bool) or not (isinstance(top_fraction, (int, float)) and 0 < top_fraction <= 1):
            raise ValueError(f"top_fraction must be a number in (0, 1], got {top_fraction!r}")
        self.top_blocks = top_blocks
        self.max_true_blocks = max_true_blocks
        self.top_fraction = top_fraction
        self.last_summary: dict[int, dict[str, float]] = {}

    @override
    def prepare_rank_zero(self, trainer: L.Trainer) -> None:
        g = self.dm.grammar
        self.truth = {}
        for h in range(1, g.L + 1):
            if g.num_blocks(h) <= self.max_true_blocks:
                bp = g.block_probabilities(h, self.max_true_blocks)
                self.truth[h] = (bp.values, bp.probs)
        self.train_rule_usage = M.rule_usage(g, self.dm.train_strings)
        # novel samples (copies of no training string) and what a perfect generalizer's novel samples produce
        train = self.dm.train_strings
        self.copies = M.TrainIndex(train, g.v)
        log_prob = g.log_prob(train)
        covered = M.training_mass(g.log_prob(torch.unique(train, dim=0))) >= 1 - 1e-9
        self.truth_novel = {
            h: (values, M.block_probabilities_outside(values, probs, train, log_prob, h, g.s, g.v))
            for h, (values, probs) in self.truth.items()
            if not covered  # a training set holding every string leaves no novel string to expect
        }

    @override
    def compute(self, samples: torch.Tensor, step: int) -> dict[str, Any]:
        """Frequencies, KL, entropies, slop and top blocks per height; rule usage per level."""
        g, train = self.dm.grammar, self.dm.train_strings
        heights, top = {}, {}
        novel = samples[self.copies.lookup(samples) < 0]
        for h in range(1, g.L + 1):
            freq = M.block_frequencies(samples, train, h, g.s, g.v, *self.truth.get(h, (None, None)))
            heights[h] = M.frequency_summary(freq, self.top_fraction)
            if h in self.truth:
                heights[h]["slop_index_true"] = M.slop_index_true(samples, h, g.s, g.v, *self.truth[h],
                                                                  self.top_fraction)  # fmt: skip
                heights[h] |= self.novel_slop(novel, h)
            top[h] = M.top_blocks(freq, self.top_blocks)
        self.last_summary = heights
        usage = M.rule_usage(g, samples)
        return {
            "monitor": self.name,
            "step": step,
            "num_samples": samples.shape[0],
            "heights": heights,
            "top_blocks": top,
            "rule_usage_gen": {level: u for level, u in enumerate(usage, start=1)},
            "rule_usage_train": {level: u for level, u in enumerate(self.train_rule_usage, start=1)},
        }

    def novel_slop(self, novel: torch.Tensor, h: int) -> dict[str, float]:
        """The slop index of the novel samples alone and its null, a perfect generalizer's novel samples' (NaN
        where every sample is a copy or the training set holds every string): whether over-production goes beyond
        the copied strings."""
        if novel.shape[0] == 0 or h not in self.truth_novel:  # every sample a copy, or no string is novel
            return {"slop_index_novel": math.nan, "slop_index_novel_null": math.nan}
        g = self.dm.grammar
        freq = M.block_frequencies(novel, self.dm.train_strings, h, g.s, g.v, *self.truth_novel[h])
        return {
            "slop_index_novel": M.slop_index(freq.f_gen, freq.f_train, self.top_fraction),
            "slop_index_novel_null": M.slop_index(freq.f_true, freq.f_train, self.top_fraction),
        }

    @override
    def log_record(self, trainer: L.Trainer, record: dict[str, Any], samples: torch.Tensor) -> None:
        """Scalars ``substrings/<metric>_h<h>`` to every logger; top-block tables and scatter plots to W&B."""
        scalars = {f"substrings/{k}_h{h}": float(v) for h, d in record["heights"].items() for k, v in d.items()}
        for logger in trainer.loggers:
            logger.log_metrics(scalars, step=record["step"])
            if isinstance(logger, WandbLogger):
                import wandb

                payload: dict[str, Any] = {"trainer/global_step": record["step"]}
                for h, rows in record["top_blocks"].items():
                    data = [[" ".join(map(str, r["block"])), r["f_train"], r["f_gen"], r["f_true"]] for r in rows]
                    table = wandb.Table(columns=["block", "f_train", "f_gen", "f_true"], data=data)
                    payload[f"substrings/top_blocks_h{h}"] = table
                    payload[f"substrings/overproduction_h{h}"] = wandb.plot.scatter(
                        table, "f_train", "f_gen", title=f"generated vs training frequency, height {h}"
                    )
                logger.experiment.log(payload)

    @override
    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero and self.last_summary:
            text = ", ".join(f"h{h}: {d['slop_index']:.3f}" for h, d in self.last_summary.items())
            rank_zero_info(f"[substrings] final slop index per height: {text}")
