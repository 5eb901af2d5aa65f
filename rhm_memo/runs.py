"""Where runs live and what they leave there: the default logger, the run-folder layout and the records' names.

Knows nothing of torch, Lightning or W&B (stdlib only), so that ``rhm-memo grid`` and ``rhm-memo report`` can
use it without importing them. The writers (``rhm_memo.cli``, ``rhm_memo.callbacks.records``), the grid runner
and the report all take the layout and the file names from here (docs/records.md).
"""

from __future__ import annotations

import os
from pathlib import Path

#: The W&B project of the default logger, and the middle folder of a run directory.
DEFAULT_PROJECT = "rhm_memo"
#: The default logger's ``save_dir``: the root of every run directory.
DEFAULT_SAVE_DIR = "runs"
#: The default logger of ``rhm-memo fit``: offline W&B, runs in ``runs/rhm_memo/RUN_ID`` (docs/training.md).
DEFAULT_LOGGER = {
    "class_path": "lightning.pytorch.loggers.WandbLogger",
    "init_args": {"project": DEFAULT_PROJECT, "save_dir": DEFAULT_SAVE_DIR, "offline": True},
}

#: Version of the record layout, written into every record and read back by the report (docs/records.md).
SCHEMA = 1
#: The records a run directory holds: one JSON line per evaluation (appended).
METRICS_FILE = "metrics.jsonl"
#: The per-training-string arrays of the memorization monitor (rewritten at each evaluation).
MEMORIZATION_FILE = "memorization.npz"
#: The per-string losses of the privacy monitor at every evaluation (rewritten at each evaluation).
PRIVACY_FILE = "privacy.npz"
#: The resolved config of the run (written once, when training starts).
CONFIG_FILE = "config.yaml"


def run_dir(save_dir: str | os.PathLike | None, project: str | None, run_id: str | None) -> Path:
    """The directory of one run: ``save_dir/project/run_id`` (no ``save_dir``: the working directory)."""
    return Path(save_dir or ".") / str(project) / str(run_id)
