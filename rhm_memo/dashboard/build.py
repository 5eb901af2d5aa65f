"""The panels of :mod:`rhm_memo.dashboard.panels` as a W&B workspace or a W&B report (``wandb-workspaces``).

Building the objects needs no network and no W&B login; only ``Workspace.save()`` / ``Report.save()`` do
(:mod:`rhm_memo.dashboard.cli`). ``wandb_workspaces`` is imported here only, when a dashboard is built.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rhm_memo.dashboard.panels import PANELS, SECTIONS, SETTING_KEY, STEP, Panel, Sizes, expand

#: The default name of the saved workspace.
DEFAULT_NAME = "rhm_memo"
#: The default title of the report.
DEFAULT_REPORT_TITLE = "rhm_memo: memorization in diffusion models on the Random Hierarchy Model"
#: Summary columns pinned in the runs table of the workspace.
PINNED = ("memorization/copy_fraction", "null/mass", "memorization/onset_tau50", "memorization/auc_ever")
#: How a run group is drawn: the mean over its runs, with a band of ± one sample sd.
AGGREGATE = {"groupby_aggfunc": "mean", "groupby_rangefunc": "stddev"}
#: Sections open when the workspace is first shown (the others are one click away).
OPEN = ("memorization", "prototypicality")


def _libraries() -> tuple[Any, Any]:
    """``wandb_workspaces.workspaces`` and ``wandb_workspaces.reports.v2``, or a one-line error without them."""
    try:
        import wandb_workspaces.reports.v2 as wr
        import wandb_workspaces.workspaces as ws
    except ImportError as err:
        raise ValueError(f"dashboards need wandb-workspaces: pip install wandb-workspaces ({err})") from err
    return ws, wr


def _panel(wr: Any, panel: Panel) -> Any:
    """A ``wandb_workspaces`` panel of one expanded :class:`Panel`."""
    if panel.kind == "bar":
        return wr.BarPlot(title=panel.title, metrics=list(panel.keys), orientation="v", **AGGREGATE)
    return wr.LinePlot(title=panel.title, x=STEP, y=list(panel.keys), log_x=True, log_y=panel.log_y or None,
                       title_x="step", **AGGREGATE)  # fmt: skip


def _sections(sizes: Sizes) -> list[tuple[Any, list[Panel]]]:
    """Each section with its expanded panels, in order; sections without panels are left out."""
    panels = expand(PANELS, sizes)
    return [(s, [p for p in panels if p.section == s.id]) for s in SECTIONS if any(p.section == s.id for p in panels)]


def workspace(
    entity: str,
    project: str,
    name: str = DEFAULT_NAME,
    sizes: Sizes | None = None,
    group_by: Sequence[str] = (SETTING_KEY,),
) -> Any:
    """The dashboard as an unsaved ``wandb_workspaces.workspaces.Workspace`` (no network until ``.save()``).

    One section per :data:`~rhm_memo.dashboard.panels.SECTIONS` entry, every line plot against the step on a log
    axis; the runs are grouped by the config keys ``group_by`` (default: the setting, seeds pooled; none: each
    run on its own) and each group drawn as mean ± sd.
    """
    ws, wr = _libraries()
    sizes = sizes or Sizes()
    sections = [
        ws.Section(name=s.title, panels=[_panel(wr, p) for p in panels], is_open=s.id in OPEN)
        for s, panels in _sections(sizes)
    ]
    runset = ws.RunsetSettings(
        groupby=[ws.Config(key) for key in group_by], pinned_columns=[f"summary:{key}" for key in PINNED]
    )
    settings = ws.WorkspaceSettings(x_axis=STEP, max_runs=100)
    return ws.Workspace(entity=entity, project=project, name=name, sections=sections, settings=settings,
                        runset_settings=runset)  # fmt: skip


def report(
    entity: str,
    project: str,
    query: str = "",
    title: str = DEFAULT_REPORT_TITLE,
    sizes: Sizes | None = None,
    group_by: Sequence[str] = (SETTING_KEY,),
    filters: str = "",
) -> Any:
    """The dashboard as an unsaved ``wandb_workspaces.reports.v2.Report`` of the runs whose names match ``query``
    (e.g. a grid's name; empty: every run of the project) and the W&B filter expression ``filters`` (e.g.
    ``"Sweep = 'abc123'"`` for the runs of a W&B sweep): per section a heading, what to read in it (the claims it
    tests) and a panel grid of its panels, runs grouped as in :func:`workspace`."""
    _, wr = _libraries()
    sizes = sizes or Sizes()
    which = f"the runs whose names contain `{query}`" if query else "every run of the project"
    which += f" with `{filters}`" if filters else ""
    blocks: list[Any] = [
        wr.P(f"Runs: {which}, grouped by {', '.join(group_by) or 'nothing'} (mean ± sd over each group). "
             "Made by `rhm-memo dashboard --report`; the panels are those of the workspace (docs/dashboards.md).")
    ]  # fmt: skip
    for section, panels in _sections(sizes):
        runset = wr.Runset(entity=entity, project=project, name=query or "all runs", query=query, filters=filters,
                           groupby=[f"config.{key}" for key in group_by])  # fmt: skip
        grid = wr.PanelGrid(runsets=[runset], panels=[_panel(wr, p) for p in panels])
        blocks += [wr.H2(section.title), wr.P(section.text), grid]
    return wr.Report(entity=entity, project=project, title=title, blocks=blocks, width="fluid")


def describe(workspace: Any, report: Any | None = None) -> str:
    """The sections and panels of a built workspace (and report), as text: what ``--dry-run`` prints."""
    groups = [g.name for g in workspace.runset_settings.groupby] or ["nothing"]
    lines = [
        f"workspace {workspace.name!r} of {workspace.entity}/{workspace.project}: runs grouped by "
        f"{', '.join(f'config {g}' for g in groups)} (mean ± sd), x axis {workspace.settings.x_axis}"
    ]
    for section in workspace.sections:
        lines.append(f"  {section.name} ({len(section.panels)} panels)")
        lines += [f"    - {_title(panel)}: {', '.join(_keys(panel))}" for panel in section.panels]
    if report is not None:
        grids = [b for b in report.blocks if hasattr(b, "runsets")]
        runset = grids[0].runsets[0] if grids else None
        which = f"runs matching {runset.query!r}" if runset else "no runs"
        which += f" and {runset.filters!r}" if runset and runset.filters else ""
        lines.append(f"report {report.title!r} of {report.entity}/{report.project}: {which}, "
                     f"{len(grids)} panel grids, {sum(len(g.panels) for g in grids)} panels")  # fmt: skip
    return "\n".join(lines)


def _title(panel: Any) -> str:
    return f"{panel.title} [bar]" if hasattr(panel, "metrics") else panel.title


def _keys(panel: Any) -> list[str]:
    """The metric keys a built panel plots (a line plot's y, a bar plot's metrics)."""
    return [str(getattr(k, "name", k)) for k in (panel.metrics if hasattr(panel, "metrics") else panel.y)]
