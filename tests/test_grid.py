"""rhm-memo grid: sweep files, grid expansion, names, commands, the runner's skip/force/records, every sweep file."""

import json
import sys
import time
from pathlib import Path
from unittest import mock

import pytest
import yaml
from lightning.pytorch.loggers import WandbLogger

from rhm_memo import grid, runs
from rhm_memo.cli import cli_main
from rhm_memo.cli import main as cli_entry

REPO = Path(__file__).parents[1]
QUICKSTART = REPO / "configs" / "quickstart.yaml"
SWEEPS = sorted(p for p in (REPO / "configs").rglob("*.yaml") if grid.is_sweep_config(yaml.safe_load(p.read_text())))
#: A fake program: prints its thread setting and exits with the code given as ``--code=N``.
EXIT_WITH_CODE = "import os, sys; print('threads', os.environ['OMP_NUM_THREADS']); sys.exit(int(sys.argv[1][7:]))"


def write_sweep(path: Path, parameters: dict, command: list | None = None, **keys) -> Path:
    """Write a sweep file (default command: quickstart + ${args}) and return its path."""
    command = command or ["${env}", "${program}", "fit", "--config", str(QUICKSTART), "${args}"]
    config = {"name": path.stem, "method": "grid", "program": "rhm-memo", "command": command, **keys}
    path.write_text(yaml.safe_dump({**config, "parameters": parameters}, sort_keys=False))
    return path


# ---------------------------------------------------------------------------------------------------------- expansion
def test_grid_is_the_cartesian_product_in_file_order():
    """Every combination once, the last key varying fastest; `value:` keys are constant."""
    points = grid.grid_points({"a": [1, 2], "b": ["x", "y", "z"], "c": [True]})
    assert len(points) == 6
    assert [(p["a"], p["b"]) for p in points] == [(1, "x"), (1, "y"), (1, "z"), (2, "x"), (2, "y"), (2, "z")]
    assert all(p["c"] is True and list(p) == ["a", "b", "c"] for p in points)


def test_load_sweep_reads_values_and_value(tmp_path):
    """`values: [...]` and `value: x` both become lists; the name defaults to the file stem."""
    path = write_sweep(tmp_path / "s.yaml", {"data.train_size": {"values": [8, 16]}, "seed_everything": {"value": 2}})
    sweep = grid.load_sweep(path)
    assert sweep.name == "s" and sweep.program == "rhm-memo"
    assert sweep.parameters == {"data.train_size": [8, 16], "seed_everything": [2]}
    assert len(grid.plan(sweep, tmp_path)) == 2


@pytest.mark.parametrize(
    ("parameters", "command", "method", "message"),
    [
        ({"a": {"values": [1]}}, None, "random", "only `method: grid`"),
        ({}, None, "grid", "`parameters:` is empty"),
        ({"lr": {"min": 0.1, "max": 1.0}}, None, "grid", "parameter 'lr' must be"),
        ({"opt": {"parameters": {"lr": {"value": 1}}}}, None, "grid", "parameter 'opt' must be"),
        ({"a": {"values": []}}, None, "grid", "parameter 'a': `values` must be a non-empty list"),
        ({"a": {"values": [1, None]}}, None, "grid", "parameter 'a': W&B passes a null"),
        ({"a": {"values": [1, 1]}}, None, "grid", "parameter 'a': repeated values"),
        ({"a": {"value": 1}}, ["${program}", "fit", "${args_json}"], "grid", "'${args_json}'"),
        ({"a": {"value": 1}}, ["${program}", "--x=${args}"], "grid", "'--x=${args}'"),
    ],
)
def test_load_sweep_errors_name_the_file_and_parameter(tmp_path, parameters, command, method, message):
    """What rhm-memo grid cannot run is rejected with the file's name and the reason."""
    path = write_sweep(tmp_path / "bad.yaml", parameters, command, method=method)
    with pytest.raises(grid.SweepError, match=r"bad\.yaml") as err:
        grid.load_sweep(path)
    assert message in str(err.value)


