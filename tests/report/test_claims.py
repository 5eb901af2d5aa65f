"""Claims 2-4 in the report: the intermediate regime and the slop statistics (claim 4), and the contrast of two
settings (claims 2 and 3), against hand-worked windows and plain-Python statistics."""

import json
import math

import pytest
from test_report import make_run, memorization_record, substrings_record
from test_stats import mean_var, ref_permutation, ref_welch, rows, t_two_sided

from rhm_memo.report import figures, load_runs
from rhm_memo.report.groups import group_runs, intermediate_steps, run_statistics
from rhm_memo.report.page import render_block
from rhm_memo.report.records import block_size
from rhm_memo.report.stats import (
    contrast_table,
    describe,
    detectable_difference,
    direction,
    slop_rows,
    welch_ci,
)

STEPS = [2**k for k in range(1, 10)]  # 2 .. 512


def run_with(tmp_path, name, fractions, slops=None, nulls=None, s=2):
    """A run whose memorization and substrings records share STEPS; slop (h = "1") and its null per step."""
    path = make_run(tmp_path / name, substrings=False, truncated=False, privacy=False, data={"L": 2, "s": s})
    records = []
    for i, (step, fraction) in enumerate(zip(STEPS, fractions)):
        records.append(memorization_record(step, fraction))
        if slops is not None:
            sub = substrings_record(step, 1.0)
            sub["heights"] = {"1": {**sub["heights"]["1"], "slop_index": slops[i], "slop_index_null": nulls[i]}}
            records.append(sub)
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.mark.parametrize(
    ("fractions", "window"),
    [
        ([0.0, 0.005, 0.01, 0.05, 0.09, 0.1, 0.3, 0.5, 0.6], [8, 16, 32]),  # 0.01 and 0.1 reached exactly
        ([0.0, 0.02, 0.004, 0.08, 0.2, 0.3, 0.4, 0.5, 0.6], [4, 8, 16]),  # a dip below 0.01 stays in the window
        ([0.0, 0.0, 0.0, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6], [16]),  # past 0.1 at once: that evaluation alone
        ([0.0, 0.0, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08], [8, 16, 32, 64, 128, 256, 512]),  # never 0.1
        ([0.0] * 9, []),  # never copies
    ],
)
def test_intermediate_steps(tmp_path, fractions, window):
    (run,) = load_runs([run_with(tmp_path, "r", fractions)])
    assert intermediate_steps(run) == window


def test_slop_statistics_average_the_window(tmp_path):
    """The window [8, 16, 32]: slop and slop − null averaged there; an undefined index (None) is skipped."""
    fractions = [0.0, 0.005, 0.01, 0.05, 0.09, 0.1, 0.3, 0.5, 0.6]
    slops = [0.5, 0.6, 1.1, None, 1.4, 2.0, 2.0, 2.0, 2.0]
    nulls = [0.8, 0.8, 0.8, 0.8, 0.9, 0.8, 0.8, 0.8, 0.8]
    (run,) = load_runs([run_with(tmp_path, "r", fractions, slops, nulls)])
    stats = run_statistics(run)
    assert stats["slop@intermediate h=1"] == pytest.approx((1.1 + 1.4) / 2)
    assert stats["slop − null@intermediate h=1"] == pytest.approx((0.3 + 0.5) / 2)
    assert stats["slop h=1"] == 2.0  # the last evaluation, unchanged
    (silent,) = load_runs([run_with(tmp_path, "q", [0.0] * 9, [1.0] * 9, [0.8] * 9)])
    assert run_statistics(silent)["slop − null@intermediate h=1"] is None


