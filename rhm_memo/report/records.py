"""Reading run directories: the records of docs/records.md, one :class:`Run` per directory, and the numbers
every table and figure takes from them (series over steps, onsets)."""

from __future__ import annotations

import json
import math
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from rhm_memo.onset import TAUS
from rhm_memo.onset import onsets as onset_steps
from rhm_memo.runs import (  # the record layout this module reads, the one the callbacks write
    CONFIG_FILE,
    MEMORIZATION_FILE,
    METRICS_FILE,
    SCHEMA,
)


@dataclass
class Run:
    """The records of one run directory; records are sorted by step, one per step (the last one written wins)."""

    name: str
    path: Path
    memorization: list[dict[str, Any]]
    substrings: list[dict[str, Any]]
    arrays: dict[str, np.ndarray] | None = None
    privacy: list[dict[str, Any]] = field(default_factory=list)
    config: dict[str, Any] | None = None
    truncated_last_line: bool = False


def load_run(run_dir: str | Path) -> Run:
    """Read a run directory: ``metrics.jsonl`` (required), ``memorization.npz`` and ``config.yaml`` (optional).

    The memorization, substring and privacy monitors' records are kept; records of other monitors are skipped.
    """
    path = Path(run_dir)
    metrics = path / METRICS_FILE
    if not metrics.is_file():
        raise ValueError(
            f"{path} is not a run directory (no metrics.jsonl): pass the folder the monitors wrote "
            "metrics.jsonl, memorization.npz and config.yaml into (docs/records.md)"
        )
    records, truncated = _read_jsonl(metrics)
    by_monitor: dict[str, dict[int, dict[str, Any]]] = {"memorization": {}, "substrings": {}, "privacy": {}}
    for lineno, record in records:
        if record.get("schema") != SCHEMA:
            raise ValueError(
                f"{metrics}:{lineno}: record schema {record.get('schema')!r} is not supported "
                f"(this report reads schema {SCHEMA}, docs/records.md)"
            )
        if "monitor" not in record or "step" not in record:
            raise ValueError(f"{metrics}:{lineno}: a record needs 'monitor' and 'step'")
        try:
            step = int(record["step"])
        except (TypeError, ValueError):
            raise ValueError(f"{metrics}:{lineno}: 'step' must be an integer, got {record['step']!r}") from None
        if record["monitor"] in by_monitor:  # other monitors are not part of the report
            by_monitor[record["monitor"]][step] = record  # a resumed run rewrites its steps
    config = None
    if (path / CONFIG_FILE).is_file():
        try:
            loaded = yaml.safe_load((path / CONFIG_FILE).read_text())
        except yaml.YAMLError as err:
            text = " ".join(str(err).split())
            raise ValueError(f"{path / CONFIG_FILE} is not valid YAML ({text})") from err
        config = loaded if isinstance(loaded, dict) else None
    return Run(
        name=_config_label(config) or path.resolve().name,
        path=path,
        memorization=[r for _, r in sorted(by_monitor["memorization"].items())],
        substrings=[r for _, r in sorted(by_monitor["substrings"].items())],
        arrays=_read_npz(path / MEMORIZATION_FILE),
        privacy=[r for _, r in sorted(by_monitor["privacy"].items())],
        config=config,
        truncated_last_line=truncated,
    )


def load_runs(run_dirs: Sequence[str | Path]) -> list[Run]:
    """Load several runs; runs that share a name get their directory appended to it."""
    runs = [load_run(d) for d in run_dirs]
    names = [r.name for r in runs]
    for run in runs:
        if names.count(run.name) > 1:
            run.name = f"{run.name} ({run.path})"
    return runs


def _read_jsonl(path: Path) -> tuple[list[tuple[int, dict[str, Any]]], bool]:
    """``(line number, record)`` pairs; an undecodable last line (a write cut by a crash) is skipped."""
    lines = [(i + 1, line) for i, line in enumerate(path.read_text(errors="replace").splitlines()) if line.strip()]
    records, truncated = [], False
    for k, (lineno, line) in enumerate(lines):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            if k == len(lines) - 1:
                truncated = True
                break
            raise ValueError(f"{path}:{lineno} is not valid JSON ({err}); only the last line may be truncated") from err
        if not isinstance(record, dict):
            raise ValueError(f"{path}:{lineno} is not a JSON object")
        records.append((lineno, record))
    return records, truncated


def _read_npz(path: Path) -> dict[str, np.ndarray] | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, zipfile.BadZipFile) as err:  # not an .npz archive, or a cut or corrupt one
        raise ValueError(f"{path} is not a readable .npz file of the monitors ({type(err).__name__})") from err
    if "schema" in arrays and int(arrays["schema"]) != SCHEMA:
        raise ValueError(f"{path}: schema {int(arrays['schema'])} is not supported (this report reads {SCHEMA})")
    return arrays


def _config_label(config: dict[str, Any] | None) -> str | None:
    """The logger's run name (``trainer.logger.init_args.name``), if the config sets one."""
    try:
        name = config["trainer"]["logger"]["init_args"]["name"]
    except (KeyError, TypeError):
        return None
    return name if isinstance(name, str) and name else None


def num(x: Any) -> float:
    """A record value as a float (null → NaN)."""
    return math.nan if x is None else float(x)


def optional(x: Any) -> float | None:
    """A number, or None for null/NaN."""
    value = num(x)
    return None if math.isnan(value) else value


def series(records: list[dict[str, Any]], get: Callable[[dict[str, Any]], Any]) -> tuple[np.ndarray, np.ndarray]:
    """Steps > 0 (a log axis) and one value per record (NaN where ``get`` finds nothing)."""
    steps, values = [], []
    for r in records:
        if r["step"] > 0:
            try:
                value = num(get(r))
            except (KeyError, TypeError):
                value = math.nan
            steps.append(float(r["step"]))
            values.append(value)
    return np.asarray(steps), np.asarray(values)


def copy_fractions(run: Run) -> tuple[np.ndarray, np.ndarray]:
    """Steps > 0 and the copy fraction of each memorization record."""
    return series(run.memorization, lambda r: r["copy_fraction"])


def onsets(run: Run, taus: Sequence[float] = TAUS) -> list[float | None]:
    """Onset step of each τ (``rhm_memo.onset.onsets``) from the memorization records' ``copy_fraction``."""
    steps, frac = copy_fractions(run)
    found = onset_steps(zip(steps.tolist(), frac.tolist()), taus)
    return [found[tau] for tau in taus]


def heights_of(dicts: Sequence[dict[str, Any]]) -> list[str]:
    """The union of the height keys ``"1".."L"`` of several per-height dicts, in numeric order."""
    return sorted({h for d in dicts for h in d}, key=int)


def block_size(runs: Sequence[Run], h: str | int) -> str:
    """What a height means in tokens, for labels: ``"2-token blocks"`` for h = 1 where every run's grammar has
    the rule size s = 2 (a block of height h holds s**h tokens), else ``"height-h blocks"``."""
    arities = {((run.config or {}).get("data") or {}).get("s") for run in runs}
    s = arities.pop() if len(arities) == 1 else None
    return f"{s ** int(h)}-token blocks" if isinstance(s, int) else f"height-{h} blocks"
