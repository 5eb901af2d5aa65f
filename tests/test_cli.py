"""The rhm-memo command line: its help, the data command and every config file in configs/."""

import itertools
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
import torch
import yaml
from lightning.pytorch.cli import LightningCLI

from rhm_memo.cli import COMMANDS, FIT_ONLY_KEYS, RHMCLI, cli_main, data_parser, main, run_data
from rhm_memo.grid import is_sweep_config
from rhm_memo.rhm.zipf import zipf_probs

CONFIG_DIR = Path(__file__).parents[1] / "configs"
CONFIGS = sorted(CONFIG_DIR.rglob("*.yaml"))
QUICKSTART = CONFIG_DIR / "quickstart.yaml"


def test_data_command_prints_summary(tmp_path, capsys):
    """`rhm-memo data --config quickstart.yaml` generates the data and prints a JSON summary."""
    summary = run_data(["--config", str(QUICKSTART), "--data.cache_dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert '"train_distinct"' in out
    assert summary["train_distinct"] == summary["train_size"] == 128
    assert list(tmp_path.glob("rhm-*.pt"))


def test_command_line_overrides_config(tmp_path):
    """--data.KEY on the command line wins over the config file."""
    quick = str(QUICKSTART)
    summary = run_data(["--config", quick, "--data.train_size", "100", "--data.cache_dir", "null"])
    assert summary["train_size"] == 100 and summary["cache"] is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "File does not exist"),
        ("data: [1\n", "not valid YAML"),
        ("- 1\n- 2\n", "not a YAML mapping"),
        ("", "not a YAML mapping"),
        ("data:\n  vocab: 6\n", "'data' does not accept option 'vocab'"),
        ("data:\n  train_size: many\n", "data.train_size"),
        ("trainer:\n  max_steps: 4\nsurprise: 1\n", "'surprise' is not accepted"),
    ],
    ids=["missing", "malformed", "list", "empty", "unknown-data-key", "bad-value", "unknown-top-level-key"],
)
def test_bad_data_config_is_one_line(tmp_path, text, message):
    """A bad config exits before any generation with one line naming the problem, not a traceback."""
    cfg = tmp_path / "bad.yaml"
    if text is not None:
        cfg.write_text(text)
    with pytest.raises(SystemExit) as exc:
        run_data(["--config", str(cfg)])
    assert isinstance(exc.value.code, str) and "\n" not in exc.value.code
    assert exc.value.code.startswith("rhm-memo data: ") and message in exc.value.code


def test_data_command_layers_configs_and_ignores_the_rest(tmp_path):
    """`--config a --config b` layers as in fit (b wins), and the data are those fit builds from the same configs."""
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text("seed_everything: 7\nmodel:\n  n_trajectories: 1\ndata:\n  train_size: 99\n")
    args = ["--config", str(QUICKSTART), "--config", str(overlay), "--data.cache_dir=null"]
    cfg = data_parser().parse_args(args)
    assert cfg.data.train_size == 99 and cfg.data.L == load(QUICKSTART)["data"]["L"]
    with mock.patch.object(sys, "argv", ["rhm-memo"]), mock.patch.object(RHMCLI, "instantiate_classes"):
        fit = cli_main(args, run=False)
    assert cfg.data.as_dict() == fit.config["data"].as_dict()


def test_data_command_ignores_exactly_the_other_keys_of_fit(capsys):
    """FIT_ONLY_KEYS are the top-level keys of `rhm-memo fit` other than data (so every fit config is accepted)."""
    with mock.patch.object(sys, "argv", ["rhm-memo"]), pytest.raises(SystemExit):
        cli_main(["fit", "--print_config"])
    top_level = {key for key, _ in yaml.safe_load(capsys.readouterr().out).items()}
    assert top_level - {"data"} == set(FIT_ONLY_KEYS)


def test_help_lists_every_subcommand(capsys):
    """`rhm-memo --help` lists LightningCLI's subcommands and ours, one line each; `rhm-memo fit --help` is
    LightningCLI's; no subcommand at all is an error that shows the same list."""
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    out = capsys.readouterr().out
    assert exc.value.code == 0
    for name in ("fit", "validate", "test", "data", "report", "grid", "dashboard"):
        (line,) = [line for line in out.splitlines() if line.split()[:1] == [name]]
        assert COMMANDS[name] in line
    assert set(LightningCLI.subcommands()) - {"predict"} <= set(COMMANDS)  # DiffusionModule defines no predict_step
    with pytest.raises(SystemExit) as exc:
        main([])
    assert exc.value.code == 2 and "grid" in capsys.readouterr().err
    with mock.patch.object(sys, "argv", ["rhm-memo"]), pytest.raises(SystemExit) as exc:
        main(["fit", "--help"])
    assert exc.value.code == 0 and "--trainer.max_steps" in capsys.readouterr().out