def test_true_and_novel_slop_average_the_same_window(tmp_path):
    """slop_index_true and slop_index_novel − its null, averaged over the window [8, 16, 32] like the slop index;
    None for runs recorded before the monitor wrote them, and for runs whose records hold them for part of it."""
    fractions = [0.0, 0.005, 0.01, 0.05, 0.09, 0.1, 0.3, 0.5, 0.6]
    path = run_with(tmp_path, "r", fractions, [1.0] * 9, [0.8] * 9)
    records = [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]
    subs = [r for r in records if r["monitor"] == "substrings"]
    for i, sub in enumerate(subs):
        novel = {"slop_index_novel": 0.5 + i, "slop_index_novel_null": i}
        sub["heights"]["1"] |= {"slop_index_true": 1.0 + i / 10, **novel}
    subs[3]["heights"]["1"]["slop_index_novel"] = None  # every sample a copy: undefined, skipped
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (run,) = load_runs([path])
    stats = run_statistics(run)
    assert stats["slop true@intermediate h=1"] == pytest.approx((1.2 + 1.3 + 1.4) / 3)
    assert stats["slop novel − null@intermediate h=1"] == pytest.approx(0.5)  # steps 8 and 32 (16 undefined)
    (old,) = load_runs([run_with(tmp_path, "q", fractions, [1.0] * 9, [0.8] * 9)])
    assert run_statistics(old)["slop true@intermediate h=1"] is None
    assert run_statistics(old)["slop novel − null@intermediate h=1"] is None
    # recorded from step 16 on only (a monitor that began midway): part of the window, so no mean
    for sub in subs[:3]:
        for key in ("slop_index_true", "slop_index_novel", "slop_index_novel_null"):
            del sub["heights"]["1"][key]
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (partial,) = load_runs([path])
    assert run_statistics(partial)["slop true@intermediate h=1"] is None
    assert run_statistics(partial)["slop novel − null@intermediate h=1"] is None
    assert run_statistics(partial)["slop@intermediate h=1"] is not None


def test_slop_rows_name_block_sizes(tmp_path, monkeypatch):
    """Blocks of height h hold s**h tokens (rows and figure panels); runs with different s get the height instead."""
    fractions = [0.0, 0.02, 0.05, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]
    same = load_runs([run_with(tmp_path, f"r{i}", fractions, [1.0] * 9, [0.9] * 9, s=3) for i in range(2)])
    rows_ = slop_rows(group_runs(same))
    assert [r[0] for r in rows_] == ["slop − null@intermediate h=1", "slop@intermediate h=1"]
    assert rows_[0][1] == 0.0 and rows_[1][1] == 1.0 and rows_[0][2].startswith("3-token blocks")
    mixed = load_runs([run_with(tmp_path, f"m{s}", fractions, [1.0] * 9, [0.9] * 9, s=s) for s in (2, 3)])
    assert slop_rows(group_runs(mixed))[0][2].startswith("height-1 blocks")
    titles = []  # the figures' per-height panels carry the same names
    monkeypatch.setattr(figures, "_save", lambda fig, out_dir, name: titles.extend(a.get_title() for a in fig.axes))
    figures.plot_slop_kl(same, tmp_path)
    figures.plot_slop_kl(mixed, tmp_path)
    assert "height 1: 3-token blocks" in titles and "height-1 blocks" in titles
    assert [block_size(same, h) for h in (2, "3")] == ["9-token blocks", "27-token blocks"]  # s**h, not s·h


