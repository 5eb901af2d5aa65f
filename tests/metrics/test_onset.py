"""Tests of the onset of memorization (rhm_memo.onset, re-exported by rhm_memo.metrics): hand cases and references."""

import math
import random

import pytest

from rhm_memo.metrics import onset_step


def test_onset_interpolates_in_log_step():
    """steps [1,2,4,8], fracs [0,.05,.2,.6], τ=.1 → exp(log 2 + (0.05/0.15)·log 2)."""
    got = onset_step([1, 2, 4, 8], [0.0, 0.05, 0.2, 0.6], 0.1)
    assert got == pytest.approx(math.exp(math.log(2) + (0.05 / 0.15) * math.log(2)), rel=1e-12)
    assert got == pytest.approx(2 ** (4 / 3), rel=1e-12)


def test_onset_hand_cases():
    """Reached at the first evaluation → that step; exactly at an evaluation → that step; never → None."""
    assert onset_step([16, 32], [0.3, 0.9], 0.1) == 16.0
    assert onset_step([1, 10, 100], [0.0, 0.5, 0.9], 0.5) == pytest.approx(10.0, rel=1e-12)
    assert onset_step([1, 10, 100], [0.0, 0.5, 0.9], 0.7) == pytest.approx(10**1.5, rel=1e-12)
    assert onset_step([1, 10, 100], [0.0, 0.5, 0.9], 0.95) is None
    assert onset_step([3], [0.0], 0.1) is None
    # first crossing is kept even if the fraction later drops below τ again
    assert onset_step([1, 4, 16, 64], [0.0, 0.2, 0.0, 0.4], 0.1) == pytest.approx(2.0, rel=1e-12)


@pytest.mark.parametrize("seed", range(20))
def test_onset_matches_python_reference(seed):
    """Random increasing steps and fractions vs a loop: first i with frac ≥ τ, log-linear between i-1 and i."""
    rng = random.Random(seed)
    steps = sorted(rng.sample(range(1, 5000), rng.randint(1, 8)))
    fracs = [rng.random() for _ in steps]
    tau = rng.choice([0.1, 0.5, 0.9])
    expected = None
    for i, f in enumerate(fracs):
        if f >= tau:
            if i == 0:
                expected = float(steps[0])
            else:
                a, b = math.log(steps[i - 1]), math.log(steps[i])
                expected = math.exp(a + (tau - fracs[i - 1]) / (f - fracs[i - 1]) * (b - a))
            break
    got = onset_step(steps, fracs, tau)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected, rel=1e-12)
        assert steps[0] <= got <= steps[-1]


def onset_by_bisection(steps, fracs, tau):
    """The definition solved independently: the smallest x = log(step) at which the piecewise-linear curve through
    the points (log step_i, frac_i) is ≥ τ, as exp(x); None if it never is. Every segment is searched (not only
    the first crossing), and a crossing inside a segment is found by bisection on the interpolant, not by
    inverting it."""
    xs = [math.log(s) for s in steps]

    def curve(x, i):  # linear interpolation on segment i, from its definition
        w = (x - xs[i]) / (xs[i + 1] - xs[i])
        return (1 - w) * fracs[i] + w * fracs[i + 1]

    candidates = [xs[i] for i in range(len(xs)) if fracs[i] >= tau]  # evaluations that reach τ
    for i in range(len(xs) - 1):
        if fracs[i] < tau <= fracs[i + 1]:  # the curve rises through τ inside segment i
            lo, hi = xs[i], xs[i + 1]
            for _ in range(200):
                mid = (lo + hi) / 2
                lo, hi = (lo, mid) if curve(mid, i) >= tau else (mid, hi)
            candidates.append(hi)
    return math.exp(min(candidates)) if candidates else None


@pytest.mark.parametrize("seed", range(30))
def test_onset_matches_bisection_reference(seed):
    """onset_step = the first point of the log-step interpolant that reaches τ (bisection reference); fractions
    from a small set, so plateaus, exact hits of τ at an evaluation and drops below τ after a crossing all occur."""
    rng = random.Random(1000 + seed)
    steps = sorted(rng.sample([2**k for k in range(16)] + list(range(3, 3000, 7)), rng.randint(1, 10)))
    fracs = [rng.choice([0.0, 0.05, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0]) for _ in steps]
    for tau in (0.1, 0.5, 0.9):
        got, expected = onset_step(steps, fracs, tau), onset_by_bisection(steps, fracs, tau)
        if expected is None:
            assert got is None
        else:
            assert got == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize(
    ("steps", "fracs"),
    [
        ([0, 1, 2], [0.0, 0.5, 1.0]),
        ([1, 1, 2], [0.0, 0.5, 1.0]),
        ([1, 4, 2], [0.0, 0.5, 1.0]),
        ([-1, 2], [0, 1]),
        ([1, 2], [0.5]),
        ([], []),
        ([[1, 2]], [[0.1, 0.2]]),
    ],
    ids=["step0", "repeat", "decreasing", "negative", "length-mismatch", "empty", "2-D"],
)
def test_onset_rejects(steps, fracs):
    """Non-positive or non-increasing steps, mismatched lengths, empty or 2-D sequences → ValueError."""
    with pytest.raises(ValueError):
        onset_step(steps, fracs, 0.1)
