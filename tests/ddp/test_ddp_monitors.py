"""The monitors under DDP: 2 CPU processes (gloo) launched in a subprocess, compared with 1 process."""

import json
from pathlib import Path

import pytest
import torch
from ddp_launch import run_on_one_and_two
from monitor_ddp import FAKE_STEPS, NUM_FAKE, NUM_REAL
from monitor_helpers import expected_memorization, expected_substrings, read_records, tiny_data, without

SCRIPT = Path(__file__).parent / "monitor_ddp.py"

STEPS = [1, 2, 3]  # 1 and 2 on the schedule, 3 at the end of training
TIMINGS = ("seconds_sampling", "seconds_metrics")


def _collect(out: Path, devices: int) -> dict:
    return {
        "ranks": [json.loads((out / f"rank{r}.json").read_text()) for r in range(devices)],
        "real": read_records(out / "real"),
        "fake": read_records(out / "fake"),
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[int, dict]:
    """Rank files and records of the 1-process and the 2-process run (launched together), by world size."""
    tmp = tmp_path_factory.mktemp("monitor_ddp")
    outs = run_on_one_and_two(SCRIPT, tmp, timeout=240)
    return {devices: _collect(out, devices) for devices, out in outs.items()}


def evaluations(rank: dict, monitor: str, fake: bool) -> list[tuple[int, torch.Tensor]]:
    """(step, gathered samples) of each evaluation of one monitor on one rank."""
    return [
        (e["step"], torch.tensor(e["samples"]))
        for e in rank["evaluations"]
        if e["monitor"] == monitor and e["fake"] == fake
    ]


@pytest.mark.parametrize("devices", [1, 2])
def test_each_rank_draws_its_share_once_per_step(runs, devices):
    """Each rank samples ceil(num_samples / world) strings once per evaluation step and spec (shared by monitors)."""
    for rank in runs[devices]["ranks"]:
        assert rank["world_size"] == devices and rank["global_step"] == 3
        real, fake = -(-NUM_REAL // devices), NUM_FAKE // devices
        assert rank["calls"] == [c for s in STEPS for c in ([s, real, None, 16], [s, fake, FAKE_STEPS, 16])]
    assert sorted(r["rank"] for r in runs[devices]["ranks"]) == list(range(devices))


@pytest.mark.parametrize("devices", [1, 2])
def test_gathered_samples_have_num_samples_rows(runs, devices):
    """Every monitor gets exactly num_samples gathered strings, and the records say so."""
    for rank in runs[devices]["ranks"]:
        for e in rank["evaluations"]:
            assert len(e["samples"]) == (NUM_FAKE if e["fake"] else NUM_REAL), (devices, e["step"], e["fake"])
    assert [r["num_samples"] for r in runs[devices]["real"]] == [NUM_REAL] * 6
    assert [r["num_samples"] for r in runs[devices]["fake"]] == [NUM_FAKE] * 6


def test_ranks_see_the_same_gathered_samples(runs):
    """All ranks get the same gathered samples at every evaluation, in the same order of monitors."""
    ranks = runs[2]["ranks"]
    first, second = ranks[0]["evaluations"], ranks[1]["evaluations"]
    assert len(first) == len(second) == 12  # 2 specs × 2 monitors × 3 steps
    assert [(e["monitor"], e["fake"], e["step"]) for e in first] == [
        (e["monitor"], e["fake"], e["step"]) for e in second
    ]
    assert all(a["samples"] == b["samples"] for a, b in zip(first, second))


@pytest.mark.parametrize("devices", [1, 2])
def test_records_equal_metric_functions_on_gathered_samples(runs, devices):
    """Rank 0 writes one record per monitor and step, equal to rhm_memo.metrics on the gathered samples."""
    dm = tiny_data()
    dm.setup("fit")
    rank0 = next(r for r in runs[devices]["ranks"] if r["rank"] == 0)
    assert rank0["train"] == dm.train_strings.tolist()
    for kind, fake in (("real", False), ("fake", True)):
        records = runs[devices][kind]
        assert [(r["monitor"], r["step"]) for r in records] == [
            (m, s) for s in STEPS for m in ("memorization", "substrings")
        ]
        memo = evaluations(rank0, "memorization", fake)
        substr = evaluations(rank0, "substrings", fake)
        assert [s for s, _ in memo] == [s for s, _ in substr] == STEPS
        assert all(torch.equal(a, b) for (_, a), (_, b) in zip(memo, substr))  # shared, not re-drawn
        expected, _, _ = expected_memorization(dm, memo)
        got = [without(r, *TIMINGS) for r in records if r["monitor"] == "memorization"]
        assert [r.pop("ema") for r in got] == [False] * 3
        assert got == expected
        got = [without(r, *TIMINGS, "ema") for r in records if r["monitor"] == "substrings"]
        assert got == [expected_substrings(dm, step, samples) for step, samples in substr]


def test_scripted_samples_give_identical_records_on_one_and_two_processes(runs):
    """With rank shares of a fixed list the gathered samples, and so the records, match the 1-process run."""
    one = evaluations(runs[1]["ranks"][0], "memorization", True)
    two = evaluations(next(r for r in runs[2]["ranks"] if r["rank"] == 0), "memorization", True)
    assert [s for s, _ in one] == [s for s, _ in two] == STEPS
    assert all(torch.equal(a, b) for (_, a), (_, b) in zip(one, two))
    records = {d: [without(r, *TIMINGS) for r in runs[d]["fake"]] for d in (1, 2)}
    assert records[1] == records[2]
    copies = [r["copies"] for r in records[2] if r["monitor"] == "memorization"]
    assert copies == [s + 1 for s in STEPS]  # step s copies s + 1 training strings
    assert [r["ever_memorized"] for r in records[2] if r["monitor"] == "memorization"] == [2, 5, 9]