def with_readings(path, true, novel, novel_null):
    """Add slop_index_true and the novel index with its null (h = "1") to every substrings record of ``path``."""
    records = [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]
    for record in records:
        if record["monitor"] == "substrings":
            readings = {"slop_index_true": true, "slop_index_novel": novel, "slop_index_novel_null": novel_null}
            record["heights"]["1"] |= readings
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_slop_rows_add_the_exploratory_readings_only_where_recorded(tmp_path, monkeypatch):
    """slop true (against 1) and slop novel − null (against 0) follow the registered rows, only where a run
    recorded them; their verdicts are one-sample t-tests of the window means (hand-computed here)."""
    fractions = [0.0, 0.02, 0.05, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]  # window: steps 4 and 8
    old = load_runs([run_with(tmp_path, f"old{i}", fractions, [1.0] * 9, [0.9] * 9) for i in range(2)])
    assert [r[0] for r in slop_rows(group_runs(old))] == ["slop − null@intermediate h=1", "slop@intermediate h=1"]
    trues, novels = [1.1, 1.3, 1.2], [0.4, 0.1, 0.3]
    new = [with_readings(run_with(tmp_path, f"new{i}", fractions, [1.0] * 9, [0.9] * 9), t, n + 0.5, 0.5)
           for i, (t, n) in enumerate(zip(trues, novels))]  # fmt: skip
    rows_ = slop_rows(group_runs(load_runs(new)))
    assert [(r[0], r[1]) for r in rows_][2:] == [("slop true@intermediate h=1", 1.0),
                                                 ("slop novel − null@intermediate h=1", 0.0)]  # fmt: skip
    assert [r.exploratory for r in rows_] == [False, False, True, True] and rows_[2][2].startswith("2-token blocks")
    monkeypatch.chdir(tmp_path)
    table = {r["statistic"]: r for r in rows(render_block("slop-verdicts new*"))}
    for key, values, reference in [("slop true@intermediate h=1", trues, 1.0),
                                   ("slop novel − null@intermediate h=1", novels, 0.0)]:  # fmt: skip
        mean, var = mean_var(values)
        p = t_two_sided(abs(mean - reference) / math.sqrt(var / len(values)), len(values) - 1)
        words, shown = table[key]["verdict"].split(" (p = ")
        assert float(shown.split(",")[0]) == pytest.approx(p, rel=0.01) and shown.endswith(", n = 3)")
        assert words == ("above" if p < 0.05 else "not different from") + f" {reference:g}"  # no claim's words
        assert table[key]["above the reference means"].endswith("(exploratory)")
        assert table[key]["mean ± sd [95% CI]"].startswith(f"{mean:.3f} ± {math.sqrt(var):.3f}")


def test_direction_words_a_statistic_by_its_side_only():
    below = [0.70, 0.72, 0.69, 0.71]
    mean, var = mean_var(below)
    p = t_two_sided(abs(mean - 1.0) / math.sqrt(var / 4), 3)
    assert p < 0.05 and direction(below, 1.0).startswith("below 1 (p = ") and direction(below, 1.0).endswith("n = 4)")
    assert direction([0.9, 1.1, 1.0], 1.0).startswith("not different from 1 (p = ")
    assert direction([1.0, 1.0, 1.0], 1.0) == "undecided (n = 3)"


def test_a_table_block_with_a_planned_n_is_marked_interim_until_each_setting_has_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fractions = [0.0, 0.02, 0.05, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]
    for i in range(2):
        run_with(tmp_path, f"r{i}", fractions, [1.0 + i / 10] * 9, [0.9] * 9)
    plain = render_block("slop-verdicts r*")
    note, _, rest = render_block("slop-verdicts n=3 r*").partition("\n\n")
    assert rest == plain and note == "*Interim (r*: 2 of 3 finished runs; planned: 3 per setting).*"
    assert render_block("slop-verdicts n=2 r*") == plain
    # a setting without a finished run yet is named too, with 0
    note, _, rest = render_block("slop-verdicts n=2 r* q*").partition("\n\n")
    assert rest == plain and note == "*Interim (q*: 0 of 2 finished runs; planned: 2 per setting).*"
    assert render_block("slop-verdicts n=3 none*") == "*No finished runs match none* yet.*"


def test_slop_window_meets_substrings_on_another_schedule(tmp_path):
    """Substrings evaluations at other steps than the memorization ones: those within [first, last] of the window
    count (the window of memorization steps is [8, 32])."""
    path = run_with(tmp_path, "r", [0.0, 0.005, 0.01, 0.05, 0.09, 0.1, 0.3, 0.5, 0.6])
    records = [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]
    for step, slop in [(6, 5.0), (10, 1.2), (30, 1.6), (40, 5.0)]:
        sub = substrings_record(step, 1.0)
        sub["heights"] = {"1": {**sub["heights"]["1"], "slop_index": slop, "slop_index_null": 1.0}}
        records.append(sub)
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (run,) = load_runs([path])
    assert run_statistics(run)["slop − null@intermediate h=1"] == pytest.approx((0.2 + 0.6) / 2)