def test_load_sweep_rejects_missing_files_configs_and_commandless_sweeps(tmp_path):
    """A missing file, a LightningCLI config and a sweep without `command:` are clear errors."""
    with pytest.raises(grid.SweepError, match="no such sweep file"):
        grid.load_sweep(tmp_path / "missing.yaml")
    with pytest.raises(grid.SweepError, match="not a W&B sweep file"):
        grid.load_sweep(QUICKSTART)
    (tmp_path / "broken.yaml").write_text("method: [grid\n")
    with pytest.raises(grid.SweepError, match="not valid YAML"):
        grid.load_sweep(tmp_path / "broken.yaml")
    (tmp_path / "nocmd.yaml").write_text("method: grid\nparameters: {a: {value: 1}}\n")
    with pytest.raises(grid.SweepError, match="needs a `command:` list"):
        grid.load_sweep(tmp_path / "nocmd.yaml")


def test_seeds_replicate_every_point(tmp_path):
    """--seeds k sets seed_everything and data.seed_data to k for every point, point-major; names end in -sK."""
    path = write_sweep(
        tmp_path / "rep.yaml", {"data.zipf_exponent": {"values": [0.0, 1.0]}, "seed_everything": {"value": 2}}
    )
    runs = grid.plan(grid.load_sweep(path), tmp_path, seeds=[1, 2, 3])
    assert [(r.params["data.zipf_exponent"], r.seed) for r in runs] == [(a, s) for a in (0.0, 1.0) for s in (1, 2, 3)]
    assert all(r.params["seed_everything"] == r.params["data.seed_data"] == r.seed for r in runs)
    assert runs[0].name == "rep-zipf_exponent0.0-s1"
    assert "--seed_everything=1" in runs[0].command and "--data.seed_data=1" in runs[0].command
    varied = write_sweep(tmp_path / "varied.yaml", {"seed_everything": {"values": [1, 2]}})
    with pytest.raises(grid.SweepError, match="already varies"):
        grid.plan(grid.load_sweep(varied), tmp_path, seeds=[1])


# ---------------------------------------------------------------------------------------------------------- names
def test_names_are_sanitized_readable_and_unique(tmp_path):
    """Names keep [A-Za-z0-9_.-] and the swept keys' last components; collisions get a short hash."""
    assert grid.sanitize("a/b c:d") == "a_b_c_d"
    assert [grid.value_token(v) for v in (1.0, True, [1, 4], "bf16-mixed")] == ["1.0", "true", "1_4", "bf16-mixed"]
    path = write_sweep(
        tmp_path / "zipf exponent.yaml",
        {"data.zipf_exponent": {"values": [1.0, 10]}, "data.zipf_levels": {"value": [1]}},
        name="zipf exponent",
    )
    names = [r.name for r in grid.plan(grid.load_sweep(path), tmp_path)]
    assert names == ["zipf_exponent-zipf_exponent1.0", "zipf_exponent-zipf_exponent10"]
    clash = write_sweep(tmp_path / "clash.yaml", {"trainer.precision": {"values": ["a/b", "a b", "c"]}})
    names = [r.name for r in grid.plan(grid.load_sweep(clash), tmp_path)]
    assert len(set(names)) == 3 and names[2] == "clash-precisionc"
    assert names[0].startswith("clash-precisiona_b-") and names[1].startswith("clash-precisiona_b-")


def test_a_swept_config_file_names_the_run_and_comes_after_the_base_config(tmp_path):
    """`config: {values: [overlay files]}` layers one overlay per run after the base; runs are named by its stem."""
    overlays = [str(tmp_path / "uniform.yaml"), str(tmp_path / "zipf2.yaml")]
    path = write_sweep(tmp_path / "repro.yaml", {"config": {"values": overlays}})
    runs = grid.plan(grid.load_sweep(path), tmp_path, seeds=[1])
    assert [r.name for r in runs] == ["repro-uniform-s1", "repro-zipf2-s1"]
    command = runs[1].command
    base, overlay = command.index(str(QUICKSTART)), command.index(f"--config={overlays[1]}")
    assert command[base - 1] == "--config" and base < overlay < command.index("--seed_everything=1")


