"""Generated tables inside a markdown page, so that every number on it comes from committed run records.

A block of the page

    <!-- generated: TABLE GLOB [GLOB ...] -->
    ...
    <!-- end generated -->

is replaced by ``TABLE`` (one of :data:`TABLES`) of the finished runs whose directories match the globs (relative
to the page's repository root, the working directory); a grid run still in progress (``grid.log``, no ``done``
marker) is left out. ``contrast GLOB_A GLOB_B`` compares two settings; ``n=N`` after the table's name marks
it interim while one of its globs (a setting each) has fewer than the planned N finished runs; ``figure NAME
GLOB...`` draws a report figure into ``img/generated/PAGE/`` next to the page, named by a digest of its
records. ``rhm-memo report --page docs/reproduction.md`` rewrites the blocks; ``--check`` only says whether the
page is current (a test runs it, so a hand-edited number, or a figure older than its records, fails CI).
"""

from __future__ import annotations

import glob
import hashlib
import re
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rhm_memo.grid import DONE, covered_seconds, training_intervals
from rhm_memo.report.glance import glance_table
from rhm_memo.report.groups import Group, group_runs
from rhm_memo.report.privacy import privacy_table
from rhm_memo.report.records import Run, load_runs
from rhm_memo.report.stats import (
    comparison_table,
    contrast_table,
    null_table,
    power_table,
    slop_rows,
    verdict_table,
)
from rhm_memo.report.tables import group_table, memorization_table, slop_table, summary_table
from rhm_memo.runs import CONFIG_FILE, METRICS_FILE


def _per_group(table: Callable[[Group], str]) -> Callable[[list[Run]], str]:
    def render(runs: list[Run]) -> str:
        return "\n\n".join(f"**{g.label}**\n\n{table(g)}" for g in group_runs(runs))

    return render


def compute_table(runs: list[Run]) -> str:
    """The compute of the runs that ``rhm-memo grid`` finished (their ``done`` markers): n, total and per run
    run-minutes (each run's ``seconds``, the length of its :func:`rhm_memo.grid.training_intervals`), and the wall
    time during which any of them trained."""
    spans = [training_intervals(run.path) for run in runs if (run.path / DONE).is_file()]
    if not spans:
        return "*No run finished by `rhm-memo grid` yet.*"
    seconds = [sum(end - start for start, end in run_spans) for run_spans in spans]
    wall = covered_seconds([span for run_spans in spans for span in run_spans])
    total = sum(seconds)
    return (
        "| runs | total run-minutes | minutes per run (min–max) | wall-clock hours while any run trained |\n"
        "|---|---|---|---|\n"
        f"| {len(seconds)} | {total / 60:.0f} | {total / 60 / len(seconds):.1f} "
        f"({min(seconds) / 60:.1f}–{max(seconds) / 60:.1f}) | {wall / 3600:.1f} |"
    )


#: The tables a page can ask for, each from the list of runs its globs match.
TABLES: dict[str, Callable[[list[Run]], str]] = {
    "null": lambda runs: null_table(group_runs(runs)),
    "power": lambda runs: power_table(group_runs(runs)),
    "verdicts": lambda runs: verdict_table(group_runs(runs)),
    "slop-verdicts": lambda runs: verdict_table(groups := group_runs(runs), slop_rows(groups)),
    "comparison": lambda runs: comparison_table(group_runs(runs)),
    "seeds": lambda runs: group_table(group_runs(runs)),
    "memorization": _per_group(memorization_table),
    "slop": _per_group(slop_table),
    "privacy": lambda runs: privacy_table(group_runs(runs)),
    "runs": summary_table,
    "compute": compute_table,
}

#: Where a page's generated figures go, relative to the page.
FIGURE_DIR = "img/generated"


def _figure_functions() -> dict[str, tuple[str, Callable[..., list[Path]]]]:
    """The report's figures by short name (``slop_kl`` for ``plot_slop_kl``): (title, function)."""
    from rhm_memo.report.figures import FIGURES

    return {function.__name__.removeprefix("plot_"): (title, function) for title, function, _ in FIGURES}


