"""Membership inference across seeds: which training strings are most exposed, in which regime.

The question (docs/reproduction.md, "Membership inference"), with its statistics fixed before the runs: are the
strings most exposed to membership inference the prototypical (high log p) or the atypical ones, and does this
change between the generalization and the memorization regime? Per run:

- **regimes**: *generalization* is the last evaluation before the copy fraction first reaches 0.01; *memorization*
  is the first evaluation whose copy fraction reaches 0.1 (claim 1's evaluation);
- **exposure gradient**: the calibrated attack's AUC in the most probable non-empty log-p quantile bin minus its
  AUC in the least probable one (> 0: the prototypical strings are more exposed). Non-empty: equal log p values
  share a bin, so a grammar whose strings take few distinct log p values leaves bins empty (the regime-cpu
  setting has two values, and 3 of its 5 quintile bins are empty);
- also the Spearman correlation of the members' calibrated scores with log p, and the attacks' AUCs.

Across runs: two-sided one-sample t-tests (against 0, or 0.5 for an AUC) and a paired t-test of the gradient's
change between the regimes (the one-sample test of the per-run differences).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from rhm_memo.report.groups import Group
from rhm_memo.report.records import Run
from rhm_memo.report.stats import describe, fmt_p, fmt_summary, one_sample_p

#: The copy fractions that bound the regimes: generalization before the first, memorization from the second.
GENERALIZATION_BELOW, MEMORIZATION_FROM = 0.01, 0.1
REGIMES = ("generalization", "memorization")

#: The table's rows: a statistic of :func:`privacy_statistics` and its reference value under "no effect".
ROWS: tuple[tuple[str, float], ...] = (
    *((f"exposure gradient@{r}", 0.0) for r in REGIMES),
    ("exposure gradient: memorization − generalization", 0.0),
    *((f"spearman(calibrated, log p)@{r}", 0.0) for r in REGIMES),
    *((f"auc_calibrated@{r}", 0.5) for r in REGIMES),
    *((f"auc_loss − auc_grammar@{r}", 0.0) for r in REGIMES),
)


def regime_steps(run: Run) -> dict[str, int | None]:
    """The step of each regime's evaluation (None where the run has none, e.g. copies from the first evaluation)."""
    steps: dict[str, int | None] = dict.fromkeys(REGIMES)
    previous = None
    for record in run.memorization:
        fraction = record["copy_fraction"]
        if steps["generalization"] is None and fraction >= GENERALIZATION_BELOW:
            steps["generalization"] = previous if previous is not None else -1
        if fraction >= MEMORIZATION_FROM:
            steps["memorization"] = int(record["step"])
            break
        previous = int(record["step"])
    if steps["generalization"] == -1:
        steps["generalization"] = None
    return steps


def privacy_statistics(run: Run) -> dict[str, float]:
    """The per-run statistics of the table (absent where the run lacks the regime's privacy record)."""
    by_step = {int(r["step"]): r for r in run.privacy}
    out: dict[str, float] = {}
    for regime, step in regime_steps(run).items():
        record = by_step.get(step) if step is not None else None
        if record is None:
            continue
        bins = [v for v in record["by_quantile"]["auc_calibrated"] if v is not None]  # the non-empty bins
        if len(bins) >= 2:
            out[f"exposure gradient@{regime}"] = bins[-1] - bins[0]
        if record["spearman_calibrated_log_prob"] is not None:
            out[f"spearman(calibrated, log p)@{regime}"] = record["spearman_calibrated_log_prob"]
        out[f"auc_calibrated@{regime}"] = record["auc_calibrated"]
        out[f"auc_loss − auc_grammar@{regime}"] = record["auc_loss"] - record["auc_grammar"]
        out[f"step@{regime}"] = float(step)
    keys = [f"exposure gradient@{r}" for r in REGIMES]
    if all(k in out for k in keys):
        out["exposure gradient: memorization − generalization"] = out[keys[1]] - out[keys[0]]
    return out


def privacy_table(groups: Sequence[Group]) -> str:
    """Per setting with privacy records and per statistic: n, mean ± sd [95% CI], the reference and the two-sided
    one-sample t-test's p; then the mean step of each regime's evaluation."""
    header = ["setting", "statistic", "n", "mean ± sd [95% CI]", "reference", "p"]
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for group in groups:
        per_run = [privacy_statistics(run) for run in group.runs if run.privacy]
        if not per_run:
            continue
        label = group.label.replace("|", "\\|")
        for key, reference in ROWS:
            values = [s[key] for s in per_run if key in s and not math.isnan(s[key])]
            if values:
                cells = [label, key, str(len(values)), fmt_summary(describe(values)), f"{reference:g}",
                         fmt_p(one_sample_p(values, reference))]  # fmt: skip
                rows.append("| " + " | ".join(cells) + " |")
        for regime in REGIMES:
            steps = [s[f"step@{regime}"] for s in per_run if f"step@{regime}" in s]
            if steps:
                d = describe(steps)
                spread = f" ± {d.sd:.0f}" if d.n > 1 else ""
                rows.append(f"| {label} | step@{regime} | {d.n} | {d.mean:.0f}{spread} | — | — |")
    return "\n".join(rows) if len(rows) > 2 else "_no run has a privacy record at a regime's evaluation_"


def exposure_by_bin(run: Run, regime: str) -> dict[str, Any] | None:
    """The calibrated AUC per log-p bin (with the bin edges) at a regime's evaluation, for the figure."""
    step = regime_steps(run)[regime]
    record = next((r for r in run.privacy if int(r["step"]) == step), None)
    return None if record is None else record["by_quantile"]
