"""Tests of rhm_memo.metrics.index (TrainIndex, RowIndex, check_strings) against Python dict references."""

import random

import pytest
import torch
from metrics_helpers import (
    SHAPE_IDS,
    SHAPES,
    as_tuples,
    brute_lookup,
    first_index,
    mixed_samples,
    train_and_samples,
    train_with_duplicates,
)

from rhm_memo.metrics import index as index_module
from rhm_memo.metrics.index import RowIndex, TrainIndex, check_strings
from rhm_memo.rhm import keys as K

TERRIBLE_HASHES = {
    "mod3": lambda rows: rows[:, 0] % 3,
    "constant": lambda rows: torch.zeros(rows.shape[0], dtype=torch.int64),
    "last-word-parity": lambda rows: rows[:, -1] & 1,
}


def test_shapes_cover_single_and_multi_word():
    """The shared string shapes include one-word strings and multi-word strings (v**d > 2**63)."""
    widths = {name: K.pack(torch.zeros(1, s**L, dtype=torch.int64), v).shape[1] for name, (v, s, L) in SHAPES.items()}
    assert widths["v3s2L3"] == 1 and widths["v6s2L4"] == 1
    assert all(widths[name] >= 2 for name in SHAPES if name.endswith("multiword"))


@pytest.mark.parametrize("name", SHAPE_IDS)
@pytest.mark.parametrize("seed", range(3))
def test_lookup_matches_dict(name, seed):
    """TrainIndex.lookup = smallest training index equal to the sample, else -1 (duplicates in training)."""
    v, train, samples = train_and_samples(name, 80, 200, seeds=(seed, seed + 100))
    index = TrainIndex(train, v)
    got = index.lookup(samples)
    assert got.dtype == torch.int64 and got.shape == (200,)
    assert got.tolist() == brute_lookup(train, samples)
    assert index.num_train == 80


@pytest.mark.parametrize("name", SHAPE_IDS)
def test_lookup_all_copies_and_no_copies(name):
    """All samples copies → every index found (smallest); disjoint samples → all -1."""
    v, s, L = SHAPES[name]
    d = s**L
    train = train_with_duplicates(v, d, 50, seed=7, dup_frac=0.5)
    index = TrainIndex(train, v)
    perm = torch.randperm(50, generator=torch.Generator().manual_seed(0))
    assert index.lookup(train[perm]).tolist() == [first_index(as_tuples(train))[r] for r in as_tuples(train[perm])]
    known = set(as_tuples(train))
    rng = random.Random(1)
    fresh = []
    while len(fresh) < 40:
        r = tuple(rng.randrange(v) for _ in range(d))
        if r not in known:
            fresh.append(r)
    assert index.lookup(torch.tensor(fresh)).tolist() == [-1] * 40


@pytest.mark.parametrize("name", SHAPE_IDS)
def test_lookup_single_training_string(name):
    """A one-string training set: copies map to 0, everything else to -1."""
    v, s, L = SHAPES[name]
    train = train_with_duplicates(v, s**L, 1, seed=3)
    other = train.clone()
    other[0, -1] = (other[0, -1] + 1) % v
    assert TrainIndex(train, v).lookup(torch.cat([train, other, train])).tolist() == [0, -1, 0]


def test_lookup_accepts_uint8():
    """uint8 storage tensors give the same look-ups as int64."""
    train = train_with_duplicates(6, 16, 60, seed=2)
    samples = mixed_samples(train, 6, 100, seed=3)
    got = TrainIndex(train.to(torch.uint8), 6).lookup(samples.to(torch.uint8))
    assert got.tolist() == brute_lookup(train, samples)


def random_rows(num, width, seed, low=-4, high=4):
    """Random int64 rows with small entries (many duplicates) or, with ``low=None``, full-range int64 entries."""
    g = torch.Generator().manual_seed(seed)
    if low is None:
        return torch.randint(-(2**63), 2**63 - 1, (num, width), generator=g, dtype=torch.int64)
    return torch.randint(low, high, (num, width), generator=g)


@pytest.mark.parametrize("width", [1, 2, 3, 5])
@pytest.mark.parametrize("seed", range(3))
def test_row_index_find_matches_dict(width, seed):
    """RowIndex.find = smallest reference index of an equal row, else -1, for small (duplicated) int64 rows."""
    ref = random_rows(120, width, seed, -2, 2)
    queries = torch.cat([random_rows(150, width, seed + 50, -3, 3), ref[:10]])
    index = RowIndex(ref)
    assert index.find(queries).tolist() == brute_lookup(ref, queries)
    assert index.contains(queries).tolist() == [i >= 0 for i in brute_lookup(ref, queries)]
    assert len(index) == len(set(as_tuples(ref)))


@pytest.mark.parametrize("width", [1, 2, 4])
def test_row_index_full_range_int64(width):
    """Rows with extreme int64 entries (negative, ±2**63 bounds) are found exactly."""
    ref = random_rows(100, width, 5, low=None)
    ref[0] = -(2**63)
    ref[1] = 2**63 - 1
    ref[2] = ref[1]
    ref[3, 0] = 0
    shuffled = ref[torch.randperm(100, generator=torch.Generator().manual_seed(1))]
    queries = torch.cat([shuffled, random_rows(50, width, 6, low=None)])
    near = ref[:20].clone()
    near[:, -1] ^= 1  # differ in the last bit of the last word only
    queries = torch.cat([queries, near])
    assert RowIndex(ref).find(queries).tolist() == brute_lookup(ref, queries)


