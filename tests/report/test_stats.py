"""Tests of rhm_memo.report.stats against independent references: plain arithmetic, tabulated t quantiles, the
Student-t density integrated numerically, and exact enumeration of relabellings."""

import itertools
import json
import math
import random

import pytest
from test_report import COPY_FRACTIONS, STEPS, make_run, memorization_record

from rhm_memo.report import (
    comparison_table,
    describe,
    group_runs,
    load_runs,
    main,
    null_table,
    one_sample_p,
    permutation_p,
    welch_p,
)
from rhm_memo.report.stats import EXACT_PERMUTATION_MAX

#: Student-t 0.975 quantiles from tables, by degrees of freedom.
T975 = {1: 12.706204736174707, 2: 4.302652729749464, 4: 2.7764451051977987, 9: 2.2621571627409915}


# ---------------------------------------------------------------------------------------------------------- references
def t_density(x, df):
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    return math.exp(log_c - (df + 1) / 2 * math.log1p(x * x / df))


def simpson(f, a, b, n=4000):
    h = (b - a) / n
    return h / 3 * (f(a) + f(b) + sum((4 if i % 2 else 2) * f(a + i * h) for i in range(1, n)))


def t_two_sided(t, df):
    """P(|T| ≥ |t|): 1 − 2∫₀^|t| f for small |t|; else the tail with x = |t|/w² (w ∈ (0, 1], smooth at 0)."""
    t = abs(t)
    if t < 1:
        return 1 - 2 * simpson(lambda x: t_density(x, df), 0.0, t)
    return 2 * simpson(lambda w: 0.0 if w == 0 else t_density(t / w**2, df) * 2 * t / w**3, 0.0, 1.0)


def mean_var(x):
    m = sum(x) / len(x)
    return m, sum((v - m) ** 2 for v in x) / (len(x) - 1)


def ref_one_sample(x, reference):
    m, v = mean_var(x)
    return t_two_sided((m - reference) / math.sqrt(v / len(x)), len(x) - 1)


def ref_welch(a, b):
    (ma, va), (mb, vb) = mean_var(a), mean_var(b)
    sa, sb = va / len(a), vb / len(b)
    df = (sa + sb) ** 2 / (sa**2 / (len(a) - 1) + sb**2 / (len(b) - 1))
    return t_two_sided((ma - mb) / math.sqrt(sa + sb), df)


def ref_permutation(a, b):
    pooled, observed = a + b, sum(a) / len(a) - sum(b) / len(b)
    count = total = 0
    for chosen in itertools.combinations(range(len(pooled)), len(a)):
        u = [pooled[i] for i in chosen]
        v = [pooled[i] for i in range(len(pooled)) if i not in chosen]
        total += 1
        count += abs(sum(u) / len(u) - sum(v) / len(v)) >= abs(observed) - 1e-12
    return count / total


def samples(seed, *sizes):
    rng = random.Random(seed)
    return [[round(rng.gauss(0.6, 0.1), 4) for _ in range(n)] for n in sizes]


# ---------------------------------------------------------------------------------------------------------- tests
def test_reference_integrator_matches_tables_and_closed_forms():
    for df, q in T975.items():
        assert t_two_sided(q, df) == pytest.approx(0.05, abs=1e-9)
    for t in (0.3, 1.7, 6.0, 40.0):
        assert t_two_sided(t, 1) == pytest.approx(1 - 2 / math.pi * math.atan(t), rel=1e-6, abs=1e-9)  # Cauchy
        assert t_two_sided(t, 2) == pytest.approx(1 - t / math.sqrt(2 + t * t), rel=1e-6, abs=1e-9)


