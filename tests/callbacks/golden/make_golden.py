"""Write tests/callbacks/golden/records.json: the records of a tiny seeded fit with both monitors.

    python tests/callbacks/golden/make_golden.py

tests/callbacks/test_golden_records.py runs the same fit and compares its records with that file, so a refactoring
that changes what the monitors record (a number, a key, an array) fails it. Run this script only when a change of
the records is intended, and say in the commit message why the records changed.

The fit: the monitor tests' tiny grammar and transformer (monitor_helpers), 160 training steps on one CPU thread,
a MemorizationMonitor and a SubstringMonitor sharing 48 samples at steps 1, 2, 4, ..., 128 and 160. The samples are
scripted (``script``: more training strings copied as training goes on, held-out strings for the rest), not drawn
from the model: a trained model's samples depend on the last bits of its floats, which differ between CPUs (the
samples of an earlier, model-sampled golden fit changed from step 128 on another machine). Kept: every record
of metrics.jsonl without the wall times (seconds_sampling, seconds_metrics), and every array of memorization.npz
(dtype, shape, values). Non-finite floats are written as the strings "nan", "inf" and "-inf".
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/callbacks: monitor_helpers
from monitor_helpers import ScriptedSampler, read_records, tiny_data, tiny_model, tiny_trainer, without

from rhm_memo.callbacks import MemorizationMonitor, SubstringMonitor

GOLDEN = Path(__file__).with_name("records.json")
WALL_TIMES = ("seconds_sampling", "seconds_metrics")


def encode(value: Any) -> Any:
    """JSON-safe: arrays and tuples to lists, non-finite floats to "nan" / "inf" / "-inf"."""
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def script(step: int) -> list[int]:
    """The training strings copied at ``step``: ``step // 4`` of the 32 (at most 40 of the 48 samples, repeats
    included), a different stride at every step, so that first-memorized steps and copy counts vary."""
    return [(5 * step + 3 * k) % 32 for k in range(min(40, step // 4))]


def seeded_records(root: Path) -> dict[str, Any]:
    """Fit in ``root`` and return ``{"metrics": [records], "memorization": {array name: {dtype, shape, values}}}``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        L.seed_everything(0, verbose=False)
        out = root / "run"
        common = {"num_samples": 48, "batch_size": 24, "sample_steps": 5, "seed": 3, "out_dir": str(out)}
        monitors = [MemorizationMonitor(**common, null_draws=20), SubstringMonitor(**common, top_blocks=5)]
        dm = tiny_data()
        model = tiny_model(dm, cls=ScriptedSampler)
        model.script = script
        tiny_trainer(root / "root", monitors, max_steps=160).fit(model, datamodule=dm)
    finally:
        torch.set_num_threads(threads)
    with np.load(out / "memorization.npz") as npz:
        arrays = {
            name: {"dtype": str(npz[name].dtype), "shape": list(npz[name].shape), "values": npz[name].ravel().tolist()}
            for name in sorted(npz.files)
        }
    return encode({"metrics": [without(r, *WALL_TIMES) for r in read_records(out)], "memorization": arrays})


def main() -> None:
    """Regenerate the golden file."""
    with tempfile.TemporaryDirectory() as tmp:
        records = seeded_records(Path(tmp))
    GOLDEN.write_text(json.dumps(records, indent=1, sort_keys=True, allow_nan=False) + "\n", encoding="utf-8")
    print(f"wrote {GOLDEN} ({len(records['metrics'])} records, {len(records['memorization'])} arrays)")


if __name__ == "__main__":
    main()
