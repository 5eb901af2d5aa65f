"""RunRecords: JSON lines appended with the schema, NaN as null, a crash-cut last line repaired, atomic npz; the
report reads what the callbacks write, through the same schema and file names (rhm_memo.runs)."""

import json
import math

import numpy as np
import torch

from rhm_memo import runs
from rhm_memo.callbacks.records import SCHEMA, RunRecords


def test_append_writes_schema_and_plain_json(tmp_path):
    """Tensors become lists, int keys strings, NaN null; every line carries the schema version."""
    records = RunRecords(tmp_path / "run")
    records.append({"step": 1, "x": torch.tensor([1, 2]), "d": {3: math.nan}})
    (line,) = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert json.loads(line) == {"schema": SCHEMA, "step": 1, "x": [1, 2], "d": {"3": None}}


def test_cut_last_line_is_dropped_before_appending(tmp_path):
    """A partial last line (a crash mid-write) is removed, so the next record starts on a clean line."""
    records = RunRecords(tmp_path)
    records.append({"step": 1})
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write('{"schema": 1, "st')
    records.append({"step": 2})
    steps = [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2]


def test_save_arrays_round_trip_and_no_temporary_left(tmp_path):
    """save_arrays writes name.npz with the schema and leaves no temporary file behind."""
    records = RunRecords(tmp_path)
    records.save_arrays("memorization", first_step=np.array([-1, 4]), counts=torch.tensor([0, 3]))
    with np.load(tmp_path / "memorization.npz") as data:
        assert int(data["schema"]) == SCHEMA
        assert data["first_step"].tolist() == [-1, 4] and data["counts"].tolist() == [0, 3]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["memorization.npz"]


def test_writer_and_reader_share_the_schema_and_layout(tmp_path):
    """The callbacks' records, in the runs layout, load in the report under the one SCHEMA object of rhm_memo.runs."""
    from rhm_memo.report import records as report_records

    assert SCHEMA is runs.SCHEMA and report_records.SCHEMA is runs.SCHEMA
    run_dir = runs.run_dir(tmp_path, runs.DEFAULT_PROJECT, "r1")
    records = RunRecords(run_dir)
    records.append({"monitor": "memorization", "step": 4, "copy_fraction": 0.25})
    records.save_arrays(runs.MEMORIZATION_FILE.removesuffix(".npz"), first_step=np.array([4, -1]))
    assert sorted(p.name for p in run_dir.iterdir()) == sorted([runs.METRICS_FILE, runs.MEMORIZATION_FILE])
    run = report_records.load_run(run_dir)
    assert [r["copy_fraction"] for r in run.memorization] == [0.25]
    assert run.arrays["first_step"].tolist() == [4, -1]


def test_rewritten_files_get_the_users_umask(tmp_path):
    """The atomic rewrite of memorization.npz gives the mode a plain open() would (not mkstemp's 0o600)."""
    import os

    from rhm_memo.callbacks.records import RunRecords

    old = os.umask(0o022)
    try:
        path = RunRecords(tmp_path).save_arrays("memorization", a=[1, 2])
        plain = tmp_path / "plain.txt"
        plain.write_text("x")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777 == 0o644
    assert not list(tmp_path.glob("*.tmp*"))
