"""The verdicts of a study at a glance: one row per registered test, from a registry file and the run records.

A registry (YAML) lists a study's registered tests: for each, the claim, the setting in words, one glob of run
directories (a one-sample t-test of a statistic against its reference) or two (Welch's t-test of B − A, the second
glob minus the first), the statistic of :func:`rhm_memo.report.groups.run_statistics` and, optionally, the heights
it is read at (``{h}`` in the statistic) and a secondary statistic shown next to it (not the registered test)::

    planned: 8                   # runs per setting; a row with fewer is "running" instead of a verdict
    tests:
      - claim: 1. prototypes first
        setting: Zipf a = 1 on the root's rules
        runs: [results/regime-cpu/rhm_memo/regime-cpu-s*]
        statistic: auc_ever@τ=0.1 − null
        reference: 0
        secondary: {label: without the null, statistic: auc_ever@τ=0.1, reference: 0.5}

The page block ``<!-- generated: glance REGISTRY -->`` renders the table (:mod:`rhm_memo.report.page`), so the
summary of a study cannot drift from its records.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from rhm_memo.report.groups import run_statistics
from rhm_memo.report.records import Run, block_size
from rhm_memo.report.stats import describe, digits_for, fmt_p, one_sample_p, verdict_words, welch_ci, welch_p
from rhm_memo.report.tables import fmt


class RegistryError(ValueError):
    """A registry file that cannot be read as a list of registered tests."""


@dataclass(frozen=True)
class Secondary:
    """A statistic shown next to a registered test, not a test of the claim (e.g. the AUC without the null)."""

    label: str
    statistic: str
    reference: float = 0.0


@dataclass(frozen=True)
class Test:
    """One registered test: a one-sample t-test (one glob) or Welch's test of B − A (two globs, A first)."""

    claim: str
    setting: str
    runs: tuple[str, ...]
    statistic: str
    reference: float = 0.0
    heights: tuple[int, ...] = ()
    secondary: Secondary | None = None


