"""rhm_memo.metrics.substrings: block counts, block frequencies and top blocks, vs Counters and grammar enumeration."""

import math
import random

import pytest
import torch
from metrics_helpers import (
    GRAMMARS,
    SHAPE_IDS,
    SHAPES,
    aligned_blocks,
    as_tuples,
    block_counter,
    mixed_samples,
    train_with_duplicates,
)

from rhm_memo.metrics.substrings import (
    BlockFrequencies,
    block_counts,
    block_frequencies,
    top_blocks,
)
from rhm_memo.rhm import Grammar

# ----------------------------------------------------------------------------------------------------------------------
# block counts and frequencies


@pytest.mark.parametrize("name", SHAPE_IDS)
def test_block_counts_match_counter(name):
    """block_counts = Counter of all aligned blocks pooled over positions, values sorted lexicographically."""
    v, s, L = SHAPES[name]
    x = train_with_duplicates(v, s**L, 30, seed=4)
    x = torch.cat([x, mixed_samples(x, v, 30, seed=5, s=s)])
    for h in range(1, L + 1):
        values, counts = block_counts(x, h, s, v)
        c, total = block_counter(x, s, h)
        keys = sorted(c)
        assert as_tuples(values) == keys
        assert counts.tolist() == [c[k] for k in keys]
        assert counts.sum().item() == total == x.shape[0] * s ** (L - h)


def brute_frequencies(gen, train, s, h):
    """(sorted union of blocks, f_gen, f_train) from Counters."""
    cg, ng = block_counter(gen, s, h)
    ct, nt = block_counter(train, s, h)
    values = sorted(set(cg) | set(ct))
    return values, [cg[b] / ng for b in values], [ct[b] / nt for b in values]


@pytest.mark.parametrize("name", SHAPE_IDS)
def test_block_frequencies_match_counter(name):
    """values = sorted union of gen and train blocks; f_gen, f_train relative frequencies (sum 1); overproduction."""
    v, s, L = SHAPES[name]
    train = train_with_duplicates(v, s**L, 30, seed=6)
    gen = mixed_samples(train, v, 25, seed=7, s=s)
    for h in range(1, L + 1):
        freq = block_frequencies(gen, train, h, s, v)
        values, fg, ft = brute_frequencies(gen, train, s, h)
        assert isinstance(freq, BlockFrequencies) and freq.height == h and freq.f_true is None
        assert as_tuples(freq.values) == values
        assert freq.f_gen.dtype == torch.float64 and freq.f_train.dtype == torch.float64
        assert freq.f_gen.tolist() == pytest.approx(fg, abs=1e-15)
        assert freq.f_train.tolist() == pytest.approx(ft, abs=1e-15)
        assert freq.f_gen.sum().item() == pytest.approx(1.0, abs=1e-12)
        assert freq.f_train.sum().item() == pytest.approx(1.0, abs=1e-12)
        over = freq.overproduction.tolist()
        for o, a, b in zip(over, fg, ft):
            assert o == (math.inf if b == 0 else pytest.approx(a / b, rel=1e-12))


