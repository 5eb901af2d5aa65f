"""``rhm-memo grid SWEEP.yaml [...]``: run the grid of W&B sweep files locally, one ``rhm-memo fit`` per point.

The sweep files (configs/sweeps/) are W&B sweep definitions, run online by ``wandb sweep`` + ``wandb agent``.
This runner reads the same files, expands their grid, and runs every point as a subprocess, as the agent
would, with the W&B logger offline and the run directory at ``ROOT/PROJECT/NAME`` (docs/sweeps.md). It imports
no torch, Lightning or W&B: the layout and the default logger come from :mod:`rhm_memo.runs`.

    rhm-memo grid configs/sweeps/zipf-exponent.yaml --seeds 1 2 3 --jobs 2 --set trainer.max_steps=4096

Pure functions (loading, expansion, naming, commands) come first; the subprocess glue is at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from rhm_memo.runs import DEFAULT_PROJECT, DEFAULT_SAVE_DIR, run_dir

#: The console script; ``${program}`` or this token in a command becomes ``python -m rhm_memo``.
PROGRAM = "rhm-memo"
#: The W&B command macros this runner substitutes (``${env}`` becomes nothing: runs inherit the environment).
MACROS = ("env", "interpreter", "program", "args", "args_no_hyphens")
#: What ``--seeds K`` sets in every run (a local extension: W&B grids take seeds as ordinary parameters).
SEED_KEYS = ("seed_everything", "data.seed_data")
#: The W&B logger's init arguments, as overridden in every run of the grid.
LOGGER_PREFIX = "--trainer.logger.init_args."
#: The logger's init arguments that place the run directory ``save_dir/project/id``: set by the grid alone.
LOGGER_PLACE = ("save_dir", "project", "id")
#: The file a run directory holds once its run has exited 0.
DONE = "done"
#: The checkpoint an unfinished run resumes from (``--checkpoint.save_last``, in the run directory's default place).
LAST_CHECKPOINT = Path("checkpoints") / "last.ckpt"
#: One JSON line per start of a run: when, from which checkpoint, and the run's useful seconds before it.
ATTEMPTS = "attempts.jsonl"


class SweepError(ValueError):
    """A sweep file or a grid option that ``rhm-memo grid`` cannot run."""


def is_sweep_config(config: Any) -> bool:
    """Whether a loaded YAML file is a W&B sweep (top-level ``method`` or ``parameters``), not a CLI config."""
    return isinstance(config, dict) and ("method" in config or "parameters" in config)


# ---------------------------------------------------------------------------------------------------------- sweeps
@dataclass(frozen=True)
class Sweep:
    """A grid sweep file: its name, its parameters (key → values, in file order), its command and W&B project."""

    path: Path
    name: str
    parameters: dict[str, list[Any]]
    command: list[str]
    program: str
    project: str = DEFAULT_PROJECT


def load_sweep(path: str | Path) -> Sweep:
    """Read and check a W&B sweep file that ``rhm-memo grid`` can run (method grid, values/value parameters)."""
    path = Path(path)
    if not path.is_file():
        raise SweepError(f"{path}: no such sweep file")
    try:
        config = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise SweepError(f"{path}: not valid YAML: {err}") from err
    if not is_sweep_config(config):
        raise SweepError(f"{path}: not a W&B sweep file (no top-level `method:` / `parameters:`)")
    if config.get("method") != "grid":
        raise SweepError(f"{path}: method is {config.get('method')!r}; rhm-memo grid runs only `method: grid`")
    parameters = config.get("parameters")
    if not isinstance(parameters, dict) or not parameters:
        raise SweepError(f"{path}: `parameters:` is empty; give each key `values: [...]` or `value: x`")
    command = config.get("command")
    if not isinstance(command, list) or not command:
        raise SweepError(
            f"{path}: needs a `command:` list, e.g. [${{env}}, ${{program}}, fit, --config, FILE, ${{args}}]"
        )
    command = [str(token) for token in command]
    for token in command:
        if "${" in token and _macro(token) not in MACROS:
            raise SweepError(f"{path}: command token {token!r}: rhm-memo grid knows only the macros {_names(MACROS)}")
    return Sweep(
        path=path,
        name=str(config.get("name") or path.stem),
        parameters={key: _values(path, key, spec) for key, spec in parameters.items()},
        command=command,
        program=str(config.get("program") or PROGRAM),
        project=str(config.get("project") or DEFAULT_PROJECT),
    )


def _values(path: Path, key: str, spec: Any) -> list[Any]:
    """The values of one parameter: ``values: [...]`` (non-empty, distinct) or ``value: x``."""
    if not isinstance(spec, dict) or set(spec) not in ({"values"}, {"value"}):
        raise SweepError(
            f"{path}: parameter {key!r} must be `values: [...]` or `value: x` for a grid (got {spec!r}); "
            "distributions and nested parameters are not supported by rhm-memo grid"
        )
    values = spec["values"] if "values" in spec else [spec["value"]]
    if not isinstance(values, list) or not values:
        raise SweepError(f"{path}: parameter {key!r}: `values` must be a non-empty list, got {values!r}")
    if any(v is None for v in values):
        raise SweepError(f"{path}: parameter {key!r}: W&B passes a null value as the string 'None'; leave it out")
    if len({json.dumps(v, sort_keys=True) for v in values}) < len(values):
        raise SweepError(f"{path}: parameter {key!r}: repeated values {values!r}")
    return values


def _macro(token: str) -> str | None:
    """The macro name of a ``${name}`` token (None if the token is not exactly one macro)."""
    match = re.fullmatch(r"\$\{([A-Za-z_:]+)\}", token)
    return match.group(1) if match else None


def _names(macros: Sequence[str]) -> str:
    """``${a}, ${b}, ...`` for error messages."""
    return ", ".join(f"${{{m}}}" for m in macros)


def grid_points(parameters: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """The cartesian product of the parameters' values, in file order (the last key varies fastest)."""
    keys = list(parameters)
    return [dict(zip(keys, combination)) for combination in itertools.product(*parameters.values())]