def test_describe_mean_sd_and_t_interval():
    for df, q in T975.items():
        (x,) = samples(df, df + 1)
        s, (m, v) = describe(x), mean_var(x)
        half = q * math.sqrt(v / (df + 1))
        assert s.n == df + 1 and s.mean == pytest.approx(m, abs=1e-12) and s.sd == pytest.approx(math.sqrt(v))
        assert (s.ci_low, s.ci_high) == pytest.approx((m - half, m + half), abs=1e-9)
    empty, one = describe([]), describe([0.7])
    assert empty.n == 0 and all(math.isnan(v) for v in (empty.mean, empty.sd, empty.ci_low, empty.ci_high))
    assert one.n == 1 and one.mean == 0.7 and all(math.isnan(v) for v in (one.sd, one.ci_low, one.ci_high))


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.filterwarnings("ignore:Precision loss:RuntimeWarning")  # scipy, on the constant sample
def test_t_tests_match_integrated_density(seed):
    x, y = samples(seed, 3 + seed, 2 + 2 * seed)
    for reference in (0.5, 0.6, 0.0):
        assert one_sample_p(x, reference) == pytest.approx(ref_one_sample(x, reference), abs=1e-6, rel=1e-6)
    assert welch_p(x, y) == pytest.approx(ref_welch(x, y), abs=1e-6, rel=1e-6)
    assert welch_p(x, [0.5, 0.5]) == pytest.approx(ref_welch(x, [0.5, 0.5]), abs=1e-6, rel=1e-6)  # one constant


def test_t_tests_nan_on_too_few_or_constant():
    assert math.isnan(one_sample_p([0.7], 0.5)) and math.isnan(one_sample_p([0.6, 0.6, 0.6], 0.5))
    assert math.isnan(welch_p([0.7], [0.1, 0.2])) and math.isnan(welch_p([0.1, 0.2], [0.3]))
    assert math.isnan(welch_p([0.6, 0.6], [0.4, 0.4, 0.4]))


@pytest.mark.parametrize(
    "a, b",
    [([0.1, 0.5], [0.2, 0.2, 0.9]), ([1.0, 2.0, 3.0], [2.0, 5.0, 9.0]),
     ([0.3, 0.3, 0.7, 0.1], [0.3, 0.8, 0.9, 0.95, 0.2]), ([1.0, 1.0, 2.0, 3.0, 5.0], [2.0, 3.0, 3.0, 8.0, 13.0]),
     ([0.5, 0.5], [0.5, 0.5, 0.5])],
)  # fmt: skip
def test_permutation_p_enumerates_every_relabelling(a, b):
    assert permutation_p(a, b) == pytest.approx(ref_permutation(a, b), abs=1e-12)
    assert permutation_p(b, a) == pytest.approx(ref_permutation(a, b), abs=1e-12)


def test_permutation_p_nan_beyond_exact_size():
    big = [0.1 * i for i in range(EXACT_PERMUTATION_MAX + 1)]
    assert math.isnan(permutation_p(big, [0.2, 0.3])) and math.isnan(permutation_p([], [0.2, 0.3]))
    assert math.isnan(permutation_p([0.1], [0.2, 0.3]))  # scipy needs two values per sample


# ---------------------------------------------------------------------------------------------------------- tables
#: Per setting (zipf exponent): per seed, (auc_ever, its null mean, auc_commonness_ever, its null mean).
SETTINGS = {
    0.0: [(0.70, 0.60, 0.58, 0.55), (0.74, 0.66, 0.61, 0.54), (0.69, 0.58, 0.60, 0.57)],
    1.0: [
        (0.81, 0.62, 0.66, 0.52),
        (0.77, 0.63, 0.70, 0.55),
        (0.85, 0.61, 0.64, 0.56),
        (0.80, 0.66, 0.69, 0.51),
        (0.79, 0.57, 0.67, 0.58),
    ],
}