def _drawing_code() -> list[Path]:
    """The source files a figure depends on: the report package and the onset it reads."""
    package = Path(__file__).parent
    return [*sorted(package.glob("*.py")), package.parent / "onset.py"]


@dataclass
class Figures:
    """Where the figure blocks of one page write (``page_dir / FIGURE_DIR / page``, a folder of its own, named by
    the page's stem), whether they may write, and the files they refer to (so that figures no block of the page
    refers to any more can be removed)."""

    page_dir: Path
    page: str = "page"
    write: bool = True
    referenced: set[str] = field(default_factory=set)


def render_figure(spec: str, patterns: list[str], figures: Figures) -> str:
    """``figure NAME GLOB...``: the markdown of the report figure NAME of the matched runs. Its file name holds a
    digest of the block, of the runs' records and of the drawing code, so the markdown changes whenever they do
    (``--check`` needs no matplotlib); the figure is drawn only when its file is missing."""
    available = _figure_functions()
    if len(patterns) < 2 or patterns[0] not in available:
        raise ValueError(f"a figure block needs 'figure NAME GLOB...' with NAME in {sorted(available)}, got {spec!r}")
    name, globs = patterns[0], patterns[1:]
    dirs = _finished_dirs(globs)
    if not dirs:
        return f"*No finished runs match {' '.join(globs)} yet.*"
    digest = hashlib.sha256(spec.encode())
    for source in _drawing_code():  # a change of the code that reads, computes or draws redraws too
        digest.update(source.read_bytes())
    for d in dirs:
        for file in (METRICS_FILE, CONFIG_FILE):
            path = Path(d) / file
            digest.update(path.read_bytes() if path.is_file() else b"")
    title, plot = available[name]
    stem = f"{name}-{digest.hexdigest()[:12]}"
    relative = f"{FIGURE_DIR}/{figures.page}/{stem}.png"
    target = figures.page_dir / relative
    if figures.write and not target.is_file():
        with tempfile.TemporaryDirectory() as tmp:
            drawn = [p for p in plot(load_runs(dirs), tmp) if p.suffix == ".png"]
            if drawn:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(drawn[0], target)
    if not target.is_file():  # nothing to draw (or, under --check, not drawn yet: then the page differs)
        return f"*No figure {stem} yet: the finished runs matching {' '.join(globs)} do not give {title}.*"
    figures.referenced.add(relative)
    return f"![{title}: {' '.join(Path(g).name for g in globs)}]({relative})"


#: The tables that compare two settings, each from the runs of its two globs: ``contrast GLOB_A GLOB_B``.
CONTRASTS: dict[str, Callable[[str, list[Run], str, list[Run]], str]] = {"contrast": contrast_table}

BLOCK = re.compile(r"(<!-- generated: (?P<spec>[^>]*?) -->\n)(?P<body>.*?)(<!-- end generated -->)", re.S)


def _finished(run_dir: Path) -> bool:
    """A run directory with records that is not a grid run still in progress (``grid.log`` but no ``done``)."""
    has_records = (run_dir / "metrics.jsonl").is_file()
    return has_records and ((run_dir / "done").is_file() or not (run_dir / "grid.log").is_file())


def _finished_dirs(patterns: Sequence[str]) -> list[str]:
    """The finished run directories (:func:`_finished`) that any of the globs match, sorted."""
    return sorted({d for p in patterns for d in glob.glob(p) if _finished(Path(d))})


def _interim(patterns: Sequence[str], planned: int | None) -> str:
    """The note over a block whose globs (one setting each) have fewer than the ``planned`` finished runs: each
    such glob with its count, zero included; "" when every glob has them (or nothing is planned)."""
    if planned is None:
        return ""
    counts = [(Path(p).name, sum(_finished(Path(d)) for d in glob.glob(p))) for p in patterns]
    short = "; ".join(f"{name}: {k} of {planned}" for name, k in counts if k < planned)
    return f"*Interim ({short} finished runs; planned: {planned} per setting).*\n\n" if short else ""


