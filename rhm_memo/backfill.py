"""Add to a run's records the fields that depend only on its training set and grammar, for runs recorded before
those fields existed.

``python -m rhm_memo.backfill RUN_DIR [RUN_DIR ...]`` adds ``heights[h].slop_index_null`` (the slop index of a
perfect generalizer, :func:`rhm_memo.metrics.substrings.frequency_summary`) to every substrings record of
``RUN_DIR/metrics.jsonl`` that lacks it. The value needs no model: it is fixed by the training strings and the
grammar, which the run's ``config.yaml`` regenerates exactly (generation is seeded by the config). Before writing
anything it checks that the regenerated strings and grammar are the run's own: every substrings record's
``entropy_train`` per height, and every memorization record's training-set mass M, must match to rounding.
Records that already have the field are left as they are (as are heights whose blocks the monitor could not
enumerate: it records no null there); the file is rewritten atomically, in the records' own JSON form, and
nothing else in it changes.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from rhm_memo.callbacks.records import json_ready
from rhm_memo.files import atomic_write
from rhm_memo.runs import METRICS_FILE

SUBSTRINGS = "rhm_memo.callbacks.SubstringMonitor"


class BackfillError(ValueError):
    """The run's records cannot be backfilled (missing files, or the config does not regenerate its strings)."""


def _substring_settings(config: dict[str, Any]) -> tuple[float, int]:
    """``top_fraction`` and ``max_true_blocks`` of the run's SubstringMonitor (the defaults where not set)."""
    callbacks = (config.get("trainer") or {}).get("callbacks") or []
    for callback in callbacks:
        name = str(callback.get("class_path", "")) if isinstance(callback, dict) else ""
        if name.rsplit(".", 1)[-1] == SUBSTRINGS.rsplit(".", 1)[-1]:
            args = callback.get("init_args") or {}
            return float(args.get("top_fraction", 0.1)), int(args.get("max_true_blocks", 10**6))
    return 0.1, 10**6


def slop_nulls(config: dict[str, Any]) -> tuple[dict[str, float | None], dict[str, float], float]:
    """Per height (string keys, as in the records): the slop index null and the training blocks' entropy, and the
    training set's probability mass M, from the data module that ``config`` (a run's ``config.yaml``) describes."""
    from rhm_memo import metrics as M
    from rhm_memo.data import RHMDataModule

    if not isinstance(config.get("data"), dict):
        raise BackfillError("config.yaml has no data section")
    top_fraction, max_true_blocks = _substring_settings(config)
    dm = RHMDataModule(**config["data"])
    dm.prepare_data()
    dm.setup("fit")
    g, train = dm.grammar, dm.train_strings
    nulls: dict[str, float | None] = {}
    entropies: dict[str, float] = {}
    for h in range(1, g.L + 1):
        truth = (None, None)
        if g.num_blocks(h) <= max_true_blocks:
            bp = g.block_probabilities(h, max_true_blocks)
            truth = (bp.values, bp.probs)
        summary = M.frequency_summary(M.block_frequencies(train, train, h, g.s, g.v, *truth), top_fraction)
        value = summary.get("slop_index_null")
        nulls[str(h)] = None if value is None or math.isnan(value) else value
        entropies[str(h)] = summary["entropy_train"]
    return nulls, entropies, M.training_mass(dm.train_log_prob)


def backfill(run_dir: str | Path) -> int:
    """Add ``slop_index_null`` to the substrings records of ``run_dir`` that lack it; returns how many changed."""
    run_dir = Path(run_dir)
    metrics, config_path = run_dir / METRICS_FILE, run_dir / "config.yaml"
    for path in (metrics, config_path):
        if not path.is_file():
            raise BackfillError(f"{run_dir}: no {path.name}; pass a run directory with metrics.jsonl and config.yaml")
    lines = metrics.read_text().splitlines()
    records = [json.loads(line) for line in lines]
    # the monitor records the null where it knows the grammar's blocks (then it also records kl_gen_true)
    todo = [
        i
        for i, r in enumerate(records)
        if r.get("monitor") == "substrings"
        and any("kl_gen_true" in d and "slop_index_null" not in d for d in r.get("heights", {}).values())
    ]
    if not todo:
        return 0
    nulls, entropies, mass = slop_nulls(yaml.safe_load(config_path.read_text()) or {})
    for i in todo:
        for h, summary in records[i]["heights"].items():
            recorded = summary.get("entropy_train")
            if recorded is None or not math.isclose(recorded, entropies[h], rel_tol=1e-9, abs_tol=1e-12):
                raise BackfillError(
                    f"{metrics}:{i + 1}: the training blocks' entropy at height {h} is {recorded}, but the strings "
                    f"that config.yaml regenerates give {entropies[h]}: not this run's training set; nothing written"
                )
    for i, r in enumerate(records):  # the grammar too: the training set's mass under it, where recorded
        recorded = (r.get("null") or {}).get("mass") if r.get("monitor") == "memorization" else None
        if recorded is not None and not math.isclose(recorded, mass, rel_tol=1e-9, abs_tol=1e-15):
            raise BackfillError(
                f"{metrics}:{i + 1}: the training set's mass is {recorded}, but the grammar that config.yaml "
                f"regenerates gives {mass}: not this run's grammar; nothing written"
            )
    for i in todo:
        for h, summary in records[i]["heights"].items():
            if "kl_gen_true" in summary:
                summary.setdefault("slop_index_null", nulls[h])
        lines[i] = json.dumps(json_ready(records[i]), allow_nan=False)
    atomic_write(metrics, lambda tmp: Path(tmp).write_text("".join(line + "\n" for line in lines)))
    return len(todo)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m rhm_memo.backfill RUN_DIR [RUN_DIR ...]``."""
    dirs = list(sys.argv[1:] if argv is None else argv)
    if not dirs or any(d.startswith("-") for d in dirs):
        raise SystemExit("usage: python -m rhm_memo.backfill RUN_DIR [RUN_DIR ...] (adds slop_index_null to records)")
    for run_dir in dirs:
        try:
            changed = backfill(run_dir)
        except (BackfillError, OSError, json.JSONDecodeError, yaml.YAMLError) as err:
            raise SystemExit(f"rhm_memo.backfill: {err}") from None
        print(f"{run_dir}: {changed} substrings records backfilled")


if __name__ == "__main__":
    main()
