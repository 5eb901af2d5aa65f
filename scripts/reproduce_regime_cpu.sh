#!/usr/bin/env bash
# The study in the paper's regime of docs/reproduction.md ("In the paper's regime, on a CPU"): claim 1 (8 seeds),
# membership inference (4 seeds) and claims 2-3 (3 settings x 8 seeds), two runs at a time, one thread each (about
# 40-60 minutes per pair on 2 CPU cores; 18 pairs), then the page's generated tables. Run from the repository root.
# Runs whose `done` marker exists are skipped, so the script continues where it stopped; with the default ROOT it
# continues the committed grid.
#   bash scripts/reproduce_regime_cpu.sh [ROOT]        # default ROOT: results/regime-cpu (the page reads it)
set -euo pipefail
root="${1:-results/regime-cpu}"
rhm-memo grid configs/regime-cpu/claim1.yaml --seeds 1 2 3 4 5 6 7 8 --jobs 2 --threads 1 --root "$root"
rhm-memo grid configs/regime-cpu/privacy-grid.yaml --seeds 9 10 11 12 --jobs 2 --threads 1 --root "$root"
rhm-memo grid configs/regime-cpu/claims23.yaml --seeds 1 2 3 4 5 6 7 8 --jobs 2 --threads 1 --root "$root"
if [ "$root" = "results/regime-cpu" ]; then
  rhm-memo report --page docs/reproduction.md  # the tables of the page, from the records
else
  rhm-memo report "$root"/rhm_memo/* --out "$root/report"
fi
