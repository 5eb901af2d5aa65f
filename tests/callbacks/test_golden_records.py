"""The records of a tiny seeded fit equal the committed golden file: refactorings leave the records unchanged.

The fit and the file are described in golden/make_golden.py; regenerate the file with that script only when a
change of the records is intended. Integers, strings, booleans and null compare exactly, floats to a relative
1e-9 (absolute 1e-12 near zero): the fit runs on one CPU thread, so two runs agree to the last bit, and the slack
only absorbs a different summation order in a future torch.
"""

import json
import math
from typing import Any

from golden.make_golden import GOLDEN, seeded_records

REL, ABS = 1e-9, 1e-12


def differences(expected: Any, got: Any, where: str = "") -> list[str]:
    """Where ``got`` differs from ``expected`` (paths like ``metrics[3].null.auc``), floats within REL / ABS."""
    if isinstance(expected, float) and isinstance(got, float):
        return [] if math.isclose(expected, got, rel_tol=REL, abs_tol=ABS) else [f"{where}: {expected!r} != {got!r}"]
    if type(expected) is not type(got):
        return [f"{where}: {expected!r} ({type(expected).__name__}) != {got!r} ({type(got).__name__})"]
    if isinstance(expected, dict):
        if expected.keys() != got.keys():
            return [f"{where}: keys {sorted(expected.keys() ^ got.keys())} in one only"]
        return [d for k in expected for d in differences(expected[k], got[k], f"{where}.{k}")]
    if isinstance(expected, list):
        if len(expected) != len(got):
            return [f"{where}: length {len(expected)} != {len(got)}"]
        return [d for i, (a, b) in enumerate(zip(expected, got)) for d in differences(a, b, f"{where}[{i}]")]
    return [] if expected == got else [f"{where}: {expected!r} != {got!r}"]


def test_differences_sees_what_matters():
    """The comparison itself: floats within tolerance pass; a changed int, key, length, type or float fails."""
    base = {"a": [1, 2.0, "x", None, True], "b": {"c": 0.5}}
    assert differences(base, {"a": [1, 2.0 * (1 + 1e-12), "x", None, True], "b": {"c": 0.5}}) == []
    for changed in (
        {"a": [2, 2.0, "x", None, True], "b": {"c": 0.5}},
        {"a": [1, 2.0, "x", None, True], "b": {"c": 0.5, "d": 1}},
        {"a": [1, 2.0, "x", None], "b": {"c": 0.5}},
        {"a": [1, 2, "x", None, True], "b": {"c": 0.5}},
        {"a": [1, 2.0, "x", None, 1], "b": {"c": 0.5}},
        {"a": [1, 2.0, "x", None, True], "b": {"c": 0.5 + 1e-6}},
    ):
        assert differences(base, changed), changed


def test_records_equal_the_golden_file(tmp_path):
    expected = json.loads(GOLDEN.read_text(encoding="utf-8"))
    got = json.loads(json.dumps(seeded_records(tmp_path)))  # the file's JSON round trip (tuples become lists)
    assert [(r["monitor"], r["step"]) for r in got["metrics"]] == [
        (m, s) for s in (1, 2, 4, 8, 16, 32, 64, 128, 160) for m in ("memorization", "substrings")
    ]
    assert sorted(got["memorization"]) == ["commonness", "counts", "eval_steps", "first_step", "log_prob", "schema"]
    found = differences(expected, got)
    assert not found, "records changed (golden/make_golden.py regenerates the file):\n" + "\n".join(found[:30])
