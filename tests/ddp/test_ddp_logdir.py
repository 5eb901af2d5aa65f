"""The monitors' records directory under DDP with a logger and without: 2 CPU processes (gloo) in a subprocess.

``run_directory`` reads ``trainer.log_dir``, a broadcast, in every monitor's ``setup`` on every rank; a rank that
skipped it would hang the others. Rank zero alone writes the records, into the logger's directory.
"""

import json
from pathlib import Path

import numpy as np
import pytest
from ddp_launch import run_scripts
from logdir_ddp import DEVICES, NUM_MEMBERS, NUM_SAMPLES
from monitor_helpers import read_records

from rhm_memo.runs import MEMORIZATION_FILE, METRICS_FILE, PRIVACY_FILE

SCRIPT = Path(__file__).parent / "logdir_ddp.py"

STEPS = [1, 2, 3]  # 1 and 2 on the schedule, 3 at the end of training
#: Where each run's records go: CSVLogger's save_dir/name/version_0, else the default_root_dir.
EXPECTED = {"csv": Path("logs", "csv", "version_0"), "none": Path("root")}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, tuple[Path, list[dict]]]:
    """(OUT_DIR, rank files by rank) of the CSVLogger run and of the run without a logger (launched together)."""
    tmp = tmp_path_factory.mktemp("logdir_ddp")
    outs = {kind: tmp / kind for kind in EXPECTED}
    run_scripts({kind: [SCRIPT, kind, out] for kind, out in outs.items()}, timeout=300)
    return {
        kind: (out, [json.loads((out / f"rank{r}.json").read_text()) for r in range(DEVICES)])
        for kind, out in outs.items()
    }


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(EXPECTED))
def test_every_rank_finishes_and_agrees_on_the_run_directory(runs, kind):
    """No hang; all ranks see the same ``log_dir``: save_dir/name/version_0 with CSVLogger, else default_root_dir."""
    out, ranks = runs[kind]
    assert [(r["rank"], r["world_size"], r["global_step"]) for r in ranks] == [(r, DEVICES, 3) for r in range(DEVICES)]
    assert [Path(r["log_dir"]) for r in ranks] == [out / EXPECTED[kind]] * DEVICES


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(EXPECTED))
def test_rank_zero_writes_one_record_per_monitor_and_step_into_the_run_directory(runs, kind):
    """The monitors keep records on rank zero only, in the run directory: metrics.jsonl and their arrays; the
    privacy monitor's losses of 17 strings split over 2 ranks are gathered into 9 members and 8 non-members."""
    out, ranks = runs[kind]
    run_dir = out / EXPECTED[kind]
    assert ranks[0]["records"] == [str(run_dir)] * 3
    assert all(r["records"] == [None, None, None] for r in ranks[1:])
    records = read_records(run_dir)
    assert [(r["monitor"], r["step"], r.get("num_samples")) for r in records] == [
        (m, s, n)
        for s in STEPS
        for m, n in (("memorization", NUM_SAMPLES), ("substrings", NUM_SAMPLES), ("privacy", None))
    ]
    privacy = [r for r in records if r["monitor"] == "privacy"]
    assert all((r["num_members"], r["num_nonmembers"]) == (NUM_MEMBERS, 8) for r in privacy)
    with np.load(run_dir / PRIVACY_FILE) as arrays:
        assert arrays["loss_members"].shape == (3, NUM_MEMBERS) and arrays["loss_nonmembers"].shape == (3, 8)
        assert np.isfinite(arrays["loss_members"]).all() and (arrays["loss_nonmembers"] > 0).all()
    with np.load(run_dir / MEMORIZATION_FILE) as arrays:
        assert arrays["schema"] == records[0]["schema"]
    assert [p.name for p in out.rglob(METRICS_FILE)] == [METRICS_FILE]  # nowhere else
    assert [p.name for p in out.rglob(MEMORIZATION_FILE)] == [MEMORIZATION_FILE]