def render_block(spec: str, figures: Figures | None = None) -> str:
    """The markdown of one block: ``spec`` is ``TABLE [n=N] GLOB [GLOB ...]``, ``contrast [n=N] GLOB_A GLOB_B``,
    ``glance REGISTRY`` (:mod:`rhm_memo.report.glance`) or ``figure NAME GLOB [GLOB ...]`` (drawn only with
    ``figures`` that may write: :func:`update_page` passes them). With ``n=N`` (each glob one setting, N runs
    planned for each) the block is marked interim while a glob has fewer finished runs."""
    name, *patterns = spec.split()
    if name == "figure":
        return render_figure(spec, patterns, figures or Figures(Path.cwd(), write=False))
    if name == "glance":
        if len(patterns) != 1:
            raise ValueError(f"a glance block needs 'glance REGISTRY' (one YAML file), got {spec!r}")
        return glance_table(patterns[0], lambda p: load_runs(_finished_dirs([p])))
    planned = None
    if patterns and re.fullmatch(r"n=\d+", patterns[0]):
        planned, patterns = int(patterns[0][2:]), patterns[1:]
    if name in CONTRASTS:
        if len(patterns) != 2:
            raise ValueError(f"a {name} block needs '{name} [n=N] GLOB_A GLOB_B' (one glob per setting), got {spec!r}")
        arms = [_finished_dirs([p]) for p in patterns]
        missing = [p for p, dirs in zip(patterns, arms) if not dirs]
        if missing:
            return f"*No finished runs match {' '.join(missing)} yet.*"
        labels = [Path(p).name for p in patterns]
        table = CONTRASTS[name](labels[0], load_runs(arms[0]), labels[1], load_runs(arms[1]))
        return _interim(patterns, planned) + table
    if name not in TABLES or not patterns:
        known = sorted([*TABLES, *CONTRASTS])
        raise ValueError(f"a generated block needs 'TABLE GLOB...' with TABLE in {known}, got {spec!r}")
    dirs = _finished_dirs(patterns)
    if not dirs:
        return f"*No finished runs match {' '.join(patterns)} yet.*"
    return _interim(patterns, planned) + TABLES[name](load_runs(dirs))


def render_page(text: str, figures: Figures | None = None) -> str:
    """``text`` with every generated block rendered afresh."""
    return BLOCK.sub(lambda m: f"{m.group(1)}{render_block(m.group('spec'), figures)}\n{m.group(4)}", text)


def update_page(path: str | Path, check: bool = False) -> bool:
    """Render the generated blocks of the page at ``path``; rewrite it (or with ``check``, only compare: a
    figure block whose file is missing renders differently). Figures in the page's ``FIGURE_DIR`` that no block
    refers to any more are removed. Returns whether the page was already current."""
    path = Path(path)
    text = path.read_text()
    figures = Figures(path.parent, path.stem, write=not check)
    new = render_page(text, figures)
    if check:
        return new == text
    if new != text:
        path.write_text(new)
    folder = path.parent / FIGURE_DIR / path.stem
    for stale in folder.glob("*.png") if folder.is_dir() else []:
        if f"{FIGURE_DIR}/{path.stem}/{stale.name}" not in figures.referenced:
            stale.unlink()
    return new == text


def main(argv: Sequence[str]) -> None:
    """``rhm-memo report --page PAGE.md [--check]``."""
    check = "--check" in argv
    pages = [a for a in argv if a not in ("--page", "--check")]
    if not pages:
        raise SystemExit("rhm-memo report --page: give the markdown page to update (e.g. docs/reproduction.md)")
    stale = [p for p in pages if not update_page(p, check)]
    if check and stale:
        raise SystemExit(f"rhm-memo report --page: {', '.join(stale)} differ from the records (run without --check)")
    print(("checked " if check else "updated ") + ", ".join(pages))
