"""Runs that differ only in their seeds: grouping them into settings, and the numbers of one run that are
compared across seeds."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rhm_memo.report.records import TAUS, Run, copy_fractions, heights_of, num, onsets, optional, series

#: The relative onset: the copy fraction reaching this many times the grammar sampler's copy fraction M.
CHANCE_MULTIPLE = 10

#: The copy fraction from which a run copies: with ``TAUS[0]``, the bounds of the intermediate regime (claim 4).
COPYING_FROM = 0.01

#: Config keys that may differ between replicates of one setting: the seeds, where and how the run is logged, and
#: the sample size of ``rhm-memo predict`` (no part of training or of its records; older configs lack it).
REPLICATE_KEYS = ("seed_everything", "data.seed_data", "data.cache_dir", "trainer.logger", "trainer.default_root_dir",
                  "ckpt_path", "checkpoint", "data.predict_size")  # fmt: skip


@dataclass
class Group:
    """Runs of one setting (the same config up to ``REPLICATE_KEYS``), labelled by what sets it apart."""

    label: str
    runs: list[Run]


def _flatten(tree: Any, prefix: str = "") -> dict[str, str]:
    """Dotted keys of a nested config, each value as canonical JSON (lists stay leaves)."""
    if isinstance(tree, dict):
        flat: dict[str, str] = {}
        for key, value in tree.items():
            flat |= _flatten(value, f"{prefix}{key}.")
        return flat
    return {prefix[:-1]: json.dumps(tree, sort_keys=True, default=str)}


def _setting(run: Run) -> dict[str, str] | None:
    """The run's flattened config without its replicate keys; None without a config."""
    return None if run.config is None else _setting_of(run.config)


def _setting_of(config: dict[str, Any]) -> dict[str, str]:
    """A config, flattened, without its replicate keys."""
    flat = _flatten(config)
    return {k: v for k, v in flat.items() if not any(k == r or k.startswith(f"{r}.") for r in REPLICATE_KEYS)}


