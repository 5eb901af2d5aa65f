"""Tests of rhm_memo.report on synthetic run directories written to the schema of docs/records.md."""

import ast
import json
import math
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import yaml

from rhm_memo import report
from rhm_memo.metrics import onset_step
from rhm_memo.report import (
    FIGURES,
    load_run,
    load_runs,
    main,
    onsets,
    plot_block_copies,
    plot_copy_fraction,
    plot_memorized_by_quantile,
    plot_overproduction,
    plot_slop_kl,
    summary_table,
    write_report,
)
from rhm_memo.report.figures import _pick_records

STEPS = [2**k for k in range(9)]  # 1, 2, 4, ..., 256
COPY_FRACTIONS = [0.0, 0.02, 0.05, 0.08, 0.2, 0.45, 0.6, 0.75, 0.85]  # never reaches 0.9
SUBSTRING_STEPS = [4, 32, 256]
HEIGHTS = ("1", "2")
BINS = 4
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def memorization_record(step, copy_fraction, b=64):
    """One memorization record with every field of docs/records.md."""
    copies = round(copy_fraction * b)
    blocks = {h: {"same_position": min(1.0, copy_fraction + 0.1 * int(h)), "pooled": 0.9} for h in HEIGHTS}
    return {
        "schema": 1,
        "monitor": "memorization",
        "step": step,
        "num_samples": b,
        "copy_fraction": copy_fraction,
        "novelty": 1.0 - copy_fraction,
        "fraction_distinct": 0.9,
        "copies": copies,
        "distinct_memorized": copies,
        "ever_memorized": copies + 1,
        "near_copy_within": {"1": min(1.0, copy_fraction + 0.1), "2": min(1.0, copy_fraction + 0.2)},
        "hamming_histogram": [copies, 10, 10, b - copies - 20, 0],
        "validity": {h: {"blocks": 0.95, "strings": 0.9} for h in HEIGHTS},
        "block_copies": blocks,
        "block_copies_test": {h: {"same_position": 0.3 * int(h), "pooled": 0.8} for h in HEIGHTS},
        "auc_now": None if step == 1 else 0.6,
        "auc_ever": None if step == 1 else 0.55 + copy_fraction / 10,
        "auc_commonness_ever": 0.58,
        "spearman_first_step": -0.2,
        "quantile_edges": np.linspace(-12.0, -4.0, BINS + 1).tolist(),
        "quantile_counts": [5] * BINS,
        "quantile_fraction_ever": [None, *np.linspace(0.1, copy_fraction, BINS - 1).tolist()],
        "seconds_sampling": 0.5,
        "seconds_metrics": 0.1,
        "null": {
            "mass": 0.002,
            "excess_copy_fraction": copy_fraction - 0.002,
            "expected_ever_memorized": 0.002 * step,
            "samples_drawn": b * (1 + STEPS.index(step) if step in STEPS else 10),
            **{
                key: {"mean": None if step == 1 else mean, "sd": 0.02, "p_value": 0.3, "draws": 200}
                for key, mean in [
                    ("auc_ever", 0.6),
                    ("auc_ever_uniform", 0.5),
                    ("auc_commonness_ever", 0.55),
                    ("auc_commonness_ever_uniform", 0.5),
                ]
            },
        },
    }


def substrings_record(step, slop):
    """One substrings record with every field of docs/records.md (two heights)."""
    heights = {
        h: {
            "kl_gen_train": 0.5 / step + 0.01 * int(h),
            "gen_mass_outside_train": 0.1,
            "entropy_gen": 2.0,
            "entropy_train": 2.2,
            "slop_index": slop * int(h),
            "kl_gen_true": 0.3,
            "gen_mass_outside_true": 0.0,
            "slop_index_null": 0.9,
        }
        for h in HEIGHTS
    }
    top = {
        h: [
            {"block": [i, i + 1][: 2 ** (int(h) - 1)], "f_train": 0.2 / (i + 1), "f_gen": 0.3 / (i + 1) ** 1.5,
             "f_true": 0.2 / (i + 1)}
            for i in range(6)
        ]
        + [{"block": [5, 5], "f_train": 0.01, "f_gen": 0.0, "f_true": None}]
        for h in HEIGHTS
    }  # fmt: skip
    usage = {level: [[0.25] * 4 for _ in range(3)] for level in HEIGHTS}
    return {
        "schema": 1,
        "monitor": "substrings",
        "step": step,
        "num_samples": 64,
        "heights": heights,
        "top_blocks": top,
        "rule_usage_gen": usage,
        "rule_usage_train": usage,
        "seconds_metrics": 0.2,
    }


