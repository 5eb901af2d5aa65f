"""The rhm-memo command line: the data command and every config file in configs/."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rhm_memo.cli import main, run_data
from rhm_memo.data import RHMDataModule

CONFIGS = sorted((Path(__file__).parents[1] / "configs").rglob("*.yaml"))


def test_data_command_prints_summary(tmp_path, capsys):
    """`rhm-memo data --config quickstart.yaml` generates the data and prints a JSON summary."""
    summary = run_data(["--config", str(CONFIGS[0].parent / "quickstart.yaml"), "--data.cache_dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert '"train_distinct"' in out
    assert summary["train_distinct"] == summary["train_size"] == 2000
    assert list(tmp_path.glob("rhm-*.pt"))


def test_command_line_overrides_config(tmp_path):
    """--data.KEY on the command line wins over the config file."""
    quick = str(CONFIGS[0].parent / "quickstart.yaml")
    summary = run_data(["--config", quick, "--data.train_size", "100", "--data.cache_dir", "null"])
    assert summary["train_size"] == 100 and summary["cache"] is None


def test_unknown_data_key_is_an_error(tmp_path):
    """An unknown key under data: is rejected before any generation."""
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("data:\n  vocab: 6\n")
    with pytest.raises((SystemExit, KeyError, ValueError)):
        run_data(["--config", str(cfg)])


def test_entry_points():
    """`python -m rhm_memo` runs the same CLI; no command prints usage and exits non-zero."""
    proc = subprocess.run([sys.executable, "-m", "rhm_memo", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "data" in proc.stderr
    with pytest.raises(SystemExit) as exc:
        main([])
    assert exc.value.code == 2


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(p.parents[1])))
def test_every_config_parses_and_instantiates(path):
    """Every YAML in configs/ builds its data module (litgpt-style: configs are tested documentation)."""
    cfg = yaml.safe_load(path.read_text())
    data = cfg["data"].get("init_args", cfg["data"])
    dm = RHMDataModule(**{**data, "cache_dir": None})
    assert dm.seq_len == dm.grammar.s**dm.grammar.L