def setting_id(config: dict[str, Any]) -> str:
    """A short name of a config's setting: 8 hex digits of a hash of the config without ``REPLICATE_KEYS``.

    Two configs get the same name exactly when :func:`group_runs` puts their runs in one group. ``rhm-memo fit``
    logs it as the W&B config key ``setting``, by which the dashboards group runs (docs/dashboards.md).
    """
    text = json.dumps(_setting_of(config), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def group_runs(runs: Sequence[Run]) -> list[Group]:
    """Group runs that differ only in ``REPLICATE_KEYS``, in first-seen order; runs without a config stand alone.

    A group's label lists the config keys whose values differ between groups, by their last component where
    that is unambiguous (``zipf_exponent=2.0``), or ``"all runs"`` when there is one group.
    """
    settings: list[dict[str, str] | None] = []
    groups: list[list[Run]] = []
    for run in runs:
        setting = _setting(run)
        for i, known in enumerate(settings):
            if setting is not None and known == setting:
                groups[i].append(run)
                break
        else:
            settings.append(setting)
            groups.append([run])
    known = [s for s in settings if s is not None]
    keys = sorted({k for s in known for k in s if len({s.get(k) for s in known}) > 1})
    short = {k: k.rsplit(".", 1)[-1] for k in keys}
    short = {k: v if list(short.values()).count(v) == 1 else k for k, v in short.items()}  # keep ambiguous keys
    labels = []
    for setting, members in zip(settings, groups):
        if setting is None:
            labels.append(members[0].name)
        else:
            labels.append(", ".join(f"{short[k]}={setting.get(k, '—')}" for k in keys) or "all runs")
    return [Group(label, members) for label, members in zip(labels, groups)]


def run_statistics(run: Run, taus: Sequence[float] = TAUS) -> dict[str, float | None]:
    """The numbers the seed table averages: onsets, final copy fraction and AUCs, and slop per height.

    ``auc_ever`` ranks training strings by log-prob, ``auc_commonness`` by substring commonness (both at the
    last evaluation); ``auc_ever@τ`` is ``auc_ever`` at the first evaluation whose copy fraction reaches
    ``taus[0]`` (which training strings are memorized first); ``onset 10·M`` is the step at which the copy
    fraction reaches ``CHANCE_MULTIPLE`` times what a perfect generalizer copies (M, from the records' null
    model): the onset relative to chance; ``slop peak h`` is the largest slop index over the evaluations;
    ``slop@intermediate h`` and ``slop − null@intermediate h`` are the means, over the evaluations of
    :func:`intermediate_steps`, of the slop index and of its excess over a perfect generalizer's (claim 4);
    ``slop true@intermediate h`` and ``slop novel − null@intermediate h`` the same means of ``slop_index_true``
    (reference 1) and of the novel samples' index minus its null, where every record of the window holds them.
    Next to each, where the records hold the null model (docs/concepts/null.md): ``M`` (the grammar sampler's
    copy fraction), ``excess copy fraction``, each AUC's ``null`` mean and ``− null``, the observed AUC minus
    the null mean of the same evaluation.
    """
    last = run.memorization[-1] if run.memorization else {}
    stats: dict[str, float | None] = {f"onset τ={t:g}": o for t, o in zip(taus, onsets(run, taus))}
    mass = _null(last, "mass")
    stats[f"onset {CHANCE_MULTIPLE}·M"] = onsets(run, [CHANCE_MULTIPLE * mass])[0] if mass else None
    stats["copy fraction"] = optional(last.get("copy_fraction"))
    stats["M"] = _null(last, "mass")
    stats["excess copy fraction"] = _null(last, "excess_copy_fraction")
    first = next((r for r in run.memorization if r["step"] > 0 and num(r.get("copy_fraction")) >= taus[0]), {})
    for name, record, key in [("auc_ever", last, "auc_ever"), (f"auc_ever@τ={taus[0]:g}", first, "auc_ever"),
                              ("auc_commonness", last, "auc_commonness_ever")]:  # fmt: skip
        stats[name] = optional(record.get(key))
        stats[f"{name} null"] = _null(record, key, "mean")
        have = stats[name] is not None and stats[f"{name} null"] is not None
        stats[f"{name} − null"] = stats[name] - stats[f"{name} null"] if have else None
    stats["spearman"] = optional(last.get("spearman_first_step"))
    window = intermediate_steps(run, taus[0])
    for h in heights_of([r.get("heights", {}) for r in run.substrings]):
        steps, slop = series(run.substrings, lambda r, h=h: r["heights"][h]["slop_index"])
        _, null = series(run.substrings, lambda r, h=h: r["heights"][h]["slop_index_null"])
        stats[f"slop h={h}"] = optional(slop[-1]) if slop.size else None
        stats[f"slop peak h={h}"] = float(np.nanmax(slop)) if np.isfinite(slop).any() else None
        inside = (steps >= window[0]) & (steps <= window[-1]) if window else np.zeros(steps.shape, bool)
        stats[f"slop@intermediate h={h}"] = _mean(slop[inside])
        stats[f"slop − null@intermediate h={h}"] = _mean((slop - null)[inside])
        _, true = series(run.substrings, lambda r, h=h: r["heights"][h]["slop_index_true"])
        _, novel = series(run.substrings, lambda r, h=h: r["heights"][h]["slop_index_novel"])
        _, novel_null = series(run.substrings, lambda r, h=h: r["heights"][h]["slop_index_novel_null"])
        stats[f"slop true@intermediate h={h}"] = _mean_if_recorded(run, h, "slop_index_true", true, inside)
        stats[f"slop novel − null@intermediate h={h}"] = _mean_if_recorded(run, h, "slop_index_novel",
                                                                          novel - novel_null, inside)  # fmt: skip
    return stats


def intermediate_steps(run: Run, tau: float = TAUS[0]) -> list[float]:
    """The memorization steps of the intermediate regime (claim 4): the evaluations from the first whose copy
    fraction reaches ``COPYING_FROM`` up to, not including, the first that reaches ``tau`` (to the last evaluation
    if none does); the first alone where that is the same evaluation; none where the copy fraction never reaches
    ``COPYING_FROM``. The slop statistics average the substrings evaluations from the first to the last of
    these steps, so that monitors on different schedules still meet."""
    steps, fraction = copy_fractions(run)
    start = int(np.argmax(fraction >= COPYING_FROM)) if (fraction >= COPYING_FROM).any() else None
    if start is None:
        return []
    end = start + int(np.argmax(fraction[start:] >= tau)) if (fraction[start:] >= tau).any() else len(steps)
    return steps[start : max(end, start + 1)].tolist()


def _mean_if_recorded(run: Run, h: str, key: str, values: np.ndarray, inside: np.ndarray) -> float | None:
    """The mean of ``values`` over the window, None unless every substrings record in it has ``key`` at height
    ``h`` (a run whose monitor began recording it midway would otherwise average part of the window)."""
    recorded = np.array([key in r.get("heights", {}).get(h, {}) for r in run.substrings if r["step"] > 0], bool)
    return _mean(values[inside]) if inside.any() and recorded[inside].all() else None


def _mean(values: np.ndarray) -> float | None:
    """The mean of the finite values (None if there are none: no evaluation, or an undefined index)."""
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else None


def _null(record: dict[str, Any], key: str, field: str | None = None) -> float | None:
    """A number of the record's null model (``record["null"][key][field]``), or None where it is missing."""
    try:
        value = record["null"][key]
        return optional(value[field] if field else value)
    except (KeyError, TypeError):
        return None
