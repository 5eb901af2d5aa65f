"""python -m rhm_memo.backfill: the slop index null added to records written without it equals what the monitor
now records; a config that does not regenerate the run's strings is refused without writing anything."""

import json

import pytest
import yaml
from test_training_cli import config, write

from rhm_memo.backfill import BackfillError, backfill, main
from rhm_memo.cli import cli_main

pytestmark = pytest.mark.filterwarnings("ignore:.*LeafSpec", "ignore:.*log_every_n_steps", "ignore:Checkpoint dir")


@pytest.fixture
def run_dir(tmp_path):
    """A 4-step fit whose SubstringMonitor evaluates every 2 steps (v = 4, L = 3, 16 training strings)."""
    monitor = {"class_path": "rhm_memo.callbacks.SubstringMonitor",
               "init_args": {"num_samples": 16, "every_n_steps": 2, "per_octave": 0, "top_fraction": 0.25}}  # fmt: skip
    cfg = config(tmp_path, trainer={"max_steps": 4, "callbacks": [monitor]}, data={"train_size": 16})
    cli_main(["fit", "--config", write(tmp_path, cfg)])
    return tmp_path / "root"


def records(path):
    return [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]


def test_backfill_restores_what_the_monitor_records(run_dir):
    """Strip slop_index_null from the monitor's records, backfill: the records are as the monitor wrote them."""
    written = records(run_dir)
    substrings = [r for r in written if r["monitor"] == "substrings"]
    assert len(substrings) >= 2 and all("slop_index_null" in d for r in substrings for d in r["heights"].values())
    assert any(d["slop_index_null"] is not None for r in substrings for d in r["heights"].values())
    stripped = json.loads(json.dumps(written))
    for r in stripped:
        for d in r.get("heights", {}).values():
            d.pop("slop_index_null", None)
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in stripped))
    assert backfill(run_dir) == len(substrings)
    assert records(run_dir) == written
    assert backfill(run_dir) == 0  # idempotent


def test_backfill_refuses_another_training_set(run_dir, capsys):
    """A config.yaml with another data seed regenerates other strings: an error, and metrics.jsonl is unchanged."""
    for r in (stripped := records(run_dir)):
        for d in r.get("heights", {}).values():
            d.pop("slop_index_null", None)
    text = "".join(json.dumps(r) + "\n" for r in stripped)
    (run_dir / "metrics.jsonl").write_text(text)
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    cfg["data"]["seed_data"] += 1
    (run_dir / "config.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(BackfillError, match="not this run's training set"):
        backfill(run_dir)
    assert (run_dir / "metrics.jsonl").read_text() == text
    with pytest.raises(SystemExit) as err:
        main([str(run_dir)])
    assert str(err.value).startswith("rhm_memo.backfill: ") and "\n" not in str(err.value)


@pytest.mark.parametrize("argv", [[], ["--help"]])
def test_usage(argv):
    with pytest.raises(SystemExit, match=r"usage: python -m rhm_memo\.backfill"):
        main(argv)


def test_not_a_run_directory(tmp_path):
    with pytest.raises(SystemExit, match=r"no metrics\.jsonl"):
        main([str(tmp_path)])


def strip(run_dir):
    """The records without slop_index_null; returns them."""
    stripped = records(run_dir)
    for r in stripped:
        for d in r.get("heights", {}).values():
            d.pop("slop_index_null", None)
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in stripped))
    return stripped


def test_backfill_refuses_another_grammar(run_dir):
    """A memorization record whose training-set mass differs from the regenerated grammar's: refused, unchanged."""
    stripped = strip(run_dir)
    stripped.append({"schema": 1, "monitor": "memorization", "step": 4, "null": {"mass": 0.5}})
    text = "".join(json.dumps(r) + "\n" for r in stripped)
    (run_dir / "metrics.jsonl").write_text(text)
    with pytest.raises(BackfillError, match="not this run's grammar"):
        backfill(run_dir)
    assert (run_dir / "metrics.jsonl").read_text() == text


def test_heights_without_the_grammar_truth_get_no_null(run_dir):
    """Where the monitor could not enumerate the grammar's blocks (no kl_gen_true) it records no null: backfill
    adds none there, and a record whose only such height lacks it is not redone on every call."""
    stripped = strip(run_dir)
    for r in stripped:
        for key in ("kl_gen_true", "gen_mass_outside_true"):
            r.get("heights", {}).get("3", {}).pop(key, None)
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in stripped))
    assert backfill(run_dir) > 0 and backfill(run_dir) == 0
    for r in records(run_dir):
        if r["monitor"] == "substrings":
            assert "slop_index_null" not in r["heights"]["3"] and "slop_index_null" in r["heights"]["1"]
