"""A report of one or more runs, read from their local records: a markdown summary table and figures.

Reads the run directory described in docs/records.md (``metrics.jsonl``, ``memorization.npz``, ``config.yaml``)
and knows nothing of Lightning. Figures need matplotlib (``pip install rhm_memo[plots]``), imported only when a
figure is drawn; they are drawn on ``matplotlib.figure.Figure`` objects with no pyplot, so no global backend is
switched and no figure outlives its function.

    rhm-memo report RUN_DIR [RUN_DIR ...] --out report/
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from rhm_memo.metrics.memorization import onset_step

#: The record layout this module reads (docs/records.md).
SCHEMA = 1
#: Copy-fraction thresholds of the onset steps.
TAUS = (0.1, 0.5, 0.9)
_TAU_MARKERS = ("v", "D", "^", "s", "P")


@dataclass
class Run:
    """The records of one run directory; records are sorted by step, one per step (the last one written wins)."""

    name: str
    path: Path
    memorization: list[dict[str, Any]]
    substrings: list[dict[str, Any]]
    arrays: dict[str, np.ndarray] | None = None
    config: dict[str, Any] | None = None
    truncated_last_line: bool = False


# ---------------------------------------------------------------------------------------------------------- loading
def load_run(run_dir: str | Path) -> Run:
    """Read a run directory: ``metrics.jsonl`` (required), ``memorization.npz`` and ``config.yaml`` (optional)."""
    path = Path(run_dir)
    metrics = path / "metrics.jsonl"
    if not metrics.is_file():
        raise ValueError(
            f"{path} is not a run directory (no metrics.jsonl): pass the folder the monitors wrote "
            "metrics.jsonl, memorization.npz and config.yaml into (docs/records.md)"
        )
    records, truncated = _read_jsonl(metrics)
    by_monitor: dict[str, dict[int, dict[str, Any]]] = {"memorization": {}, "substrings": {}}
    for lineno, record in records:
        if record.get("schema") != SCHEMA:
            raise ValueError(
                f"{metrics}:{lineno}: record schema {record.get('schema')!r} is not supported "
                f"(this report reads schema {SCHEMA}, docs/records.md)"
            )
        if "monitor" not in record or "step" not in record:
            raise ValueError(f"{metrics}:{lineno}: a record needs 'monitor' and 'step'")
        if record["monitor"] in by_monitor:  # other monitors are not part of the report
            by_monitor[record["monitor"]][int(record["step"])] = record  # a resumed run rewrites its steps
    config = None
    if (path / "config.yaml").is_file():
        loaded = yaml.safe_load((path / "config.yaml").read_text())
        config = loaded if isinstance(loaded, dict) else None
    return Run(
        name=_config_label(config) or path.resolve().name,
        path=path,
        memorization=[r for _, r in sorted(by_monitor["memorization"].items())],
        substrings=[r for _, r in sorted(by_monitor["substrings"].items())],
        arrays=_read_npz(path / "memorization.npz"),
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
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
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


# ---------------------------------------------------------------------------------------------------------- numbers
def _num(x: Any) -> float:
    """A record value as a float (null → NaN)."""
    return math.nan if x is None else float(x)


def _series(records: list[dict[str, Any]], get: Callable[[dict[str, Any]], Any]) -> tuple[np.ndarray, np.ndarray]:
    """Steps > 0 (a log axis) and one value per record (NaN where ``get`` finds nothing)."""
    steps, values = [], []
    for r in records:
        if r["step"] > 0:
            try:
                value = _num(get(r))
            except (KeyError, TypeError):
                value = math.nan
            steps.append(float(r["step"]))
            values.append(value)
    return np.asarray(steps), np.asarray(values)


def _copy_fractions(run: Run) -> tuple[np.ndarray, np.ndarray]:
    return _series(run.memorization, lambda r: r["copy_fraction"])


def onsets(run: Run, taus: Sequence[float] = TAUS) -> list[float | None]:
    """Onset step of each τ: ``onset_step`` on the memorization records' ``copy_fraction`` vs ``step`` (steps > 0)."""
    steps, frac = _copy_fractions(run)
    if steps.size == 0:
        return [None for _ in taus]
    return [onset_step(steps.tolist(), frac.tolist(), tau) for tau in taus]


