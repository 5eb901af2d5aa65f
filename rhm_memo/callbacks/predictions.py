"""PredictionEvaluator: ``rhm-memo predict`` gathers the strings sampled from a checkpoint, saves them, and
evaluates them with the memorization and substring monitors' metrics (one evaluation of any size).

Thin glue: ``DiffusionModule.predict_step`` samples, ``RHMDataModule.predict_dataloader`` shards the row indices
over the ranks, the monitors' ``compute`` does the metrics; this writer gathers, saves and records on rank zero.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import BasePredictionWriter
from typing_extensions import override

from rhm_memo.callbacks.memorization import MemorizationMonitor
from rhm_memo.callbacks.records import RunRecords
from rhm_memo.callbacks.substrings import SubstringMonitor
from rhm_memo.checks import check_bool, check_int

#: The file of the sampled strings in the output folder.
SAMPLES_FILE = "samples.npz"


class PredictionEvaluator(BasePredictionWriter):
    """Save the strings of ``rhm-memo predict`` and evaluate them as the monitors evaluate theirs.

    The output folder gets ``samples.npz`` (``strings``: ``(predict_size, d)`` int64, row i from row index i;
    ``step``: the checkpoint's step; ``ema``: whether its weights were the averaged ones) and, with ``evaluate``,
    the records of one memorization and one substring evaluation at the checkpoint's step (``metrics.jsonl``,
    ``memorization.npz``; docs/records.md), so ``rhm-memo report`` reads the folder like a run directory.

    Args:
        out_dir: The output folder (None: ``predictions/step<STEP>`` next to the checkpoint's ``checkpoints/``
            folder, i.e. in its run directory; without a checkpoint, under the trainer's ``default_root_dir``).
        evaluate: Also compute and record the monitors' metrics (False: only save the strings).
        null_draws: Monte Carlo draws of the null model's AUCs.
        near_copies: Compute nearest-Hamming distances (exact; O(N·P·d·v)).
    """

    def __init__(
        self, out_dir: str | None = None, evaluate: bool = True, null_draws: int = 200, near_copies: bool = True
    ) -> None:
        super().__init__(write_interval="epoch")
        check_int("null_draws", null_draws, 0)
        check_bool("evaluate", evaluate)
        check_bool("near_copies", near_copies)
        self.out_dir = out_dir
        self.evaluate = evaluate
        self.null_draws = null_draws
        self.near_copies = near_copies
        self.written: Path | None = None

    @override
    def write_on_epoch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, predictions: Any, batch_indices: Any
    ) -> None:
        batches = predictions[0] if predictions and isinstance(predictions[0], list) else predictions
        index = torch.cat([b["index"] for b in batches])
        strings = torch.cat([b["x"] for b in batches])
        if trainer.world_size > 1:  # shares differ by a row (Lightning's predict sampler does not pad): pad to gather
            most = int(pl_module.all_gather(torch.tensor(index.numel(), device=index.device)).max())
            pad = most - index.numel()
            index = torch.cat([index, index.new_full((pad,), -1)])
            strings = torch.cat([strings, strings.new_zeros(pad, strings.shape[-1])])
            index = pl_module.all_gather(index).reshape(-1)
            strings = pl_module.all_gather(strings).reshape(-1, strings.shape[-1])
            strings, index = strings[index >= 0], index[index >= 0]
        if not trainer.is_global_zero:
            return
        dm = trainer.datamodule
        out = torch.empty(dm.hparams.predict_size, strings.shape[-1], dtype=torch.int64)
        out[index.cpu()] = strings.cpu()
        step, ema = _checkpoint_facts(trainer.ckpt_path)
        folder = Path(self.out_dir) if self.out_dir else _default_folder(trainer, step)
        records = RunRecords(folder)
        records.save_arrays(Path(SAMPLES_FILE).stem, strings=out.numpy(), step=step, ema=ema)
        self.written = folder
        if self.evaluate:
            self._evaluate(trainer, out, step, ema, folder)

    def _evaluate(self, trainer: L.Trainer, samples: torch.Tensor, step: int, ema: bool, folder: Path) -> None:
        """One memorization and one substring evaluation of ``samples``, recorded in ``folder``."""
        num = samples.shape[0]
        monitors = [
            MemorizationMonitor(num_samples=num, null_draws=self.null_draws, near_copies=self.near_copies,
                                out_dir=str(folder), wandb_tables=False),
            SubstringMonitor(num_samples=num, out_dir=str(folder)),
        ]  # fmt: skip
        for monitor in monitors:
            monitor.attach(trainer, str(folder))  # rank zero only: the folder is given, no collective
            start = time.perf_counter()
            record = monitor.compute(samples, step)
            record |= {"seconds_sampling": None, "seconds_metrics": time.perf_counter() - start, "ema": ema}
            monitor.records.append(record)
            monitor.persist()


def _checkpoint_facts(ckpt_path: str | None) -> tuple[int, bool]:
    """The checkpoint's global step and whether its ``state_dict`` holds averaged (EMA) weights (0, False without)."""
    if not ckpt_path or not Path(ckpt_path).is_file():
        return 0, False
    checkpoint = torch.load(ckpt_path, map_location="cpu", weights_only=True, mmap=True)
    return int(checkpoint.get("global_step", 0)), "current_model_state" in checkpoint


def _default_folder(trainer: L.Trainer, step: int) -> Path:
    """``RUN_DIR/predictions/step<STEP>`` for a checkpoint in ``RUN_DIR/checkpoints``; else under the root dir."""
    ckpt = Path(trainer.ckpt_path) if trainer.ckpt_path else None
    root = (
        ckpt.parent.parent if ckpt is not None and ckpt.parent.name == "checkpoints" else Path(trainer.default_root_dir)
    )
    return root / "predictions" / f"step{step}"
