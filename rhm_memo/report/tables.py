"""Markdown tables of runs and of settings over seeds."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from rhm_memo.report.groups import Group, run_statistics
from rhm_memo.report.records import TAUS, Run, heights_of, onsets, optional


def fmt(x: float | None, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{x:.{digits}f}"


def fmt_step(x: float | None) -> str:
    if x is None:
        return "never"
    return f"{x:.0f}" if x >= 100 else f"{x:.3g}"


def summary_table(runs: Sequence[Run], taus: Sequence[float] = TAUS) -> str:
    """A markdown table: onset steps, and at the last evaluation the copy fraction next to M (the null model's),
    the fully valid fraction, ``auc_ever`` next to its null mean, and the slop index per height."""
    heights = heights_of([r.substrings[-1].get("heights", {}) for r in runs if r.substrings])
    header = ["run", "evaluations", "last step", "B", *(f"onset τ={t:g}" for t in taus)]
    header += ["copy fraction", "M", "fully valid", "auc_ever", "auc_ever null", *(f"slop h={h}" for h in heights)]
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for run in runs:
        last = run.memorization[-1] if run.memorization else {}
        slop = run.substrings[-1].get("heights", {}) if run.substrings else {}
        cells = [run.name.replace("|", "\\|"), str(len(run.memorization))]
        cells += [str(last.get("step", "—")), str(last.get("num_samples", "—"))]
        cells += [fmt_step(t) if run.memorization else "—" for t in onsets(run, taus)]
        validity = last.get("validity") or {}
        top = validity.get(max(validity, key=int)) if validity else {}
        null = last.get("null") or {}
        cells += [fmt(last.get("copy_fraction")), fmt(null.get("mass"), 4), fmt(top.get("strings"))]
        cells += [fmt(last.get("auc_ever")), fmt((null.get("auc_ever") or {}).get("mean"))]
        cells += [fmt(slop.get(h, {}).get("slop_index")) for h in heights]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def mean_sd(values: Sequence[float | None], onset: bool) -> str:
    """``mean ± sd`` over the runs that have the value (sample sd); onsets count the runs that never reached τ."""
    have = [v for v in values if v is not None]
    missing = len(values) - len(have)
    if not have:
        return "never" if onset else "—"
    text = (fmt_step if onset else fmt)(float(np.mean(have)))
    if len(have) > 1:
        sd = float(np.std(have, ddof=1))
        text += f" ± {fmt_step(sd) if onset else fmt(sd)}"
    if missing:
        text += f" ({missing} never)" if onset else f" ({missing} —)"
    return text


def group_table(groups: Sequence[Group], taus: Sequence[float] = TAUS) -> str:
    """A markdown table over seeds: per group, the mean ± sample sd of ``run_statistics`` over its runs."""
    stats = [[run_statistics(run, taus) for run in g.runs] for g in groups]
    columns = list(dict.fromkeys(k for group in stats for s in group for k in s))
    rows = ["| " + " | ".join(["setting", "runs", *columns]) + " |", "|" + "---|" * (len(columns) + 2)]
    for group, group_stats in zip(groups, stats):
        cells = [group.label.replace("|", "\\|"), str(len(group.runs))]
        cells += [mean_sd([s.get(c) for s in group_stats], c.startswith("onset")) for c in columns]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def series_table(group: Group, monitor: str, columns: dict[str, Callable[[dict[str, Any]], Any]]) -> str:
    """A markdown table of ``columns`` (name → getter of a record's value) of one monitor's records at each
    evaluation step (rows, step > 0), mean ± sd over the group's runs; steps that not every run evaluated
    show how many did (``(n = k)``)."""
    by_run = [{rec["step"]: rec for rec in getattr(run, monitor)} for run in group.runs]
    steps = sorted({step for records in by_run for step in records if step > 0})
    rows = ["| step | " + " | ".join(columns) + " |", "|" + "---|" * (len(columns) + 1)]
    for step in steps:
        records = [r[step] for r in by_run if step in r]
        cells = [str(step) if len(records) == len(by_run) else f"{step} (n = {len(records)})"]
        for get in columns.values():
            cells.append(mean_sd([get_value(get, rec) for rec in records], onset=False))
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def get_value(get: Callable[[dict[str, Any]], Any], record: dict[str, Any]) -> float | None:
    """``get(record)`` as a number; None where the record lacks it."""
    try:
        return optional(get(record))
    except (KeyError, TypeError):
        return None


def slop_table(group: Group) -> str:
    """The slop index per height (columns) at each substrings evaluation, mean ± sd over the group's runs."""
    heights = heights_of([rec.get("heights", {}) for run in group.runs for rec in run.substrings])
    columns = {f"slop h={h}": (lambda r, h=h: r["heights"][h]["slop_index"]) for h in heights}
    return series_table(group, "substrings", columns)


def memorization_table(group: Group) -> str:
    """Copy fraction, ever-memorized strings and the two AUCs at each memorization evaluation, each next to the
    null model's value (the grammar sampler's), mean ± sd over the group's runs."""
    columns = {
        "copy fraction": lambda r: r["copy_fraction"],
        "excess over M": lambda r: r["null"]["excess_copy_fraction"],
        "ever memorized": lambda r: r["ever_memorized"],
        "ever, null expected": lambda r: r["null"]["expected_ever_memorized"],
        "auc_ever (log p)": lambda r: r["auc_ever"],
        "auc_ever null": lambda r: r["null"]["auc_ever"]["mean"],
        "auc_commonness_ever": lambda r: r["auc_commonness_ever"],
        "auc_commonness null": lambda r: r["null"]["auc_commonness_ever"]["mean"],
    }
    return series_table(group, "memorization", columns)
