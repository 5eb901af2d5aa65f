"""The verdicts at a glance (rhm_memo.report.glance): a registry of tests rendered against plain-Python statistics."""

import math
from pathlib import Path

import pytest
from test_claims import STEPS, onset_run, run_with
from test_stats import mean_var, ref_one_sample, ref_welch, rows

from rhm_memo.report import load_runs
from rhm_memo.report.glance import RegistryError, glance_table, load_registry
from rhm_memo.report.groups import run_statistics
from rhm_memo.report.page import render_block
from rhm_memo.report.stats import welch_ci

ROOT = Path(__file__).parents[2]
FRACTIONS = [0.0, 0.02, 0.05, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]  # the intermediate regime: steps 4 and 8


def write_registry(path, tests, planned=None):
    lines = [f"planned: {planned}"] if planned is not None else []
    lines.append("tests:")
    for test in tests:
        lines.append("  - " + "\n    ".join(f"{k}: {v}" for k, v in test.items()))
    path.write_text("\n".join(lines) + "\n")
    return path


def table(tmp_path, tests, planned=None):
    registry = write_registry(tmp_path / "registry.yaml", tests, planned)
    return rows(render_block(f"glance {registry}"))


def test_one_sample_rows_per_height_with_their_secondary(tmp_path, monkeypatch):
    """slop − null is d in every evaluation of run i (slop 1 + d, null 1): the row's mean, CI, p and words are
    those of the plain one-sample t-test of the d's against 0; the secondary, slop against 1, has the same p."""
    monkeypatch.chdir(tmp_path)
    excess = [0.1, 0.2, 0.15, 0.25]
    for i, d in enumerate(excess):
        run_with(tmp_path, f"r{i}", FRACTIONS, [1.0 + d] * 9, [1.0] * 9)
    test = {
        "claim": "4",
        "setting": "all",
        "runs": "[r*]",
        "statistic": "slop − null@intermediate h={h}",
        "heights": "[1]",
        "secondary": "{label: without the null, statistic: slop@intermediate h=1, reference: 1}",
    }
    (row,) = table(tmp_path, [test], planned=4)
    mean, var = mean_var(excess)
    half = 3.182446 * math.sqrt(var / 4)  # t(0.975, 3)
    assert row["statistic (tested against)"] == "slop − null@intermediate h=1, 2-token blocks (0)"
    assert row["result [95% CI]"] == f"{mean:.3f} [{mean - half:.3f}, {mean + half:.3f}]"
    p = ref_one_sample(excess, 0.0)
    assert p < 0.05 and row["verdict"] == f"reproduced (p = {p:.2g}, n = 4)"
    assert row["next to it (not the registered test)"] == (
        f"without the null: {1 + mean:.3f} [{1 + mean - half:.3f}, {1 + mean + half:.3f}] against 1, p = {p:.2g}, n = 4"
    )


def test_contrast_rows_are_welchs_test_of_b_minus_a(tmp_path, monkeypatch):
    """Two globs: B − A of the onsets with Welch's interval, p and words ("reproduced" when B is later with
    p < 0.05; the same settings in the other order read "opposite")."""
    monkeypatch.chdir(tmp_path)
    crosses_a, crosses_b = [1, 1, 2, 2], [4, 5, 5, 6]
    for i, c in enumerate(crosses_a):
        onset_run(tmp_path, f"a{i}", c)
    for i, c in enumerate(crosses_b):
        onset_run(tmp_path, f"b{i}", c)
    x = [math.sqrt(STEPS[c] * STEPS[c + 1]) for c in crosses_a]
    y = [math.sqrt(STEPS[c] * STEPS[c + 1]) for c in crosses_b]
    later = {"claim": "2", "setting": "A then B", "runs": "[a*, b*]", "statistic": "onset τ=0.1"}
    earlier = {**later, "runs": "[b*, a*]"}
    row, flipped = table(tmp_path, [later, earlier])
    low, high = welch_ci(x, y)
    diff = sum(y) / 4 - sum(x) / 4
    assert row["statistic (tested against)"] == "onset τ=0.1, B − A (0)"
    assert row["result [95% CI]"] == f"B − A = {diff:.0f} steps [{low:.0f}, {high:.0f}]"
    p = ref_welch(x, y)
    assert p < 0.05 and row["verdict"] == f"reproduced (p = {p:.2g}, n = 4 + 4)"
    assert flipped["verdict"] == f"opposite (p = {p:.2g}, n = 4 + 4)"
    assert row["next to it (not the registered test)"] == "—"


def test_a_test_short_of_its_planned_runs_reads_running(tmp_path, monkeypatch):
    """Fewer finished runs than planned in any setting: no numbers, the counts; an unfinished grid run (grid.log,
    no done marker) does not count."""
    monkeypatch.chdir(tmp_path)
    for i, cross in enumerate([1, 2, 3]):
        onset_run(tmp_path, f"a{i}", cross)
    (onset_run(tmp_path, "a3", 2) / "grid.log").write_text("running")
    test = {"claim": "1", "setting": "s", "runs": "[a*]", "statistic": "onset τ=0.1", "reference": 1}
    (row,) = table(tmp_path, [test], planned=4)
    assert row["verdict"] == "running (3 of 4 runs finished)" and row["result [95% CI]"] == "—"
    (row,) = table(tmp_path, [test], planned=3)
    x = [math.sqrt(STEPS[c] * STEPS[c + 1]) for c in (1, 2, 3)]
    p = ref_one_sample(x, 1.0)
    assert p > 0.05 and row["verdict"] == f"consistent but not significant (p = {p:.2g}, n = 3)"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tests: []\n", "needs a non-empty list 'tests'"),
        ("tests:\n  - claim: 1\n    setting: s\n    runs: [a]\n", "test 1: missing statistic"),
        ("tests:\n  - {claim: 1, setting: s, runs: [a, b, c], statistic: x}\n", "one glob (one-sample test) or two"),
        ("tests:\n  - {claim: 1, setting: s, runs: [a], statistic: x, heights: [1]}\n", "needs '{h}'"),
        ("tests:\n  - {claim: 1, setting: s, runs: [a], statistic: x, refrence: 1}\n", "unknown key 'refrence'"),
        ("tests:\n  - {claim: 1, setting: s, runs: [a], statistic: x, secondary: {statistic: y}}\n", "a label"),
        ("tests: [1\n", "registry"),
    ],
    ids=["empty", "missing", "three-globs", "heights", "typo", "secondary", "malformed"],
)
def test_bad_registries_fail_in_one_line(tmp_path, text, message):
    path = tmp_path / "registry.yaml"
    path.write_text(text)
    with pytest.raises(RegistryError, match="registry") as err:
        glance_table(path, lambda pattern: [])
    assert message in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(RegistryError, match="registry"):
        load_registry(tmp_path / "missing.yaml")


def test_the_studys_registry_names_existing_statistics_and_settings():
    """Every test of the committed registry reads, at each of its heights, a statistic the report computes for
    the runs of its globs (and its secondary one), so no row of the page can stay empty by a typo."""
    planned, tests = load_registry(ROOT / "results" / "regime-cpu" / "registered.yaml")
    assert planned == 8 and len(tests) >= 10
    for test in tests:
        for pattern in test.runs:
            runs = load_runs(sorted(ROOT.glob(pattern))[:1])
            assert runs, pattern
            computed = run_statistics(runs[0])
            for h in test.heights or (None,):
                keys = [test.statistic, *([test.secondary.statistic] if test.secondary else [])]
                for key in keys:
                    assert key.replace("{h}", str(h)) in computed, (pattern, key)
