"""A tiny training under DDP: 2 CPU processes (gloo) launched in a subprocess, compared with 1 process."""

import json
from pathlib import Path

import pytest
import torch
from ddp_launch import run_on_one_and_two

SCRIPT = Path(__file__).parent / "train_ddp.py"


def _collect(out: Path, devices: int) -> list[tuple[dict, dict]]:
    return [
        (json.loads((out / f"rank{r}.json").read_text()), torch.load(out / f"rank{r}.pt", weights_only=True))
        for r in range(devices)
    ]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[tuple[dict, dict], list[tuple[dict, dict]]]:
    """(record, parameters) of the 1-process run and of each rank of the 2-process run (launched together)."""
    tmp = tmp_path_factory.mktemp("train_ddp")
    outs = run_on_one_and_two(SCRIPT, tmp, timeout=300)
    results = {devices: _collect(out, devices) for devices, out in outs.items()}
    return results[1][0], results[2]


def _max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max((a[k] - b[k]).abs().max().item() for k in a)


@pytest.mark.slow
def test_same_data_split_over_ranks(runs):
    """Both runs hold the same strings; each rank gets half of every global batch of 8, the ranks' halves disjoint."""
    (single, _), ranks = runs
    assert single["world_size"] == 1 and [rec["world_size"] for rec, _ in ranks] == [2, 2]
    for rec, _ in ranks:
        assert rec["train"] == single["train"] and rec["test"] == single["test"]
        assert rec["global_step"] == single["global_step"] == 2
        assert [len(b) for b in rec["batches"]] == [4, 4]
    assert [sorted(b) for b in single["batches"]] == [list(range(8))] * 2
    for step in range(2):
        halves = [rec["batches"][step] for rec, _ in ranks]
        assert sorted(halves[0] + halves[1]) == list(range(8))


@pytest.mark.slow
def test_fixed_noise_loss_before_training_is_identical(runs):
    """loss_at with fixed t and generator on the global batch is the same before training on every rank and run."""
    (single, _), ranks = runs
    assert [rec["fixed_loss_before"] for rec, _ in ranks] == [single["fixed_loss_before"]] * 2


@pytest.mark.slow
def test_default_noise_seed_is_offset_by_rank(runs):
    """The module's own training noise is seeded noise_seed + global_rank."""
    (single, _), ranks = runs
    assert single["noise_seed"] == 7
    assert [rec["noise_seed"] for rec, _ in ranks] == [7, 8]


@pytest.mark.slow
def test_ddp_step_matches_single_process(runs):
    """With rank-independent noise, rank losses average to the 1-process loss and parameters agree after 2 steps."""
    (single, single_params), ranks = runs
    for step in range(2):
        mean = sum(rec["losses"][step] for rec, _ in ranks) / 2
        assert mean == pytest.approx(single["losses"][step], rel=1e-5, abs=1e-7)
    assert ranks[0][0]["losses"][0] != ranks[1][0]["losses"][0]  # the ranks really saw different strings
    params = [p for _, p in ranks]
    assert _max_diff(params[0]["before"], single_params["before"]) == 0.0
    assert _max_diff(params[0]["after"], params[1]["after"]) == 0.0
    assert _max_diff(single_params["after"], single_params["before"]) > 1e-3  # training moved the parameters
    assert _max_diff(params[0]["after"], single_params["after"]) < 1e-5