def with_seeds(sweep: Sweep, seeds: Sequence[int] | None) -> list[tuple[dict[str, Any], int | None]]:
    """Every grid point once (no seeds), or once per seed k with ``seed_everything = data.seed_data = k``."""
    points = grid_points(sweep.parameters)
    if not seeds:
        return [(point, None) for point in points]
    swept = [key for key in SEED_KEYS if len(sweep.parameters.get(key, ())) > 1]
    if swept:
        raise SweepError(f"{sweep.path}: --seeds sets {', '.join(SEED_KEYS)}, but the sweep already varies {swept}")
    return [({**point, **dict.fromkeys(SEED_KEYS, seed)}, seed) for point in points for seed in seeds]


# ---------------------------------------------------------------------------------------------------------- names
def sanitize(text: str) -> str:
    """Keep W&B-id- and path-safe characters ``[A-Za-z0-9_.-]``; runs of others become one ``_``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")


def value_token(value: Any) -> str:
    """A short readable form of a parameter value: ``1.0``, ``true``, ``[1, 4]`` → ``1_4``."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "_".join(value_token(v) for v in value)
    return str(value)


def run_name(sweep: Sweep, params: dict[str, Any], seed: int | None) -> str:
    """``SWEEP-KEYvalue-...-sSEED`` from the swept keys' last components, e.g. ``zipf-exponent-zipf_exponent1.0-s2``."""
    parts = [sweep.name] + [_name_part(key, params[key]) for key in _swept(sweep)]
    if seed is not None:
        parts.append(f"s{seed}")
    return "-".join(sanitize(part) for part in parts)


def _name_part(key: str, value: Any) -> str:
    """``zipf_exponent1.0`` for ``data.zipf_exponent: 1.0``; a swept ``config`` file is named by its stem alone."""
    if key == "config":
        return Path(str(value)).stem
    return key.split(".")[-1] + value_token(value)


def _swept(sweep: Sweep) -> list[str]:
    """The keys with more than one value."""
    return [key for key, values in sweep.parameters.items() if len(values) > 1]


def unique_names(names: Sequence[str], points: Sequence[dict[str, Any]]) -> list[str]:
    """The names, with a short hash of the point appended to each name that occurs more than once."""
    counts = {name: names.count(name) for name in names}
    return [name if counts[name] == 1 else f"{name}-{_digest(point)}" for name, point in zip(names, points)]


def _digest(point: dict[str, Any]) -> str:
    """6 hex digits identifying a grid point."""
    return hashlib.sha1(json.dumps(point, sort_keys=True).encode()).hexdigest()[:6]


# ---------------------------------------------------------------------------------------------------------- commands
def program_argv(program: str) -> list[str]:
    """The argv of the program: ``rhm-memo`` runs as ``python -m rhm_memo``, so no console script is needed."""
    return [sys.executable, "-m", "rhm_memo"] if program == PROGRAM else [program]