def load_registry(path: str | Path) -> tuple[int | None, list[Test]]:
    """The registry's planned runs per setting and its tests; :class:`RegistryError` (one line) if malformed."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise RegistryError(f"registry {path}: {err}".splitlines()[0]) from None
    if not isinstance(data, dict) or not isinstance(data.get("tests"), list) or not data["tests"]:
        raise RegistryError(f"registry {path}: needs a non-empty list 'tests'")
    tests = []
    for i, entry in enumerate(data["tests"], 1):
        where = f"registry {path}, test {i}"
        if not isinstance(entry, dict):
            raise RegistryError(f"{where}: not a mapping")
        missing = [k for k in ("claim", "setting", "runs", "statistic") if k not in entry]
        if missing:
            raise RegistryError(f"{where}: missing {', '.join(missing)}")
        unknown = sorted(set(entry) - {"claim", "setting", "runs", "statistic", "reference", "heights", "secondary"})
        if unknown:
            raise RegistryError(f"{where}: unknown key {unknown[0]!r}")
        runs = entry["runs"]
        if not isinstance(runs, list) or len(runs) not in (1, 2) or not all(isinstance(r, str) for r in runs):
            raise RegistryError(f"{where}: 'runs' must list one glob (one-sample test) or two (B − A)")
        heights = tuple(int(h) for h in entry.get("heights") or ())
        if heights and "{h}" not in entry["statistic"]:
            raise RegistryError(f"{where}: 'heights' needs '{{h}}' in the statistic")
        secondary = entry.get("secondary")
        if secondary is not None:
            if not isinstance(secondary, dict) or not {"label", "statistic"} <= set(secondary):
                raise RegistryError(f"{where}: 'secondary' needs a label and a statistic")
            reference = float(secondary.get("reference", 0))
            secondary = Secondary(str(secondary["label"]), str(secondary["statistic"]), reference)
        tests.append(Test(str(entry["claim"]), str(entry["setting"]), tuple(runs), str(entry["statistic"]),
                          float(entry.get("reference", 0)), heights, secondary))  # fmt: skip
    planned = data.get("planned")
    return (int(planned) if planned is not None else None), tests


#: One setting of a test: its runs' statistics (:func:`run_statistics`, computed once per run).
Arm = Sequence[dict[str, float | None]]


def _values(arm: Arm, key: str) -> list[float]:
    return [v for v in (statistics.get(key) for statistics in arm) if v is not None]


def _reading(arms: Sequence[Arm], key: str, reference: float) -> tuple[str, float, bool, str]:
    """The result cell of ``key`` (the mean with its 95% CI, or B − A with Welch's), its p, whether it lies above
    the reference (B above A), and the runs it counts."""
    d = digits_for(key)
    unit = " steps" if key.startswith("onset") else ""
    if len(arms) == 1:
        values = _values(arms[0], key)
        if not values:
            return "—", math.nan, False, "n = 0"
        s = describe(values)
        interval = f" [{fmt(s.ci_low, d)}, {fmt(s.ci_high, d)}]" if s.n > 1 else ""
        return (f"{fmt(s.mean, d)}{unit}{interval}", one_sample_p(values, reference), s.mean > reference,
                f"n = {len(values)}")  # fmt: skip
    x, y = _values(arms[0], key), _values(arms[1], key)
    if not x or not y:
        return "—", math.nan, False, f"n = {len(x)} + {len(y)}"
    diff = float(np.mean(y)) - float(np.mean(x))
    low, high = welch_ci(x, y)
    interval = f" [{fmt(low, d)}, {fmt(high, d)}]" if not math.isnan(low) else ""
    return f"B − A = {fmt(diff, d)}{unit}{interval}", welch_p(x, y), diff > 0, f"n = {len(x)} + {len(y)}"


def _secondary(arms: Sequence[Arm], secondary: Secondary | None, h: int | None) -> str:
    if secondary is None:
        return "—"
    key = secondary.statistic.replace("{h}", str(h))
    result, p, _, n = _reading(arms, key, secondary.reference)
    if math.isnan(p):
        return f"{secondary.label}: {result} ({n})"
    against = f" against {secondary.reference:g}" if len(arms) == 1 else ""
    return f"{secondary.label}: {result}{against}, p = {fmt_p(p)}, {n}"


def glance_table(registry: str | Path, runs_of: Callable[[str], list[Run]]) -> str:
    """One row per registered test (per height where it has heights): the claim, the setting, the statistic and
    what it is tested against, the result with its 95% CI, the verdict words of the two-sided test ("reproduced",
    "opposite", "consistent but not significant", "not reproduced", with p and n), and the secondary statistic.
    ``runs_of(glob)`` gives a glob's finished runs; a test whose settings have fewer than the planned runs reads
    "running" instead of a verdict."""
    planned, tests = load_registry(registry)
    loaded: dict[str, tuple[list[Run], Arm]] = {}  # each glob's runs and statistics, read once for all tests

    def setting(pattern: str) -> tuple[list[Run], Arm]:
        if pattern not in loaded:
            runs = runs_of(pattern)
            loaded[pattern] = runs, [run_statistics(run) for run in runs]
        return loaded[pattern]

    header = [
        "claim",
        "setting",
        "statistic (tested against)",
        "result [95% CI]",
        "verdict",
        "next to it (not the registered test)",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for test in tests:
        runs, arms = zip(*(setting(pattern) for pattern in test.runs))
        short = planned is not None and any(len(arm) < planned for arm in arms)
        for h in test.heights or (None,):
            key = test.statistic.replace("{h}", str(h))
            statistic = (
                key if h is None else f"{key}, {block_size([run for setting_runs in runs for run in setting_runs], h)}"
            )
            statistic += ", B − A (0)" if len(arms) == 2 else f" ({test.reference:g})"
            if short:
                counts, of = " + ".join(str(len(arm)) for arm in arms), " + ".join(str(planned) for _ in arms)
                cells = ["—", f"running ({counts} of {of} runs finished)", "—"]
            else:
                result, p, above, n = _reading(arms, key, test.reference)
                cells = [result, verdict_words(p, above, n), _secondary(arms, test.secondary, h)]
            row = [test.claim, test.setting, statistic, *cells]
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
    return "\n".join(lines)
