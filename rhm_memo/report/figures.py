"""The report's figures, drawn on ``matplotlib.figure.Figure`` objects with no pyplot (no global backend is
switched, no figure outlives its function); matplotlib is imported only when a figure is drawn."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rhm_memo.report.groups import CHANCE_MULTIPLE, group_runs, run_statistics
from rhm_memo.report.privacy import REGIMES, exposure_by_bin
from rhm_memo.report.records import TAUS, Run, block_size, copy_fractions, heights_of, num, onsets, optional, series

_TAU_MARKERS = ("v", "D", "^", "s", "P")


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
    """Copy fraction vs step (log x) of every run, with its onset steps marked and the grammar sampler's copy
    fraction M dashed (the null model); [] if no memorization records."""
    if not any(copy_fractions(run)[0].size for run in runs):
        return []
    from matplotlib.lines import Line2D

    fig, axes = _figure(1, 1, width=6.5, height=4.2)
    ax = axes[0, 0]
    for tau in taus:
        ax.axhline(tau, color="0.85", lw=0.8, zorder=0)
    for i, run in enumerate(runs):
        color = f"C{i % 10}"  # a run keeps its colour in every figure
        steps, frac = copy_fractions(run)
        if not steps.size:
            continue
        ax.plot(steps, frac, "o-", ms=3, color=color, label=f"{run.name} (B={run.memorization[-1]['num_samples']})")
        mass = series(run.memorization, lambda r: r["null"]["mass"])[1]
        if np.isfinite(mass).any():
            ax.axhline(float(np.nanmean(mass)), color=color, ls="--", lw=1)
        for tau, onset in zip(taus, onsets(run, taus)):
            if onset is not None:
                ax.axvline(onset, color=color, ls=":", lw=1)
                ax.plot([onset], [tau], _tau_marker(taus, tau), color=color, ms=7)
    handles, _ = ax.get_legend_handles_labels()
    handles += [Line2D([], [], ls=":", marker=_tau_marker(taus, t), color="k", label=f"onset τ={t:g}") for t in taus]
    handles.append(Line2D([], [], ls="--", color="k", label="M: a perfect generalizer's copy fraction"))
    ax.legend(handles=handles, fontsize="small")
    ax.set(xscale="log", xlabel="training step", ylabel="copy fraction", ylim=(-0.02, 1.02))
    return _save(fig, out_dir, "copy_fraction")


def _height(runs: Sequence[Run], h: str) -> str:
    """A panel's title: the height and, where the runs share the rule size, its block size (``height 1:
    2-token blocks``)."""
    size = block_size(runs, h)
    return size if size.startswith("height") else f"height {h}: {size}"


def _tau_marker(taus: Sequence[float], tau: float) -> str:
    return _TAU_MARKERS[list(taus).index(tau) % len(_TAU_MARKERS)]


def plot_block_copies(runs: Sequence[Run], out_dir: str | Path) -> list[Path]:
    """Block-copy fraction (same position) per height vs step, held-out baseline dashed; [] if none recorded."""
    heights = heights_of([rec.get("block_copies", {}) for r in runs for rec in r.memorization])
    if not heights:
        return []
    fig, axes = _figure(1, len(heights))
    for ax, h in zip(axes[0], heights):
        for i, run in enumerate(runs):
            gen = series(run.memorization, lambda r, h=h: r["block_copies"][h]["same_position"])
            test = series(run.memorization, lambda r, h=h: r["block_copies_test"][h]["same_position"])
            if gen[0].size:
                ax.plot(*gen, "o-", ms=3, color=f"C{i % 10}", label=run.name)
                ax.plot(*test, "--", color=f"C{i % 10}")
        ax.set(xscale="log", xlabel="training step", title=_height(runs, h), ylim=(-0.02, 1.02))
    axes[0, 0].set_ylabel("block copies (same position)")
    from matplotlib.lines import Line2D

    handles, _ = axes[0, 0].get_legend_handles_labels()
    handles.append(Line2D([], [], ls="--", color="k", label="held-out strings (dashed, same colour)"))
    fig.legend(handles=handles, loc="outside right upper", fontsize="small")  # outside: any number of runs fits
    return _save(fig, out_dir, "block_copies")


def plot_slop_kl(runs: Sequence[Run], out_dir: str | Path) -> list[Path]:
    """Slop index (a perfect generalizer's, ``slop_index_null``, dashed where recorded) and KL(gen‖train)
    (KL(gen‖true) dashed where known) per height vs step; [] if no substrings."""
    heights = heights_of([rec.get("heights", {}) for r in runs for rec in r.substrings])
    if not heights:
        return []
    fig, axes = _figure(2, len(heights))
    for col, h in enumerate(heights):
        top, bottom = axes[0, col], axes[1, col]
        top.axhline(1.0, color="0.7", lw=0.8, zorder=0)
        for i, run in enumerate(runs):
            color = f"C{i % 10}"
            steps, slop = series(run.substrings, lambda r, h=h: r["heights"][h]["slop_index"])
            if not steps.size:
                continue
            top.plot(steps, slop, "o-", ms=3, color=color, label=run.name)
            null = series(run.substrings, lambda r, h=h: r["heights"][h]["slop_index_null"])
            if np.isfinite(null[1]).any():
                top.plot(*null, "--", color=color, lw=0.9)
            bottom.plot(*series(run.substrings, lambda r, h=h: r["heights"][h]["kl_gen_train"]), "o-", ms=3,
                        color=color)  # fmt: skip
            true = series(run.substrings, lambda r, h=h: r["heights"][h]["kl_gen_true"])
            if np.isfinite(true[1]).any():
                bottom.plot(*true, "--", color=color)
        bottom.set(xscale="log", xlabel="training step")
        if any(np.isfinite(line.get_ydata()).any() for line in top.get_lines()[1:]):  # [0] is the line at 1
            top.set(xscale="log", title=_height(runs, h))
        else:  # e.g. whole strings of a training set without duplicates
            top.text(0.5, 0.5, "undefined: the training\nblocks all tie", ha="center", va="center",
                     transform=top.transAxes)  # fmt: skip
            top.set(xticks=[], yticks=[], title=_height(runs, h))
    from matplotlib.lines import Line2D

    axes[0, 0].set_ylabel("slop index")
    axes[1, 0].set_ylabel("KL (nats)")
    handles = axes[0, 0].get_legend_handles_labels()[0]
    handles += [Line2D([], [], ls="--", color="k", label="slop index: a perfect generalizer's (same colour)"),
                Line2D([], [], ls="-", marker="o", ms=3, color="k", label="KL(generated ‖ training)"),
                Line2D([], [], ls="--", color="k", label="KL(generated ‖ true)")]  # fmt: skip
    fig.legend(handles=handles, loc="outside right upper", fontsize="small")
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
            fraction = np.asarray([num(f) for f in rec["quantile_fraction_ever"]])
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
    heights = heights_of([top for _, _, top in last])
    if not heights:
        return []
    fig, axes = _figure(1, len(heights))
    for ax, h in zip(axes[0], heights):
        ax.axhline(1.0, color="0.7", lw=0.8, zorder=0)
        for i, run, top in last:
            f_train = np.asarray([num(b["f_train"]) for b in top.get(h, [])])
            f_gen = np.asarray([num(b["f_gen"]) for b in top.get(h, [])])
            if not f_train.size:
                continue
            keep = (f_train > 0) & (f_gen > 0)  # a log axis: never-generated blocks are counted in the legend
            label = f"{run.name} (step {run.substrings[-1]['step']})"
            if (~keep).any():
                label += f", {int((~keep).sum())} never generated"
            ax.plot(f_train[keep], f_gen[keep] / f_train[keep], "o", ms=4, alpha=0.8, color=f"C{i % 10}", label=label)
        ax.set(xscale="log", yscale="log", xlabel="f_train", title=_height(runs, h))
        ax.legend(fontsize="small")
    axes[0, 0].set_ylabel("over-production f_gen / f_train")
    return _save(fig, out_dir, "overproduction")


def plot_group_statistics(runs: Sequence[Run], out_dir: str | Path, taus: Sequence[float] = TAUS) -> list[Path]:
    """Per setting (``group_runs``, one row each): onsets, ``auc_ever`` at the first onset and at the end, one dot
    per run (× its null model's mean AUC) and a bar at the mean (onsets on a log axis when they span more than a
    factor 4); [] with fewer than two settings or no memorization records."""
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
            values = np.asarray([num(s[key]) for s in group_stats])
            values = values[np.isfinite(values)]
            jitter = np.linspace(-0.15, 0.15, values.size) if values.size > 1 else np.zeros(values.size)
            ax.plot(values, y[i] + jitter, "o", ms=4, color=f"C{i % 10}", alpha=0.8)
            nulls = np.asarray([num(s.get(f"{key} null")) for s in group_stats])
            nulls = nulls[np.isfinite(nulls)]
            if not key.startswith("onset") and nulls.size:  # the grammar sampler's AUC for the same counts
                ax.plot(nulls, y[i] + np.linspace(-0.15, 0.15, nulls.size), "x", ms=5, color="0.35")
            if values.size:
                ax.vlines(values.mean(), y[i] - 0.3, y[i] + 0.3, color=f"C{i % 10}", lw=2)
            never = len(group_stats) - values.size
            if never and key.startswith("onset"):
                ax.annotate(f"{never} never", (1, y[i]), xycoords=("axes fraction", "data"), ha="right", va="center",
                            fontsize="small")  # fmt: skip
        if key.startswith("onset"):
            found = [num(s[key]) for group in stats for s in group if s[key] is not None]
            ax.set(xscale="log" if max(found) > 4 * min(found) else "linear", xlabel="training step")
        else:
            ax.axvline(0.5, color="0.7", lw=0.8, zorder=0)
            ax.set(xlabel="AUC (0.5: no preference; ×: null)")
        ax.set(title=key, yticks=y, ylim=(-0.6, len(groups) - 0.4))
        ax.set_yticklabels([g.label for g in groups] if ax is axes[0, 0] else [])
    return _save(fig, out_dir, "by_setting")


def plot_copy_fraction_by_setting(runs: Sequence[Run], out_dir: str | Path, tau: float = TAUS[0]) -> list[Path]:
    """Per setting (``group_runs``, one colour each): every run's copy fraction vs step (thin) and, at the steps
    that every run of the setting evaluated (runs stop at different steps), the median over them (thick). Left
    as it is, with the onset level ``tau``; right divided by the run's own M (the grammar sampler's copy
    fraction), with the onset relative to chance (``CHANCE_MULTIPLE``·M). [] with fewer than two settings or no
    memorization records."""
    groups = group_runs(runs)
    if len(groups) < 2 or not any(copy_fractions(run)[0].size for run in runs):
        return []
    from matplotlib.lines import Line2D

    fig, axes = _figure(1, 2, width=5.0, height=3.8)
    panels = [(axes[0, 0], False, tau, f"copy fraction (τ = {tau:g} dotted)"),
              (axes[0, 1], True, CHANCE_MULTIPLE, f"copy fraction ÷ M ({CHANCE_MULTIPLE}·M dotted)")]  # fmt: skip
    for ax, relative, level, ylabel in panels:
        ax.axhline(level, color="0.5", ls=":", lw=1, zorder=0)
        for i, group in enumerate(groups):
            color, by_step = f"C{i % 10}", {}
            for run in group.runs:
                steps, frac = copy_fractions(run)
                if relative:
                    mass = series(run.memorization, lambda r: r["null"]["mass"])[1]
                    frac = frac / mass if np.isfinite(mass).all() and (mass > 0).all() else np.full(frac.shape, np.nan)
                ax.plot(steps, frac, "-", lw=0.7, alpha=0.45, color=color)
                for step, value in zip(steps.tolist(), frac.tolist()):
                    by_step.setdefault(step, []).append(value)
            steps = sorted(k for k, v in by_step.items() if len(v) == len(group.runs))  # steps every run reached
            ax.plot(steps, [np.nanmedian(by_step[k]) if np.isfinite(by_step[k]).any() else np.nan for k in steps],
                    "-", lw=2.2, color=color)  # fmt: skip
        ax.set(xscale="log", xlabel="training step", ylabel=ylabel)
        if relative:
            ax.set_yscale("symlog", linthresh=1.0)
            ax.set_ylim(bottom=0.0)
    handles = [Line2D([], [], color=f"C{i % 10}", lw=2.2, label=f"{g.label} (n = {len(g.runs)})")
               for i, g in enumerate(groups)]  # fmt: skip
    handles.append(Line2D([], [], color="0.3", lw=0.7, label="one run (thick: the median)"))
    axes[0, 0].legend(handles=handles, fontsize="small")
    return _save(fig, out_dir, "copy_fraction_by_setting")


def plot_auc_vs_null(runs: Sequence[Run], out_dir: str | Path) -> list[Path]:
    """``auc_ever`` vs step of every run (solid) next to its null model's mean ± sd (dashed, band), one panel per
    setting; [] if no record holds the null model."""

    def drawable(group):  # a null model and some finite AUC (a run without copies has none: NaN)
        records = [r for run in group.runs for r in run.memorization if "null" in r]
        return any(optional(r["auc_ever"]) is not None for r in records)

    groups = [g for g in group_runs(runs) if drawable(g)]
    if not groups:
        return []
    colour = {id(run): f"C{i % 10}" for i, run in enumerate(runs)}
    fig, axes = _figure(1, len(groups), width=4.2 + 3.0 / len(groups))  # room for the legend on the right
    for ax, group in zip(axes[0], groups):
        ax.axhline(0.5, color="0.7", lw=0.8, zorder=0)
        for run in group.runs:
            steps, observed = series(run.memorization, lambda r: r["auc_ever"])
            _, mean = series(run.memorization, lambda r: r["null"]["auc_ever"]["mean"])
            _, sd = series(run.memorization, lambda r: r["null"]["auc_ever"]["sd"])
            ax.plot(steps, observed, "o-", ms=3, color=colour[id(run)], label=run.name)
            ax.plot(steps, mean, "--", color=colour[id(run)])
            ax.fill_between(steps, mean - sd, mean + sd, color=colour[id(run)], alpha=0.15, lw=0)
        ax.set(xscale="log", xlabel="training step", title=group.label, ylim=(-0.02, 1.02))
    axes[0, 0].set_ylabel("AUC(log p, ever memorized)")
    from matplotlib.lines import Line2D

    handles = [h for ax in axes[0] for h in ax.get_legend_handles_labels()[0]]
    handles.append(Line2D([], [], ls="--", color="k", label="null model: mean ± sd (same colour)"))
    fig.legend(handles=handles, loc="outside right upper", fontsize="small")
    return _save(fig, out_dir, "auc_vs_null")


def plot_privacy(runs: Sequence[Run], out_dir: str | Path) -> list[Path]:
    """Left: the membership attacks' AUC over training (loss solid, calibrated dashed, a grammar-perfect model's
    loss attack dotted) next to the copy fraction (right axis, grey). Right: the calibrated attack's AUC per log-p
    quantile bin in the generalization and the memorization regime (docs/reproduction.md); [] without privacy
    records."""
    runs_with = [run for run in runs if run.privacy]
    if not runs_with:
        return []
    colour = {id(run): f"C{i % 10}" for i, run in enumerate(runs)}
    fig, axes = _figure(1, 2, width=5.0)
    ax, right = axes[0, 0], axes[0, 1]
    copies = ax.twinx()
    ax.axhline(0.5, color="0.7", lw=0.8, zorder=0)
    for run in runs_with:
        c = colour[id(run)]
        for key, style in (("auc_loss", "o-"), ("auc_calibrated", "s--"), ("auc_grammar", ":")):
            steps, values = series(run.privacy, lambda r, k=key: r[k])
            ax.plot(steps, values, style, ms=3, color=c, label=f"{run.name}: {key}")
        steps, fraction = copy_fractions(run)
        copies.plot(steps, fraction, color=c, alpha=0.35, lw=2)
        for regime, style in zip(REGIMES, (":", "-")):
            bins = exposure_by_bin(run, regime)
            if bins is not None:
                values = [np.nan if v is None else v for v in bins["auc_calibrated"]]
                right.plot(range(len(values)), values, "o" + style, ms=4, color=c, label=f"{run.name}: {regime}")
    ax.set(xscale="log", xlabel="training step", ylabel="membership AUC (0.5: chance)")
    copies.set_ylabel("copy fraction (thick, faint)")
    ax.legend(fontsize="x-small")
    right.axhline(0.5, color="0.7", lw=0.8, zorder=0)
    right.set(xlabel="log-p quantile bin (0: least probable)", ylabel="calibrated attack AUC",
              title="exposure per log-p bin: generalization (dotted), memorization (solid)")  # fmt: skip
    right.title.set_fontsize("small")
    right.legend(fontsize="x-small")
    return _save(fig, out_dir, "privacy")


#: The report's figures: title, function, and the records each needs.
FIGURES: tuple[tuple[str, Callable[..., list[Path]], str], ...] = (
    ("copy fraction and onsets", plot_copy_fraction, "memorization records"),
    ("AUC against the null model", plot_auc_vs_null, "memorization records with the null model"),
    ("block copies per height", plot_block_copies, "memorization records with block_copies"),
    ("slop index and KL per height", plot_slop_kl, "substrings records"),
    ("memorized fraction by log-prob quantile", plot_memorized_by_quantile, "memorization records with quantiles"),
    ("over-production of common blocks", plot_overproduction, "substrings records with top_blocks"),
    ("onsets and AUC per setting, over seeds", plot_group_statistics, "two settings with memorization records"),
    ("copy fraction per setting, over seeds", plot_copy_fraction_by_setting, "two settings with memorization records"),
    ("membership inference and exposure per log-p bin", plot_privacy, "privacy records"),
)
