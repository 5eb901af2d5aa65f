"""rhm_memo.metrics.substrings: aligned blocks, their keys and block copies, vs Python set references."""

import pytest
import torch
from metrics_helpers import (
    SHAPE_IDS,
    SHAPES,
    aligned_blocks,
    as_tuples,
    mixed_samples,
    train_with_duplicates,
)

from rhm_memo.metrics import index as index_module
from rhm_memo.metrics.substrings import (
    BlockIndex,
    block_counts,
    block_keys,
    blocks,
    num_heights,
)

# ----------------------------------------------------------------------------------------------------------------------
# blocks and keys


@pytest.mark.parametrize("name", SHAPE_IDS)
def test_blocks_and_keys(name):
    """blocks(h) lists the aligned windows left to right; block_keys are equal iff the blocks are equal."""
    v, s, L = SHAPES[name]
    x = train_with_duplicates(v, s**L, 12, seed=1)
    x = torch.cat([x, mixed_samples(x, v, 20, seed=2, s=s)])
    rows = as_tuples(x)
    assert num_heights(s**L, s) == L
    for h in range(1, L + 1):
        b = blocks(x, h, s)
        assert b.shape == (x.shape[0], s ** (L - h), s**h)
        assert [[tuple(w) for w in r] for r in b.tolist()] == [aligned_blocks(r, s, h) for r in rows]
        k = block_keys(x, h, s, v)
        assert k.shape[:2] == (x.shape[0], s ** (L - h)) and k.dtype == torch.int64
        flat_keys = [tuple(w) for r in k.tolist() for w in r]
        flat_blocks = [blk for r in rows for blk in aligned_blocks(r, s, h)]
        key_of = {}
        for kk, blk in zip(flat_keys, flat_blocks):
            assert key_of.setdefault(blk, kk) == kk
        assert len(set(key_of.values())) == len(key_of)  # distinct blocks → distinct keys


@pytest.mark.parametrize("height", [0, 4, -1, 1.0, "1"])
def test_blocks_rejects_bad_height(height):
    """blocks raises ValueError for heights outside 1..L or not an int."""
    with pytest.raises(ValueError):
        blocks(torch.zeros(2, 8, dtype=torch.int64), height, 2)


@pytest.mark.parametrize(("d", "s"), [(6, 2), (1, 2), (8, 1), (8, 0), (10, 3)])
def test_num_heights_rejects(d, s):
    """num_heights raises ValueError (as documented) when d is not s**L with L ≥ 1 and s ≥ 2."""
    with pytest.raises(ValueError):
        num_heights(d, s)


@pytest.mark.parametrize("s", [1, 0, 3])
def test_functions_reject_bad_branching_factor(s):
    """BlockIndex, blocks and block_counts raise ValueError for s < 2 or d not a power of s (here d = 8)."""
    x = torch.zeros(2, 8, dtype=torch.int64)
    with pytest.raises(ValueError):
        BlockIndex(x, 3, s)
    with pytest.raises(ValueError):
        blocks(x, 1, s)
    with pytest.raises(ValueError):
        block_counts(x, 1, s, 3)


# ----------------------------------------------------------------------------------------------------------------------
# block copies


def brute_copies(train, strings, s, h):
    """(same-position, pooled) lists of bools from sets of (position, block) and of blocks of the training set."""
    same_set, pooled_set = set(), set()
    for r in as_tuples(train):
        for j, b in enumerate(aligned_blocks(r, s, h)):
            same_set.add((j, b))
            pooled_set.add(b)
    same, pooled = [], []
    for r in as_tuples(strings):
        bl = aligned_blocks(r, s, h)
        same.append([(j, b) in same_set for j, b in enumerate(bl)])
        pooled.append([b in pooled_set for b in bl])
    return same, pooled


