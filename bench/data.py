"""Speed and memory of the grammar and the data module, printed as a table.

    python bench/data.py            # all cases
    python bench/data.py --quick    # smaller sizes, for a smoke run

Each case runs in a fresh subprocess: a small warm-up call first (kernel and allocator start-up), then the
timed calls; "peak MB" is the rise of the process's peak resident memory (VmHWM) over its resident memory
before the timed call. Targets are those of the foundation issue, on 2 CPU cores with the paper's grammar
(v=n=6, m=4, s=2, L=4, Zipf a=1 at level 1).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

PAPER = dict(v=6, n=6, m=4, s=2, L=4)


def _mem_mb(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def run_case(name: str, size: int, repeats: int) -> dict:
    """Run one case in this process and return its timings and peak memory rise."""
    import torch

    from rhm_memo.data import RHMDataModule
    from rhm_memo.rhm import Grammar

    torch.set_num_threads(2)
    grammar = Grammar(**PAPER, seed=1951, zipf_exponent=1.0, zipf_levels=[1])
    strings = grammar.sample(size, 0) if name in ("log_prob", "parse") else None

    def datamodule():
        dm = RHMDataModule(
            **PAPER,
            seed_rules=1951,
            zipf_exponent=1.0,
            zipf_levels=[1],
            train_size=size,
            test_size=1024,
            cache_dir=None,
        )
        dm.setup("fit")

    ops = {
        "datamodule": datamodule,
        "sample_unique": lambda: grammar.sample_unique(size, 1),
        "sample": lambda: grammar.sample(size, 1),
        "log_prob": lambda: grammar.log_prob(strings),
        "parse": lambda: grammar.parse(strings),
    }
    op = ops[name]
    # warm-up on a small input of the same kind
    Grammar(**PAPER, seed=1951).sample_unique(1000, 0)
    grammar.log_prob(grammar.sample(1000, 0))
    times, peak = [], 0.0
    for _ in range(repeats):
        before = _mem_mb("VmRSS")
        start = time.perf_counter()
        op()
        times.append(time.perf_counter() - start)
        peak = max(peak, _mem_mb("VmHWM") - before)
    return {"min_s": min(times), "median_s": statistics.median(times), "peak_mb": peak}


CASES = [
    # (label, case, size, repeats, target seconds, target peak MB, reference)
    ("data module: P=20000 unique + 1024 test", "datamodule", 20000, 5, 0.1, None, "paper code 0.10 s"),
    ("sample_unique, P=10^6", "sample_unique", 10**6, 2, 5.0, 1024, ""),
    ("sample (i.i.d.), 10^6", "sample", 10**6, 2, None, None, ""),
    ("log_prob, 10^6 strings", "log_prob", 10**6, 3, 1.0, None, ""),
    ("parse, 10^6 strings", "parse", 10**6, 3, None, None, ""),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="divide sizes by 10")
    parser.add_argument("--case", nargs=3, metavar=("NAME", "SIZE", "REPEATS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case[0], int(args.case[1]), int(args.case[2]))))
        return
    print(f"{'case':42s} {'min s':>8s} {'median s':>9s} {'peak MB':>8s} {'target':>14s}  reference")
    for label, case, size, repeats, target_s, target_mb, ref in CASES:
        size = size // 10 if args.quick else size
        out = subprocess.run(
            [sys.executable, __file__, "--case", case, str(size), str(repeats)], capture_output=True, text=True
        )
        if out.returncode:
            print(f"{label:42s} FAILED\n{out.stderr[-2000:]}")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        target = ""
        if target_s is not None:
            target = f"<= {target_s:g} s" + (f", {target_mb} MB" if target_mb else "")
        print(f"{label:42s} {r['min_s']:8.3f} {r['median_s']:9.3f} {r['peak_mb']:8.0f} {target:>14s}  {ref}")


if __name__ == "__main__":
    main()