def privacy_record(step, bins, spearman=-0.1, auc_loss=0.6, auc_calibrated=0.55, auc_grammar=0.52):
    """One privacy record (docs/records.md) with two log-p bins whose calibrated AUCs are ``bins``."""
    quantiles = {"edges": [-12, -10, -8], "members": [3, 3], "nonmembers": [3, 3], "auc_calibrated": bins}
    return {"schema": 1, "monitor": "privacy", "step": step, "num_members": 6, "num_nonmembers": 6, "num_times": 4,
            "auc_loss": auc_loss, "auc_calibrated": auc_calibrated, "auc_grammar": auc_grammar,
            "spearman_calibrated_log_prob": spearman, "tpr_loss": {"0.01": 0.02}, "tpr_calibrated": {"0.01": 0.01},
            "loss_members": 20.0, "loss_nonmembers": 20.5, "by_quantile": quantiles, "seconds": 0.1,
            "ema": False}  # fmt: skip


def make_run(
    path, copy_fractions=COPY_FRACTIONS, substrings=True, truncated=True, label=None, npz=True, data=None, seed=2,
    privacy=True,
):  # fmt: skip
    """A run directory: metrics.jsonl (+ a truncated last line), memorization.npz and config.yaml."""
    path.mkdir(parents=True, exist_ok=True)
    records = [memorization_record(s, f) for s, f in zip(STEPS, copy_fractions)]
    if privacy:
        records += [privacy_record(s, [0.5, 0.5 + f / 4]) for s, f in zip(STEPS, copy_fractions)]
    if substrings:
        records += [substrings_record(s, 1.0 + s / 256) for s in SUBSTRING_STEPS]
    records.sort(key=lambda r: r["step"])  # interleaved as the monitors write them
    text = "".join(json.dumps(r) + "\n" for r in records)
    if truncated:
        text += json.dumps(memorization_record(512, 0.95))[:57]  # a write cut by a crash
    (path / "metrics.jsonl").write_text(text)
    if npz:
        p = 20
        np.savez(
            path / "memorization.npz",
            schema=np.int64(1),
            log_prob=np.linspace(-12.0, -4.0, p),
            commonness=np.linspace(-3.0, -1.0, p),
            first_step=np.where(np.arange(p) % 3 == 0, -1, 4).astype(np.int64),
            counts=np.arange(p, dtype=np.int64),
            eval_steps=np.asarray(STEPS, dtype=np.int64),
        )
    logger = {"class_path": "lightning.pytorch.loggers.WandbLogger", "init_args": {"project": "rhm_memo"}}
    if label is not None:
        logger["init_args"]["name"] = label
    data = {"L": 2, "s": 2} if data is None else data
    config = {"seed_everything": seed, "trainer": {"max_steps": 256, "logger": logger}, "data": data}
    (path / "config.yaml").write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def run_dir(tmp_path):
    return make_run(tmp_path / "run-a")


def table_row(table, name):
    """The cells of the table row of run ``name``, keyed by the header."""
    lines = table.splitlines()
    lines = lines[next(i for i, line in enumerate(lines) if line.startswith("| run |")) :]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    for line in lines[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0] == name:
            return dict(zip(header, cells))
    raise AssertionError(f"no row for {name} in\n{table}")


def assert_figure_files(paths):
    assert [p.suffix for p in paths] == [".png", ".svg"]
    png, svg = paths
    assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 1000
    text = svg.read_text()
    assert text.startswith("<?xml") and "<svg" in text and text.rstrip().endswith("</svg>")


# ---------------------------------------------------------------------------------------------------------- loading
def test_load_run_parses_every_file_and_skips_the_truncated_line(run_dir):
    run = load_run(run_dir)
    assert run.name == "run-a" and run.path == run_dir and run.truncated_last_line
    assert [r["step"] for r in run.memorization] == STEPS  # the cut step-512 record is gone
    assert [r["copy_fraction"] for r in run.memorization] == COPY_FRACTIONS
    assert [r["step"] for r in run.substrings] == SUBSTRING_STEPS
    assert run.memorization[0]["auc_ever"] is None
    assert set(run.arrays) == {"schema", "log_prob", "commonness", "first_step", "counts", "eval_steps"}
    assert run.arrays["eval_steps"].tolist() == STEPS
    assert run.config["data"] == {"L": 2, "s": 2}


