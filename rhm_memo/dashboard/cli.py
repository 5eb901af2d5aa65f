"""``rhm-memo dashboard --entity E [--project P] [--dry-run]``: save the dashboard as a W&B workspace (and report).

    rhm-memo dashboard --entity E --project rhm_memo --dry-run        # print the sections and panels: no network
    rhm-memo dashboard --entity E --project rhm_memo                  # save the workspace (needs `wandb login`)
    rhm-memo dashboard --entity E --report repro-cpu                  # and a report of the runs named repro-cpu*

Saving is the only step of the package that goes online; everything before it is built offline.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from rhm_memo.dashboard.build import DEFAULT_NAME, DEFAULT_REPORT_TITLE, describe, report, workspace
from rhm_memo.dashboard.panels import SETTING_KEY, Sizes
from rhm_memo.runs import DEFAULT_PROJECT


def _positive(text: str) -> int:
    """An argparse type: an integer >= 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def parser() -> argparse.ArgumentParser:
    """The options of ``rhm-memo dashboard`` (each one is described on docs/dashboards.md)."""
    p = argparse.ArgumentParser(
        prog="rhm-memo dashboard",
        description="Save the rhm_memo dashboard (the report's figures as panels) as a W&B workspace of a "
        "project, and optionally a W&B report of a grid. Saving needs `wandb login`; --dry-run needs nothing.",
    )
    p.add_argument("--entity", required=True, help="W&B entity (user or team) that owns the project")
    p.add_argument("--project", default=DEFAULT_PROJECT, help=f"W&B project of the runs (default {DEFAULT_PROJECT})")
    p.add_argument("--name", default=DEFAULT_NAME, help=f"name of the saved workspace (default {DEFAULT_NAME})")
    p.add_argument(
        "--heights",
        type=_positive,
        default=Sizes.heights,
        help=f"heights of the per-height panels: the grammar's depth L (default {Sizes.heights})",
    )
    p.add_argument(
        "--windows",
        type=_positive,
        default=Sizes.windows,
        help=f"noise windows of the validation loss: the model's val_windows (default {Sizes.windows})",
    )
    p.add_argument(
        "--group-by",
        nargs="*",
        default=[SETTING_KEY],
        metavar="KEY",
        help=f"config keys that group runs, seeds pooled (default {SETTING_KEY}: runs that differ only "
        "in their seeds, as in rhm-memo report); give none to show each run on its own",
    )
    p.add_argument(
        "--report",
        metavar="QUERY",
        default=None,
        help="also save a W&B report of the runs whose names contain QUERY (e.g. a grid's name; "
        "'' for every run of the project)",
    )
    p.add_argument(
        "--report-filters",
        metavar="EXPR",
        default="",
        help="a W&B filter expression that also selects the report's runs, e.g. \"Sweep = 'abc123'\" for the runs "
        "of a W&B sweep",
    )
    p.add_argument("--report-title", default=DEFAULT_REPORT_TITLE, help="title of the report")
    p.add_argument("--dry-run", action="store_true", help="print the sections and panels; no network, no login")
    return p


def main(argv: Sequence[str] | None = None) -> None:
    """``rhm-memo dashboard``: build the workspace (and report), then print it (``--dry-run``) or save it to W&B.

    A failed save (not logged in, no network, no such entity) is a ``ValueError`` with one line: the command
    line prints it as a user error.
    """
    args = parser().parse_args(argv)
    sizes = Sizes(heights=args.heights, windows=args.windows)
    space = workspace(args.entity, args.project, args.name, sizes, args.group_by)
    sweep = None
    if args.report_filters and args.report is None:
        args.report = ""  # a filter alone selects the report's runs
    if args.report is not None:
        sweep = report(
            args.entity, args.project, args.report, args.report_title, sizes, args.group_by, args.report_filters
        )
    if args.dry_run:
        print(describe(space, sweep))
        return
    for thing, what in ((space, "workspace"), (sweep, "report")):
        if thing is None:
            continue
        try:
            thing.save()
        except Exception as err:  # the online step: whatever W&B raises (login, network, permissions)
            text = " ".join(str(err).split()) or type(err).__name__
            raise ValueError(
                f"could not save the {what} to W&B ({text}); log in with `wandb login` (or set WANDB_API_KEY), "
                "or print it with --dry-run"
            ) from err
        print(f"saved the {what}: {thing.url}")
