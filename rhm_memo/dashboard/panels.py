"""What the dashboards show, and how W&B treats the logged keys: plain data and the standard library only.

Every scalar the package logs is named ``PREFIX/metric`` with a prefix of :data:`PREFIXES` and is plotted
against :data:`STEP`. :data:`PANELS` is the one list of the dashboard's panels (a new metric needs one line);
:data:`SECTIONS` orders them; :func:`define_metrics` gives W&B the step metric and the summaries of every key
(``rhm-memo fit`` calls it when the W&B run starts). :mod:`rhm_memo.dashboard.build` turns the panels into a
W&B workspace or report. The keys and their meanings: docs/records.md; the dashboards: docs/dashboards.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

#: The step metric of every logged key (Lightning's ``WandbLogger`` logs it with every call): the optimizer step.
STEP = "trainer/global_step"
#: The W&B config key naming a run's setting (``rhm_memo.report.groups.setting_id``): runs that differ only in
#: their seeds share it, so the dashboards pool seeds by grouping on it, as ``rhm-memo report`` does.
SETTING_KEY = "setting"

#: The stable prefixes of the logged keys, and who logs them.
PREFIXES = {
    "train/": "training loss (DiffusionModule)",
    "val/": "validation loss, overall and per noise window (DiffusionModule)",
    "test/": "the same on `rhm-memo test` (DiffusionModule)",
    "memorization/": "copies, near copies, block copies, prototypicality, onsets (MemorizationMonitor)",
    "null/": "the null model of those numbers (MemorizationMonitor)",
    "validity/": "validity per height (MemorizationMonitor)",
    "substrings/": "block statistics per height: KL, entropies, slop (SubstringMonitor)",
    "privacy/": "membership inference (PrivacyMonitor)",
}

#: W&B summaries other than the default (the last value); ``{h}`` stands for every height. A key's onset
#: (``memorization/onset_tau50``) needs none: it is logged as the onset so far, so its last value is the onset.
SUMMARIES = {
    "memorization/copy_fraction": "max,last",
    "null/excess_copy_fraction": "max,last",
    "substrings/slop_index_h{h}": "max,last",
    "val/loss": "min,last",
    "privacy/auc_loss": "max,last",
    "privacy/auc_calibrated": "max,last",
}


@dataclass(frozen=True)
class Sizes:
    """How many heights, noise windows, near-copy distances and privacy bins the keys of a run come in.

    Args:
        heights: Heights h = 1..H of the per-height keys (``_h{h}``): the grammar's depth L (4 in the paper).
        windows: Noise windows w = 0..W-1 of ``val/loss_window_{w}`` (``DiffusionModule(val_windows=10)``).
        near_copy_k: Hamming distances k of ``memorization/near_copy_within_{k}`` (``near_copy_k``, default 1, 2).
        privacy_bins: Log-prob quantile bins q = 0..B-1 of ``privacy/auc_calibrated_q{q}`` (default 5).
    """

    heights: int = 4
    windows: int = 10
    near_copy_k: tuple[int, ...] = (1, 2)
    privacy_bins: int = 5

    def values(self, placeholder: str) -> range | tuple[int, ...]:
        """The values a placeholder (``h``, ``w``, ``k``, ``q``) of a key stands for."""
        return {
            "h": range(1, self.heights + 1),
            "w": range(self.windows),
            "k": self.near_copy_k,
            "q": range(self.privacy_bins),
        }[placeholder]


@dataclass(frozen=True)
class Section:
    """A section of the dashboard: its id (``Panel.section``), its title, and what to read in it."""

    id: str
    title: str
    text: str


@dataclass(frozen=True)
class Panel:
    """One panel: a line plot of ``keys`` against the step (``kind="line"``, log step axis), or a bar chart of
    their last values (``kind="bar"``); run groups are drawn as mean ± sd over their runs.

    A placeholder in a key stands for all its values, in the one panel: ``{h}`` every height, ``{w}`` every noise
    window, ``{k}`` every near-copy distance, ``{q}`` every privacy bin (:class:`Sizes`). With ``per_height``
    the panel is drawn once per height instead (``{h}`` in its title too).
    """

    section: str
    title: str
    keys: tuple[str, ...]
    kind: Literal["line", "bar"] = "line"
    log_y: bool = False
    per_height: bool = False


SECTIONS = (
    Section("memorization", "Memorization over training",
            "The copy fraction next to M, the copy fraction of a perfect generalizer (its null); the excess; "
            "training strings ever generated next to the null's expectation; the onsets (the step where the "
            "copy fraction first reaches τ), which claims 2 and 3 compare across settings."),
    Section("prototypicality", "Prototypicality",
            "Claim 1: are the training strings memorized first the likely ones? The AUC of log p (and of "
            "substring commonness) between ever-memorized and other training strings, next to its null mean "
            "under the grammar sampler and under uniform draws, and the one-sided p-values."),
    Section("partial", "Partial memorization",
            "Blocks of height h of the generated strings that occur at the same position in a training string, "
            "next to the same fraction for held-out strings (what a model that memorizes nothing reaches)."),
    Section("slop", "Slop and KL per height",
            "Claim 4: the slop index (over-production of the most common training blocks) next to a perfect "
            "generalizer's (typically below 1: the top decile is chosen from the training sample), and the KL of the "
            "generated block frequencies from the training and the true ones, per height."),
    Section("validity", "Validity per height",
            "The fraction of generated strings (and of their blocks) that the grammar can derive at height h; "
            "h = L: fully valid strings."),
    Section("privacy", "Privacy",
            "Membership inference against the model: AUC and TPR at low FPR of the loss and of the calibrated "
            "score, per log-p quantile bin, and the NELBO of training vs held-out strings (docs/concepts/privacy.md)."),
    Section("loss", "Loss per noise window",
            "Training and validation loss, and the validation loss per noise window (0 = least noise)."),
)  # fmt: skip

#: Every panel of the dashboard, in order within each section. A new metric needs one line here.
PANELS = (
    Panel("memorization", "copy fraction vs its null M", ("memorization/copy_fraction", "null/mass"), log_y=True),
    Panel("memorization", "excess copy fraction (copy fraction − M)", ("null/excess_copy_fraction",)),
    Panel("memorization", "training strings ever memorized vs expected under the null",
          ("memorization/ever_memorized", "null/expected_ever_memorized"), log_y=True),
    Panel("memorization", "onsets: steps where the copy fraction reaches τ = 0.1, 0.5, 0.9",
          ("memorization/onset_tau10", "memorization/onset_tau50", "memorization/onset_tau90"), kind="bar"),
    Panel("memorization", "distinct training strings generated now", ("memorization/distinct_memorized",)),
    Panel("memorization", "near copies: within Hamming distance k", ("memorization/near_copy_within_{k}",)),
    Panel("memorization", "novelty and distinct samples", ("memorization/novelty", "memorization/fraction_distinct")),
    Panel("prototypicality", "AUC(log p, ever memorized) vs its nulls",
          ("memorization/auc_ever", "null/auc_ever_mean", "null/auc_ever_uniform_mean")),
    Panel("prototypicality", "AUC(commonness, ever memorized) vs its nulls",
          ("memorization/auc_commonness_ever", "null/auc_commonness_ever_mean",
           "null/auc_commonness_ever_uniform_mean")),
    Panel("prototypicality", "one-sided p-values against the nulls",
          ("null/auc_ever_p", "null/auc_ever_uniform_p", "null/auc_commonness_ever_p",
           "null/auc_commonness_ever_uniform_p"), log_y=True),
    Panel("prototypicality", "AUC(log p, memorized now)", ("memorization/auc_now",)),
    Panel("prototypicality", "Spearman(first-memorized step, log p)", ("memorization/spearman_first_step",)),
    Panel("partial", "block copies at height {h}: generated vs held-out",
          ("memorization/block_copies_h{h}", "memorization/block_copies_test_h{h}"), per_height=True),
    Panel("partial", "block copies at any position, per height", ("memorization/block_copies_pooled_h{h}",)),
    Panel("slop", "slop index per height", ("substrings/slop_index_h{h}",)),
    Panel("slop", "slop index at height {h} vs a perfect generalizer's",
          ("substrings/slop_index_h{h}", "substrings/slop_index_null_h{h}"), per_height=True),
    Panel("slop", "slop index with the top decile by the grammar (1: a perfect generalizer)",
          ("substrings/slop_index_true_h{h}",)),
    Panel("slop", "slop index of the novel samples at height {h} vs a perfect generalizer's novel samples",
          ("substrings/slop_index_novel_h{h}", "substrings/slop_index_novel_null_h{h}"), per_height=True),
    Panel("slop", "KL(generated ‖ training) per height", ("substrings/kl_gen_train_h{h}",), log_y=True),
    Panel("slop", "KL(generated ‖ true) per height", ("substrings/kl_gen_true_h{h}",), log_y=True),
    Panel("slop", "generated block mass outside the training blocks", ("substrings/gen_mass_outside_train_h{h}",)),
    Panel("slop", "entropy of the generated blocks per height", ("substrings/entropy_gen_h{h}",)),
    Panel("slop", "entropy of the training blocks per height", ("substrings/entropy_train_h{h}",)),
    Panel("validity", "valid strings per height (h = L: fully valid)", ("validity/strings_h{h}",)),
    Panel("validity", "valid blocks per height", ("validity/blocks_h{h}",)),
    Panel("privacy", "membership AUC of the loss, calibrated and grammar scores",
          ("privacy/auc_loss", "privacy/auc_calibrated", "privacy/auc_grammar")),
    Panel("privacy", "TPR at FPR 1e-2 and 1e-3",
          ("privacy/tpr_loss_fpr1e-2", "privacy/tpr_loss_fpr1e-3", "privacy/tpr_calibrated_fpr1e-2",
           "privacy/tpr_calibrated_fpr1e-3"), log_y=True),
    Panel("privacy", "calibrated AUC per log-p quantile bin", ("privacy/auc_calibrated_q{q}",)),
    Panel("privacy", "Spearman(calibrated score, log p)", ("privacy/spearman_calibrated_log_prob",)),
    Panel("privacy", "NELBO of training vs held-out strings", ("privacy/nelbo_train", "privacy/nelbo_heldout")),
    Panel("loss", "training and validation loss", ("train/loss", "val/loss"), log_y=True),
    Panel("loss", "validation loss per noise window (0 = least noise)", ("val/loss_window_{w}",), log_y=True),
)  # fmt: skip


def expand_key(key: str, sizes: Sizes) -> list[str]:
    """The keys a key with placeholders stands for (itself when it has none)."""
    for placeholder in ("h", "w", "k", "q"):
        if "{" + placeholder + "}" in key:
            return [key.replace("{" + placeholder + "}", str(v)) for v in sizes.values(placeholder)]
    return [key]


def expand(panels: Iterable[Panel] = PANELS, sizes: Sizes = Sizes()) -> list[Panel]:
    """The panels with every placeholder replaced (a ``per_height`` panel becomes one panel per height)."""
    out = []
    for panel in panels:
        copies = [(str(h), panel.keys) for h in sizes.values("h")] if panel.per_height else [(None, panel.keys)]
        for h, keys in copies:
            if h is not None:
                keys = tuple(k.replace("{h}", h) for k in keys)
            title = panel.title.replace("{h}", h) if h is not None else panel.title
            keys = tuple(k for key in keys for k in expand_key(key, sizes))
            out.append(Panel(panel.section, title, keys, panel.kind, panel.log_y, per_height=False))
    return out


def panel_keys(sizes: Sizes = Sizes(), panels: Iterable[Panel] = PANELS) -> dict[str, list[str]]:
    """``{section id: every key its panels plot}``, placeholders expanded, in panel order without repeats."""
    keys: dict[str, list[str]] = {s.id: [] for s in SECTIONS}
    for panel in expand(panels, sizes):
        keys[panel.section] += [k for k in panel.keys if k not in keys[panel.section]]
    return keys


def define_metrics(run: Any, heights: int = Sizes.heights) -> None:
    """Give a W&B run the step metric of every prefix and the summaries of :data:`SUMMARIES` (``{h}`` for
    heights 1..``heights``). Idempotent: defining a metric again changes nothing."""
    for prefix in PREFIXES:
        run.define_metric(f"{prefix}*", step_metric=STEP, step_sync=True)
    sizes = Sizes(heights=heights)
    for key, summary in SUMMARIES.items():
        for name in expand_key(key, sizes):  # an exact name wins over the prefix's glob
            run.define_metric(name, step_metric=STEP, step_sync=True, summary=summary)