def test_load_run_optional_files_label_and_duplicate_steps(tmp_path):
    """No npz / config is fine; the logger's name labels the run; a rewritten step keeps its last record."""
    path = make_run(tmp_path / "abc123", truncated=False, npz=False, label="zipf-1.0")
    assert load_run(path).name == "zipf-1.0"
    (path / "config.yaml").unlink()
    with (path / "metrics.jsonl").open("a") as f:  # a resumed run evaluates step 256 again
        f.write(json.dumps(memorization_record(256, 0.95)) + "\n")
    run = load_run(path)
    assert run.name == "abc123" and run.arrays is None and run.config is None and not run.truncated_last_line
    assert [r["step"] for r in run.memorization] == STEPS and run.memorization[-1]["copy_fraction"] == 0.95


def test_runs_sharing_a_name_are_told_apart(tmp_path):
    runs = load_runs([make_run(tmp_path / "a", label="same"), make_run(tmp_path / "b", label="same")])
    assert [r.name for r in runs] == [f"same ({tmp_path / 'a'})", f"same ({tmp_path / 'b'})"]


def test_not_a_run_directory(tmp_path, capsys):
    with pytest.raises(ValueError, match=r"empty.* is not a run directory \(no metrics.jsonl\)"):
        load_run(tmp_path / "empty")
    with pytest.raises(SystemExit) as exc:
        main([str(tmp_path / "empty"), "--out", str(tmp_path / "out")])
    assert exc.value.code != 0 and "is not a run directory" in str(exc.value.code)
    assert not (tmp_path / "out" / "summary.md").exists()


def test_unknown_schema_and_corrupt_middle_line(tmp_path):
    path = make_run(tmp_path / "run", truncated=False)
    lines = (path / "metrics.jsonl").read_text().splitlines()
    record = json.loads(lines[3]) | {"schema": 2}
    (path / "metrics.jsonl").write_text("\n".join([*lines[:3], json.dumps(record), *lines[4:]]) + "\n")
    with pytest.raises(ValueError, match="schema 2 is not supported"):
        load_run(path)
    (path / "metrics.jsonl").write_text("\n".join([*lines[:3], lines[3][:40], *lines[4:]]) + "\n")
    with pytest.raises(ValueError, match=r"metrics.jsonl:4 is not valid JSON"):
        load_run(path)


# ---------------------------------------------------------------------------------------------------------- table
def test_summary_table_onsets_equal_onset_step(run_dir):
    run = load_run(run_dir)
    expected = [onset_step(STEPS, COPY_FRACTIONS, tau) for tau in (0.1, 0.5, 0.9)]
    assert onsets(run) == expected
    assert expected[0] is not None and expected[1] is not None and expected[2] is None
    row = table_row(summary_table([run]), "run-a")
    assert math.isclose(float(row["onset τ=0.1"]), expected[0], rel_tol=1e-2)
    assert math.isclose(float(row["onset τ=0.5"]), expected[1], rel_tol=1e-2)
    assert row["onset τ=0.9"] == "never"
    assert row["evaluations"] == "9" and row["last step"] == "256" and row["B"] == "64"
    assert float(row["copy fraction"]) == 0.85
    assert float(row["auc_ever"]) == pytest.approx(0.55 + 0.085, abs=1e-3)
    assert float(row["slop h=1"]) == 2.0 and float(row["slop h=2"]) == 4.0  # from the last substrings record


def test_summary_table_custom_taus_and_missing_substrings(tmp_path):
    run = load_run(make_run(tmp_path / "nosub", substrings=False))
    table = summary_table([run], taus=(0.05, 0.99))
    row = table_row(table, "nosub")
    assert float(row["onset τ=0.05"]) == 4.0  # reached exactly at an evaluation
    assert row["onset τ=0.99"] == "never"
    assert not any(k.startswith("slop") for k in row)


