"""W&B dashboards as code: the panels of the paper's figures, and the W&B definitions of every logged key.

:mod:`~rhm_memo.dashboard.panels` holds the plain data (prefixes, sections, the one list of panels, summaries)
and :func:`~rhm_memo.dashboard.panels.define_metrics` (standard library only); :mod:`~.build` turns the panels
into a W&B workspace or report with ``wandb-workspaces`` (imported only there); :mod:`~.cli` is
``rhm-memo dashboard``. Guide: docs/dashboards.md.

    rhm-memo dashboard --entity E --project rhm_memo --dry-run
"""

from rhm_memo.dashboard.panels import (
    PANELS,
    PREFIXES,
    SECTIONS,
    SETTING_KEY,
    STEP,
    SUMMARIES,
    Panel,
    Section,
    Sizes,
    define_metrics,
    expand,
    expand_key,
    panel_keys,
)

__all__ = [
    "PANELS",
    "PREFIXES",
    "SECTIONS",
    "SETTING_KEY",
    "STEP",
    "SUMMARIES",
    "Panel",
    "Section",
    "Sizes",
    "define_metrics",
    "expand",
    "expand_key",
    "panel_keys",
]
