"""Statistics across seeds: for runs that differ only in their seeds, n, mean, sd and a 95% confidence interval;
one-sample t-tests against a reference (0.5, or 0 for observed − null); Welch's t-test and an exact permutation
test between settings. All tests are two-sided and come from ``scipy.stats`` (imported when called)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from rhm_memo.report.groups import CHANCE_MULTIPLE, Group, run_statistics
from rhm_memo.report.records import TAUS, Run, block_size
from rhm_memo.report.tables import fmt

#: The largest group size for which the permutation test enumerates every relabelling exactly.
EXACT_PERMUTATION_MAX = 10


def _scipy_stats():
    try:
        from scipy import stats
    except ImportError as err:
        raise ImportError("the report's statistics need scipy: pip install rhm_memo[plots]") from err
    return stats


@dataclass(frozen=True)
class Summary:
    """n, mean, sample sd and the t-based 95% confidence interval of the mean (NaN where n is too small)."""

    n: int
    mean: float
    sd: float
    ci_low: float
    ci_high: float


def describe(values: Sequence[float]) -> Summary:
    """The :class:`Summary` of ``values`` (NaN-free numbers)."""
    x = np.asarray(values, dtype=np.float64)
    n = x.size
    if n == 0:
        return Summary(0, math.nan, math.nan, math.nan, math.nan)
    mean = float(x.mean())
    if n < 2:
        return Summary(1, mean, math.nan, math.nan, math.nan)
    sd = float(x.std(ddof=1))
    half = _scipy_stats().t.ppf(0.975, n - 1) * sd / math.sqrt(n)
    return Summary(n, mean, sd, mean - half, mean + half)


def one_sample_p(values: Sequence[float], reference: float) -> float:
    """Two-sided p-value of the one-sample t-test of mean(values) = reference; NaN with n < 2 or zero spread."""
    x = np.asarray(values, dtype=np.float64)
    if x.size < 2 or np.all(x == x[0]):
        return math.nan
    return float(_scipy_stats().ttest_1samp(x, reference).pvalue)


def welch_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p-value of Welch's t-test of equal means; NaN unless both samples have n ≥ 2 and some spread."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.size < 2 or y.size < 2 or (np.all(x == x[0]) and np.all(y == y[0])):
        return math.nan
    return float(_scipy_stats().ttest_ind(x, y, equal_var=False).pvalue)


def permutation_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p-value of the exact permutation test of the difference of means (every relabelling of the
    pooled values); NaN when either sample has fewer than 2 values (scipy's test needs 2) or more than
    ``EXACT_PERMUTATION_MAX``."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if min(x.size, y.size) < 2 or max(x.size, y.size) > EXACT_PERMUTATION_MAX:
        return math.nan
    # |difference| with alternative="greater": the share of relabellings at least as extreme as observed. scipy's
    # "two-sided" doubles the smaller one-sided p, which differs when the sizes differ (an asymmetric null).
    result = _scipy_stats().permutation_test(
        (x, y), lambda u, v, axis: np.abs(u.mean(axis) - v.mean(axis)), permutation_type="independent",
        n_resamples=math.inf, alternative="greater", vectorized=True,
    )  # fmt: skip
    return float(result.pvalue)


def detectable_difference(sd: float, n: int, alpha: float = 0.05, power: float = 0.8) -> float:
    """The smallest difference of means that two samples of ``n`` each, with standard deviation ``sd``, detect
    with probability ``power`` in a two-sided two-sample t-test at level ``alpha`` (Student's t with the
    noncentral t distribution; Welch's test, used by the contrasts, has the same power for equal n and sd up to
    its degrees of freedom). NaN with n < 2 or an undefined sd."""
    if n < 2 or not math.isfinite(sd) or sd <= 0:
        return math.nan
    st = _scipy_stats()
    from scipy.optimize import brentq

    df, scale = 2 * n - 2, sd * math.sqrt(2 / n)
    critical = st.t.ppf(1 - alpha / 2, df)

    def shortfall(delta: float) -> float:
        nc = delta / scale
        lower = st.nct.cdf(-critical, df, nc)  # the wrong-sign rejections: NaN (underflow) far from 0
        return st.nct.sf(critical, df, nc) + (0.0 if math.isnan(lower) else lower) - power

    return float(brentq(shortfall, 0.0, 50 * scale, xtol=1e-10 * scale))


#: The onsets whose detectable differences the power table gives.
POWER_KEYS = (f"onset τ={TAUS[0]:g}", f"onset {CHANCE_MULTIPLE}·M")


def power_table(groups: Sequence[Group], n: int | None = None, alpha: float = 0.05, power: float = 0.8) -> str:
    """Per setting and onset: its runs' mean and sd, and the difference of mean onsets that a contrast of two
    settings of ``n`` runs each (default: the setting's own count) detects at ``power`` (two-sided ``alpha``),
    if both had this sd (:func:`detectable_difference`), in steps and as a share of the mean."""
    header = ["setting", "statistic", "runs reaching it", "mean ± sd", "planned runs per setting",
              f"detectable at {power:.0%} power"]  # fmt: skip
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for group in groups:
        for key in POWER_KEYS:
            values = _values(group, key)
            if len(values) < 2:
                continue
            summary = describe(values)
            planned = n or summary.n
            delta = detectable_difference(summary.sd, planned, alpha, power)
            spread = f"{fmt(summary.mean, 0)} ± {fmt(summary.sd, 0)}"
            detectable = f"{fmt(delta, 0)} steps ({delta / summary.mean:.0%} of the mean)"
            cells = [group.label.replace("|", "\\|"), key, str(summary.n), spread, str(planned), detectable]
            rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


#: The rows of the null table: a run statistic, its reference value (None: no test), and its null counterpart.
NULL_ROWS: tuple[tuple[str, float | None, str], ...] = (
    ("auc_ever", 0.5, "auc_ever − null"),
    (f"auc_ever@τ={TAUS[0]:g}", 0.5, f"auc_ever@τ={TAUS[0]:g} − null"),
    ("auc_commonness", 0.5, "auc_commonness − null"),
    ("copy fraction", None, "excess copy fraction"),
)


def _values(group: Group, key: str) -> list[float]:
    return [v for v in (run_statistics(run).get(key) for run in group.runs) if v is not None]


def digits_for(key: str) -> int:
    """The decimals a statistic is printed with: none for onsets (steps), 3 otherwise."""
    return 0 if key.startswith("onset") else 3


def fmt_p(p: float) -> str:
    if math.isnan(p):
        return "—"
    return f"{p:.2g}" if p >= 0.001 else f"{p:.1e}"


def fmt_summary(s: Summary) -> str:
    text = fmt(s.mean) + (f" ± {fmt(s.sd)}" if s.n > 1 else "")
    return text + (f" [{fmt(s.ci_low)}, {fmt(s.ci_high)}]" if s.n > 1 else "")


def null_table(groups: Sequence[Group]) -> str:
    """Per setting and statistic: n, mean ± sd [95% CI], p against 0.5; the null model's mean, the observed
    minus null per run (mean ± sd [CI]) and its p against 0 (one-sample t-tests, two-sided)."""
    header = ["setting", "statistic", "n", "mean ± sd [95% CI]", "p (vs 0.5)", "null mean",
              "observed − null: mean ± sd [95% CI]", "p (vs null)"]  # fmt: skip
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for group in groups:
        for key, reference, excess_key in NULL_ROWS:
            observed, excess = _values(group, key), _values(group, excess_key)
            if not observed:
                continue
            null_key = "M" if reference is None else f"{key} null"
            null = describe(_values(group, null_key))
            cells = [group.label.replace("|", "\\|"), key, str(len(observed)), fmt_summary(describe(observed))]
            cells.append(fmt_p(one_sample_p(observed, reference)) if reference is not None else "—")
            cells.append(fmt(null.mean, 4 if reference is None else 3))
            cells += [fmt_summary(describe(excess)), fmt_p(one_sample_p(excess, 0.0))] if excess else ["—", "—"]
            rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


#: The statistics compared between settings.
COMPARED = (*(f"onset τ={t:g}" for t in TAUS), f"onset {CHANCE_MULTIPLE}·M", "auc_ever", "auc_ever − null",
            "auc_commonness − null")  # fmt: skip


def comparison_table(groups: Sequence[Group], keys: Sequence[str] = COMPARED) -> str:
    """Every pair of settings and statistic: n₁, n₂, the means, Welch's p and the exact permutation p (n ≤ 10).

    Onsets compare the runs that reached τ (the others are counted in the n's as missing)."""
    header = ["setting A", "setting B", "statistic", "n A", "n B", "mean A", "mean B", "Welch p", "permutation p"]
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for a, b in itertools.combinations(groups, 2):
        for key in keys:
            x, y = _values(a, key), _values(b, key)
            if not x or not y:
                continue
            digits = digits_for(key)
            cells = [a.label.replace("|", "\\|"), b.label.replace("|", "\\|"), key]
            cells += [f"{len(x)}/{len(a.runs)}", f"{len(y)}/{len(b.runs)}"]
            cells += [fmt(float(np.mean(x)), digits), fmt(float(np.mean(y)), digits)]
            cells += [fmt_p(welch_p(x, y)), fmt_p(permutation_p(x, y))]
            rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def verdict(values: Sequence[float], reference: float, alpha: float = 0.05) -> str:
    """Words for a claim that the mean of ``values`` exceeds ``reference``, from the two-sided one-sample t-test:
    "reproduced" (p < alpha, above), "opposite" (p < alpha, below), "consistent but not significant" (above,
    p ≥ alpha), "not reproduced" (at or below, p ≥ alpha); each with p and n."""
    above = float(np.mean(values)) > reference
    return verdict_words(one_sample_p(values, reference), above, f"n = {len(values)}", alpha)


def direction(values: Sequence[float], reference: float, alpha: float = 0.05) -> str:
    """Words for a statistic that tests no claim, from the same two-sided one-sample t-test: "above REFERENCE" or
    "below REFERENCE" (p < alpha), else "not different from REFERENCE"; each with p and n."""
    p = one_sample_p(values, reference)
    n = f"n = {len(values)}"
    if math.isnan(p):
        return f"undecided ({n})"
    side = "not different from" if p >= alpha else "above" if float(np.mean(values)) > reference else "below"
    return f"{side} {reference:g} (p = {fmt_p(p)}, {n})"


def verdict_words(p: float, above: bool, n: str, alpha: float = 0.05) -> str:
    """The words of :func:`verdict` for a two-sided test's ``p``, the side of the claim (``above``) and ``n``."""
    if math.isnan(p):
        return f"undecided ({n})"
    if p < alpha:
        word = "reproduced" if above else "opposite"
    else:
        word = "consistent but not significant" if above else "not reproduced"
    return f"{word} (p = {fmt_p(p)}, {n})"


def welch_ci(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """The Welch confidence interval of mean(b) − mean(a) (NaN unless both samples have n ≥ 2 and some spread)."""
    if math.isnan(welch_p(a, b)):
        return math.nan, math.nan
    result = _scipy_stats().ttest_ind(np.asarray(b, float), np.asarray(a, float), equal_var=False)
    ci = result.confidence_interval(level)
    return float(ci.low), float(ci.high)


#: The statistics of a contrast between two settings: (statistic, what it is in the test).
CONTRASTED = (
    (f"onset τ={TAUS[0]:g}", "pre-registered"),
    (f"onset {CHANCE_MULTIPLE}·M", "relative to chance; not a test of the claim"),
)


def contrast_table(label_a: str, runs_a: Sequence[Run], label_b: str, runs_b: Sequence[Run],
                   keys: Sequence[tuple[str, str]] = CONTRASTED, alpha: float = 0.05) -> str:  # fmt: skip
    """A claim that setting B's statistic exceeds setting A's (e.g. B memorizes later): per statistic, each
    setting's mean over the runs that have it (and how many of all), B − A with Welch's 95% CI, Welch's two-sided
    p, the exact permutation p, the words of :func:`verdict` from Welch's p ("undecided" while a setting has fewer
    than 2 such runs), and the runs that lack it (an onset never reached)."""
    header = ["statistic", "role", f"A: {label_a}", f"B: {label_b}", "B − A [95% CI]", "Welch p", "permutation p",
              "B above A", "runs without it"]  # fmt: skip
    lines = ["| " + " | ".join(h.replace("|", "\\|") for h in header) + " |", "|" + "---|" * len(header)]
    stats_a = [(r.name, run_statistics(r)) for r in runs_a]
    stats_b = [(r.name, run_statistics(r)) for r in runs_b]
    for key, role in keys:
        x = [v for v in (st.get(key) for _, st in stats_a) if v is not None]
        y = [v for v in (st.get(key) for _, st in stats_b) if v is not None]
        digits = digits_for(key)
        mean_x, mean_y = (float(np.mean(v)) if v else math.nan for v in (x, y))
        low, high = welch_ci(x, y)
        diff = fmt(mean_y - mean_x, digits)
        interval = f"{diff} [{fmt(low, digits)}, {fmt(high, digits)}]" if not math.isnan(low) else diff
        p = welch_p(x, y)
        n = f"n = {len(x)}/{len(stats_a)} + {len(y)}/{len(stats_b)}"
        missing = [name for name, st in (*stats_a, *stats_b) if st.get(key) is None]
        cells = [key, role, f"{fmt(mean_x, digits)} ({len(x)}/{len(stats_a)})",
                 f"{fmt(mean_y, digits)} ({len(y)}/{len(stats_b)})", interval, fmt_p(p),
                 fmt_p(permutation_p(x, y)), verdict_words(p, mean_y > mean_x, n, alpha),
                 ", ".join(missing) or "—"]  # fmt: skip
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


class Row(NamedTuple):
    """A row of the verdict table: the statistic, its reference, and what a value above it means. An
    ``exploratory`` row tests no claim, so it is worded by its direction only ("above 1 (p = …, n = …)")."""

    statistic: str
    reference: float
    meaning: str
    exploratory: bool = False


#: The claim-1 statistics of the verdict table.
CLAIM1_ROWS = (
    Row(f"auc_ever@τ={TAUS[0]:g} − null", 0.0, "prototypes memorized beyond a perfect generalizer (pre-registered)"),
    Row(f"auc_ever@τ={TAUS[0]:g}", 0.5, "prototypes memorized first (no null)"),
    Row("auc_ever − null", 0.0, "the same at the last evaluation"),
    Row("auc_commonness − null", 0.0, "strings built from common substrings memorized beyond the null"),
)


def slop_rows(groups: Sequence[Group]) -> list[Row]:
    """Claim 4's rows of the verdict table, per height whose slop index is defined in some run: the intermediate
    regime's slop index minus its null (against 0, pre-registered), and the slop index itself (against 1); then,
    for the heights where some run recorded them, the two exploratory readings: ``slop_index_true`` (against 1,
    a perfect generalizer's expectation) and the novel samples' index minus its null (against 0)."""
    keys = {k for g in groups for run in g.runs for k, v in run_statistics(run).items() if v is not None}
    runs = [run for g in groups for run in g.runs]

    def heights(prefix: str) -> list[str]:
        return sorted({k.rsplit("=", 1)[1] for k in keys if k.startswith(prefix)}, key=int)

    def size(h: str) -> str:
        return block_size(runs, h)

    rows = [Row(f"slop − null@intermediate h={h}", 0.0, f"{size(h)} over-produced beyond a perfect generalizer "
                "(pre-registered)") for h in heights("slop@intermediate h=")]  # fmt: skip
    rows += [Row(f"slop@intermediate h={h}", 1.0, "the same without the null") for h in heights("slop@intermediate h=")]
    rows += [Row(f"slop true@intermediate h={h}", 1.0, f"{size(h)} the grammar makes common over-produced beyond "
                 "their true frequency", exploratory=True) for h in heights("slop true@intermediate h=")]  # fmt: skip
    rows += [Row(f"slop novel − null@intermediate h={h}", 0.0, f"samples that copy no training string over-produce "
                 f"the training set's common {size(h)} beyond a perfect generalizer's", exploratory=True)
             for h in heights("slop novel − null@intermediate h=")]  # fmt: skip
    return rows


def verdict_table(groups: Sequence[Group], rows: Sequence[Row] = CLAIM1_ROWS) -> str:
    """Per setting and statistic: n, mean ± sd [95% CI], the reference, and the verdict of :func:`verdict` (of
    :func:`direction` for an exploratory row)."""
    header = ["setting", "statistic", "above the reference means", "mean ± sd [95% CI]", "reference", "verdict"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for group in groups:
        for key, reference, meaning, exploratory in rows:
            values = _values(group, key)
            if not values:
                continue
            meaning += " (exploratory)" if exploratory else ""
            cells = [group.label.replace("|", "\\|"), key, meaning, fmt_summary(describe(values)), f"{reference:g}"]
            cells.append(direction(values, reference) if exploratory else verdict(values, reference))
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
