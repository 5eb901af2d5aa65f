#!/usr/bin/env bash
# GPU checks for a session that is lent a GPU machine (CI never has one). Run from the repository root:
#   bash bench/gpu_check.sh
# 1. bf16 + DDP strategy sanity: a short quickstart fit on one GPU with strategy ddp and bf16-mixed, monitors on.
# 2. Throughput: bench/train.py on CUDA (U-Net step and sampling, transformer bf16 MFU at batch 4096).
set -euo pipefail
python - <<'PY'
import torch
assert torch.cuda.is_available(), "no CUDA device visible"
print("device:", torch.cuda.get_device_name(0), "bf16:", torch.cuda.is_bf16_supported())
PY
out="${OUT:-/tmp/gpu_check}"
mkdir -p "$out"
WANDB_MODE=offline rhm-memo fit --config configs/quickstart.yaml \
  --trainer.accelerator gpu --trainer.devices 1 --trainer.strategy ddp --trainer.precision bf16-mixed \
  --trainer.max_steps 256 --trainer.enable_progress_bar false --trainer.default_root_dir "$out" \
  --data.cache_dir "$out/cache" 2>&1 | grep -E "memorization|substrings|Error|error" || true
python bench/train.py --device cuda --quick | tee "$out/bench_train_cuda.txt"