def format_args(params: dict[str, Any], hyphens: bool = True) -> list[str]:
    """``--key=value`` (or ``key=value``) per parameter, values formatted with ``str()`` as W&B does."""
    prefix = "--" if hyphens else ""
    return [f"{prefix}{key}={value}" for key, value in params.items()]


def expand_command(sweep: Sweep, params: dict[str, Any]) -> list[str]:
    """The sweep's command for one point, with the macros substituted as ``wandb agent`` would."""
    macros = {
        "env": [],
        "interpreter": [sys.executable],
        "program": program_argv(sweep.program),
        "args": format_args(params),
        "args_no_hyphens": format_args(params, hyphens=False),
    }
    argv: list[str] = []
    for token in sweep.command:
        if token == PROGRAM:
            argv += program_argv(PROGRAM)
        elif _macro(token) is not None:
            argv += macros[_macro(token)]
        else:
            argv.append(token)
    return argv


def logger_args(root: str | Path, project: str, name: str) -> list[str]:
    """Overrides of the default W&B logger: offline, in ``root/project/name``, with run id and display name ``name``.

    They follow the sweep's parameters in every command, so they win over the configs, as the sweep's project
    does for a W&B agent's runs.
    """
    init_args = {"save_dir": root, "project": project, "id": name, "name": name, "offline": "true"}
    return [f"{LOGGER_PREFIX}{key}={value}" for key, value in init_args.items()]


@dataclass(frozen=True)
class Run:
    """One grid point: its name, parameters, seed, full command and run directory."""

    sweep: str
    name: str
    params: dict[str, Any]
    seed: int | None
    command: list[str]
    run_dir: Path


def plan(sweep: Sweep, root: str | Path, seeds: Sequence[int] | None = None, extra: Sequence[str] = ()) -> list[Run]:
    """The runs of a sweep: command = the sweep's command, then the logger overrides, then ``extra``."""
    points = with_seeds(sweep, seeds)
    names = unique_names([run_name(sweep, params, seed) for params, seed in points], [p for p, _ in points])
    runs = []
    for (params, seed), name in zip(points, names):
        command = [*expand_command(sweep, params), *logger_args(root, sweep.project, name), *extra]
        runs.append(Run(sweep.name, name, params, seed, command, run_dir(root, sweep.project, name)))
    return runs


def set_args(pairs: Sequence[str]) -> list[str]:
    """``--set KEY=VALUE`` options as ``--KEY=VALUE`` arguments (not the logger keys that place the run)."""
    placed = {f"{LOGGER_PREFIX[2:]}{key}" for key in LOGGER_PLACE}
    for pair in pairs:
        if not re.fullmatch(r"[A-Za-z_][\w.]*=.*", pair, flags=re.DOTALL):
            raise SweepError(f"--set {pair!r}: expected KEY=VALUE, e.g. --set trainer.max_steps=100")
        if pair.partition("=")[0] in placed:
            raise SweepError(
                f"--set {pair!r}: the grid places each run in ROOT/PROJECT/NAME itself; "
                "use --root, or `project:` in the sweep file"
            )
    return [f"--{pair}" for pair in pairs]


