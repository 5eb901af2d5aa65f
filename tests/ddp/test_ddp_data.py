"""The data module under DDP: 2 CPU processes (gloo) launched in a subprocess, compared with 1 process."""

import json
from pathlib import Path

import pytest
from ddp_launch import run_on_one_and_two

SCRIPT = Path(__file__).parent / "data_ddp.py"


def _ranks(out: Path, devices: int) -> list[dict]:
    return [json.loads((out / f"rank{r}.json").read_text()) for r in range(devices)]


@pytest.mark.slow
def test_same_data_on_one_and_two_processes_and_disjoint_rank_shares(tmp_path):
    """Same seeds give the same strings on 1 and 2 ranks; ranks split the epoch, per-rank batch = global / 2."""
    outs = run_on_one_and_two(SCRIPT, tmp_path, timeout=300)
    (single,), ranks = _ranks(outs[1], 1), _ranks(outs[2], 2)
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