# ---------------------------------------------------------------------------------------------------------- commands
def test_command_macros_are_substituted_as_wandb_does(tmp_path):
    """${env} vanishes, ${interpreter} and rhm-memo/${program} run this Python, ${args*} match W&B's formatting."""
    from wandb.sdk.launch.sweeps.utils import create_sweep_command_args

    command = ["${env}", "${interpreter}", "-V", "rhm-memo", "${program}", "fit", "${args}", "${args_no_hyphens}"]
    path = write_sweep(
        tmp_path / "m.yaml", {"a.b": {"value": 1.0}, "c": {"value": True}, "d": {"value": [1, 4]}}, command
    )
    sweep = grid.load_sweep(path)
    params = grid.grid_points(sweep.parameters)[0]
    argv = grid.expand_command(sweep, params)
    this = [sys.executable, "-m", "rhm_memo"]
    assert argv[:9] == [sys.executable, "-V", *this, *this, "fit"]
    wandb_args = create_sweep_command_args({"args": {k: {"value": v} for k, v in params.items()}})
    assert argv[9:] == wandb_args["args"] + wandb_args["args_no_hyphens"]
    assert argv[9:12] == ["--a.b=1.0", "--c=True", "--d=[1, 4]"]


def test_plan_appends_logger_overrides_then_extra_args(tmp_path):
    """Each command ends with the W&B logger overrides (save_dir, project, id, name, offline) and then --set args."""
    path = write_sweep(tmp_path / "p.yaml", {"data.train_size": {"values": [8, 16]}})
    extra = grid.set_args(["trainer.max_steps=4", "data.cache_dir=null"])
    run = grid.plan(grid.load_sweep(path), tmp_path / "root", extra=extra)[0]
    prefix = "--trainer.logger.init_args."
    assert run.command[-7:] == [
        f"{prefix}save_dir={tmp_path / 'root'}",
        f"{prefix}project=rhm_memo",
        f"{prefix}id={run.name}",
        f"{prefix}name={run.name}",
        f"{prefix}offline=true",
        "--trainer.max_steps=4",
        "--data.cache_dir=null",
    ]
    assert run.run_dir == tmp_path / "root" / "rhm_memo" / run.name
    with pytest.raises(grid.SweepError, match="expected KEY=VALUE"):
        grid.set_args(["trainer.max_steps"])


def test_run_directory_is_in_the_sweeps_project(tmp_path):
    """ROOT/PROJECT/NAME with the sweep file's `project:` (default rhm_memo), passed to the logger after the configs
    and the parameters, as a W&B agent's runs take the sweep's project; --set cannot move a run elsewhere."""
    config = tmp_path / "project.yaml"
    config.write_text("trainer:\n  logger:\n    init_args:\n      project: theirs\n")
    command = ["${env}", "${program}", "fit", "--config", str(QUICKSTART), "--config", str(config), "${args}"]
    path = write_sweep(tmp_path / "mine.yaml", {"data.train_size": {"value": 64}}, command, project="mine")
    (run,) = grid.plan(grid.load_sweep(path), tmp_path / "root")
    assert run.run_dir == runs.run_dir(tmp_path / "root", "mine", run.name) == tmp_path / "root" / "mine" / run.name
    assert run.command.index("--trainer.logger.init_args.project=mine") > run.command.index("--data.train_size=64")
    with mock.patch.object(sys, "argv", ["rhm-memo"]):
        cli = cli_main([*run.command[run.command.index("fit") + 1 :], "--data.cache_dir=null"], run=False)
    assert cli.config["trainer.logger.init_args.project"] == "mine"
    assert grid.load_sweep(write_sweep(tmp_path / "default.yaml", {"x": {"value": 1}})).project == "rhm_memo"
    for key in grid.LOGGER_PLACE:
        with pytest.raises(grid.SweepError, match="places each run in ROOT/PROJECT/NAME"):
            grid.set_args([f"trainer.logger.init_args.{key}=elsewhere"])
    assert grid.set_args(["trainer.logger.init_args.offline=false"]) == ["--trainer.logger.init_args.offline=false"]


