"""Onsets of memorization: when a run's copy fraction first reaches a threshold. Pure Python (no torch), so the
report and the grid runner can use it without the training stack; ``rhm_memo.metrics`` re-exports it."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence

#: Copy-fraction thresholds τ of the onset steps reported by the monitors and the report.
TAUS = (0.1, 0.5, 0.9)


def onset_step(steps: Sequence[float], copy_fractions: Sequence[float], tau: float) -> float | None:
    """Training step at which the copy fraction first reaches ``tau``, linear in log(step); None if never.

    If the first evaluation already reaches ``tau`` its step is returned (there is nothing to interpolate).
    """
    try:
        steps, fractions = [float(s) for s in steps], [float(f) for f in copy_fractions]
    except (TypeError, ValueError) as err:
        raise ValueError(f"steps and copy_fractions must be 1-D sequences of numbers ({err})") from err
    if not steps or len(steps) != len(fractions):
        raise ValueError(
            f"steps and copy_fractions must be equal-length non-empty 1-D sequences, got lengths {len(steps)} and "
            f"{len(fractions)}"
        )
    if any(s <= 0 for s in steps) or any(b <= a for a, b in itertools.pairwise(steps)):
        raise ValueError("steps must be positive and strictly increasing (they are interpolated in log(step))")
    i = next((i for i, f in enumerate(fractions) if f >= tau), None)
    if i is None:
        return None
    if i == 0:
        return steps[0]
    f0, f1 = fractions[i - 1], fractions[i]
    x0, x1 = math.log(steps[i - 1]), math.log(steps[i])
    return math.exp(x0 + (tau - f0) / (f1 - f0) * (x1 - x0))


def onsets(history: Iterable[tuple[float, float]], taus: Sequence[float] = TAUS) -> dict[float, float | None]:
    """``{τ: onset step or None}`` from ``(step, copy fraction)`` evaluations; steps ≤ 0 are left out (a log
    axis), NaN fractions count as not reached."""
    kept = [(s, f) for s, f in history if s > 0]
    if not kept:
        return {tau: None for tau in taus}
    steps = [s for s, _ in kept]
    fractions = [f if f == f else -math.inf for _, f in kept]  # NaN never reaches τ
    return {tau: onset_step(steps, fractions, tau) for tau in taus}
