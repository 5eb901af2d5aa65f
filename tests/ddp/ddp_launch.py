"""Shared by the DDP scripts of this folder and the tests that launch them.

The scripts (``SCRIPT DEVICES OUT_DIR``) build their Trainer with ``cpu_trainer``; the tests run a script on
1 and on 2 gloo processes at once with ``run_on_one_and_two`` and compare what the ranks wrote into OUT_DIR.
Scripts with other arguments are launched with ``run_scripts``.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import lightning as L
import torch


def cpu_trainer(devices: int, **kwargs: Any) -> L.Trainer:
    """A CPU Trainer on ``devices`` processes (DDP over gloo when > 1): no checkpoints, bars or validation; no
    logger unless given."""
    options = {"logger": False, **kwargs}
    return L.Trainer(
        accelerator="cpu",
        devices=devices,
        strategy="ddp" if devices > 1 else "auto",
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        **options,
    )


def digest(t: torch.Tensor) -> str:
    """SHA-256 of a CPU tensor's bytes."""
    return hashlib.sha256(t.numpy().tobytes()).hexdigest()


def run_on_one_and_two(script: Path, tmp: Path, timeout: float) -> dict[int, Path]:
    """Run ``script DEVICES OUT_DIR`` with 1 and 2 processes at the same time; ``{devices: OUT_DIR}``.

    A run that fails or outlives ``timeout`` seconds fails the test with the tail of its output.
    """
    import pytest  # only the tests need it, not the scripts

    env = {**os.environ, "PYTHONHASHSEED": "0"}
    procs = {}
    for devices in (1, 2):
        out = tmp / f"out{devices}"
        out.mkdir()
        command = [sys.executable, str(script), str(devices), str(out)]
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        procs[devices] = (proc, out)
    for devices, (proc, _) in procs.items():
        try:
            log, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            log, _ = proc.communicate()
            pytest.fail(f"{script.name} {devices} timed out (deadlock?):\n{log[-3000:]}")
        assert proc.returncode == 0, log[-3000:]
    return {devices: out for devices, (_, out) in procs.items()}


def run_scripts(commands: dict[str, list[str]], timeout: float) -> None:
    """Run ``python *args`` for every ``{name: args}`` at the same time and wait for all of them.

    A run that fails or outlives ``timeout`` seconds fails the test with its name and the tail of its output; one
    that times out is killed with its whole process group (the other ranks that Lightning launched).
    """
    import pytest  # only the tests need it, not the scripts

    env = {**os.environ, "PYTHONHASHSEED": "0"}
    procs = {
        name: subprocess.Popen(
            [sys.executable, *map(str, args)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            start_new_session=True,
        )
        for name, args in commands.items()
    }
    for name, proc in procs.items():
        try:
            log, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            log, _ = proc.communicate()
            pytest.fail(f"{name} timed out (deadlock?):\n{log[-3000:]}")
        assert proc.returncode == 0, f"{name}:\n{log[-3000:]}"