# ---------------------------------------------------------------------------------------------------------- running
def test_dry_run_estimates_the_rest_from_the_finished_runs(tmp_path, capsys):
    """Done markers of 10 and 20 minutes: the third run takes about 15; with --force all three, in two rounds of
    --jobs 2. A marker without its seconds counts as done but not in the mean."""
    path = write_sweep(tmp_path / "fake.yaml", {"code": {"values": [0, 1, 2, 3]}}, ["${interpreter}", "${args}"])
    root = tmp_path / "root"
    runs = grid.plan(grid.load_sweep(path), root)
    for run, marker in zip(runs, ['{"seconds": 600.0}', '{"seconds": 1200}', "cut sho"]):
        run.run_dir.mkdir(parents=True)
        (run.run_dir / "done").write_text(marker + "\n")
    argv = [str(path), "--root", str(root), "--jobs", "2", "--dry-run"]
    assert grid.main(argv) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        "# runs: 4, done: 3, to run: 1; at the 15 min of this grid's finished runs (n = 2), about 0.2 h of run"
        " time, 0.2 h with --jobs 2 (less where runs resume)"
    )
    assert grid.main([*argv, "--force"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("# runs: 4, done: 3, to run: 4; at the 15 min")
    assert grid.remaining(runs, 2, force=True).endswith(
        "about 1.0 h of run time, 0.5 h with --jobs 2 (less where runs resume)"
    )
    assert grid.remaining(runs[:1], 1) == "# runs: 1, done: 1, to run: 0"


def test_runner_skips_done_runs_records_and_fails(tmp_path, capsys):
    """A failed run does not stop the grid; the exit code says so; done runs are skipped unless --force."""
    command = ["${interpreter}", "-c", EXIT_WITH_CODE, "${args}"]
    path = write_sweep(tmp_path / "fake.yaml", {"code": {"values": [0, 3]}}, command)
    root = tmp_path / "root"
    argv = [str(path), "--root", str(root), "--threads", "1"]
    ok, failed = root / "rhm_memo" / "fake-code0", root / "rhm_memo" / "fake-code3"

    assert grid.main([*argv, "--dry-run"]) == 0
    assert "OMP_NUM_THREADS=1" in capsys.readouterr().out and not root.exists()

    assert grid.main(argv) == 1
    out = capsys.readouterr().out
    assert "fake-code0  ok" in out and "fake-code3  failed      3" in out
    records = [json.loads(line) for line in (root / "grid-fake.jsonl").read_text().splitlines()]
    assert sorted((r["name"], r["rc"], r["params"]["code"]) for r in records) == [
        ("fake-code0", 0, 0),
        ("fake-code3", 3, 3),
    ]
    assert all(r["command"][-1] == "--trainer.logger.init_args.offline=true" and r["seconds"] >= 0 for r in records)
    assert (ok / "done").is_file() and not (failed / "done").exists()
    assert "threads 1" in (ok / "grid.log").read_text()

    assert grid.main(argv) == 1  # the failed run again, the done one skipped
    assert "fake-code0  skipped" in capsys.readouterr().out
    assert len((root / "grid-fake.jsonl").read_text().splitlines()) == 3

    assert grid.main([*argv, "--force", "--jobs", "2"]) == 1
    assert len((root / "grid-fake.jsonl").read_text().splitlines()) == 5
    assert (ok / "grid.log").read_text().count("threads 1") == 2  # the log is appended to


#: A fake fit: writes checkpoints/last.ckpt in its run directory (from the logger overrides) after 0.3 s, then
#: crashes (exit 1) if it did not start from a checkpoint (``--ckpt_path``), else finishes (exit 0); prints its
#: arguments.
CRASH_THEN_RESUME = """
import pathlib, sys, time
args = sys.argv[1:]
print('args', *args)
logger = dict(a[len('--trainer.logger.init_args.'):].split('=', 1) for a in args if a.startswith('--trainer.logger'))
run_dir = pathlib.Path(logger['save_dir'], logger['project'], logger['id'])
time.sleep(0.3)
(run_dir / 'checkpoints').mkdir(parents=True, exist_ok=True)
(run_dir / 'checkpoints' / 'last.ckpt').write_text('state')
sys.exit(0 if any(a.startswith('--ckpt_path=') for a in args) else 1)
"""


def test_an_unfinished_run_continues_from_its_last_checkpoint(tmp_path, capsys):
    """A run that crashed after checkpointing resumes with --ckpt_path on the next grid; its record counts both
    starts' seconds (the first up to its checkpoint) and says where it resumed; --restart starts over."""
    root = tmp_path / "root"
    command = ["${interpreter}", "-c", CRASH_THEN_RESUME, "${args}"]
    path = write_sweep(tmp_path / "fake.yaml", {"x": {"value": 1}}, command)
    argv = [str(path), "--root", str(root), "--threads", "1"]
    (run,) = grid.plan(grid.load_sweep(path), root)
    run_dir = run.run_dir
    checkpoint = run_dir / "checkpoints" / "last.ckpt"

    assert grid.main(argv) == 1  # crashed after its checkpoint
    assert f"--ckpt_path={checkpoint}" not in (run_dir / "grid.log").read_text()
    assert grid.main([*argv, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"{run.name} -> " in out and "(resumes)" in out and f"--ckpt_path={checkpoint}" in out
    assert grid.main(argv) == 0
    assert f"--ckpt_path={checkpoint}" in (run_dir / "grid.log").read_text().splitlines()[-1]
    first, second = [json.loads(line) for line in (root / "grid-fake.jsonl").read_text().splitlines()]
    assert first["attempts"] == 1 and first["resumed_from"] is None and first["rc"] == 1
    assert second["attempts"] == 2 and second["resumed_from"] == str(checkpoint) and second["rc"] == 0
    assert second["seconds"] >= 0.6  # two starts of at least 0.3 s each up to their checkpoints
    attempts = [json.loads(line) for line in (run_dir / "attempts.jsonl").read_text().splitlines()]
    assert [a["resumed_from"] for a in attempts] == [None, str(checkpoint)] and attempts[1]["prior_seconds"] >= 0.3
    assert json.loads((run_dir / "done").read_text())["seconds"] == second["seconds"]
    spans = grid.training_intervals(run_dir)  # both starts, in order (to the millisecond)
    (a, b), (c, d) = spans
    assert a == attempts[0]["started"] < b <= c + 0.002 and c < d and d == pytest.approx(time.time(), abs=60)
    assert d - c == pytest.approx(second["seconds"] - attempts[1]["prior_seconds"])  # the last start's own

    (run_dir / "done").unlink()  # unfinished again, with a checkpoint: --restart ignores it and removes it
    (run_dir / "checkpoints" / "stale.ckpt").write_text("old")
    assert grid.main([*argv, "--restart"]) == 1
    third = json.loads((root / "grid-fake.jsonl").read_text().splitlines()[-1])
    assert third["attempts"] == 1 and third["resumed_from"] is None
    assert not (run_dir / "checkpoints" / "stale.ckpt").exists() and checkpoint.is_file()  # the new start's own
    # the resumed start's command and its echo hold the checkpoint; the restart's do not
    assert (run_dir / "grid.log").read_text().count(f"--ckpt_path={checkpoint}") == 2


def test_training_intervals_are_read_from_the_records_and_their_union_is_the_wall_time(tmp_path, monkeypatch):
    """Each start trains up to the next start's checkpoint (the difference of their prior_seconds), the last one
    up to the end; records written before attempts.jsonl (no UTC offset) give one interval in UTC, whatever the
    reader's time zone; overlaps count once, gaps not at all."""
    resumed, old = tmp_path / "resumed", tmp_path / "old"
    for path in (resumed, old):
        path.mkdir()
    t0 = 1_800_000_000.0  # 2027-01-15T08:00:00+00:00
    (resumed / "done").write_text(json.dumps({"seconds": 800.0, "finished": "2027-01-15T09:21:40+01:00"}) + "\n")
    starts = [{"started": t0, "prior_seconds": 0.0}, {"started": t0 + 400, "prior_seconds": 250.0},
              {"started": t0 + 1000, "prior_seconds": 550.0}]  # fmt: skip
    (resumed / "attempts.jsonl").write_text("".join(json.dumps(a) + "\n" for a in starts))
    assert grid.training_intervals(resumed) == [(t0, t0 + 250), (t0 + 400, t0 + 700), (t0 + 1050, t0 + 1300)]
    (old / "done").write_text(json.dumps({"seconds": 100.0, "finished": "2027-01-15T08:10:00"}) + "\n")
    assert grid.training_intervals(old) == [(t0 + 500, t0 + 600)]
    monkeypatch.setenv("TZ", "Asia/Kolkata")  # UTC+05:30: a reading as local time would move it by 5.5 h
    time.tzset()
    try:
        assert grid.training_intervals(old) == [(t0 + 500, t0 + 600)]
    finally:
        monkeypatch.undo()
        time.tzset()
    spans = [*grid.training_intervals(resumed), *grid.training_intervals(old)]
    assert grid.covered_seconds(spans) == 250 + (700 - 400) + 250  # the old run lies within the second start
    assert grid.covered_seconds([(0, 10), (5, 20), (6, 7), (30, 31)]) == 21
    assert grid.covered_seconds([]) == 0


def test_a_checkpoint_resumes_only_the_same_training(tmp_path, capsys):
    """An edited config file or another command (an extra --set) starts over; a longer max_steps resumes; a run
    started by an older runner (no attempts.jsonl) resumes with its start time and command from grid.log."""
    root = tmp_path / "root"
    fake, config = tmp_path / "fake_fit.py", tmp_path / "setting.yaml"
    fake.write_text(CRASH_THEN_RESUME)  # a file: the command stays on one line of grid.log
    config.write_text("lr: 0.1\n")
    command = ["${interpreter}", str(fake), "--config", str(config), "${args}"]
    path = write_sweep(tmp_path / "fake.yaml", {"x": {"value": 1}}, command)
    argv = [str(path), "--root", str(root), "--threads", "1"]
    (run,) = grid.plan(grid.load_sweep(path), root)
    checkpoint = run.run_dir / "checkpoints" / "last.ckpt"

    def last_record():
        return json.loads((root / "grid-fake.jsonl").read_text().splitlines()[-1])

    assert grid.main(argv) == 1
    config.write_text("lr: 0.2\n")  # the config file edited: another training
    assert grid.main([*argv, "--dry-run"]) == 0 and "(resumes)" not in capsys.readouterr().out
    config.write_text("lr: 0.1\n")
    assert grid.main([*argv, "--dry-run"]) == 0 and "(resumes)" in capsys.readouterr().out
    assert grid.main([*argv, "--set", "model.lr=0.1"]) == 1  # another training: starts over (and crashes)
    assert last_record()["resumed_from"] is None and last_record()["attempts"] == 1
    assert grid.main([*argv, "--set", "model.lr=0.1", "--set", "trainer.max_steps=9"]) == 0  # extended: resumes
    assert last_record()["resumed_from"] == str(checkpoint) and last_record()["attempts"] == 2

    (run.run_dir / "done").unlink()
    (run.run_dir / "attempts.jsonl").unlink()  # as left by an older runner: grid.log alone
    assert grid.main([*argv, "--set", "model.lr=0.1", "--set", "trainer.max_steps=9", "--dry-run"]) == 0
    assert "(resumes)" in capsys.readouterr().out
    assert grid.main([*argv, "--dry-run"]) == 0  # not the command of the last start in grid.log
    assert "(resumes)" not in capsys.readouterr().out


def test_main_reports_errors(tmp_path, capsys):
    """Missing files, duplicate sweep names and a bad --jobs are errors, from `rhm-memo grid` too."""
    assert grid.main([str(tmp_path / "missing.yaml")]) == 2
    assert "no such sweep file" in capsys.readouterr().err
    a = write_sweep(tmp_path / "a.yaml", {"x": {"value": 1}}, name="same")
    b = write_sweep(tmp_path / "b.yaml", {"x": {"value": 2}}, name="same")
    assert grid.main([str(a), str(b), "--dry-run"]) == 2
    assert "sweep names must differ" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        grid.main([str(a), "--jobs", "0"])
    assert exc.value.code == 2 and "--jobs: expected a positive integer" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        cli_entry(["grid", str(tmp_path / "missing.yaml")])
    assert exc.value.code == 2


# ---------------------------------------------------------------------------------------------------------- sweep files
def shrink_args(argv: list[str]) -> list[str]:
    """Arguments that make the backbone of the command's configs tiny (width, depth, heads)."""
    configs = [yaml.safe_load(Path(argv[i + 1]).read_text()) for i, a in enumerate(argv) if a == "--config"]
    net = next((c["model"]["net"] for c in reversed(configs) if "net" in (c.get("model") or {})), {})
    args = ["--model.net.init_args.width=8"] if "width" in (net.get("init_args") or {}) else []
    if "Transformer" in net.get("class_path", ""):
        args += ["--model.net.init_args.depth=1", "--model.net.init_args.heads=2"]
    return args


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: str(p.relative_to(REPO / "configs")))
def test_every_sweep_file_expands_and_its_first_command_parses(path, tmp_path, monkeypatch):
    """Every sweep file expands; its first run's command builds with our CLI, logger overrides and values included."""
    monkeypatch.chdir(REPO)  # the commands name configs relative to the repository root
    sweep = grid.load_sweep(path)
    runs = grid.plan(sweep, tmp_path, seeds=None)
    assert len(runs) == len(grid.grid_points(sweep.parameters)) and len({r.name for r in runs}) == len(runs)
    run = runs[0]
    args = run.command[run.command.index("fit") + 1 :]
    shrink = ["--trainer.accelerator=cpu", "--trainer.devices=1", "--data.cache_dir=null", *shrink_args(args)]
    with mock.patch.object(sys, "argv", ["rhm-memo"]):
        cli = cli_main([*args, *shrink], run=False)
    for key, value in run.params.items():
        if key == "config":  # a swept overlay file: the last config file read
            assert str(cli.config["config"][-1]) == value
        else:
            assert cli.config[key] == value, key
    logger = cli.trainer.logger
    assert isinstance(logger, WandbLogger)
    assert (logger.save_dir, logger.version, logger.name) == (str(tmp_path), run.name, run.run_dir.parent.name)
    assert cli.config["trainer.logger.init_args.offline"] is True


@pytest.mark.slow
def test_end_to_end_tiny_grid(tmp_path, monkeypatch, capsys):
    """Two tiny quickstart runs, two at a time: each run directory holds its records and its overridden config."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    path = write_sweep(tmp_path / "tiny.yaml", {"data.zipf_exponent": {"values": [0.0, 1.0]}})
    tiny = ["trainer.max_steps=4", "data.train_size=32", "data.test_size=16", "data.cache_dir=null"]
    tiny += ["model.process.init_args.num_steps=10"]
    argv = [str(path), "--root", str(tmp_path / "runs"), "--jobs", "2", "--threads", "1"]
    argv += [arg for pair in tiny for arg in ("--set", pair)]
    assert grid.main(argv) == 0, capsys.readouterr().out
    for exponent in (0.0, 1.0):
        run_dir = tmp_path / "runs" / "rhm_memo" / f"tiny-zipf_exponent{exponent}"
        assert (run_dir / "done").is_file() and (run_dir / "metrics.jsonl").is_file()
        config = yaml.safe_load((run_dir / "config.yaml").read_text())
        assert config["data"]["zipf_exponent"] == exponent and config["trainer"]["max_steps"] == 4
        assert config["trainer"]["logger"]["init_args"]["id"] == run_dir.name
    capsys.readouterr()
    assert grid.main(argv) == 0  # restarted: nothing left to run
    assert capsys.readouterr().out.count("skipped") == 2
    # an unfinished run (no done marker) continues from its last checkpoint: to step 8 from step 4
    run_dir = tmp_path / "runs" / "rhm_memo" / "tiny-zipf_exponent1.0"
    (run_dir / "done").unlink()
    steps_before = [json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert grid.main([*argv, "--set", "trainer.max_steps=8"]) == 0
    record = json.loads((tmp_path / "runs" / "grid-tiny.jsonl").read_text().splitlines()[-1])
    assert record["name"] == run_dir.name and record["attempts"] == 2 and record["resumed_from"].endswith("last.ckpt")
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    keys = [(r["monitor"], r["step"]) for r in records]
    assert len(keys) == len(set(keys)) and max(r["step"] for r in records) == 8
    assert [s for s in steps_before if s <= 4] == [r["step"] for r in records if r["step"] <= 4]
