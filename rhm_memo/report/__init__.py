"""A report of one or more runs, read from their local records: markdown tables, statistics over seeds, figures.

Reads the run directory described in docs/records.md (``metrics.jsonl``, ``memorization.npz``, ``config.yaml``)
and knows nothing of Lightning. Modules: :mod:`~rhm_memo.report.records` (loading), :mod:`~.groups` (settings
over seeds), :mod:`~.tables` (markdown), :mod:`~.stats` (tests across seeds, scipy), :mod:`~.figures`
(matplotlib, imported only when a figure is drawn) and :mod:`~.cli`. Statistics need scipy and figures need
matplotlib: ``pip install rhm_memo[plots]``.

    rhm-memo report RUN_DIR [RUN_DIR ...] --out report/
"""

from rhm_memo.report.cli import main, write_report
from rhm_memo.report.figures import (
    FIGURES,
    plot_auc_vs_null,
    plot_block_copies,
    plot_copy_fraction,
    plot_group_statistics,
    plot_memorized_by_quantile,
    plot_overproduction,
    plot_privacy,
    plot_slop_kl,
)
from rhm_memo.report.groups import REPLICATE_KEYS, Group, group_runs, run_statistics
from rhm_memo.report.records import SCHEMA, TAUS, Run, load_run, load_runs, onsets
from rhm_memo.report.stats import comparison_table, describe, null_table, one_sample_p, permutation_p, welch_p
from rhm_memo.report.tables import (
    fmt,
    fmt_step,
    group_table,
    memorization_table,
    series_table,
    slop_table,
    summary_table,
)

__all__ = [
    "FIGURES",
    "REPLICATE_KEYS",
    "SCHEMA",
    "TAUS",
    "Group",
    "Run",
    "comparison_table",
    "describe",
    "fmt",
    "fmt_step",
    "group_runs",
    "group_table",
    "load_run",
    "load_runs",
    "main",
    "memorization_table",
    "null_table",
    "one_sample_p",
    "onsets",
    "permutation_p",
    "plot_auc_vs_null",
    "plot_block_copies",
    "plot_copy_fraction",
    "plot_group_statistics",
    "plot_memorized_by_quantile",
    "plot_overproduction",
    "plot_privacy",
    "plot_slop_kl",
    "run_statistics",
    "series_table",
    "slop_table",
    "summary_table",
    "welch_p",
    "write_report",
]