def write_runs(tmp_path):
    dirs = []
    for zipf, seeds in SETTINGS.items():
        for seed, (auc, null, common, common_null) in enumerate(seeds):
            path = make_run(tmp_path / f"z{zipf}-s{seed}", truncated=False, seed=seed, data={"L": 2, "zipf": zipf})
            records = [memorization_record(s, f) for s, f in zip(STEPS, COPY_FRACTIONS)]
            records[-1].update(auc_ever=auc, auc_commonness_ever=common)
            records[-1]["null"]["auc_ever"]["mean"] = null
            records[-1]["null"]["auc_commonness_ever"]["mean"] = common_null
            (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
            dirs.append(path)
    return dirs


def rows(table):
    lines = table.splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    return [dict(zip(header, (c.strip() for c in line.strip("|").split("|")))) for line in lines[2:]]


def assert_p(cell, expected):
    """The printed p (two significant digits) is the reference rounded."""
    printed = float(cell)
    assert abs(printed - expected) <= 0.5 * 10 ** (math.floor(math.log10(printed)) - 1) + 1e-12, (cell, expected)


def assert_summary(cell, values):
    """``mean ± sd [lo, hi]`` to three decimals, from plain arithmetic and the tabulated t quantile."""
    m, v = mean_var(values)
    half = T975[len(values) - 1] * math.sqrt(v / len(values))
    mean_sd, ci = cell.rstrip("]").split(" [")
    printed = [float(t) for t in mean_sd.split(" ± ")] + [float(t) for t in ci.split(", ")]
    assert printed == pytest.approx([m, math.sqrt(v), m - half, m + half], abs=5.01e-4), cell


def test_null_table_uses_per_run_differences(tmp_path):
    groups = group_runs(load_runs(write_runs(tmp_path)))
    table = {(r["setting"], r["statistic"]): r for r in rows(null_table(groups))}
    for zipf, seeds in SETTINGS.items():
        for key, obs, null in [("auc_ever", 0, 1), ("auc_commonness", 2, 3)]:
            row = table[(f"zipf={zipf}", key)]
            observed, nulls = [s[obs] for s in seeds], [s[null] for s in seeds]
            excess = [o - n for o, n in zip(observed, nulls)]
            assert row["n"] == str(len(seeds))
            assert_summary(row["mean ± sd [95% CI]"], observed)
            assert_p(row["p (vs 0.5)"], ref_one_sample(observed, 0.5))
            assert float(row["null mean"]) == pytest.approx(sum(nulls) / len(nulls), abs=5.01e-4)
            assert_summary(row["observed − null: mean ± sd [95% CI]"], excess)
            assert_p(row["p (vs null)"], ref_one_sample(excess, 0.0))
            # subtracting the group's null mean would leave the observed sd, which differs at the printed precision
            sd = float(row["observed − null: mean ± sd [95% CI]"].split(" ± ")[1].split(" ")[0])
            assert abs(sd - math.sqrt(mean_var(observed)[1])) > 2e-3
        copy = table[(f"zipf={zipf}", "copy fraction")]
        assert copy["p (vs 0.5)"] == "—" and float(copy["null mean"]) == 0.002


def test_comparison_table_welch_and_permutation(tmp_path):
    groups = group_runs(load_runs(write_runs(tmp_path)))
    table = {r["statistic"]: r for r in rows(comparison_table(groups))}
    (a, b) = SETTINGS.values()
    columns = {"auc_ever": lambda s: s[0], "auc_ever − null": lambda s: s[0] - s[1],
               "auc_commonness − null": lambda s: s[2] - s[3]}  # fmt: skip
    for key, get in columns.items():
        x, y = [get(s) for s in a], [get(s) for s in b]
        row = table[key]
        assert (row["setting A"], row["setting B"], row["n A"], row["n B"]) == ("zipf=0.0", "zipf=1.0", "3/3", "5/5")
        assert float(row["mean A"]) == pytest.approx(sum(x) / 3, abs=5.01e-4)
        assert float(row["mean B"]) == pytest.approx(sum(y) / 5, abs=5.01e-4)
        assert_p(row["Welch p"], ref_welch(x, y))
        assert_p(row["permutation p"], ref_permutation(x, y))
    assert "onset τ=0.9" not in table  # no run reaches τ = 0.9: nothing to compare


def test_main_writes_statistics_sections_without_figures(tmp_path):
    out = tmp_path / "rep"
    summary = main([*map(str, write_runs(tmp_path / "runs")), "--out", str(out), "--no-figures"])
    text = summary.read_text()
    assert summary == out / "summary.md" and "## Against the null model" in text and "## Between settings" in text
    assert not list(out.glob("*.png"))
    one = main([str(write_runs(tmp_path / "one")[0]), "--out", str(tmp_path / "one-out"), "--no-figures"])
    assert "## Between settings" not in one.read_text()
