"""The rhm-memo command line: the data command and every config file in configs/."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rhm_memo.cli import cli_main, main, run_data

CONFIGS = sorted((Path(__file__).parents[1] / "configs").rglob("*.yaml"))
QUICKSTART = Path(__file__).parents[1] / "configs" / "quickstart.yaml"


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


def test_unknown_data_key_is_an_error(tmp_path):
    """An unknown key under data: is rejected before any generation."""
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("data:\n  vocab: 6\n")
    with pytest.raises((SystemExit, KeyError, ValueError)):
        run_data(["--config", str(cfg)])


def test_entry_points():
    """`python -m rhm_memo --help` shows the training CLI; an unknown command exits non-zero."""
    proc = subprocess.run([sys.executable, "-m", "rhm_memo", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "fit" in proc.stdout
    with pytest.raises(SystemExit) as exc:
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


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(p.parents[1])))
def test_every_config_parses_and_instantiates(path, tmp_path):
    """Every YAML in configs/ builds its trainer, model and data (full configs shrunk, litgpt/hydra-style)."""
    cfg = yaml.safe_load(path.read_text())
    args = ["--config", str(path)]
    if "model" not in cfg:  # a trainer-only config is used on top of a full one
        args = ["--config", str(QUICKSTART), "--config", str(path)]
    net = (cfg.get("model") or {}).get("net", {}).get("class_path", "")
    if "width" in str(cfg.get("model", {}).get("net", "")):
        args.append("--model.net.init_args.width=8")
    if "Transformer" in net:
        args += ["--model.net.init_args.depth=1", "--model.net.init_args.heads=2"]
    cli = cli_main([*args, *SHRINK, f"--trainer.default_root_dir={tmp_path}"], run=False)
    assert cli.model.vocab_size == cli.datamodule.vocab_size
    assert cli.model.seq_len == cli.datamodule.seq_len
    if "data" in cfg:
        for key in ("v", "n", "m", "s", "L"):
            if key in cfg["data"]:
                assert cli.datamodule.hparams[key] == cfg["data"][key]
