"""`rhm-memo predict` under DDP: the strings of every rank are gathered into one file, row i from row index i."""

import json
from pathlib import Path

import numpy as np
import pytest
from ddp_launch import run_on_one_and_two
from predict_ddp import NUM

SCRIPT = Path(__file__).parent / "predict_ddp.py"


@pytest.mark.slow
def test_predicted_strings_are_gathered_in_row_order_on_one_and_two_processes(tmp_path):
    outs = run_on_one_and_two(SCRIPT, tmp_path, timeout=300)
    for devices, out in outs.items():
        with np.load(out / "pred" / "samples.npz") as arrays:
            strings = arrays["strings"]
        expected = json.loads((out / "expected.json").read_text())
        assert strings.shape == (NUM, 8), devices
        assert strings.tolist() == [expected[str(i)] for i in range(NUM)], devices
        records = [json.loads(line) for line in (out / "pred" / "metrics.jsonl").read_text().splitlines()]
        assert [(r["monitor"], r["num_samples"]) for r in records] == [("memorization", NUM), ("substrings", NUM)]
