"""Tests of rhm_memo.metrics.memorization against Python loop / dict / Counter references and hand cases."""

import random
from collections import Counter

import pytest
import torch
from metrics_helpers import SHAPE_IDS, as_tuples, brute_lookup, train_and_samples

from rhm_memo.metrics import (
    NEVER,
    CopyTally,
    TrainIndex,
    copy_counts,
    copy_fraction,
    distinct_memorized,
    ever_memorized,
    fraction_distinct,
    fraction_within,
    hamming_histogram,
    memorization_summary,
    nearest_hamming,
    novelty,
    update_first_step,
)


def random_copy_index(num, num_train, seed, hit_rate=0.5):
    """A (num,) int64 look-up result: -1 or a training index, with repeats."""
    rng = random.Random(seed)
    return torch.tensor([rng.randrange(num_train) if rng.random() < hit_rate else -1 for _ in range(num)])


# ----------------------------------------------------------------------------------------------------------------------
# exact copies


@pytest.mark.parametrize("name", SHAPE_IDS)
@pytest.mark.parametrize("seed", range(2))
def test_copy_statistics_match_python(name, seed):
    """copy_fraction, novelty, distinct_memorized, copy_counts, fraction_distinct on real look-ups vs Python counts."""
    v, train, samples = train_and_samples(name, 70, 180, seeds=(seed, seed + 10))
    samples = torch.cat([samples, samples[:30]])  # duplicated samples too
    ci = TrainIndex(train, v).lookup(samples)
    ref = brute_lookup(train, samples)
    hits = [i for i in ref if i >= 0]
    assert 0 < len(hits) < len(ref)
    assert copy_fraction(ci) == pytest.approx(len(hits) / len(ref), abs=1e-15)
    assert novelty(ci) == pytest.approx(1 - len(hits) / len(ref), abs=1e-15)
    assert distinct_memorized(ci) == len(set(hits))
    counts = Counter(hits)
    got = copy_counts(ci, 70)
    assert got.dtype == torch.int64 and got.tolist() == [counts[i] for i in range(70)]
    assert fraction_distinct(samples) == pytest.approx(len(set(as_tuples(samples))) / len(ref), abs=1e-15)
    summary = memorization_summary(TrainIndex(train, v).lookup(samples), samples)
    assert summary == {
        "num_samples": len(ref),
        "copies": len(hits),
        "copy_fraction": pytest.approx(len(hits) / len(ref), abs=1e-15),
        "distinct_memorized": len(set(hits)),
        "novelty": pytest.approx(1 - len(hits) / len(ref), abs=1e-15),
        "fraction_distinct": pytest.approx(len(set(as_tuples(samples))) / len(ref), abs=1e-15),
    }


def test_copy_statistics_extremes():
    """No copies: fraction 0, novelty 1, nothing memorized; all copies of one string: fraction 1, one memorized."""
    none = torch.full((7,), -1)
    assert copy_fraction(none) == 0.0 and novelty(none) == 1.0 and distinct_memorized(none) == 0
    assert copy_counts(none, 3).tolist() == [0, 0, 0]
    same = torch.full((5,), 2)
    assert copy_fraction(same) == 1.0 and novelty(same) == 0.0 and distinct_memorized(same) == 1
    assert copy_counts(same, 4).tolist() == [0, 0, 5, 0]
    assert copy_counts(torch.tensor([0, 1, 2, 1]), 3).tolist() == [1, 2, 1]
    x = torch.tensor([[0, 1], [0, 1], [1, 0]])
    assert fraction_distinct(x) == pytest.approx(2 / 3)
    assert fraction_distinct(x[:1]) == 1.0


@pytest.mark.parametrize("seed", range(5))
def test_update_first_step_keeps_earliest(seed):
    """Over a sequence of evaluations, first_step = earliest step at which each string was copied (NEVER if none)."""
    P = 40
    rng = random.Random(seed)
    steps = sorted(rng.sample(range(1, 10_000), 6))
    first = torch.full((P,), NEVER, dtype=torch.int64)
    expected = [NEVER] * P
    for step in steps:
        ci = random_copy_index(25, P, seed * 100 + step, hit_rate=0.3)
        new = update_first_step(first, ci, step)
        assert first.tolist() == expected  # the input is left unchanged (a new tensor is returned)
        for i in ci.tolist():
            if i >= 0 and expected[i] == NEVER:
                expected[i] = step
        assert new.tolist() == expected
        for t in [steps[0] - 1, *steps, steps[-1] + 1]:
            assert ever_memorized(new, t).tolist() == [e != NEVER and e <= t for e in expected]
        first = new
    assert NEVER in first.tolist() and any(e != NEVER for e in first.tolist())


def test_update_first_step_does_not_overwrite_on_resume_order():
    """A string first memorized at a later step keeps that step; one already memorized keeps its earlier step."""
    first = torch.tensor([NEVER, 5, NEVER, 2])
    got = update_first_step(first, torch.tensor([0, 1, 1, -1]), 8)
    assert got.tolist() == [8, 5, NEVER, 2]
    assert ever_memorized(got, 4).tolist() == [False, False, False, True]
    assert ever_memorized(got, 8).tolist() == [True, True, False, True]