# ---------------------------------------------------------------------------------------------------------- figures
def test_main_draws_every_figure_with_every_run(tmp_path, capsys):
    """`rhm-memo report A B --out DIR`: each figure is a PNG and an SVG holding both runs; summary.md lists them."""
    a = make_run(tmp_path / "a", label="run-alpha")
    halves = [f / 2 for f in COPY_FRACTIONS]
    b = make_run(tmp_path / "b", copy_fractions=halves, label="run-beta", data={"L": 2, "s": 2, "m": 3})
    with matplotlib.rc_context({"svg.fonttype": "none"}):  # SVG text stays searchable
        summary = main([str(a), str(b), "--out", str(tmp_path / "rep")])
    assert summary == tmp_path / "rep" / "summary.md" and f"wrote {summary}" in capsys.readouterr().out
    stems = ["copy_fraction", "auc_vs_null", "block_copies", "slop_kl", "memorized_by_quantile", "overproduction",
             "by_setting", "copy_fraction_by_setting", "privacy"]  # fmt: skip
    assert len(FIGURES) == len(stems)
    for stem in stems:
        paths = [tmp_path / "rep" / f"{stem}.png", tmp_path / "rep" / f"{stem}.svg"]
        assert_figure_files(paths)
        svg = paths[1].read_text()
        names = ("m=—", "m=3") if stem.endswith("by_setting") else ("run-alpha", "run-beta")
        assert all(name in svg for name in names), stem
    text = summary.read_text()
    assert ": skipped (" not in text and "truncated last line of metrics.jsonl skipped" in text
    assert all(f"({stem}.png)" in text and f"({stem}.svg)" in text for stem in stems)
    assert table_row(text, "run-beta")["onset τ=0.5"] == "never"
    assert table_row(text, "run-alpha")["onset τ=0.5"] != "never"


def test_missing_substrings_skips_only_substring_figures(tmp_path):
    run = load_run(make_run(tmp_path / "nosub", substrings=False))
    assert plot_slop_kl([run], tmp_path) == [] and plot_overproduction([run], tmp_path) == []
    out = tmp_path / "out"
    text = write_report([tmp_path / "nosub"], out).read_text()
    assert "slop index and KL per height: skipped (no run has substrings records)" in text
    assert "over-production of common blocks: skipped (no run has substrings records with top_blocks)" in text
    assert not list(out.glob("slop_kl.*")) and not list(out.glob("overproduction.*"))
    for stem in ("copy_fraction", "block_copies", "memorized_by_quantile"):
        assert_figure_files([out / f"{stem}.png", out / f"{stem}.svg"])
    assert plot_copy_fraction([], out) == [] and plot_block_copies([], out) == []


def test_memorized_by_quantile_at_chosen_steps(run_dir, tmp_path):
    """Requested steps go to the nearest evaluation (in log step); each is one line labelled by its step."""
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        svg = plot_memorized_by_quantile([load_run(run_dir)], tmp_path, steps=[1, 60, 300])[1].read_text()
    assert all(f"step {s}<" in svg for s in (1, 64, 256)) and "step 32<" not in svg


def test_default_quantile_steps_are_log_spaced_and_end_at_the_last():
    records = [{"step": s} for s in [0, *STEPS]]
    assert [r["step"] for r in _pick_records(records, None)] == [1, 16, 256]
    assert [r["step"] for r in _pick_records(records[:2], None)] == [1]
    assert _pick_records([], None) == []


def test_missing_matplotlib_is_a_clear_import_error(run_dir, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"pip install rhm_memo\[plots\]"):
        plot_copy_fraction([load_run(run_dir)], tmp_path)
    with pytest.raises(SystemExit, match=r"pip install rhm_memo\[plots\]"):
        main([str(run_dir), "--out", str(tmp_path / "rep")])


