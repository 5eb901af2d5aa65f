"""The run directory and its local records: ``metrics.jsonl`` (appended) and ``memorization.npz`` (rewritten).

The layout, the file names and the schema version live in :mod:`rhm_memo.runs`, shared with the report.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
from lightning.pytorch.loggers import WandbLogger

from rhm_memo.files import atomic_write
from rhm_memo.runs import METRICS_FILE, SCHEMA, run_dir


def run_directory(trainer) -> str | None:
    """Where a run's files go: ``save_dir/project/run_id`` for W&B, else ``trainer.log_dir``.

    The W&B layout is :func:`rhm_memo.runs.run_dir`. ``trainer.log_dir`` is a collective (a broadcast) under
    DDP: call this on every rank, never inside a rank-zero-only branch.
    """
    logger = trainer.logger
    if isinstance(logger, WandbLogger):
        return str(run_dir(logger.save_dir, logger.name, logger.version))
    return trainer.log_dir


def json_ready(value: Any) -> Any:
    """JSON-able value: tensors and arrays to lists, NaN/inf to None, dict keys to str."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class RunRecords:
    """Appends JSON records to ``metrics.jsonl`` and rewrites ``memorization.npz`` in a run directory."""

    def __init__(self, run_dir: str | os.PathLike) -> None:
        self.dir = Path(run_dir)
        self.dir.mkdir(parents=True, exist_ok=True)

    def drop_after(self, monitor: str, step: int) -> int:
        """Remove ``monitor``'s records of steps after ``step`` (a resume from the checkpoint of that step
        discards the training that produced them) by an atomic rewrite; returns how many were dropped."""
        path = self.dir / METRICS_FILE
        if not path.exists():
            return 0
        lines = path.read_text().splitlines(keepends=True)
        kept = []
        for line in lines:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # a last line cut by a crash
                continue
            if not (record.get("monitor") == monitor and record.get("step", -1) > step):
                kept.append(line if line.endswith("\n") else line + "\n")
        if len(kept) != len(lines):
            atomic_write(path, lambda tmp: Path(tmp).write_text("".join(kept)))
        return len(lines) - len(kept)

    def append(self, record: dict[str, Any]) -> None:
        """Append one record (with the schema version) and flush it to disk.

        A last line cut short by a crash (no final newline) is dropped first, so a resumed run never glues
        its first record onto a partial one.
        """
        line = json.dumps(json_ready({"schema": SCHEMA, **record}), allow_nan=False)
        path = self.dir / METRICS_FILE
        if path.exists() and path.stat().st_size:
            with open(path, "rb+") as f:
                data = f.read()
                if not data.endswith(b"\n"):
                    f.truncate(data.rfind(b"\n") + 1)
        with open(path, "a") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())

    def save_arrays(self, name: str, **arrays: Any) -> Path:
        """Write ``name.npz`` atomically (temporary file + rename)."""
        payload = {k: np.asarray(v) for k, v in arrays.items()}
        return atomic_write(
            self.dir / f"{name}.npz", lambda tmp: np.savez(tmp, schema=np.int64(SCHEMA), **payload), ".tmp.npz"
        )
