"""Shared test set-up: W&B stays offline and inside a temporary folder; no test touches the network."""

import os
import tempfile

import pytest

_WANDB_TMP = tempfile.mkdtemp(prefix="rhm_memo_wandb_")
for _var in ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR"):
    os.environ.setdefault(_var, _WANDB_TMP)
os.environ.setdefault("WANDB_MODE", "disabled")


@pytest.fixture
def wandb_offline(monkeypatch):
    """W&B in offline mode for one test, with a fresh W&B process: `wandb.setup()` is a process-wide singleton that
    keeps the settings (the mode among them) of the first test that started it, so it is torn down before and after."""
    import wandb

    monkeypatch.setenv("WANDB_MODE", "offline")
    wandb.teardown()
    yield wandb
    wandb.finish()
    wandb.teardown()