def default_threads(jobs: int) -> int:
    """CPU cores available to this process, shared by ``jobs`` runs (at least 1 each)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // jobs)


# ---------------------------------------------------------------------------------------------------------- running
@dataclass(frozen=True)
class Result:
    """How a run ended: ``ok``, ``failed`` or ``skipped`` (already done), its exit code and wall seconds."""

    name: str
    status: str
    rc: int | None
    seconds: float


def is_done(run: Run) -> bool:
    """Whether the run already finished with exit code 0 (its ``done`` marker exists)."""
    return (run.run_dir / DONE).is_file()


def read_attempts(run: Run) -> list[dict[str, Any]]:
    """The run's earlier starts, oldest first: ``RUN_DIR/attempts.jsonl``, or for a run started by an older
    runner the last start in ``grid.log`` (its time and command); none if it never started."""
    path = run.run_dir / ATTEMPTS
    if path.is_file():
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    log = run.run_dir / "grid.log"
    headers = re.findall(r"^# (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) (.*)$", log.read_text(), re.M) if log.is_file() else []
    if not headers:
        return []
    when, command = headers[-1]
    try:
        argv = [a for a in shlex.split(command) if not a.startswith("--ckpt_path=")]
    except ValueError:  # a command spanning lines: unknown
        argv = None
    return [{"started": time.mktime(time.strptime(when, "%Y-%m-%d %H:%M:%S")), "command": argv, "prior_seconds": 0.0}]


def finished_now() -> str:
    """The time a run ended, as its records write it: ISO 8601 with the UTC offset, to the millisecond."""
    return datetime.now().astimezone().isoformat(timespec="milliseconds")


def read_done(run_dir: Path) -> dict[str, Any]:
    """A finished run's record: the first line of its ``done`` marker (the grid's record of the run)."""
    return json.loads((run_dir / DONE).read_text().splitlines()[0])


def training_intervals(run_dir: Path) -> list[tuple[float, float]]:
    """When a finished run trained usefully, as (start, end) epoch seconds, from its ``done`` marker and
    ``attempts.jsonl``: each start up to the next start's checkpoint (its ``prior_seconds``), and the last start
    up to the run's end. A run started by an older runner (no ``attempts.jsonl``) has one interval, the last
    ``seconds`` before it finished; a ``finished`` time without a UTC offset (older records) is read as UTC.
    Their lengths add up to the record's ``seconds``."""
    done = read_done(run_dir)
    end = datetime.fromisoformat(done["finished"])
    end_s = (end if end.tzinfo else end.replace(tzinfo=timezone.utc)).timestamp()
    path = run_dir / ATTEMPTS
    starts = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []
    if not starts:
        return [(end_s - float(done["seconds"]), end_s)]
    pairs = itertools.pairwise(starts)
    spans = [(a["started"], a["started"] + b["prior_seconds"] - a["prior_seconds"]) for a, b in pairs]
    return [*spans, (end_s - (float(done["seconds"]) - starts[-1]["prior_seconds"]), end_s)]


def covered_seconds(intervals: Sequence[tuple[float, float]]) -> float:
    """The length of the union of the intervals: the wall time during which any of them ran."""
    total, reach = 0.0, float("-inf")
    for start, end in sorted(intervals):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


def config_digest(command: Sequence[str]) -> str:
    """A digest of the contents of the config files that ``command`` names (``--config F`` / ``--config=F``; a
    missing file counts as empty), so that an edited config file tells one training from another."""
    names = [b for a, b in itertools.pairwise(command) if a == "--config"]
    names += [a.split("=", 1)[1] for a in command if a.startswith("--config=")]
    digest = hashlib.sha256()
    for name in names:
        path = Path(name)
        digest.update(name.encode() + b"\0" + (path.read_bytes() if path.is_file() else b"") + b"\0")
    return digest.hexdigest()[:16]


def same_training(earlier: dict[str, Any] | None, command: Sequence[str]) -> bool:
    """Whether a checkpoint left by the ``earlier`` start (an attempt record) may continue under ``command``: the
    same arguments, except ``--trainer.max_steps`` (a run may be extended), and the same contents of the config
    files they name; what the record lacks (written by an older runner) is taken to match."""
    if earlier is None:
        return True
    if earlier.get("configs") is not None and earlier["configs"] != config_digest(command):
        return False
    if earlier.get("command") is None:
        return True
    same = [a for a in earlier["command"] if not a.startswith("--trainer.max_steps=")]
    return same == [a for a in command if not a.startswith("--trainer.max_steps=")]


def resume_checkpoint(run: Run, resume: bool = True) -> Path | None:
    """The last checkpoint an unfinished run continues from with ``resume``: None where it starts over (no
    checkpoint, a finished run, or one whose last start ran another command or config: :func:`same_training`)."""
    checkpoint = run.run_dir / LAST_CHECKPOINT
    if not resume or is_done(run) or not checkpoint.is_file():
        return None
    earlier = read_attempts(run)
    return checkpoint if same_training(earlier[-1] if earlier else None, run.command) else None


def command_from(run: Run, checkpoint: Path | None) -> list[str]:
    """The run's command, continuing from ``checkpoint`` if one is given."""
    return [*run.command, f"--ckpt_path={checkpoint}"] if checkpoint is not None else list(run.command)


