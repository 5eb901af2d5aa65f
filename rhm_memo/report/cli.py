"""``rhm-memo report RUN_DIR [RUN_DIR ...] --out DIR``: the summary page and the figures of runs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from rhm_memo.report.figures import FIGURES
from rhm_memo.report.groups import REPLICATE_KEYS, group_runs
from rhm_memo.report.page import main as page_main
from rhm_memo.report.privacy import privacy_table
from rhm_memo.report.records import load_runs
from rhm_memo.report.stats import EXACT_PERMUTATION_MAX, comparison_table, null_table
from rhm_memo.report.tables import group_table, memorization_table, slop_table, summary_table

NULL_TEXT = (
    "At the last evaluation of each run: the statistic over the runs of a setting (n, mean ± sample sd, 95% "
    "t-interval) and the two-sided one-sample t-test against 0.5; the grammar sampler's value (its null mean, "
    "or M for the copy fraction), and observed − null per run with its t-test against 0. A perfect generalizer "
    "has observed − null = 0 (docs/concepts/null.md)."
)
PRIVACY_TEXT = (
    "Membership inference (docs/concepts/privacy.md) in two regimes of each run: generalization (the last "
    "evaluation before the copy fraction reaches 0.01) and memorization (the first where it reaches 0.1). Exposure "
    "gradient: the calibrated attack's AUC in the most probable non-empty log-p quantile bin minus the least probable "
    "one (> 0: prototypical strings more exposed). Two-sided one-sample t-tests against the reference; the "
    "regimes' difference is paired."
)
COMPARISON_TEXT = (
    "Two-sided Welch's t-test and exact permutation test (difference of means, every relabelling; only when "
    f"both settings have at most {EXACT_PERMUTATION_MAX} runs) between every pair of settings. Onsets compare "
    "the runs that reached τ (n = reached/runs)."
)


def write_report(run_dirs: Sequence[str | Path], out_dir: str | Path, figures: bool = True) -> Path:
    """Load the runs, draw every figure into ``out_dir`` (unless ``figures`` is False) and write
    ``out_dir/summary.md``; returns its path."""
    runs = load_runs(run_dirs)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lines = ["# Memorization report", "", "## Runs", ""]
    for run in runs:
        note = f"; {len(run.substrings)} substrings evaluations"
        note += "; memorization.npz" if run.arrays is not None else "; no memorization.npz"
        note += "; truncated last line of metrics.jsonl skipped" if run.truncated_last_line else ""
        lines.append(f"- **{run.name}**: `{run.path}`, {len(run.memorization)} memorization evaluations{note}")
    lines += ["", "## Summary", "", summary_table(runs), ""]
    groups = group_runs(runs)
    if any(len(g.runs) > 1 for g in groups):
        lines += ["## Over seeds", "", "Mean ± sample sd over the runs of each setting (runs that differ only in",
                  f"{', '.join(REPLICATE_KEYS)}).", "", group_table(groups), ""]  # fmt: skip
        for group in groups:
            if any(run.substrings for run in group.runs):
                lines += [f"### Slop index over training: {group.label}", "", slop_table(group), ""]
        for group in groups:
            if any(run.memorization for run in group.runs):
                lines += [f"### Memorization over training: {group.label}", "", memorization_table(group), ""]
    if any("null" in r for run in runs for r in run.memorization):
        lines += ["## Against the null model", "", NULL_TEXT, "", null_table(groups), ""]
    if any(run.privacy for run in runs):
        lines += ["## Membership inference", "", PRIVACY_TEXT, "", privacy_table(groups), ""]
    if sum(len(g.runs) > 1 for g in groups) > 1:
        lines += ["## Between settings", "", COMPARISON_TEXT, "", comparison_table(groups), ""]
    if not figures:
        return _write(out / "summary.md", lines)
    lines += ["## Figures", ""]
    images = []
    for title, draw, needs in FIGURES:
        paths = draw(runs, out)
        if paths:
            lines.append(f"- {title}: " + ", ".join(f"[{p.suffix[1:]}]({p.name})" for p in paths))
            images += [f"### {title}", "", f"![{title}]({paths[0].name})", ""]
        else:
            lines.append(f"- {title}: skipped (no run has {needs})")
    return _write(out / "summary.md", [*lines, "", *images])


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines).rstrip() + "\n")
    return path


def main(argv: Sequence[str] | None = None) -> Path | None:
    """``rhm-memo report RUN_DIR [RUN_DIR ...] --out DIR``: write the report and print where it is;
    ``rhm-memo report --page PAGE.md [--check]``: regenerate the tables of a page (:mod:`rhm_memo.report.page`)."""
    argv = list(argv if argv is not None else sys.argv[1:])
    if "--page" in argv:
        try:
            page_main(argv)
        except (ValueError, ImportError, OSError) as err:
            raise SystemExit(f"rhm-memo report: {err}") from err
        return None
    parser = argparse.ArgumentParser(
        prog="rhm-memo report", description="Summary table and figures of runs, from their local records."
    )
    parser.add_argument("run_dirs", nargs="+", help="run directories (each holds metrics.jsonl)")
    parser.add_argument("--out", default="report", help="output folder (default: report/)")
    parser.add_argument("--no-figures", action="store_true", help="write only the tables (needs no matplotlib)")
    args = parser.parse_args(argv)
    try:
        summary = write_report(args.run_dirs, args.out, figures=not args.no_figures)
    except (ValueError, ImportError) as err:
        raise SystemExit(f"rhm-memo report: {err}") from err
    print(f"wrote {summary}")
    return summary