def t_quantile(df, level=0.95):
    """The two-sided t quantile by bisection on the integrated density (independent of scipy)."""
    lo, hi = 0.0, 50.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if t_two_sided(mid, df) > 1 - level else (lo, mid)
    return (lo + hi) / 2


def test_welch_ci_matches_the_welch_satterthwaite_formula():
    a, b = [1.0, 2.0, 4.0, 3.5], [3.0, 5.5, 4.0, 6.0, 7.5]
    (ma, va), (mb, vb) = mean_var(a), mean_var(b)
    sa, sb = va / len(a), vb / len(b)
    df = (sa + sb) ** 2 / (sa**2 / (len(a) - 1) + sb**2 / (len(b) - 1))
    half = t_quantile(df) * math.sqrt(sa + sb)
    assert welch_ci(a, b) == pytest.approx((mb - ma - half, mb - ma + half), abs=1e-6)
    assert all(math.isnan(v) for v in welch_ci([1.0], b))


def onset_run(tmp_path, name, cross):
    """A run whose copy fraction goes 0.05 → 0.15 between STEPS[cross] and STEPS[cross + 1]: onset τ = 0.1 is
    the geometric mean of the two steps (half-way in log step)."""
    fractions = [0.0] * cross + [0.05] + [0.15] * (len(STEPS) - cross - 1)
    return run_with(tmp_path, name, fractions)


def test_contrast_table_against_plain_statistics(tmp_path):
    """B's onsets later than A's: means, B − A with Welch's interval, Welch and permutation p, and the words."""
    crosses_a, crosses_b = [1, 1, 2, 2], [4, 5, 5, 6, 6]
    runs_a = load_runs([onset_run(tmp_path, f"a{i}", c) for i, c in enumerate(crosses_a)])
    runs_b = load_runs([onset_run(tmp_path, f"b{i}", c) for i, c in enumerate(crosses_b)])
    runs_b += load_runs([run_with(tmp_path, "b-never", [0.0] * 9)])  # never reaches τ: counted, not tested
    x = [math.sqrt(STEPS[c] * STEPS[c + 1]) for c in crosses_a]
    y = [math.sqrt(STEPS[c] * STEPS[c + 1]) for c in crosses_b]
    table = {r["statistic"]: r for r in rows(contrast_table("A", runs_a, "B", runs_b))}
    row = table["onset τ=0.1"]
    assert row["role"] == "pre-registered"
    assert row["A: A"] == f"{sum(x) / 4:.0f} (4/4)" and row["B: B"] == f"{sum(y) / 5:.0f} (5/6)"
    diff, interval = row["B − A [95% CI]"].split(" [")
    assert float(diff) == pytest.approx(sum(y) / 5 - sum(x) / 4, abs=0.51)
    assert [float(v) for v in interval.rstrip("]").split(", ")] == pytest.approx(welch_ci(x, y), abs=0.51)
    p = ref_welch(x, y)
    assert float(row["Welch p"]) == pytest.approx(p, rel=0.05)
    assert float(row["permutation p"]) == pytest.approx(ref_permutation(x, y), rel=0.05)
    assert p < 0.05 and row["B above A"].startswith("reproduced (p = ") and "n = 4/4 + 5/6" in row["B above A"]
    assert row["runs without it"] == "b-never"
    flipped = {r["statistic"]: r for r in rows(contrast_table("B", runs_b, "A", runs_a))}
    assert flipped["onset τ=0.1"]["B above A"].startswith("opposite")