def start_attempt(run: Run, resume: bool) -> tuple[list[str], dict[str, Any]]:
    """The command of this start and its attempt record. With ``resume`` and a last checkpoint left by an earlier,
    unfinished start of the same training, the command continues from it (``--ckpt_path``), and the record counts
    the earlier starts' useful seconds (each up to its last checkpoint; steps after it are trained again and not
    counted). Else the run starts over: its old checkpoints are removed, so that none can be resumed later."""
    checkpoint = resume_checkpoint(run, resume)
    earlier = read_attempts(run)
    attempt: dict[str, Any] = {"started": time.time(), "command": run.command, "configs": config_digest(run.command)}
    attempt["resumed_from"] = None
    attempt["prior_seconds"] = 0.0
    if checkpoint is not None:
        attempt["resumed_from"] = str(checkpoint)
        if earlier:
            last = earlier[-1]
            useful = max(0.0, checkpoint.stat().st_mtime - last["started"])
            attempt["prior_seconds"] = round(last["prior_seconds"] + useful, 3)
    else:
        earlier = []
        shutil.rmtree(run.run_dir / LAST_CHECKPOINT.parent, ignore_errors=True)
    lines = [json.dumps(a) + "\n" for a in (*earlier, attempt)]
    (run.run_dir / ATTEMPTS).write_text("".join(lines))
    return command_from(run, checkpoint), attempt


def execute(run: Run, threads: int, resume: bool = True) -> tuple[int, float, dict[str, Any]]:
    """Run one command with ``threads`` OpenMP/MKL threads, its output appended to ``RUN_DIR/grid.log``; an
    unfinished run continues from its last checkpoint with ``resume`` (:func:`start_attempt`). Returns the exit
    code, this start's wall seconds and its attempt record."""
    run.run_dir.mkdir(parents=True, exist_ok=True)
    (run.run_dir / DONE).unlink(missing_ok=True)
    command, attempt = start_attempt(run, resume)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    start = time.perf_counter()
    with open(run.run_dir / "grid.log", "a") as log:
        log.write(f"# {time.strftime('%Y-%m-%d %H:%M:%S')} {shlex.join(command)}\n")
        log.flush()
        try:
            rc = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=env).returncode
        except OSError as err:  # the program could not be started
            log.write(f"{err}\n")
            rc = 127
    return rc, time.perf_counter() - start, attempt


def run_grid(
    runs: Sequence[Run],
    root: str | Path,
    jobs: int = 1,
    threads: int = 1,
    force: bool = False,
    restart: bool = False,
) -> list[Result]:
    """Run the runs not yet done (all with ``force``), ``jobs`` at a time; records go to ``ROOT/grid-SWEEP.jsonl``.

    An unfinished run continues from its last checkpoint unless ``restart`` or ``force`` (then it starts over).
    A record's ``seconds`` (and the result's) is the run's useful wall time over all its starts (up to each
    start's last checkpoint: :func:`start_attempt`), ``attempts`` how many starts it took."""
    todo = [run for run in runs if force or not is_done(run)]
    results = {run.name: Result(run.name, "skipped", None, 0.0) for run in runs}
    Path(root).mkdir(parents=True, exist_ok=True)
    lock = threading.Lock()
    finished = 0

    def one(run: Run) -> Result:
        nonlocal finished
        rc, seconds, attempt = execute(run, threads, resume=not (force or restart))
        record = {"name": run.name, "params": run.params, "seed": run.seed, "command": run.command, "rc": rc}
        seconds += attempt["prior_seconds"]  # the run's useful wall time over all its starts
        record |= {"seconds": round(seconds, 3), "run_dir": str(run.run_dir), "finished": finished_now()}
        record |= {"attempts": len(read_attempts(run)), "resumed_from": attempt["resumed_from"]}
        with lock:
            with open(Path(root) / f"grid-{run.sweep}.jsonl", "a") as f:
                f.write(json.dumps(record) + "\n")
            if rc == 0:
                (run.run_dir / DONE).write_text(json.dumps(record) + "\n")
            finished += 1
            print(f"[{finished}/{len(todo)}] {run.name}: {'ok' if rc == 0 else f'failed (exit {rc})'}", flush=True)
        return Result(run.name, "ok" if rc == 0 else "failed", rc, seconds)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(one, run) for run in todo]
        try:
            for future in as_completed(futures):
                result = future.result()
                results[result.name] = result
        except KeyboardInterrupt:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return [results[run.name] for run in runs]