def _heights(dicts: Sequence[dict[str, Any]]) -> list[str]:
    """The union of the height keys ``"1".."L"`` of several per-height dicts, in numeric order."""
    return sorted({h for d in dicts for h in d}, key=int)


def _fmt(x: float | None, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{x:.{digits}f}"


def _fmt_step(x: float | None) -> str:
    if x is None:
        return "never"
    return f"{x:.0f}" if x >= 100 else f"{x:.3g}"


def summary_table(runs: Sequence[Run], taus: Sequence[float] = TAUS) -> str:
    """A markdown table: onset steps, final copy fraction, final ``auc_ever``, final slop index per height."""
    heights = _heights([r.substrings[-1].get("heights", {}) for r in runs if r.substrings])
    header = ["run", "evaluations", "last step", "B", *(f"onset τ={t:g}" for t in taus)]
    header += ["copy fraction", "auc_ever", *(f"slop h={h}" for h in heights)]
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for run in runs:
        last = run.memorization[-1] if run.memorization else {}
        slop = run.substrings[-1].get("heights", {}) if run.substrings else {}
        cells = [run.name.replace("|", "\\|"), str(len(run.memorization))]
        cells += [str(last.get("step", "—")), str(last.get("num_samples", "—"))]
        cells += [_fmt_step(t) if run.memorization else "—" for t in onsets(run, taus)]
        cells += [_fmt(last.get("copy_fraction")), _fmt(last.get("auc_ever"))]
        cells += [_fmt(slop.get(h, {}).get("slop_index")) for h in heights]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


# ---------------------------------------------------------------------------------------------------------- seeds
#: Config keys that may differ between replicates of one setting: the seeds, and where and how the run is logged.
REPLICATE_KEYS = ("seed_everything", "data.seed_data", "data.cache_dir", "trainer.logger", "trainer.default_root_dir",
                  "ckpt_path")  # fmt: skip


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
    if run.config is None:
        return None
    flat = _flatten(run.config)
    return {k: v for k, v in flat.items() if not any(k == r or k.startswith(f"{r}.") for r in REPLICATE_KEYS)}


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
    ``taus[0]`` (which training strings are memorized first); ``slop peak h`` is the largest slop index over
    the evaluations.
    """
    last = run.memorization[-1] if run.memorization else {}
    stats: dict[str, float | None] = {f"onset τ={t:g}": o for t, o in zip(taus, onsets(run, taus))}
    stats["copy fraction"] = _opt(last.get("copy_fraction"))
    stats["auc_ever"] = _opt(last.get("auc_ever"))
    first = next((r for r in run.memorization if r["step"] > 0 and _num(r.get("copy_fraction")) >= taus[0]), {})
    stats[f"auc_ever@τ={taus[0]:g}"] = _opt(first.get("auc_ever"))
    stats["auc_commonness"] = _opt(last.get("auc_commonness_ever"))
    stats["spearman"] = _opt(last.get("spearman_first_step"))
    for h in _heights([r.get("heights", {}) for r in run.substrings]):
        _, slop = _series(run.substrings, lambda r, h=h: r["heights"][h]["slop_index"])
        stats[f"slop h={h}"] = _opt(slop[-1]) if slop.size else None
        stats[f"slop peak h={h}"] = float(np.nanmax(slop)) if np.isfinite(slop).any() else None
    return stats


def _opt(x: Any) -> float | None:
    """A number, or None for null/NaN."""
    value = _num(x)
    return None if math.isnan(value) else value


def _mean_sd(values: Sequence[float | None], onset: bool) -> str:
    """``mean ± sd`` over the runs that have the value (sample sd); onsets count the runs that never reached τ."""
    have = [v for v in values if v is not None]
    missing = len(values) - len(have)
    if not have:
        return "never" if onset else "—"
    text = (_fmt_step if onset else _fmt)(float(np.mean(have)))
    if len(have) > 1:
        sd = float(np.std(have, ddof=1))
        text += f" ± {_fmt_step(sd) if onset else _fmt(sd)}"
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
        cells += [_mean_sd([s.get(c) for s in group_stats], c.startswith("onset")) for c in columns]
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
            cells.append(_mean_sd([_get(get, rec) for rec in records], onset=False))
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def _get(get: Callable[[dict[str, Any]], Any], record: dict[str, Any]) -> float | None:
    """``get(record)`` as a number; None where the record lacks it."""
    try:
        return _opt(get(record))
    except (KeyError, TypeError):
        return None


def slop_table(group: Group) -> str:
    """The slop index per height (columns) at each substrings evaluation, mean ± sd over the group's runs."""
    heights = _heights([rec.get("heights", {}) for run in group.runs for rec in run.substrings])
    columns = {f"slop h={h}": (lambda r, h=h: r["heights"][h]["slop_index"]) for h in heights}
    return series_table(group, "substrings", columns)


def memorization_table(group: Group) -> str:
    """Copy fraction, ever-memorized strings and the two AUCs at each memorization evaluation, mean ± sd."""
    columns = {
        "copy fraction": lambda r: r["copy_fraction"],
        "ever memorized": lambda r: r["ever_memorized"],
        "auc_ever (log p)": lambda r: r["auc_ever"],
        "auc_commonness_ever": lambda r: r["auc_commonness_ever"],
    }
    return series_table(group, "memorization", columns)


# ---------------------------------------------------------------------------------------------------------- figures
def _figure(nrows: int, ncols: int, width: float = 4.2, height: float = 3.2) -> tuple[Any, Any]:
    """A matplotlib ``Figure`` (no pyplot) and its ``(nrows, ncols)`` axes."""
    try:
        from matplotlib.figure import Figure
    except ImportError as err:
        raise ImportError("the report's figures need matplotlib: pip install rhm_memo[plots]") from err
    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    return fig, fig.subplots(nrows, ncols, squeeze=False)


def _save(fig: Any, out_dir: str | Path, stem: str) -> list[Path]:
    """Write ``stem.png`` and ``stem.svg`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{stem}.png", out / f"{stem}.svg"]
    fig.get_layout_engine().execute(fig)  # lay out once, for both files
    fig.set_layout_engine("none")
    for p in paths:
        fig.savefig(p, dpi=150)
    return paths


def plot_copy_fraction(runs: Sequence[Run], out_dir: str | Path, taus: Sequence[float] = TAUS) -> list[Path]:
    """Copy fraction vs step (log x) of every run, with its onset steps marked; [] if no memorization records."""
    if not any(_copy_fractions(run)[0].size for run in runs):
        return []
    from matplotlib.lines import Line2D

    fig, axes = _figure(1, 1, width=6.5, height=4.2)
    ax = axes[0, 0]
    for tau in taus:
        ax.axhline(tau, color="0.85", lw=0.8, zorder=0)
    for i, run in enumerate(runs):
        color = f"C{i % 10}"  # a run keeps its colour in every figure
        steps, frac = _copy_fractions(run)
        if not steps.size:
            continue
        ax.plot(steps, frac, "o-", ms=3, color=color, label=f"{run.name} (B={run.memorization[-1]['num_samples']})")
        for tau, onset in zip(taus, onsets(run, taus)):
            if onset is not None:
                ax.axvline(onset, color=color, ls=":", lw=1)
                ax.plot([onset], [tau], _tau_marker(taus, tau), color=color, ms=7)
    handles, _ = ax.get_legend_handles_labels()
    handles += [Line2D([], [], ls=":", marker=_tau_marker(taus, t), color="k", label=f"onset τ={t:g}") for t in taus]
    ax.legend(handles=handles, fontsize="small")
    ax.set(xscale="log", xlabel="training step", ylabel="copy fraction", ylim=(-0.02, 1.02))
    return _save(fig, out_dir, "copy_fraction")


def _tau_marker(taus: Sequence[float], tau: float) -> str:
    return _TAU_MARKERS[list(taus).index(tau) % len(_TAU_MARKERS)]


def plot_block_copies(runs: Sequence[Run], out_dir: str | Path) -> list[Path]:
    """Block-copy fraction (same position) per height vs step, held-out baseline dashed; [] if none recorded."""
    heights = _heights([rec.get("block_copies", {}) for r in runs for rec in r.memorization])
    if not heights:
        return []
    fig, axes = _figure(1, len(heights))
    for ax, h in zip(axes[0], heights):
        for i, run in enumerate(runs):
            gen = _series(run.memorization, lambda r, h=h: r["block_copies"][h]["same_position"])
            test = _series(run.memorization, lambda r, h=h: r["block_copies_test"][h]["same_position"])
            if gen[0].size:
                ax.plot(*gen, "o-", ms=3, color=f"C{i % 10}", label=run.name)
                ax.plot(*test, "--", color=f"C{i % 10}")
        ax.set(xscale="log", xlabel="training step", title=f"height {h}", ylim=(-0.02, 1.02))
    axes[0, 0].set_ylabel("block copies (same position)")
    from matplotlib.lines import Line2D

    handles, _ = axes[0, 0].get_legend_handles_labels()
    handles.append(Line2D([], [], ls="--", color="k", label="held-out strings (dashed, same colour)"))
    fig.legend(handles=handles, loc="outside right upper", fontsize="small")  # outside: any number of runs fits
    return _save(fig, out_dir, "block_copies")


def plot_slop_kl(runs: Sequence[Run], out_dir: str | Path) -> list[Path]:
    """Slop index and KL(gen‖train) (KL(gen‖true) dashed where known) per height vs step; [] if no substrings."""
    heights = _heights([rec.get("heights", {}) for r in runs for rec in r.substrings])
    if not heights:
        return []
    fig, axes = _figure(2, len(heights))
    for col, h in enumerate(heights):
        top, bottom = axes[0, col], axes[1, col]
        top.axhline(1.0, color="0.7", lw=0.8, zorder=0)
        for i, run in enumerate(runs):
            color = f"C{i % 10}"
            steps, slop = _series(run.substrings, lambda r, h=h: r["heights"][h]["slop_index"])
            if not steps.size:
                continue
            top.plot(steps, slop, "o-", ms=3, color=color, label=run.name)
            bottom.plot(*_series(run.substrings, lambda r, h=h: r["heights"][h]["kl_gen_train"]), "o-", ms=3,
                        color=color, label=f"{run.name}: KL(gen‖train)")  # fmt: skip
            true = _series(run.substrings, lambda r, h=h: r["heights"][h]["kl_gen_true"])
            if np.isfinite(true[1]).any():
                bottom.plot(*true, "--", color=color, label=f"{run.name}: KL(gen‖true)")
        top.set(xscale="log", title=f"height {h}")
        bottom.set(xscale="log", xlabel="training step")
    axes[0, 0].set_ylabel("slop index")
    axes[1, 0].set_ylabel("KL (nats)")
    axes[0, 0].legend(fontsize="small")
    axes[1, 0].legend(fontsize="small")
    return _save(fig, out_dir, "slop_kl")


def _pick_records(records: list[dict[str, Any]], steps: Sequence[float] | None) -> list[dict[str, Any]]:
    """The records nearest (in log(1 + step)) to ``steps``; by default 3 log-spaced steps ending at the last."""
    if not records:
        return []
    available = np.asarray([r["step"] for r in records], dtype=np.float64)
    if steps is None:
        positive = available[available > 0]
        targets = np.geomspace(positive[0], positive[-1], 3) if positive.size else available[-1:]
    else:
        targets = np.asarray(steps, dtype=np.float64)
    chosen = {int(np.argmin(np.abs(np.log1p(available) - np.log1p(t)))) for t in targets}
    return [records[i] for i in sorted(chosen)]


def plot_memorized_by_quantile(
    runs: Sequence[Run], out_dir: str | Path, steps: Sequence[float] | None = None
) -> list[Path]:
    """Ever-memorized fraction per log-prob quantile bin at a few steps, one panel per run; [] if none recorded."""
    picked = [(run, _pick_records([r for r in run.memorization if r.get("quantile_edges")], steps)) for run in runs]
    picked = [(run, recs) for run, recs in picked if recs]
    if not picked:
        return []
    from matplotlib import colormaps

    fig, axes = _figure(1, len(picked))
    for ax, (run, records) in zip(axes[0], picked):
        colors = colormaps["viridis"](np.linspace(0.0, 0.85, len(records)))
        for color, rec in zip(colors, records):
            edges = np.asarray(rec["quantile_edges"], dtype=np.float64)
            fraction = np.asarray([_num(f) for f in rec["quantile_fraction_ever"]])
            full = np.isfinite(fraction)  # empty bins (tied scores) hold no string: the line joins the others
            centres = (edges[:-1] + edges[1:]) / 2
            ax.plot(centres[full], fraction[full], "o-", ms=3, color=color, label=f"step {rec['step']}")
        ax.set(title=run.name, xlabel="log-prob of training string (bin centre)", ylim=(-0.02, 1.02))
        ax.legend(fontsize="small")
    axes[0, 0].set_ylabel("ever-memorized fraction")
    return _save(fig, out_dir, "memorized_by_quantile")


def plot_overproduction(runs: Sequence[Run], out_dir: str | Path) -> list[Path]:
    """Over-production f_gen/f_train vs f_train (log-log) of the last record's top blocks, per height; [] if none."""
    last = [(i, run, run.substrings[-1].get("top_blocks") or {}) for i, run in enumerate(runs) if run.substrings]
    heights = _heights([top for _, _, top in last])
    if not heights:
        return []
    fig, axes = _figure(1, len(heights))
    for ax, h in zip(axes[0], heights):
        ax.axhline(1.0, color="0.7", lw=0.8, zorder=0)
        for i, run, top in last:
            f_train = np.asarray([_num(b["f_train"]) for b in top.get(h, [])])
            f_gen = np.asarray([_num(b["f_gen"]) for b in top.get(h, [])])
            if not f_train.size:
                continue
            keep = (f_train > 0) & (f_gen > 0)  # a log axis: never-generated blocks are counted in the legend
            label = f"{run.name} (step {run.substrings[-1]['step']})"
            if (~keep).any():
                label += f", {int((~keep).sum())} never generated"
            ax.plot(f_train[keep], f_gen[keep] / f_train[keep], "o", ms=4, alpha=0.8, color=f"C{i % 10}", label=label)
        ax.set(xscale="log", yscale="log", xlabel="f_train", title=f"height {h}")
        ax.legend(fontsize="small")
    axes[0, 0].set_ylabel("over-production f_gen / f_train")
    return _save(fig, out_dir, "overproduction")


def plot_group_statistics(runs: Sequence[Run], out_dir: str | Path, taus: Sequence[float] = TAUS) -> list[Path]:
    """Per setting (``group_runs``, one row each): onsets, ``auc_ever`` at the first onset and at the end, one dot
    per run and a bar at the mean (onsets on a log axis when they span more than a factor 4); [] with fewer than
    two settings or no memorization records."""
    groups = group_runs(runs)
    if len(groups) < 2 or not any(r.memorization for r in runs):
        return []
    stats = [[run_statistics(run, taus) for run in g.runs] for g in groups]
    panels = [f"onset τ={t:g}" for t in taus]
    panels = [p for p in panels if any(s[p] is not None for group in stats for s in group)]
    panels += [f"auc_ever@τ={taus[0]:g}", "auc_ever"]
    label_inches = 0.075 * max(len(g.label) for g in groups)  # room for the setting labels left of the first panel
    fig, axes = _figure(1, len(panels), width=3.0 + label_inches / len(panels), height=0.8 + 0.45 * len(groups))
    y = np.arange(len(groups))[::-1]  # the first setting on top
    for ax, key in zip(axes[0], panels):
        for i, group_stats in enumerate(stats):
            values = np.asarray([_num(s[key]) for s in group_stats])
            values = values[np.isfinite(values)]
            jitter = np.linspace(-0.15, 0.15, values.size) if values.size > 1 else np.zeros(values.size)
            ax.plot(values, y[i] + jitter, "o", ms=4, color=f"C{i % 10}", alpha=0.8)
            if values.size:
                ax.vlines(values.mean(), y[i] - 0.3, y[i] + 0.3, color=f"C{i % 10}", lw=2)
            never = len(group_stats) - values.size
            if never and key.startswith("onset"):
                ax.annotate(f"{never} never", (1, y[i]), xycoords=("axes fraction", "data"), ha="right", va="center",
                            fontsize="small")  # fmt: skip
        if key.startswith("onset"):
            found = [_num(s[key]) for group in stats for s in group if s[key] is not None]
            ax.set(xscale="log" if max(found) > 4 * min(found) else "linear", xlabel="training step")
        else:
            ax.axvline(0.5, color="0.7", lw=0.8, zorder=0)
            ax.set(xlabel="AUC (0.5: no preference)")
        ax.set(title=key, yticks=y, ylim=(-0.6, len(groups) - 0.4))
        ax.set_yticklabels([g.label for g in groups] if ax is axes[0, 0] else [])
    return _save(fig, out_dir, "by_setting")


#: The report's figures: title, function, and the records each needs.
FIGURES: tuple[tuple[str, Callable[..., list[Path]], str], ...] = (
    ("copy fraction and onsets", plot_copy_fraction, "memorization records"),
    ("block copies per height", plot_block_copies, "memorization records with block_copies"),
    ("slop index and KL per height", plot_slop_kl, "substrings records"),
    ("memorized fraction by log-prob quantile", plot_memorized_by_quantile, "memorization records with quantiles"),
    ("over-production of common blocks", plot_overproduction, "substrings records with top_blocks"),
    ("onsets and AUC per setting, over seeds", plot_group_statistics, "two settings with memorization records"),
)


# ---------------------------------------------------------------------------------------------------------- report
def write_report(run_dirs: Sequence[str | Path], out_dir: str | Path) -> Path:
    """Load the runs, draw every figure into ``out_dir`` and write ``out_dir/summary.md``; returns its path."""
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
    lines += ["## Figures", ""]
    images = []
    for title, draw, needs in FIGURES:
        paths = draw(runs, out)
        if paths:
            lines.append(f"- {title}: " + ", ".join(f"[{p.suffix[1:]}]({p.name})" for p in paths))
            images += [f"### {title}", "", f"![{title}]({paths[0].name})", ""]
        else:
            lines.append(f"- {title}: skipped (no run has {needs})")
    summary = out / "summary.md"
    summary.write_text("\n".join([*lines, "", *images]).rstrip() + "\n")
    return summary


def main(argv: Sequence[str] | None = None) -> Path:
    """``rhm-memo report RUN_DIR [RUN_DIR ...] --out DIR``: write the report and print where it is."""
    parser = argparse.ArgumentParser(
        prog="rhm-memo report", description="Summary table and figures of runs, from their local records."
    )
    parser.add_argument("run_dirs", nargs="+", help="run directories (each holds metrics.jsonl)")
    parser.add_argument("--out", default="report", help="output folder (default: report/)")
    args = parser.parse_args(argv)
    try:
        summary = write_report(args.run_dirs, args.out)
    except (ValueError, ImportError) as err:
        raise SystemExit(f"rhm-memo report: {err}") from err
    print(f"wrote {summary}")
    return summary
