"""rhm_memo.runs: the run-folder layout and the defaults every writer and reader shares, importable without torch."""

import subprocess
import sys

import pytest

from rhm_memo import runs


def test_run_dir_is_save_dir_project_run_id(tmp_path):
    """``save_dir/project/run_id``; no save_dir is the working directory; ids and projects are formatted with str."""
    assert runs.run_dir(tmp_path, "proj", "abc123") == tmp_path / "proj" / "abc123"
    assert runs.run_dir(str(tmp_path), "proj", 7) == tmp_path / "proj" / "7"
    assert str(runs.run_dir(None, "proj", "abc")) == "proj/abc"


def test_default_logger_is_offline_wandb_in_runs():
    """The default logger places runs in runs/rhm_memo/RUN_ID, which is where the grid and the docs look."""
    init_args = runs.DEFAULT_LOGGER["init_args"]
    assert runs.DEFAULT_LOGGER["class_path"] == "lightning.pytorch.loggers.WandbLogger" and init_args["offline"]
    assert (init_args["save_dir"], init_args["project"]) == (runs.DEFAULT_SAVE_DIR, runs.DEFAULT_PROJECT)
    assert runs.run_dir(init_args["save_dir"], init_args["project"], "x").as_posix() == "runs/rhm_memo/x"


LIGHTWEIGHT = ["rhm_memo.runs", "rhm_memo.onset", "rhm_memo.grid", "rhm_memo.report"]


@pytest.mark.parametrize("module", LIGHTWEIGHT)
def test_module_imports_no_torch_lightning_or_wandb(module):
    """The grid runner and the report need yaml, numpy and subprocesses, not the training stack."""
    heavy = ("torch", "lightning", "wandb")
    code = f"import sys, {module}; print([m for m in {heavy!r} if m in sys.modules])"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]", f"{module} imports {proc.stdout.strip()} at module load"