def test_entry_points():
    """`python -m rhm_memo --help` lists the subcommands; an unknown command exits non-zero."""
    proc = subprocess.run([sys.executable, "-m", "rhm_memo", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "fit" in proc.stdout and "grid" in proc.stdout
    with mock.patch.object(sys, "argv", ["rhm-memo"]), pytest.raises(SystemExit) as exc:
        main(["no-such-command"])
    assert exc.value.code != 0


SHRINK = [
    "--trainer.logger=false",
    "--trainer.accelerator=cpu",
    "--trainer.devices=1",
    "--data.train_size=64",
    "--data.test_size=16",
    "--data.cache_dir=null",
]
SHRUNK_DATA_KEYS = {"train_size", "test_size", "cache_dir"}


def load(path: Path) -> dict:
    """A YAML file as a dict."""
    return yaml.safe_load(path.read_text()) or {}


def is_full(cfg: dict) -> bool:
    """A full config builds a model and data by itself; any other config is an overlay on one."""
    return "model" in cfg and "data" in cfg and "net" in (cfg["model"] or {})


def bases(path: Path) -> list[Path]:
    """The full configs an overlay is layered on: those of the nearest folder (its own or above) that has one."""
    for folder in path.parents:
        found = sorted(p for p in folder.glob("*.yaml") if p != path and is_full(load(p)))
        if found or folder == CONFIG_DIR:
            return found
    return []


def cases() -> list[tuple[Path, Path | None]]:
    """(config, base) pairs: every full config alone, every overlay on each of its bases; sweep files excluded."""
    pairs = []
    for path in CONFIGS:
        cfg = load(path)
        if is_sweep_config(cfg):
            continue
        pairs += [(path, None)] if is_full(cfg) else [(path, base) for base in bases(path)]
    return pairs


def shrink_args(cfgs: list[dict]) -> list[str]:
    """Arguments that make the backbone of the layered configs tiny (width, depth, heads)."""
    net = next((c["model"]["net"] for c in reversed(cfgs) if "net" in (c.get("model") or {})), {})
    init_args = net.get("init_args") or {}
    args = ["--model.net.init_args.width=8"] if "width" in init_args else []
    if "Transformer" in net.get("class_path", ""):
        args += ["--model.net.init_args.depth=1", "--model.net.init_args.heads=2"]
    return args


def instantiate(paths: list[Path], tmp_path: Path):
    """Build the trainer, model and data of the layered configs, shrunk, without running anything."""
    args = [a for p in paths for a in ("--config", str(p))] + shrink_args([load(p) for p in paths])
    with mock.patch.object(sys, "argv", ["rhm-memo"]):  # pytest's own arguments are not the CLI's
        return cli_main([*args, *SHRINK, f"--trainer.default_root_dir={tmp_path}"], run=False)


def folder_base(path: Path) -> list[Path]:
    """The overlay's folder's own ``base.yaml`` (an overlay that its siblings are layered after, as in
    configs/regime-cpu/), unless ``path`` is that file: ``[base.yaml]`` or ``[]``."""
    shared = path.parent / "base.yaml"
    return [shared] if shared.is_file() and shared != path and not is_full(load(shared)) else []


def _case_id(case: tuple[Path, Path | None]) -> str:
    """``paper/variations/iid.yaml+paper/unet.yaml``-style test ids."""
    path, base = case
    name = str(path.relative_to(CONFIG_DIR))
    return name if base is None else f"{name}+{base.relative_to(CONFIG_DIR)}"


@pytest.mark.parametrize("case", cases(), ids=_case_id)
def test_every_config_parses_and_instantiates(case, tmp_path):
    """Every config in configs/ builds its trainer, model and data, an overlay on top of each of its bases.

    Full configs are shrunk (litgpt/hydra-style); the layered configs' data sections must all land in the data
    module. Sweep files (top-level `method:`/`parameters:`) are W&B sweeps, checked in tests/test_grid.py.
    """
    path, base = case
    paths = [path] if base is None else [base, *folder_base(path), path]
    cli = instantiate(paths, tmp_path)
    assert cli.model.vocab_size == cli.datamodule.vocab_size
    assert cli.model.seq_len == cli.datamodule.seq_len
    data = {k: v for p in paths for k, v in (load(p).get("data") or {}).items()}
    for key, value in data.items():
        if key not in SHRUNK_DATA_KEYS:
            assert cli.datamodule.hparams[key] == value, key


def test_config_cases_cover_overlays():
    """Overlays are layered on their bases: paper variations on both paper configs, ddp.yaml on quickstart."""
    pairs = {_case_id(c) for c in cases()}
    for variation in (CONFIG_DIR / "paper" / "variations").glob("*.yaml"):
        for base in ("unet", "transformer"):
            assert f"paper/variations/{variation.name}+paper/{base}.yaml" in pairs
    assert "trainer/ddp.yaml+quickstart.yaml" in pairs
    assert not any(name.startswith("sweeps/") for name in pairs)


#: What each paper variation must change: Zipf levels (others uniform), unique, the diffusion process.
VARIATIONS = {
    "uniform.yaml": {"zipf_levels": set()},
    "zipf_top.yaml": {"zipf_levels": {1}},
    "zipf_bottom.yaml": {"zipf_levels": {4}},
    "zipf_all.yaml": {"zipf_levels": {1, 2, 3, 4}},
    "iid.yaml": {"unique": False},
    "masked.yaml": {"process": "MaskedDiffusion"},
}
PAPER_DEFAULTS = {"zipf_levels": {1}, "unique": True, "process": "UniformDiffusion"}


@pytest.mark.parametrize("base", ["unet.yaml", "transformer.yaml"])
@pytest.mark.parametrize("variation", sorted((CONFIG_DIR / "paper/variations").glob("*.yaml")), ids=lambda p: p.name)
def test_paper_variation_changes_what_it_says(variation, base, tmp_path):
    """Each overlay of configs/paper/variations/ changes the paper setting (U-Net or transformer) as its name says."""
    assert variation.name in VARIATIONS, f"add {variation.name} and what it changes to VARIATIONS"
    base_path = CONFIG_DIR / "paper" / base
    expected = {**PAPER_DEFAULTS, **VARIATIONS[variation.name]}
    cli = instantiate([base_path, variation], tmp_path)
    grammar = cli.datamodule.grammar
    zipf = set()
    for level, probs in enumerate(grammar.rule_probs, start=1):
        if not torch.allclose(probs, torch.full_like(probs, 1 / grammar.m)):
            torch.testing.assert_close(
                probs, zipf_probs(grammar.m, cli.datamodule.hparams.zipf_exponent).expand_as(probs)
            )
            zipf.add(level)
    assert zipf == expected["zipf_levels"]
    assert cli.datamodule.hparams.unique is expected["unique"]
    assert type(cli.model.process).__name__ == expected["process"]
    if expected["process"] == "UniformDiffusion":  # the paper code's schedule, ᾱ_0 = 1 − β_1 (docs/diffusion.md)
        assert cli.model.process.schedule == "paper" and cli.model.process.alpha_bar[0].item() < 1
    assert type(cli.model.net).__name__ == load(base_path)["model"]["net"]["class_path"].rsplit(".", 1)[1]


REPRO = CONFIG_DIR / "repro-cpu"


def resolved(paths: list[Path]) -> dict:
    """The config `rhm-memo fit` resolves from the layered configs (nothing instantiated; the file list dropped)."""
    args = [a for p in paths for a in ("--config", str(p))]
    with mock.patch.object(sys, "argv", ["rhm-memo"]), mock.patch.object(RHMCLI, "instantiate_classes"):
        config = cli_main(args, run=False).config.as_dict()
    config.pop("config", None)
    return config


def with_trajectories(config: dict, n: int) -> dict:
    """The config with ``model.n_trajectories = n``."""
    return {**config, "model": {**config["model"], "n_trajectories": n}}


def test_repro_cpu_layers_on_the_quickstart():
    """repro-cpu/base.yaml is the quickstart with 8 trajectories per string and nothing else (what the copy it
    replaces set); the grid runs quickstart, base, overlay, and each overlay lands on top of that."""
    quickstart = resolved([QUICKSTART])
    base = resolved([QUICKSTART, REPRO / "base.yaml"])
    assert base["model"]["n_trajectories"] == 8 and quickstart["model"]["n_trajectories"] != 8
    assert base == with_trajectories(quickstart, 8)
    sweep = load(REPRO / "grid.yaml")
    command = sweep["command"]
    configs = [token for previous, token in itertools.pairwise(command) if previous == "--config"]
    assert configs == ["configs/quickstart.yaml", "configs/repro-cpu/base.yaml"]
    for overlay in sweep["parameters"]["config"]["values"]:
        layered = resolved([QUICKSTART, REPRO / "base.yaml", CONFIG_DIR.parent / overlay])
        assert layered == with_trajectories(resolved([QUICKSTART, CONFIG_DIR.parent / overlay]), 8), overlay
        assert layered["data"] == {**base["data"], **load(CONFIG_DIR.parent / overlay)["data"]}, overlay