def test_contrast_row_stays_when_a_setting_never_reaches_the_onset(tmp_path):
    """The pre-registered row is printed even when no run of B reaches τ: undecided, with the runs named."""
    runs_a = load_runs([onset_run(tmp_path, f"a{i}", c) for i, c in enumerate([1, 2])])
    runs_b = load_runs([run_with(tmp_path, f"never{i}", [0.0] * 9) for i in range(2)])
    row = {r["statistic"]: r for r in rows(contrast_table("A", runs_a, "B", runs_b))}["onset τ=0.1"]
    assert row["B: B"] == "— (0/2)" and row["B above A"] == "undecided (n = 2/2 + 0/2)"
    assert row["runs without it"] == "never0, never1" and row["Welch p"] == "—"


def test_contrast_block_needs_two_globs_and_waits_for_both(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    onset_run(tmp_path, "a0", 1)
    onset_run(tmp_path, "a1", 2)
    with pytest.raises(ValueError, match="one glob per setting"):
        render_block("contrast a*")
    assert render_block("contrast a* b*") == "*No finished runs match b* yet.*"
    assert "| onset τ=0.1 |" in render_block("contrast a0 a1")


# ----------------------------------------------------------------------------------------------------------------------
# power: the difference of mean onsets that n runs per setting detect


@pytest.mark.parametrize(("n", "effect"), [(64, 0.50), (26, 0.80), (17, 1.00)])
def test_detectable_difference_matches_cohens_table(n, effect):
    """Cohen's (1988) table for a two-sided two-sample t-test at α = 0.05 and 80% power: 64 per group detect
    d = 0.5, 26 detect d = 0.8, 17 detect d = 1.0, each the smallest such n: n runs detect at most d, n − 1 more."""
    d = detectable_difference(1.0, n)
    assert d <= effect < detectable_difference(1.0, n - 1)
    assert detectable_difference(3.0, n) == pytest.approx(3 * d, rel=1e-8)  # in units of the sd


def test_detectable_difference_has_its_power_by_simulation():
    """Two samples of 8 normal values whose means differ by the detectable difference: the two-sided t-test (plain
    numpy, critical value from the t table) rejects in 80% of 20 000 simulated pairs (within 4 standard errors)."""
    import numpy as np
    from scipy import stats

    n, sims = 8, 20_000
    delta = detectable_difference(2.0, n)
    rng = np.random.default_rng(0)
    a, b = rng.normal(0.0, 2.0, (sims, n)), rng.normal(delta, 2.0, (sims, n))
    pooled = np.sqrt((a.var(axis=1, ddof=1) + b.var(axis=1, ddof=1)) / 2)
    t = (b.mean(axis=1) - a.mean(axis=1)) / (pooled * np.sqrt(2 / n))
    rate = np.mean(np.abs(t) > stats.t.ppf(0.975, 2 * n - 2))
    assert abs(rate - 0.8) < 4 * np.sqrt(0.8 * 0.2 / sims)


def test_detectable_difference_undefined_cases():
    assert math.isnan(detectable_difference(1.0, 1)) and math.isnan(detectable_difference(0.0, 8))
    assert math.isnan(detectable_difference(math.nan, 8))


def test_power_table_rows(tmp_path):
    """One row per onset that at least 2 runs reach: their mean ± sd and the detectable difference for as many
    runs per setting (as steps and as a share of the mean); a run that never reaches τ = 0.1 is left out."""
    paths = [run_with(tmp_path, f"r{i}", [0.0] * (3 + i) + [0.2] * (6 - i)) for i in range(3)]  # onsets 16, 32, 64
    paths.append(run_with(tmp_path, "never", [0.0] * 9))
    runs = load_runs(paths)
    onsets = [run_statistics(r)["onset τ=0.1"] for r in runs]
    assert onsets[3] is None and all(o is not None for o in onsets[:3])
    table = render_block(f"power {tmp_path}/*")
    s = describe(onsets[:3])
    row = next(line for line in table.splitlines() if "onset τ=0.1" in line)
    delta = detectable_difference(s.sd, 3)
    detectable = f"{delta:.0f} steps ({delta / s.mean:.0%} of the mean) |"
    assert row.split(" | ")[2:] == ["3", f"{s.mean:.0f} ± {s.sd:.0f}", "3", detectable]
