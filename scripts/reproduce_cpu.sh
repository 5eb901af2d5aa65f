#!/usr/bin/env bash
# The CPU-scale study of docs/reproduction.md: every run of configs/repro-cpu/grid.yaml (8 overlays) with 3
# seeds, two at a time (24 runs, about 52 minutes on 2 CPU cores), then one report per claim. Run from the repository root;
# needs the plots extra (pip install -e ".[plots]"). Finished runs are skipped when the script is run again.
#   bash scripts/reproduce_cpu.sh [ROOT]        # default ROOT: runs/repro-cpu; reports in ROOT/report/
set -euo pipefail
root="${1:-runs/repro-cpu}"
runs="$root/rhm_memo/repro-cpu"
rhm-memo grid configs/repro-cpu/grid.yaml --seeds 1 2 3 --jobs 2 --root "$root"
report() {  # report NAME OVERLAY...: one report over the runs of these overlays, all seeds
  local name="$1" dirs=()
  shift
  for overlay in "$@"; do dirs+=("$runs-$overlay"-s*); done
  rhm-memo report "${dirs[@]}" --out "$root/report/$name"
}
report claim1-prototypes zipf1-top iid zipf1-bottom m3-p256  # AUC of memorized vs not (unique, i.i.d., bottom tail, P > P*)
report claim2-exponent uniform zipf1-top zipf2-top  # onset vs the Zipf exponent of the root's rules
report claim3-level uniform zipf1-top zipf1-bottom  # onset: the Zipf law at the top vs the bottom level
report claim4-slop zipf1-top                    # slop index per height over training
report train-size p64 zipf1-top p256            # onset vs the training-set size P