def table(results: Sequence[Result]) -> str:
    """A plain-text table: name, status, exit code, wall seconds."""
    width = max([len(r.name) for r in results] + [4])
    lines = [f"{'name':<{width}}  status   exit  seconds"]
    for r in results:
        rc = "" if r.rc is None else str(r.rc)
        lines.append(f"{r.name:<{width}}  {r.status:<7}  {rc:>4}  {r.seconds:>7.1f}")
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    """The options of ``rhm-memo grid``."""
    p = argparse.ArgumentParser(
        prog="rhm-memo grid",
        description="Run the grid of W&B sweep files (method: grid) locally: one `rhm-memo fit` subprocess per "
        "point, W&B offline, each run in ROOT/PROJECT/NAME/ (with grid.log); finished runs are skipped on restart.",
    )
    p.add_argument("sweeps", nargs="+", help="W&B sweep YAML files (e.g. configs/sweeps/zipf-exponent.yaml)")
    p.add_argument(
        "--seeds",
        nargs="+",
        type=int,
        help="replicate every point once per seed k, setting seed_everything=k and data.seed_data=k "
        "(a local extension of W&B sweeps); default: the sweep's own parameters",
    )
    p.add_argument("--jobs", type=_positive, default=1, help="runs at a time (default 1)")
    p.add_argument("--threads", type=_positive, help="OMP/MKL threads per run (default: CPU cores // jobs)")
    p.add_argument(
        "--root",
        default=DEFAULT_SAVE_DIR,
        help=f"logger save_dir: runs land in ROOT/PROJECT/NAME, PROJECT the sweep's `project:` "
        f"(default {DEFAULT_SAVE_DIR})",
    )
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="extra override for every run")
    p.add_argument("--force", action="store_true", help="rerun runs that are already done (from the start)")
    p.add_argument(
        "--restart",
        action="store_true",
        help="start unfinished runs over instead of continuing them from their last checkpoint",
    )
    p.add_argument("--dry-run", action="store_true", help="print the runs and their commands, run nothing")
    return p


def remaining(runs: Sequence[Run], jobs: int, force: bool = False) -> str:
    """The dry run's last line: how many runs are done and to run and, from the wall time of this grid's finished
    runs (their done markers), about how long the rest takes (in rounds of ``jobs`` runs; less where runs
    resume)."""
    finished = [run for run in runs if is_done(run)]
    todo = len(runs) if force else len(runs) - len(finished)
    line = f"# runs: {len(runs)}, done: {len(finished)}, to run: {todo}"
    seconds = []
    for run in finished:
        try:
            seconds.append(float(read_done(run.run_dir)["seconds"]))
        except (ValueError, KeyError, IndexError, TypeError):  # a marker written by hand or cut short
            continue
    if todo and seconds:
        mean = sum(seconds) / len(seconds)
        rounds = -(-todo // jobs)
        line += (f"; at the {mean / 60:.0f} min of this grid's finished runs (n = {len(seconds)}), about "
                 f"{todo * mean / 3600:.1f} h of run time, {rounds * mean / 3600:.1f} h with --jobs {jobs} "
                 "(less where runs resume)")  # fmt: skip
    return line


def _positive(text: str) -> int:
    """An argparse type: an integer >= 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def main(argv: Sequence[str] | None = None) -> int:
    """``rhm-memo grid``: plan the runs of the sweep files, then print (--dry-run) or run them; 1 if any failed."""
    args = parser().parse_args(argv)
    try:
        sweeps = [load_sweep(path) for path in args.sweeps]
        names = [s.name for s in sweeps]
        if len(set(names)) < len(names):
            raise SweepError(f"sweep names must differ within a root (runs are named after them): {names}")
        runs = [run for sweep in sweeps for run in plan(sweep, args.root, args.seeds, set_args(args.set))]
    except SweepError as err:
        print(f"rhm-memo grid: {err}", file=sys.stderr)
        return 2
    threads = args.threads or default_threads(args.jobs)
    if args.dry_run:
        for run in runs:
            checkpoint = resume_checkpoint(run, not (args.force or args.restart))
            note = " (done: skipped)" if is_done(run) and not args.force else " (resumes)" if checkpoint else ""
            print(f"# {run.name} -> {run.run_dir}{note}")
            print(f"OMP_NUM_THREADS={threads} MKL_NUM_THREADS={threads} {shlex.join(command_from(run, checkpoint))}")
        print(remaining(runs, args.jobs, args.force))
        return 0
    results = run_grid(runs, args.root, args.jobs, threads, args.force, args.restart)
    print(table(results))
    return int(any(r.status == "failed" for r in results))
