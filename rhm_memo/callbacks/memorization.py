"""MemorizationMonitor: sample on a log-spaced schedule and record memorization of training strings.

Thin glue: the math is in ``rhm_memo.metrics``; this callback schedules, samples (via
``monitor_samples``), calls the metric functions on global rank zero, logs and persists.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities import rank_zero_info
from typing_extensions import override

from rhm_memo import metrics as M
from rhm_memo.callbacks.base import SamplingMonitor
from rhm_memo.checks import check_bool, check_int
from rhm_memo.runs import MEMORIZATION_FILE


class MemorizationMonitor(SamplingMonitor):
    """Exact and near copies, validity, block copies and memorization vs prototypicality during training.

    Evaluates at the steps of an :class:`EvalSchedule` (default: every power of 2, and at the end), on
    ``num_samples`` strings shared with other monitors of the same step. Needs an ``RHMDataModule``.
    The per-training-string first-memorized steps and copy counts are saved in checkpoints and restored on
    resume. Records go to ``metrics.jsonl`` / ``memorization.npz`` in the run directory (docs/records.md).

    Args:
        num_samples: Strings generated per evaluation (split over ranks).
        sample_steps: Sampler steps (None: the process's default).
        batch_size: Strings per sampler call on each rank.
        per_octave: Log-spaced evaluations per doubling of the step (1: every power of 2; 0: none).
        every_n_steps: Also evaluate every N optimizer steps.
        at_end: Also evaluate at the end of training.
        start_step: No evaluation before this step (except at the end).
        use_ema: Sample with the EMA weights when an ``EMAWeightAveraging`` callback is present.
        near_copies: Compute nearest-Hamming distances (exact; O(B·P·d·v)).
        near_copy_k: Report the fraction of samples within these Hamming distances.
        bins: Log-prob quantile bins for the memorized fraction.
        stop_at: Stop training once an evaluation's copy fraction reaches this value (None: never), so that
            runs end after their last onset; checked again on resume.
        null_draws: Monte Carlo draws of the null model's AUCs per evaluation (0: expected counts only).
        seed: Seed of the sampling generators (combined with the step and the rank) and of the null model's draws.
        out_dir: Where to write the records (None: the run directory).
        wandb_tables: Log W&B histograms and a table of sample strings (with a W&B logger).
    """

    name = "memorization"

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
        near_copies: bool = True,
        near_copy_k: list[int] | None = None,
        bins: int = 10,
        stop_at: float | None = None,
        null_draws: int = 200,
        seed: int = 0,
        out_dir: str | None = None,
        wandb_tables: bool = True,
    ) -> None:
        super().__init__(num_samples, sample_steps, batch_size, per_octave, every_n_steps, at_end, use_ema, seed,
                         out_dir, start_step)  # fmt: skip
        check_bool("near_copies", near_copies)
        check_bool("wandb_tables", wandb_tables)
        if near_copy_k is not None and (
            not isinstance(near_copy_k, (list, tuple))
            or any(not isinstance(k, int) or isinstance(k, bool) or k < 0 for k in near_copy_k)
        ):
            raise ValueError(f"near_copy_k must be a list of Hamming distances (integers >= 0), got {near_copy_k!r}")
        check_int("bins", bins, 1)
        self.near_copies = near_copies
        self.near_copy_k = list(near_copy_k) if near_copy_k is not None else [1, 2]
        self.bins = bins
        check_int("null_draws", null_draws, 0)
        fraction = isinstance(stop_at, (int, float)) and not isinstance(stop_at, bool) and 0 < stop_at <= 1
        if stop_at is not None and not fraction:
            raise ValueError(f"stop_at must be a copy fraction in (0, 1] or None, got {stop_at!r}")
        self.stop_at = stop_at
        self.null_draws = null_draws
        self.wandb_tables = wandb_tables
        self.first_step: torch.Tensor | None = None
        self.counts: torch.Tensor | None = None
        self.history: list[tuple[int, float]] = []
        self.samples_drawn = 0

    # ------------------------------------------------------------------ set-up and state
    @override
    def prepare(self, trainer: L.Trainer) -> None:
        num_train = self.dm.train_strings.shape[0]
        if self.first_step is None or self.first_step.shape[0] != num_train:
            self.first_step = torch.full((num_train,), M.NEVER, dtype=torch.int64)
            self.counts = torch.zeros(num_train, dtype=torch.int64)

    @override
    def prepare_rank_zero(self, trainer: L.Trainer) -> None:
        dm = self.dm
        v, s = dm.grammar.v, dm.grammar.s
        self.index = M.TrainIndex(dm.train_strings, v)
        self.blocks = M.BlockIndex(dm.train_strings, v, s)
        self.commonness = M.commonness_scores(dm.train_strings, v, s)
        scores = {"auc_ever": dm.train_log_prob, "auc_commonness_ever": self.commonness}
        self.null = M.NullModel(dm.train_log_prob, scores, self.null_draws, self.spec.seed)
        self.test_block_copies = self.blocks.copy_fractions(dm.test_strings) if len(dm.test_strings) else {}

    @override
    def state_dict(self) -> dict[str, Any]:
        return {
            "first_step": self.first_step,
            "counts": self.counts,
            "history": list(self.history),
            "samples_drawn": self.samples_drawn,
        }

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.first_step = state_dict["first_step"]
        self.counts = state_dict["counts"]
        self.history = [tuple(h) for h in state_dict["history"]]
        if self.history:  # the checkpoint's last evaluation is not repeated at the end of a resumed fit
            self._last_step = self.history[-1][0]
        # checkpoints from before the null model: every evaluation drew num_samples strings
        self.samples_drawn = state_dict.get("samples_drawn", len(self.history) * self.spec.num_samples)

    # ------------------------------------------------------------------ stopping
    def _stop_if_reached(self, trainer: L.Trainer) -> None:
        """Stop the trainer when rank zero's last copy fraction reached ``stop_at`` (a collective: all ranks)."""
        if self.stop_at is None:
            return
        reached = bool(self.history) and self.history[-1][1] >= self.stop_at
        if trainer.strategy.broadcast(reached, src=0):
            trainer.should_stop = True

    @override
    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_start(trainer, pl_module)
        self._stop_if_reached(trainer)  # a run resumed after it reached stop_at ends at once

    @override
    def evaluate(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any] | None:
        """Evaluate (see :class:`SamplingMonitor`), then stop training if the copy fraction reached ``stop_at``."""
        record = super().evaluate(trainer, pl_module)
        self._stop_if_reached(trainer)
        return record

    # ------------------------------------------------------------------ evaluation
    @override
    def persist(self) -> None:
        """Rewrite ``memorization.npz`` with the per-training-string state."""
        self.records.save_arrays(
            Path(MEMORIZATION_FILE).stem,
            log_prob=self.dm.train_log_prob.numpy(),
            commonness=self.commonness.numpy(),
            first_step=self.first_step.numpy(),
            counts=self.counts.numpy(),
            eval_steps=np.array([s for s, _ in self.history], dtype=np.int64),
        )

    @override
    def compute(self, samples: torch.Tensor, step: int) -> dict[str, Any]:
        """Every memorization metric of one evaluation (calls into ``rhm_memo.metrics``)."""
        grammar, num_train = self.dm.grammar, self.dm.train_strings.shape[0]
        copy_index = self.index.lookup(samples)
        copies = M.memorization_summary(copy_index, samples)
        now = M.copy_counts(copy_index, num_train)
        self.counts += now
        self.first_step = M.update_first_step(self.first_step, copy_index, step)
        copy_fraction = copies["copy_fraction"]
        self.history.append((step, copy_fraction))
        self.samples_drawn += samples.shape[0]
        ever = M.ever_memorized(self.first_step, step)
        proto = M.memorization_vs_prototypicality(self.dm.train_log_prob, now > 0, self.first_step, step, self.bins)
        auc_commonness = M.auc(self.commonness, ever)
        null = self._null(copy_fraction, ever, {"auc_ever": proto["auc_ever"], "auc_commonness_ever": auc_commonness})
        record: dict[str, Any] = {
            "monitor": self.name,
            "step": step,
            **copies,
            "ever_memorized": int(ever.sum()),
            "validity": M.validity(grammar, samples),
            "block_copies": self.blocks.copy_fractions(samples),
            "block_copies_test": self.test_block_copies,
            "auc_now": proto["auc_now"],
            "auc_ever": proto["auc_ever"],
            "auc_commonness_ever": auc_commonness,
            "spearman_first_step": proto["spearman_first_step"],
            "quantile_edges": proto["by_quantile_ever"]["edges"],
            "quantile_counts": proto["by_quantile_ever"]["counts"],
            "quantile_fraction_ever": proto["by_quantile_ever"]["fraction"],
            "null": null,
        }
        if self.near_copies:
            distances, _ = M.nearest_hamming(samples, self.dm.train_strings, grammar.v)
            record["hamming_histogram"] = M.hamming_histogram(distances, grammar.d)
            record["near_copy_within"] = {k: M.fraction_within(distances, k) for k in self.near_copy_k}
        return record

    def _null(self, copy_fraction: float, ever: torch.Tensor, observed: dict[str, float]) -> dict[str, Any]:
        """The null model's record of this evaluation."""
        return self.null.summary(copy_fraction, int(ever.sum()), observed, self.samples_drawn)

    @override
    def log_record(self, trainer: L.Trainer, record: dict[str, Any], samples: torch.Tensor) -> None:
        """Scalars to every logger (``memorization/…``, ``validity/…``, ``null/…``); histograms and a sample table
        to W&B. The keys are listed, with the dashboard's panels, in :mod:`rhm_memo.dashboard.panels`."""
        scalars = {
            f"memorization/{k}": float(record[k])
            for k in ("copy_fraction", "novelty", "fraction_distinct", "distinct_memorized", "ever_memorized",
                      "auc_now", "auc_ever", "auc_commonness_ever", "spearman_first_step", "num_samples")
        }  # fmt: skip
        for h, v in record["validity"].items():
            scalars[f"validity/strings_h{h}"] = v["strings"]
            scalars[f"validity/blocks_h{h}"] = v["blocks"]
        for h, v in record["block_copies"].items():
            scalars[f"memorization/block_copies_h{h}"] = v["same_position"]
            scalars[f"memorization/block_copies_pooled_h{h}"] = v["pooled"]
        for h, v in record["block_copies_test"].items():
            scalars[f"memorization/block_copies_test_h{h}"] = v["same_position"]
        for k, v in record.get("near_copy_within", {}).items():
            scalars[f"memorization/near_copy_within_{k}"] = v
        for tau, onset in M.onsets(self.history).items():  # so far; NaN until the copy fraction reaches τ
            scalars[f"memorization/onset_tau{round(100 * tau)}"] = math.nan if onset is None else onset
        for k, v in record["null"].items():
            if isinstance(v, dict):
                scalars |= {f"null/{k}_mean": v["mean"], f"null/{k}_sd": v["sd"], f"null/{k}_p": v["p_value"]}
            else:
                scalars[f"null/{k}"] = v
        for logger in trainer.loggers:
            logger.log_metrics(scalars, step=record["step"])
            if isinstance(logger, WandbLogger) and self.wandb_tables:
                self._log_wandb(logger, record, samples)

    def _log_wandb(self, logger: WandbLogger, record: dict[str, Any], samples: torch.Tensor) -> None:
        """W&B histograms (log-prob of memorized vs all training strings, Hamming distances) and sample table."""
        import wandb

        log_prob = self.dm.train_log_prob
        memorized = log_prob[M.ever_memorized(self.first_step, record["step"])]
        payload: dict[str, Any] = {
            "trainer/global_step": record["step"],
            "memorization/log_prob_all": wandb.Histogram(log_prob.numpy()),
        }
        if memorized.numel():
            payload["memorization/log_prob_memorized"] = wandb.Histogram(memorized.numpy())
        if "hamming_histogram" in record:  # counts per distance 0..d, as bins centred on the integers
            counts = np.asarray(record["hamming_histogram"])
            edges = np.arange(counts.size + 1) - 0.5
            payload["memorization/hamming"] = wandb.Histogram(np_histogram=(counts, edges))
        head = samples[:32]
        copied = self.index.lookup(head) >= 0
        valid = self.dm.grammar.parse(head).fully_valid
        rows = [[" ".join(map(str, s.tolist())), bool(c), bool(ok)] for s, c, ok in zip(head, copied, valid)]
        payload["memorization/samples"] = wandb.Table(columns=["string", "copy", "valid"], data=rows)
        logger.experiment.log(payload)

    # ------------------------------------------------------------------ summary
    @override
    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero or not self.history:
            return
        onsets = M.onsets(self.history)
        text = ", ".join(f"τ={tau}: {'never' if o is None else f'{o:.0f}'}" for tau, o in onsets.items())
        step, copy_fraction = self.history[-1]
        ever = M.ever_memorized(self.first_step, step)
        auc = M.auc(self.dm.train_log_prob, ever)
        null = self._null(copy_fraction, ever, {"auc_ever": auc, "auc_commonness_ever": math.nan})
        grammar, uniform = null["auc_ever"], null["auc_ever_uniform"]
        rank_zero_info(
            f"[memorization] onset steps {text}; final copy fraction {copy_fraction:.4f} (B={self.spec.num_samples}) "
            f"vs {null['mass']:.4f} for a perfect generalizer (M); ever memorized {int(ever.sum())}/{ever.numel()} "
            f"vs {null['expected_ever_memorized']:.1f} expected; AUC(log p, ever memorized) {auc:.3f} vs null "
            f"{grammar['mean']:.3f} ± {grammar['sd']:.3f} (p = {grammar['p_value']:.3g}; uniform null p = "
            f"{uniform['p_value']:.3g}, R={self.null_draws})"
        )