@pytest.mark.parametrize("name", ["v3s2L3", "v7s2L5-multiword", "v50s2L4-multiword"])
def test_block_frequencies_aligns_given_truth(name):
    """f_true[k] = mean over positions of true_probs at values[k]'s row in true_values, 0 where absent (dict)."""
    v, s, L = SHAPES[name]
    rng = random.Random(8)
    train = train_with_duplicates(v, s**L, 20, seed=8)
    gen = mixed_samples(train, v, 20, seed=9, s=s)
    for h in range(1, L + 1):
        seen = sorted({b for x in (gen, train) for r in as_tuples(x) for b in aligned_blocks(r, s, h)})
        extra = {tuple(rng.randrange(v) for _ in range(s**h)) for _ in range(5)}
        true_blocks = sorted(set(rng.sample(seen, len(seen) // 2)) | extra)
        rng.shuffle(true_blocks)  # the alignment must not rely on the order of true_values
        positions = s ** (L - h)
        probs = torch.rand(positions, len(true_blocks), generator=torch.Generator().manual_seed(h), dtype=torch.float64)
        freq = block_frequencies(gen, train, h, s, v, torch.tensor(true_blocks), probs)
        pooled = {b: sum(probs[j, k].item() for j in range(positions)) / positions for k, b in enumerate(true_blocks)}
        assert freq.f_true.tolist() == pytest.approx([pooled.get(b, 0.0) for b in as_tuples(freq.values)], abs=1e-14)


@pytest.mark.parametrize("name", list(GRAMMARS))
def test_block_frequencies_truth_matches_enumeration(name):
    """f_true from block_probabilities = Σ_x p(x)·(share of x's positions holding the block), from enumerate()."""
    g = GRAMMARS[name]()
    strings, log_prob = g.enumerate()
    rows, probs = as_tuples(strings), log_prob.exp().tolist()
    train = g.sample(60, 1)
    gen = torch.cat([g.sample(30, 2), torch.randint(0, g.v, (10, g.d), generator=torch.Generator().manual_seed(3))])
    underivable = 0
    for h in range(1, g.L + 1):
        positions = g.s ** (g.L - h)
        truth = {}
        for r, p in zip(rows, probs):
            for b in aligned_blocks(r, g.s, h):
                truth[b] = truth.get(b, 0.0) + p / positions
        bp = g.block_probabilities(h)
        freq = block_frequencies(gen, train, h, g.s, g.v, bp.values, bp.probs)
        expected = [truth.get(b, 0.0) for b in as_tuples(freq.values)]
        assert freq.f_true.dtype == torch.float64
        assert freq.f_true.tolist() == pytest.approx(expected, abs=1e-12)
        assert sum(truth.values()) == pytest.approx(1.0, abs=1e-12)
        underivable += sum(e == 0 for e in expected)
    assert underivable > 0  # the random strings contribute blocks the grammar cannot derive (f_true = 0)


@pytest.mark.parametrize("mismatch", ["other-height-truth", "too-few-prob-columns", "values-without-probs"])
def test_block_frequencies_rejects_mismatched_truth(mismatch):
    """A truth that does not fit the height or is half given → ValueError, not a silently misaligned f_true."""
    g = GRAMMARS["v3n2m2s2L3"]()
    train, gen = g.sample(50, 1), g.sample(20, 2)
    bp1, bp2 = g.block_probabilities(1), g.block_probabilities(2)
    values, probs = {
        "other-height-truth": (bp2.values, bp2.probs),  # blocks of 4 tokens offered for height 1 (2 tokens)
        "too-few-prob-columns": (bp1.values, bp1.probs[:, :3]),
        "values-without-probs": (bp1.values, None),
    }[mismatch]
    with pytest.raises(ValueError):
        block_frequencies(gen, train, 1, g.s, g.v, values, probs)


def test_block_frequencies_rejects():
    """block_frequencies rejects mismatched d, bad tokens, empty sets and bad heights."""
    good = torch.zeros(2, 8, dtype=torch.int64)
    for gen, train in [
        (good, torch.zeros(2, 4, dtype=torch.int64)),
        (good, torch.full((2, 8), 3)),
        (torch.zeros(0, 8, dtype=torch.int64), good),
        (good, torch.zeros(0, 8, dtype=torch.int64)),
        (good.float(), good),
    ]:
        with pytest.raises(ValueError):
            block_frequencies(gen, train, 1, 2, 3)
    with pytest.raises(ValueError):
        block_frequencies(good, good, 4, 2, 3)
    with pytest.raises(ValueError):
        block_counts(torch.full((2, 8), 5), 1, 2, 3)


def test_top_blocks_are_the_most_frequent_training_blocks():
    """top_blocks: the k largest training frequencies (ties in block order), each with its three frequencies."""
    g = Grammar(v=4, n=4, m=2, s=2, L=3, seed=3, zipf_exponent=1.5, zipf_levels=[1, 2, 3])
    train, gen = g.sample(300, 1), g.sample(200, 2)
    for h in (1, 2):
        bp = g.block_probabilities(h)
        freq = block_frequencies(gen, train, h, g.s, g.v, bp.values, bp.probs)
        top = top_blocks(freq, 5)
        counts, total = block_counter(train, g.s, h)
        ranked = sorted(counts.items(), key=lambda kv: -kv[1])
        assert [r["f_train"] for r in top] == pytest.approx([c / total for _, c in ranked[:5]])
        gen_counts, gen_total = block_counter(gen, g.s, h)
        for r in top:
            block = tuple(r["block"])
            assert r["f_train"] == pytest.approx(counts[block] / total)
            assert r["f_gen"] == pytest.approx(gen_counts.get(block, 0) / gen_total)
            assert r["f_true"] is not None and r["f_true"] > 0