def test_matplotlib_is_imported_only_inside_functions():
    """The package imports without the `plots` extra: no module-level matplotlib or scipy import in the report."""
    for path in Path(report.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        names = [a.name for n in top for a in n.names] + [n.module or "" for n in top if isinstance(n, ast.ImportFrom)]
        assert not any(name.startswith(("matplotlib", "scipy")) for name in names), path


# ---------------------------------------------------------------------------------------------------------- seeds
def test_group_runs_ignores_seeds_and_logging_and_labels_by_what_differs(tmp_path):
    """Runs that differ only in seeds, logger and predict size form one group; the label names the keys that
    differ."""
    a1 = make_run(tmp_path / "a1", label="x", seed=1, data={"L": 2, "zipf_exponent": 0.0, "seed_data": 1})
    b1 = make_run(tmp_path / "b1", label="y", seed=1, data={"L": 2, "zipf_exponent": 1.0, "seed_data": 1})
    a2 = make_run(
        tmp_path / "a2", label="z", seed=2, data={"L": 2, "zipf_exponent": 0.0, "seed_data": 2, "predict_size": 64}
    )  # a config written by a later version
    lone = make_run(tmp_path / "lone")
    (lone / "config.yaml").unlink()
    groups = report.group_runs(load_runs([a1, b1, a2, lone]))
    assert [g.label for g in groups] == ["zipf_exponent=0.0", "zipf_exponent=1.0", "lone"]
    assert [[r.path.name for r in g.runs] for g in groups] == [["a1", "a2"], ["b1"], ["lone"]]
    assert [g.label for g in report.group_runs(load_runs([a1, a2]))] == ["all runs"]


def test_run_statistics_match_the_records(run_dir):
    run = load_run(run_dir)
    stats = report.run_statistics(run)
    assert [stats[f"onset τ={t}"] for t in (0.1, 0.5, 0.9)] == onsets(run)
    assert stats["copy fraction"] == 0.85
    first = next(r for r in run.memorization if r["copy_fraction"] >= 0.1)
    assert stats["auc_ever@τ=0.1"] == first["auc_ever"] and stats["auc_ever"] == run.memorization[-1]["auc_ever"]
    assert stats["auc_commonness"] == run.memorization[-1]["auc_commonness_ever"]
    assert stats["slop h=1"] == 2.0 and stats["slop peak h=1"] == 2.0  # slop grows: the last is the peak
    assert stats["slop h=2"] == 4.0


def test_group_table_means_sds_and_never(tmp_path):
    """mean ± sample sd over the runs of a group; onsets not reached are counted, not averaged."""
    fast = make_run(tmp_path / "s1", seed=1)
    slow = make_run(tmp_path / "s2", seed=2, copy_fractions=[min(1.0, 1.05 * f) for f in COPY_FRACTIONS])
    never = make_run(tmp_path / "s3", seed=3, copy_fractions=[f / 10 for f in COPY_FRACTIONS])
    runs = load_runs([fast, slow, never])
    table = report.group_table(report.group_runs(runs))
    lines = table.splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    row = dict(zip(header, (c.strip() for c in lines[2].strip("|").split("|"))))
    assert row["runs"] == "3"
    copy = [0.85, 1.05 * 0.85, 0.085]
    assert row["copy fraction"] == f"{np.mean(copy):.3f} ± {np.std(copy, ddof=1):.3f}"
    o = [report.onsets(r)[1] for r in runs]
    assert o[2] is None and row["onset τ=0.5"].endswith("(1 never)")
    assert row["onset τ=0.5"].startswith(f"{report.fmt_step(np.mean(o[:2]))} ± ")
    assert row["onset τ=0.9"].startswith("never") or "never" in row["onset τ=0.9"]


def test_slop_table_rows_are_steps_and_cells_mean_over_runs(tmp_path):
    """Rows: the substrings evaluation steps; cells: mean ± sd of the slop index over the group's runs."""
    runs = load_runs([make_run(tmp_path / f"r{k}", seed=k, truncated=False) for k in (1, 2)])
    with (runs[1].path / "metrics.jsonl").open("a") as f:  # only r2 evaluates step 512
        f.write(json.dumps(substrings_record(512, 7.0)) + "\n")
    runs = load_runs([r.path for r in runs])
    (group,) = report.group_runs(runs)
    lines = report.slop_table(group).splitlines()
    assert lines[0] == "| step | slop h=1 | slop h=2 |"
    steps = [line.split("|")[1].strip() for line in lines[2:]]
    assert steps == [*map(str, SUBSTRING_STEPS), "512 (n = 1)"]
    expected = runs[0].substrings[0]["heights"]["1"]["slop_index"]
    assert lines[2].split("|")[2].strip() == f"{expected:.3f} ± 0.000"
    assert lines[-1].split("|")[2].strip() == f"{runs[1].substrings[-1]['heights']['1']['slop_index']:.3f}"


def test_memorization_table_follows_the_records(tmp_path):
    """Copy fraction and AUCs per evaluation step, averaged over the runs; a missing value is counted, not used."""
    runs = load_runs([make_run(tmp_path / f"m{k}", seed=k, truncated=False) for k in (1, 2)])
    (group,) = report.group_runs(runs)
    lines = report.memorization_table(group).splitlines()
    assert lines[0] == (
        "| step | copy fraction | excess over M | ever memorized | ever, null expected | auc_ever (log p) "
        "| auc_ever null | auc_commonness_ever | auc_commonness null |"
    )
    assert [line.split("|")[1].strip() for line in lines[2:]] == [str(s) for s in STEPS]
    first = [c.strip() for c in lines[2].split("|")[2:-1]]
    assert first[0] == f"{COPY_FRACTIONS[0]:.3f} ± 0.000" and first[4] == first[5] == "—"  # AUCs null at step 1
    assert first[1] == f"{COPY_FRACTIONS[0] - 0.002:.3f} ± 0.000"  # the excess over M