def check_block_copies(v, s, L, seed):
    """BlockIndex.copies and copy_fractions vs brute_copies at every height, on mixed samples."""
    train = train_with_duplicates(v, s**L, 40, seed)
    strings = mixed_samples(train, v, 80, seed + 1, s=s)
    index = BlockIndex(train, v, s)
    fractions = index.copy_fractions(strings)
    assert sorted(fractions) == list(range(1, L + 1))
    seen_mixed = False
    for h in range(1, L + 1):
        same, pooled = index.copies(strings, h)
        exp_same, exp_pooled = brute_copies(train, strings, s, h)
        assert same.dtype == torch.bool and same.shape == (80, s ** (L - h))
        assert same.tolist() == exp_same, f"height {h}"
        assert pooled.tolist() == exp_pooled, f"height {h}"
        flat_same = [x for r in exp_same for x in r]
        flat_pooled = [x for r in exp_pooled for x in r]
        assert fractions[h]["same_position"] == pytest.approx(sum(flat_same) / len(flat_same), abs=1e-15)
        assert fractions[h]["pooled"] == pytest.approx(sum(flat_pooled) / len(flat_pooled), abs=1e-15)
        seen_mixed |= sum(flat_pooled) > sum(flat_same) > 0  # some blocks found only at another position
    assert seen_mixed


@pytest.mark.parametrize("name", SHAPE_IDS)
@pytest.mark.parametrize("seed", range(2))
def test_block_copies_match_sets(name, seed):
    """Same-position and pooled block copies equal Python set membership of (position, block) and of block."""
    check_block_copies(*SHAPES[name], seed)


@pytest.mark.parametrize("name", ["v7s2L5-multiword", "v15s2L5-multiword", "v3s2L3"])
def test_block_copies_exact_under_hash_collisions(monkeypatch, name):
    """Block copies stay exact when the multi-word row hash collides for almost every row."""
    monkeypatch.setattr(index_module, "_hash", lambda rows: rows[:, 0] % 3)
    check_block_copies(*SHAPES[name], seed=5)


def test_block_copies_all_and_none():
    """The training set itself: every block copied; a disjoint alphabet range: no block copied."""
    v, s, L = 6, 2, 3
    train = train_with_duplicates(3, s**L, 20, seed=3)  # tokens 0..2 only
    index = BlockIndex(train, v, s)
    other = train + 3  # tokens 3..5: no block in common
    for h in range(1, L + 1):
        same, pooled = index.copies(train, h)
        assert same.all() and pooled.all()
        same, pooled = index.copies(other, h)
        assert not same.any() and not pooled.any()
    assert all(f == {"same_position": 1.0, "pooled": 1.0} for f in index.copy_fractions(train).values())
    assert all(f == {"same_position": 0.0, "pooled": 0.0} for f in index.copy_fractions(other).values())


def test_block_copies_position_matters():
    """A block that occurs in training only at another position is a pooled copy but not a same-position copy."""
    train = torch.tensor([[0, 1, 2, 2]])
    index = BlockIndex(train, 3, 2)
    same, pooled = index.copies(torch.tensor([[2, 2, 0, 1], [0, 1, 0, 1]]), 1)
    assert same.tolist() == [[False, False], [True, False]]
    assert pooled.tolist() == [[True, True], [True, True]]
    same, pooled = index.copies(torch.tensor([[2, 2, 0, 1]]), 2)
    assert same.tolist() == [[False]] and pooled.tolist() == [[False]]


def test_block_index_rejects():
    """BlockIndex rejects d not a power of s, bad tokens, empty sets; copies rejects wrong d and bad heights."""
    good = torch.zeros(2, 8, dtype=torch.int64)
    for bad in [
        torch.zeros(2, 6, dtype=torch.int64),
        torch.full((2, 8), 3),
        torch.zeros(0, 8, dtype=torch.int64),
        good.float(),
    ]:
        with pytest.raises(ValueError):
            BlockIndex(bad, 3, 2)
    index = BlockIndex(good, 3, 2)
    for bad in [torch.zeros(2, 4, dtype=torch.int64), torch.full((2, 8), 3), torch.zeros(0, 8, dtype=torch.int64)]:
        with pytest.raises(ValueError):
            index.copies(bad, 1)
    for h in [0, 4]:
        with pytest.raises(ValueError):
            index.copies(good, h)
