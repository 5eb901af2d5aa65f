"""The glue all monitors share: schedule, data-module check, records on global rank zero, resume; shared sampling."""

from __future__ import annotations

import time
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_warn
from typing_extensions import override

from rhm_memo.callbacks.records import RunRecords, run_directory
from rhm_memo.callbacks.sampling import SampleSpec, monitor_samples
from rhm_memo.callbacks.schedule import EvalSchedule


class ScheduledMonitor(L.Callback):
    """Evaluate on an :class:`EvalSchedule` and keep the records of a run on global rank zero.

    Subclasses implement :meth:`evaluate` (called on every rank at the scheduled steps; it sets ``_last_step``
    and ends with :meth:`publish` on rank zero) and may override :meth:`prepare` (all ranks),
    :meth:`prepare_rank_zero`, :meth:`log_record` and :meth:`persist`.

    Args:
        per_octave: Log-spaced evaluations per doubling of the step (1: every power of 2; 0: none).
        every_n_steps: Also evaluate every N optimizer steps.
        at_end: Also evaluate at the end of training.
        out_dir: Where to write the records (None: the run directory).
        start_step: No evaluation before this step (except at the end).
    """

    #: The ``monitor`` field of this monitor's records.
    name = "monitor"

    def __init__(
        self, per_octave: int, every_n_steps: int | None, at_end: bool, out_dir: str | None, start_step: int = 1
    ) -> None:
        super().__init__()
        self.schedule = EvalSchedule(per_octave, every_n_steps, at_end, start_step)
        self.out_dir = out_dir
        self.records: RunRecords | None = None
        self._last_step = -1

    @override
    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage == "fit":
            self.attach(trainer, self.out_dir)

    def attach(self, trainer: L.Trainer, out_dir: str | None) -> None:
        """Bind to the trainer's data module and prepare (every rank); keep records in ``out_dir`` (None: the run
        directory, found with a collective, so every rank must call this) on rank zero."""
        dm = trainer.datamodule
        if dm is None or not hasattr(dm, "grammar"):
            raise ValueError(f"{type(self).__name__} needs an RHMDataModule (trainer.fit(..., datamodule=...))")
        self.dm = dm  # Lightning sets the data module up before the callbacks' setup
        self.prepare(trainer)
        run_dir = out_dir or run_directory(trainer)  # on every rank: trainer.log_dir is a collective
        if trainer.is_global_zero:
            self.records = RunRecords(run_dir) if run_dir is not None else None
            self.prepare_rank_zero(trainer)

    def prepare(self, trainer: L.Trainer) -> None:
        """Set-up on every rank (after the data module is set up)."""

    def prepare_rank_zero(self, trainer: L.Trainer) -> None:
        """Set-up on global rank zero only (indices, grammar truth)."""

    @override
    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Drop this monitor's records that the training about to run replaces (rank zero): on resume those of
        steps after the checkpoint's; on a fresh fit all of them (left by an earlier, unfinished fit in the same
        run directory, e.g. a grid run restarted after a crash), so the records never hold two trainings."""
        if self.records is None:
            return
        resumed = trainer.ckpt_path is not None
        dropped = self.records.drop_after(self.name, trainer.global_step if resumed else -1)
        if dropped and not resumed:
            rank_zero_warn(
                f"{self.name}: replaced {dropped} record(s) of an earlier fit in {self.records.dir} "
                "(a fresh fit; pass --ckpt_path last to continue one instead)"
            )

    @override
    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        step = trainer.global_step
        if step != self._last_step and self.schedule.is_due(step):
            self.evaluate(trainer, pl_module)

    @override
    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.schedule.at_end and trainer.global_step != self._last_step and trainer.global_step > 0:
            self.evaluate(trainer, pl_module)

    def evaluate(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any] | None:
        """One evaluation at ``trainer.global_step`` (every rank); the record on rank zero, None elsewhere."""
        raise NotImplementedError

    def publish(self, trainer: L.Trainer, record: dict[str, Any], *media: Any) -> None:
        """Rank zero: log the record (with any media for the loggers), append it to the records, persist."""
        self.log_record(trainer, record, *media)
        if self.records is not None:
            self.records.append(record)
            self.persist()

    def log_record(self, trainer: L.Trainer, record: dict[str, Any], *media: Any) -> None:
        """Send the record's numbers to the trainer's loggers."""

    def persist(self) -> None:
        """Write any state files next to ``metrics.jsonl`` after a record is appended."""


class SamplingMonitor(ScheduledMonitor):
    """A :class:`ScheduledMonitor` of generated strings: sample on every rank, compute, log and record on rank zero.

    Subclasses implement :meth:`compute` (a record from the samples); :meth:`log_record` also gets the samples.

    Args:
        num_samples: Strings generated per evaluation (split over ranks).
        sample_steps: Sampler steps (None: the process's default).
        batch_size: Strings per sampler call on each rank.
        per_octave: Log-spaced evaluations per doubling of the step (1: every power of 2; 0: none).
        every_n_steps: Also evaluate every N optimizer steps.
        at_end: Also evaluate at the end of training.
        use_ema: Sample with the EMA weights when an ``EMAWeightAveraging`` callback is present.
        seed: Seed of the sampling generators (combined with the step and the rank).
        out_dir: Where to write the records (None: the run directory).
        start_step: No evaluation before this step (except at the end).
    """

    def __init__(
        self,
        num_samples: int,
        sample_steps: int | None,
        batch_size: int,
        per_octave: int,
        every_n_steps: int | None,
        at_end: bool,
        use_ema: bool,
        seed: int,
        out_dir: str | None,
        start_step: int = 1,
    ) -> None:
        super().__init__(per_octave, every_n_steps, at_end, out_dir, start_step)
        self.spec = SampleSpec(num_samples, sample_steps, batch_size, seed, use_ema)

    def evaluate(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any] | None:
        """Sample (every rank; shared with other monitors), then compute, log and record on rank zero."""
        step = trainer.global_step
        self._last_step = step
        drawn = monitor_samples(trainer, pl_module, self.spec)
        if not trainer.is_global_zero:
            return None
        start = time.perf_counter()
        samples = drawn.samples.cpu()
        record = self.compute(samples, step)
        record["seconds_sampling"] = drawn.seconds
        record["seconds_metrics"] = time.perf_counter() - start
        record["ema"] = drawn.ema
        self.publish(trainer, record, samples)
        return record

    def compute(self, samples: torch.Tensor, step: int) -> dict[str, Any]:
        """The record of one evaluation (``monitor``, ``step``, ``num_samples`` and the metrics)."""
        raise NotImplementedError
