"""The data module under DDP: 2 CPU processes (gloo) launched in a subprocess, compared with 1 process."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parent / "ddp" / "data_ddp.py"


def _run(devices: int, tmp_path: Path) -> list[dict]:
    out = tmp_path / f"out{devices}"
    out.mkdir()
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), str(devices), str(tmp_path / f"cache{devices}"), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [json.loads((out / f"rank{r}.json").read_text()) for r in range(devices)]


@pytest.mark.slow
def test_same_data_on_one_and_two_processes_and_disjoint_rank_shares(tmp_path):
    """Same seeds give the same strings on 1 and 2 ranks; ranks split the epoch, per-rank batch = global / 2."""
    (single,) = _run(1, tmp_path)
    ranks = _run(2, tmp_path)
    for rec in ranks:
        assert rec["world_size"] == 2
        for key in ("train", "test", "log_prob"):
            assert rec[key] == single[key]
        assert all(len(b) == 4 for b in rec["batches"])  # global batch 8 over 2 ranks
    assert all(len(b) == 8 for b in single["batches"])
    seen = [sorted(i for b in rec["batches"] for i in b) for rec in ranks]
    assert not set(seen[0]) & set(seen[1])
    assert sorted(seen[0] + seen[1]) == list(range(64))
    assert sorted(i for b in single["batches"] for i in b) == list(range(64))