# ----------------------------------------------------------------------------------------------------------------------
# near copies


@pytest.fixture
def one_thread():
    """Run with one intra-op thread: the many tiny chunked matmuls are ~100x slower with a thread pool on 2 cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def brute_nearest(samples, train):
    """Per sample: minimal Hamming distance to the training rows and the smallest index achieving it (loops)."""
    tr = as_tuples(train)
    out_d, out_i = [], []
    for row in as_tuples(samples):
        dists = [sum(a != b for a, b in zip(row, t)) for t in tr]
        best = min(dists)
        out_d.append(best)
        out_i.append(dists.index(best))
    return out_d, out_i


@pytest.mark.parametrize("name", SHAPE_IDS)
@pytest.mark.parametrize("max_elements", [1, 7, 50, 2**25])
def test_nearest_hamming_matches_brute_force(name, max_elements, one_thread):
    """Distances and argmin (ties → smallest index) equal the dense brute force, for any chunking."""
    v, train, samples = train_and_samples(name, 23, 31, seeds=(max_elements % 97, max_elements % 89 + 1), dup_frac=0.3)
    dist, arg = nearest_hamming(samples, train, v, max_elements=max_elements)
    exp_d, exp_i = brute_nearest(samples, train)
    assert dist.dtype == torch.int64 and arg.dtype == torch.int64
    assert dist.tolist() == exp_d
    assert arg.tolist() == exp_i


@pytest.mark.parametrize("max_elements", [3, 7, 50, 1000])
def test_nearest_hamming_ties_pick_smallest_index(max_elements, one_thread):
    """Many equidistant training strings (tiny v, d): the smallest index wins across chunk boundaries."""
    v, d = 2, 4
    rng = random.Random(max_elements)
    train = torch.tensor([[rng.randrange(v) for _ in range(d)] for _ in range(30)])
    samples = torch.tensor([[rng.randrange(v) for _ in range(d)] for _ in range(17)])
    dist, arg = nearest_hamming(samples, train, v, max_elements=max_elements)
    exp_d, exp_i = brute_nearest(samples, train)
    assert dist.tolist() == exp_d and arg.tolist() == exp_i
    assert any(
        sum(1 for t in as_tuples(train) if sum(a != b for a, b in zip(r, t)) == e) > 1
        for r, e in zip(as_tuples(samples), exp_d)
    )  # ties do occur


def test_nearest_hamming_single_sample_single_train():
    """B = P = 1: the distance is the number of differing tokens and the index is 0."""
    dist, arg = nearest_hamming(torch.tensor([[0, 1, 2, 0]]), torch.tensor([[0, 2, 2, 1]]), 3, max_elements=1)
    assert dist.tolist() == [2] and arg.tolist() == [0]


def test_nearest_hamming_hand_case():
    """Hand case: exact copy → 0, one substitution → 1, complement of all → d."""
    train = torch.tensor([[0, 0, 0, 0], [1, 1, 1, 1], [0, 1, 0, 1]])
    samples = torch.tensor([[0, 1, 0, 1], [0, 1, 0, 0], [2, 2, 2, 2], [1, 1, 0, 1]])
    dist, arg = nearest_hamming(samples, train, 3, max_elements=5)
    assert dist.tolist() == [0, 1, 4, 1]
    assert arg.tolist() == [2, 0, 0, 1]


@pytest.mark.parametrize("seed", range(4))
def test_hamming_histogram_and_fraction_within(seed):
    """hamming_histogram = Counter of distances over 0..d; fraction_within(k) = share of distances <= k."""
    d = 9
    rng = random.Random(seed)
    dist = [rng.choice([0, 0, 1, 3, 4, 9]) for _ in range(rng.randint(1, 60))]
    hist = hamming_histogram(torch.tensor(dist), d)
    c = Counter(dist)
    assert hist.dtype == torch.int64 and hist.tolist() == [c[k] for k in range(d + 1)]
    for k in range(-1, d + 2):
        assert fraction_within(torch.tensor(dist), k) == pytest.approx(sum(x <= k for x in dist) / len(dist), abs=1e-15)


def test_hamming_histogram_rejects():
    """hamming_histogram rejects empty, 2-D, negative or > d distances; fraction_within rejects empty."""
    for bad in [
        torch.zeros(0, dtype=torch.int64),
        torch.zeros(2, 2, dtype=torch.int64),
        torch.tensor([-1, 0]),
        torch.tensor([0, 5]),
    ]:
        with pytest.raises(ValueError):
            hamming_histogram(bad, 4)
    with pytest.raises(ValueError):
        fraction_within(torch.zeros(0, dtype=torch.int64), 1)


# ----------------------------------------------------------------------------------------------------------------------
# CopyTally


@pytest.mark.parametrize("seed", range(3))
def test_copy_tally_accumulates_batches(seed):
    """CopyTally over several batches = copy_counts of the concatenation; num_samples and copies add up."""
    P = 30
    rng = random.Random(seed)
    batches = [random_copy_index(rng.randint(1, 40), P, seed * 10 + k) for k in range(5)]
    tally = CopyTally(P)
    for b in batches:
        tally.update(b)
    out = tally.compute()
    cat = torch.cat(batches)
    assert out["counts"].tolist() == copy_counts(cat, P).tolist()
    assert int(out["num_samples"]) == cat.numel()
    assert int(out["copies"]) == int((cat >= 0).sum())
    tally.reset()
    tally.update(batches[0])
    assert tally.compute()["counts"].tolist() == copy_counts(batches[0], P).tolist()


@pytest.mark.parametrize("name", ["v3s2L3", "v7s2L5-multiword"])
@pytest.mark.parametrize("seed", range(3))
def test_copy_tally_matches_counter(name, seed):
    """CopyTally over batches of real look-ups = a collections.Counter of the copied training indices (Python dict
    look-up, smallest index on duplicates); num_samples = samples seen, copies = samples that are copies."""
    v, train, samples = train_and_samples(name, 25, 120, seeds=(seed, seed + 50))
    index, tally = TrainIndex(train, v), CopyTally(25)
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, 120), 4))
    for lo, hi in zip([0, *cuts], [*cuts, 120]):
        tally.update(index.lookup(samples[lo:hi]))
    hits = Counter(i for i in brute_lookup(train, samples) if i >= 0)
    out = tally.compute()
    assert out["counts"].tolist() == [hits[i] for i in range(25)]
    assert int(out["num_samples"]) == 120
    assert int(out["copies"]) == sum(hits.values()) > 0


def test_copy_tally_rejects():
    """CopyTally rejects num_train < 1 and batches with out-of-range, wrong-dtype or empty indices."""
    with pytest.raises(ValueError):
        CopyTally(0)
    tally = CopyTally(3)
    for bad in [
        torch.tensor([3]),
        torch.tensor([-2]),
        torch.tensor([0, 1], dtype=torch.int32),
        torch.zeros(0, dtype=torch.int64),
    ]:
        with pytest.raises(ValueError):
            tally.update(bad)


# ----------------------------------------------------------------------------------------------------------------------
# bad inputs


@pytest.mark.parametrize(
    "bad",
    [
        torch.zeros(0, dtype=torch.int64),
        torch.zeros(2, 2, dtype=torch.int64),
        torch.tensor([0, 1], dtype=torch.int32),
        torch.tensor([0.0, 1.0]),
        torch.tensor([-2, 0]),
    ],
    ids=["empty", "2-D", "int32", "float", "below-minus-one"],
)
def test_copy_index_functions_reject(bad):
    """copy_fraction, novelty, distinct_memorized, copy_counts, update_first_step reject malformed copy_index."""
    for fn in (copy_fraction, novelty, distinct_memorized):
        with pytest.raises(ValueError):
            fn(bad)
    with pytest.raises(ValueError):
        copy_counts(bad, 5)
    with pytest.raises(ValueError):
        update_first_step(torch.full((5,), NEVER), bad, 1)


def test_copy_counts_and_first_step_reject_mismatch():
    """copy_counts rejects indices ≥ num_train; update_first_step rejects non-int64 or 2-D first_step."""
    with pytest.raises(ValueError):
        copy_counts(torch.tensor([0, 3]), 3)
    with pytest.raises(ValueError):
        update_first_step(torch.full((3,), NEVER), torch.tensor([0, 3]), 1)
    with pytest.raises(ValueError):
        update_first_step(torch.full((3,), NEVER, dtype=torch.int32), torch.tensor([0]), 1)
    with pytest.raises(ValueError):
        update_first_step(torch.full((3, 1), NEVER), torch.tensor([0]), 1)


def test_nearest_hamming_and_distinct_reject():
    """nearest_hamming rejects mismatched d, out-of-range tokens, empty sets, floats; fraction_distinct rejects 1-D."""
    good = torch.zeros(3, 4, dtype=torch.int64)
    for samples, train in [
        (good, torch.zeros(3, 5, dtype=torch.int64)),
        (good, torch.full((3, 4), 3)),
        (torch.full((3, 4), -1), good),
        (torch.zeros(0, 4, dtype=torch.int64), good),
        (good, torch.zeros(0, 4, dtype=torch.int64)),
        (good.float(), good),
    ]:
        with pytest.raises(ValueError):
            nearest_hamming(samples, train, 3)
    with pytest.raises(ValueError):
        fraction_distinct(torch.zeros(4, dtype=torch.int64))
    with pytest.raises(ValueError):
        fraction_distinct(torch.zeros(0, 4, dtype=torch.int64))


def test_a_negative_step_cannot_erase_memorization():
    """update_first_step rejects step -1 (the NEVER marker): it would mark strings as never memorized."""
    first = torch.tensor([3, NEVER, NEVER])
    with pytest.raises(ValueError, match="step must be an integer >= 0"):
        update_first_step(first, torch.tensor([0, 1]), -1)