@pytest.mark.parametrize("hash_name", list(TERRIBLE_HASHES))
@pytest.mark.parametrize("width", [2, 3])
def test_row_index_exact_under_hash_collisions(monkeypatch, hash_name, width):
    """With a terrible hash (many or all rows colliding) the multi-word look-up is still exact."""
    monkeypatch.setattr(index_module, "_hash", TERRIBLE_HASHES[hash_name])
    ref = random_rows(90, width, 11, -3, 3)
    queries = torch.cat([random_rows(200, width, 12, -3, 3), ref.flip(0)])
    assert RowIndex(ref).find(queries).tolist() == brute_lookup(ref, queries)


@pytest.mark.parametrize("hash_name", list(TERRIBLE_HASHES))
@pytest.mark.parametrize("name", [n for n in SHAPE_IDS if n.endswith("multiword")])
def test_train_index_exact_under_hash_collisions(monkeypatch, hash_name, name):
    """TrainIndex on multi-word strings stays exact when every hash collides (the hash is only a bucket)."""
    monkeypatch.setattr(index_module, "_hash", TERRIBLE_HASHES[hash_name])
    v, train, samples = train_and_samples(name, 60, 150, seeds=(4, 5))
    assert TrainIndex(train, v).lookup(samples).tolist() == brute_lookup(train, samples)


def test_hash_is_used_on_multiword_path(monkeypatch):
    """The multi-word path calls the module's _hash (so the collision tests above do exercise it)."""
    calls = []

    def spy(rows):
        calls.append(rows.shape)
        return rows[:, 0] % 3

    monkeypatch.setattr(index_module, "_hash", spy)
    RowIndex(random_rows(10, 2, 0)).find(random_rows(5, 2, 1))
    assert len(calls) == 2


def test_row_index_query_shape_errors():
    """find rejects queries of the wrong width or rank; RowIndex rejects empty or 1-D references."""
    index = RowIndex(random_rows(5, 2, 0))
    with pytest.raises(ValueError):
        index.find(random_rows(5, 3, 0))
    with pytest.raises(ValueError):
        index.find(torch.zeros(4, dtype=torch.int64))
    with pytest.raises(ValueError):
        RowIndex(torch.zeros(0, 2, dtype=torch.int64))
    with pytest.raises(ValueError):
        RowIndex(torch.zeros(3, dtype=torch.int64))


def test_check_strings_accepts_and_converts():
    """check_strings returns an int64 tensor equal to its integer input."""
    x = torch.tensor([[0, 1, 2, 2]], dtype=torch.int32)
    out = check_strings(x, "x", v=3, d=4)
    assert out.dtype == torch.int64 and out.tolist() == [[0, 1, 2, 2]]


@pytest.mark.parametrize(
    "bad",
    [
        torch.zeros(3, 4, dtype=torch.float32),
        torch.zeros(3, 4, dtype=torch.float64),
        torch.zeros(3, 4, dtype=torch.bool),
        torch.zeros(3, 4, dtype=torch.complex64),
        torch.zeros(4, dtype=torch.int64),
        torch.zeros(2, 3, 4, dtype=torch.int64),
        torch.zeros(3, 5, dtype=torch.int64),
        torch.zeros(0, 4, dtype=torch.int64),
        torch.tensor([[0, 1, 2, 3]]),
        torch.tensor([[0, -1, 2, 0]]),
        [[0, 1, 2, 0]],
    ],
    ids=["float32", "float64", "bool", "complex", "1-D", "3-D", "wrong-d", "empty", "token=v", "negative", "list"],
)
def test_check_strings_rejects(bad):
    """check_strings raises ValueError on a non-tensor, float/bool dtype, wrong rank or d, empty set, bad tokens."""
    with pytest.raises(ValueError):
        check_strings(bad, "x", v=3, d=4)


@pytest.mark.parametrize(
    "bad",
    [
        torch.zeros(3, 8, dtype=torch.float32),
        torch.zeros(8, dtype=torch.int64),
        torch.zeros(0, 8, dtype=torch.int64),
        torch.full((2, 8), 3),
        torch.full((2, 8), -1),
        torch.zeros(2, 4, dtype=torch.int64),
    ],
    ids=["float", "1-D", "empty", "token=v", "negative", "wrong-d"],
)
def test_train_index_rejects(bad):
    """TrainIndex and lookup raise ValueError on float, 1-D, empty, out-of-range or wrong-length strings."""
    good = torch.zeros(2, 8, dtype=torch.int64)
    if bad.ndim == 2 and bad.shape[1] == 4:
        with pytest.raises(ValueError):
            TrainIndex(good, 3).lookup(bad)
        return
    with pytest.raises(ValueError):
        TrainIndex(bad, 3)
    with pytest.raises(ValueError):
        TrainIndex(good, 3).lookup(bad)
