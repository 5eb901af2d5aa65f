#!/usr/bin/env bash
# GPU checks for a session that is lent a GPU machine (CI never has one). Run from the repository root:
#   bash bench/gpu_check.sh
# 1. bf16 + DDP strategy sanity: a short quickstart fit on one GPU with strategy ddp and bf16-mixed, monitors on.
# 2. Throughput: bench/train.py on CUDA (U-Net step and sampling, transformer bf16 MFU at batch 4096).
# 3. Paper scale: the U-Net at width 4096 (~4e8 parameters), step time fp32 vs bf16-mixed, and sampling.
# Works on a bare image with torch + lightning but without the console script or wandb: it runs
# `python -m rhm_memo` from the checkout and logs with CSVLogger. Set PYTHON to choose the interpreter.
set -euo pipefail
py="${PYTHON:-python3}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
"$py" - <<'PY'
import torch
assert torch.cuda.is_available(), "no CUDA device visible"
print("device:", torch.cuda.get_device_name(0), "bf16:", torch.cuda.is_bf16_supported(), "torch", torch.__version__)
PY
out="${OUT:-/tmp/gpu_check}"
mkdir -p "$out"
"$py" -m rhm_memo fit --config configs/quickstart.yaml \
  --trainer.accelerator gpu --trainer.devices 1 --trainer.strategy ddp --trainer.precision bf16-mixed \
  --trainer.max_steps 256 --trainer.enable_progress_bar false \
  --trainer.logger lightning.pytorch.loggers.CSVLogger --trainer.logger.save_dir "$out/fit" \
  --data.cache_dir "$out/cache" 2>&1 | grep -E "memorization\]|substrings\]|Error|error" || true
ls "$out"/fit/version_0 || true
"$py" bench/train.py --device cuda --quick | tee "$out/bench_train_cuda.txt"
"$py" - <<'PY' | tee "$out/paper_scale.txt"
import os
import time
from functools import partial

import torch

from rhm_memo.diffusion import UniformDiffusion
from rhm_memo.models import HierarchicalUNet
from rhm_memo.module import DiffusionModule

DEVICE = os.environ.get("DEVICE", "cuda")
WIDTH = int(os.environ.get("WIDTH", "4096"))
SAMPLES = int(os.environ.get("SAMPLES", "10000"))
torch.manual_seed(2)
model = DiffusionModule(
    6, 16, process=UniformDiffusion, net=partial(HierarchicalUNet, width=WIDTH), n_trajectories=32,
    optimizer=lambda p: torch.optim.Adam(p, 0.01),
).to(DEVICE)
net, proc = model.net, model.process
opt = model.configure_optimizers()
x0 = torch.randint(0, 6, (32, 16), device=DEVICE)
gen = torch.Generator(device=DEVICE).manual_seed(0)
print(f"U-Net width {WIDTH}: {sum(p.numel() for p in net.parameters()) / 1e6:.0f}M parameters")


def sync():
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def step(dtype):
    with torch.autocast(DEVICE, dtype=torch.bfloat16, enabled=dtype == "bf16"):
        loss = proc.loss(net, x0, 32, gen)["loss"]
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


for dtype in ("fp32", "bf16"):
    for _ in range(3):
        step(dtype)
    sync()
    start = time.perf_counter()
    for _ in range(20):
        step(dtype)
    sync()
    print(f"train step 32 strings x 32 trajectories, {dtype}: {(time.perf_counter() - start) / 20 * 1e3:.1f} ms")
net.eval()
for dtype in ("fp32", "bf16"):
    sync()
    start = time.perf_counter()
    with torch.autocast(DEVICE, dtype=torch.bfloat16, enabled=dtype == "bf16"):
        model.sample(SAMPLES, 1, batch_size=SAMPLES)
    sync()
    print(f"sample {SAMPLES} strings x 200 steps, {dtype}: {time.perf_counter() - start:.2f} s")
PY
