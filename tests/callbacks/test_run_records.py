"""RunRecords (metrics.jsonl and the atomically rewritten npz) and run_directory (where a run's files go)."""

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from lightning.pytorch.loggers import WandbLogger

from rhm_memo.callbacks import RunRecords, run_directory
from rhm_memo.callbacks.records import SCHEMA


def test_append_writes_plain_json_lines(tmp_path):
    """Records become one JSON line each: schema added, tensors to lists, int keys to str, NaN and inf to null."""
    records = RunRecords(tmp_path / "new" / "dir")
    records.append({"step": 1, "x": torch.tensor([1.5, math.nan]), "by_h": {1: {"a": math.inf}}, "t": (1, 2)})
    records.append({"step": 2, "auc": float("nan"), "n": np.int64(3).item(), "f": np.float64(-math.inf)})
    lines = (tmp_path / "new" / "dir" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [
        {"schema": SCHEMA, "step": 1, "x": [1.5, None], "by_h": {"1": {"a": None}}, "t": [1, 2]},
        {"schema": SCHEMA, "step": 2, "auc": None, "n": 3, "f": None},
    ]
    assert SCHEMA == 1 and "NaN" not in "".join(lines) and "Infinity" not in "".join(lines)


def test_save_arrays_rewrites_atomically(tmp_path):
    """save_arrays writes name.npz with the schema, replaces it on the next call, and leaves no temporary file."""
    records = RunRecords(tmp_path)
    path = records.save_arrays("memorization", first_step=np.array([1, -1]), counts=torch.tensor([2, 0]))
    assert path == tmp_path / "memorization.npz"
    records.save_arrays("memorization", first_step=np.array([1, 4, 8]))
    arrays = np.load(path)
    assert sorted(arrays.files) == ["first_step", "schema"] and int(arrays["schema"]) == 1
    assert arrays["first_step"].tolist() == [1, 4, 8]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["memorization.npz"]


def test_run_directory_follows_the_logger(tmp_path):
    """W&B: save_dir/project/run id; other loggers or none: trainer.log_dir."""
    wandb_logger = WandbLogger(save_dir=str(tmp_path / "runs"), project="proj", id="abc123", offline=True)
    assert run_directory(SimpleNamespace(logger=wandb_logger)) == str(tmp_path / "runs" / "proj" / "abc123")
    assert run_directory(SimpleNamespace(logger=None, log_dir=str(tmp_path / "root"))) == str(tmp_path / "root")


def test_append_rejects_what_json_cannot_hold(tmp_path):
    """A value JSON cannot encode raises instead of writing a corrupt line."""
    records = RunRecords(tmp_path)
    with pytest.raises(TypeError):
        records.append({"step": 1, "x": object()})
    assert not (tmp_path / "metrics.jsonl").exists() or (tmp_path / "metrics.jsonl").read_text() == ""
