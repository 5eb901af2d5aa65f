"""Shared test set-up: W&B stays offline and inside a temporary folder; no test touches the network."""

import os
import tempfile

_WANDB_TMP = tempfile.mkdtemp(prefix="rhm_memo_wandb_")
for _var in ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR"):
    os.environ.setdefault(_var, _WANDB_TMP)
os.environ.setdefault("WANDB_MODE", "disabled")
