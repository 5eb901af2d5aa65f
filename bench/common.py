"""Shared plumbing of the bench scripts: each case runs in a fresh subprocess and prints one JSON line.

"peak MB" is the rise of the process's peak resident memory (VmHWM) over its resident memory right before
the timed calls; times are wall-clock seconds of the timed calls after a warm-up call.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable


def mem_mb(field: str) -> float:
    """A memory field of /proc/self/status (VmRSS, VmHWM, ...) in MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak() -> None:
    """Reset VmHWM to the current RSS (Linux ``clear_refs`` 5), so set-up peaks don't count."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def measure(op: Callable[[], object], repeats: int) -> dict[str, float]:
    """Time ``op`` ``repeats`` times; min, median and peak-memory rise."""
    times, peak = [], 0.0
    for _ in range(repeats):
        reset_peak()
        before = mem_mb("VmRSS")
        start = time.perf_counter()
        op()
        times.append(time.perf_counter() - start)
        peak = max(peak, mem_mb("VmHWM") - before)
    return {"min_s": min(times), "median_s": statistics.median(times), "peak_mb": peak}


def run_in_subprocess(script: str, *args: str) -> dict | str:
    """Run ``script --case ARGS`` in a fresh interpreter; its last stdout line parsed as JSON (or the error)."""
    out = subprocess.run([sys.executable, script, "--case", *args], capture_output=True, text=True)
    if out.returncode:
        return out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def print_table(rows: list[tuple[str, dict | str, str, str]]) -> None:
    """Print ``(label, result, target, reference)`` rows as a fixed-width table."""
    print(f"{'case':46s} {'min s':>8s} {'median s':>9s} {'peak MB':>8s} {'target':>16s}  reference")
    for label, r, target, ref in rows:
        if isinstance(r, str):
            print(f"{label:46s} FAILED\n{r}")
            continue
        print(f"{label:46s} {r['min_s']:8.3f} {r['median_s']:9.3f} {r['peak_mb']:8.0f} {target:>16s}  {ref}")
