"""rhm_memo.metrics.substrings: KL, entropy, slop index and frequency_summary, vs plain-Python math and hand cases."""

import itertools
import math
import random

import pytest
import torch
from metrics_helpers import (
    GRAMMARS,
    SHAPES,
    aligned_blocks,
    as_tuples,
    block_counter,
    mixed_samples,
    train_with_duplicates,
)

from rhm_memo.metrics.substrings import (
    block_frequencies,
    block_probabilities_outside,
    entropy,
    frequency_summary,
    kl_on_support,
    slop_index,
    slop_index_true,
)

# ----------------------------------------------------------------------------------------------------------------------
# KL, entropy, slop index


def t64(x):
    """A float64 tensor."""
    return torch.tensor(x, dtype=torch.float64)


def test_kl_on_support_hand_cases():
    """Hand cases: q with extra mass, p with mass outside q's support, identical, disjoint supports."""
    kl, out = kl_on_support(t64([0.5, 0.5, 0.0]), t64([0.25, 0.25, 0.5]))
    assert kl == pytest.approx(math.log(2), rel=1e-12) and out == 0.0
    kl, out = kl_on_support(t64([0.5, 0.25, 0.25]), t64([0.5, 0.5, 0.0]))
    assert kl == pytest.approx(2 / 3 * math.log(4 / 3) + 1 / 3 * math.log(2 / 3), rel=1e-12)
    assert out == pytest.approx(0.25, abs=1e-15)
    kl, out = kl_on_support(t64([0.2, 0.3, 0.5]), t64([0.2, 0.3, 0.5]))
    assert kl == pytest.approx(0.0, abs=1e-15) and out == 0.0
    kl, out = kl_on_support(t64([1.0, 0.0]), t64([0.0, 1.0]))
    assert math.isnan(kl) and out == 1.0
    kl, out = kl_on_support(t64([0.0, 1.0]), t64([0.5, 0.5]))  # p one-hot on q's support: -log q
    assert kl == pytest.approx(math.log(2), rel=1e-12) and out == 0.0


@pytest.mark.parametrize("seed", range(10))
def test_kl_on_support_matches_python(seed):
    """Random sparse p, q vs the loop definition: p̃ = p on {q>0} renormalized, q not renormalized."""
    rng = random.Random(seed)
    k = rng.randint(2, 12)
    p = [rng.random() if rng.random() < 0.7 else 0.0 for _ in range(k)]
    q = [rng.random() if rng.random() < 0.7 else 0.0 for _ in range(k)]
    p[0] = p[0] or 0.1
    sp, sq = sum(p), sum(q) or 1.0
    p, q = [x / sp for x in p], [x / sq for x in q]
    inside = sum(a for a, b in zip(p, q) if b > 0)
    outside = sum(a for a, b in zip(p, q) if b == 0)
    kl, out = kl_on_support(t64(p), t64(q))
    assert out == pytest.approx(outside, abs=1e-14)
    if inside == 0:
        assert math.isnan(kl)
    else:
        expected = sum(a / inside * math.log(a / inside / b) for a, b in zip(p, q) if a > 0 and b > 0)
        assert kl == pytest.approx(expected, rel=1e-10, abs=1e-14)
        assert kl >= -1e-12


def test_kl_on_support_rejects():
    """kl_on_support rejects unequal shapes and non-1-D tensors."""
    with pytest.raises(ValueError):
        kl_on_support(t64([0.5, 0.5]), t64([1.0]))
    with pytest.raises(ValueError):
        kl_on_support(t64([[0.5, 0.5]]), t64([[0.5, 0.5]]))


def test_entropy_hand_cases():
    """Entropy: uniform over 4 → log 4; one-hot → 0; zeros ignored; [0.5, 0.25, 0.25] → 1.5 log 2."""
    assert entropy(t64([0.25] * 4)) == pytest.approx(math.log(4), rel=1e-12)
    assert entropy(t64([0.0, 1.0, 0.0])) == 0.0
    assert entropy(t64([0.5, 0.0, 0.25, 0.25])) == pytest.approx(1.5 * math.log(2), rel=1e-12)


def python_entropy(freq):
    """−Σ f log f over the nonzero values of a dict of frequencies (plain Python)."""
    return -sum(f * math.log(f) for f in freq.values() if f > 0)


def python_kl_on_support(p, q):
    """(KL(p̃‖q), mass of p where q = 0) over dicts of block → frequency, p̃ = p renormalized where q > 0."""
    inside = sum(f for b, f in p.items() if q.get(b, 0) > 0)
    outside = sum(f for b, f in p.items() if f > 0 and q.get(b, 0) == 0)
    if inside == 0:
        return math.nan, outside
    return sum(f / inside * math.log(f / inside / q[b]) for b, f in p.items() if f > 0 and q.get(b, 0) > 0), outside


@pytest.mark.parametrize("seed", range(10))
def test_entropy_matches_python(seed):
    """Random distributions with zeros vs −Σ p log p in plain Python over the nonzero entries."""
    rng = random.Random(seed)
    k = rng.randint(1, 50)
    counts = [rng.choice([0, 0, 1, 2, 3, 10]) for _ in range(k)]
    counts[rng.randrange(k)] = 1
    total = sum(counts)
    p = {i: c / total for i, c in enumerate(counts)}
    assert entropy(t64(list(p.values()))) == pytest.approx(python_entropy(p), rel=1e-12, abs=1e-15)


def brute_slop(f_gen, f_train, num, den):
    """The definition written out: threshold = the f_train value at rank ⌈K·num/den⌉ (1-based, descending) of the K
    training blocks; the top set is every block with f_train ≥ it, ties included; NaN where all K values tie."""
    train_values = sorted((f for f in f_train if f > 0), reverse=True)
    if len(set(train_values)) == 1:
        return math.nan
    rank = -(-len(train_values) * num // den)  # integer ceiling
    threshold = train_values[rank - 1]
    top = [i for i in range(len(f_train)) if f_train[i] > 0 and f_train[i] >= threshold]
    return sum(f_gen[i] for i in top) / sum(f_train[i] for i in top)


def same(a, b):
    """Equal floats up to rounding, NaN equal to NaN."""
    return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-12)


def test_slop_index_hand_cases():
    """10 training blocks: the top decile is the most frequent one; 0.6 generated mass on 0.3 training mass → 2."""
    f_train = [0.3, 0.2, 0.1, 0.1, 0.1, 0.05, 0.05, 0.04, 0.03, 0.03]
    f_gen = [0.6, 0.1, 0.1, 0.1, 0.1, 0.0, 0.0, 0.0, 0.0, 0.0]
    assert slop_index(t64(f_gen), t64(f_train)) == pytest.approx(2.0, rel=1e-12)
    # 11 blocks, one of them generated only (f_train = 0): K_train = 10, so still top 1 (not ceil(1.1) = 2)
    assert slop_index(t64([*f_gen[:-1], 0.05, 0.05]), t64([*f_train[:-1], 0.03, 0.0])) == pytest.approx(2.0, rel=1e-12)
    ft = [0.3, 0.2, 0.1, 0.1, 0.1, 0.05, 0.05, 0.04, 0.03, 0.02, 0.01]
    fg = [0.1, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.4]
    assert slop_index(t64(fg), t64(ft)) == pytest.approx(0.6 / 0.5, rel=1e-12)
    assert slop_index(t64(fg), t64(ft), top_fraction=1.0) == pytest.approx(1.0, rel=1e-12)


def test_slop_index_ties_straddling_the_rank_all_enter():
    """K = 20, rank ⌈20/10⌉ = 2 falls inside a 3-way tie: all three tied blocks enter, wherever they sit."""
    counts = [1] * 20
    counts[7] = 5
    for i in (2, 11, 19):  # tied at ranks 2..4
        counts[i] = 3
    total = sum(counts)  # 30
    f_train = [c / total for c in counts]
    f_gen = [0.0] * 20
    f_gen[19] = 1.0  # all generated mass on the last tied block (block order would have left it out)
    assert slop_index(t64(f_gen), t64(f_train)) == pytest.approx(1.0 / (14 / 30), rel=1e-12)
    f_gen = [0.05] * 20
    assert slop_index(t64(f_gen), t64(f_train)) == pytest.approx((4 * 0.05) / (14 / 30), rel=1e-12)


def test_slop_index_all_ties_is_nan():
    """All K training frequencies equal (K = 1 included; zeros do not count): the index is undefined, NaN."""
    for f_train in ([0.25] * 4, [1.0], [0.5, 0.0, 0.5], [0.0, 1 / 3, 1 / 3, 0.0, 1 / 3]):
        f_gen = [1 / len(f_train)] * len(f_train)
        for top in (0.1, 0.5, 1.0):
            assert math.isnan(slop_index(t64(f_gen), t64(f_train), top))
    # whole strings of a training set without duplicates: every string has frequency 1/P
    train = torch.tensor([[0, 1, 2, 0], [1, 1, 0, 2], [2, 2, 2, 2]])
    freq = block_frequencies(torch.tensor([[0, 1, 2, 0], [0, 0, 0, 0]]), train, 2, 2, 3)
    assert math.isnan(slop_index(freq.f_gen, freq.f_train))
    assert math.isnan(frequency_summary(freq)["slop_index"])


def test_slop_index_rank_is_exact_for_decimal_fractions():
    """100 distinct training counts, top_fraction 0.07: rank 7 (0.07·100 is 7.000000000000001 in floating point)."""
    counts = list(range(1, 101))
    total = sum(counts)
    f_train = [c / total for c in counts]
    f_gen = [0.01] * 100
    expected = 0.07 / (sum(range(94, 101)) / total)  # the 7 largest counts: 94..100
    assert slop_index(t64(f_gen), t64(f_train), 0.07) == pytest.approx(expected, rel=1e-12)


TOP_FRACTIONS = [(1, 20), (1, 10), (7, 100), (1, 4), (1, 2), (1, 1)]  # (num, den): top_fraction = num/den


def random_frequencies(rng):
    """(f_gen, f_train) of random length with many ties and zeros in f_train, as Python lists."""
    k = rng.randint(1, 60)
    f_train = [rng.choice([0, 1, 1, 2, 2, 3, 5]) for _ in range(k)]
    f_train[rng.randrange(k)] = 4
    f_gen = [rng.choice([0, 1, 2, 7]) for _ in range(k)]
    f_gen[0] = 1
    st, sg = sum(f_train), sum(f_gen)
    return [x / sg for x in f_gen], [x / st for x in f_train]


@pytest.mark.parametrize("seed", range(20))
def test_slop_index_matches_brute_force(seed):
    """Random frequencies with ties and zeros vs the definition written out, for several top fractions."""
    f_gen, f_train = random_frequencies(random.Random(seed))
    for num, den in TOP_FRACTIONS:
        assert same(slop_index(t64(f_gen), t64(f_train), num / den), brute_slop(f_gen, f_train, num, den))


@pytest.mark.parametrize("seed", range(10))
def test_slop_index_invariant_under_block_order(seed):
    """Permuting the blocks (f_gen and f_train alike) never changes the slop index: ties are not broken by order."""
    rng = random.Random(100 + seed)
    f_gen, f_train = random_frequencies(rng)
    for num, den in TOP_FRACTIONS:
        reference = slop_index(t64(f_gen), t64(f_train), num / den)
        for _ in range(5):
            perm = list(range(len(f_train)))
            rng.shuffle(perm)
            got = slop_index(t64([f_gen[i] for i in perm]), t64([f_train[i] for i in perm]), num / den)
            assert same(got, reference)


def test_slop_index_rejects():
    """slop_index rejects mismatched shapes, top_fraction outside (0, 1], and an empty training support."""
    with pytest.raises(ValueError):
        slop_index(t64([0.5, 0.5]), t64([1.0]))
    for top in [0.0, -0.1, 1.5]:
        with pytest.raises(ValueError):
            slop_index(t64([0.5, 0.5]), t64([0.5, 0.5]), top)
    with pytest.raises(ValueError):
        slop_index(t64([0.5, 0.5]), t64([0.0, 0.0]))


def test_frequency_summary_keys_and_values():
    """frequency_summary has the documented keys (truth keys only with f_true) and agrees with the functions."""
    g = GRAMMARS["v3n2m2s2L3"]()
    train, gen = g.sample(50, 1), torch.cat([g.sample(20, 2), torch.randint(0, 3, (5, 8))])
    bp = g.block_probabilities(2)
    freq = block_frequencies(gen, train, 2, 2, 3, bp.values, bp.probs)
    out = frequency_summary(freq, top_fraction=0.2)
    assert set(out) == {
        "kl_gen_train",
        "gen_mass_outside_train",
        "entropy_gen",
        "entropy_train",
        "slop_index",
        "kl_gen_true",
        "gen_mass_outside_true",
        "slop_index_null",
    }
    assert out["kl_gen_train"] == kl_on_support(freq.f_gen, freq.f_train)[0]
    assert out["gen_mass_outside_train"] == kl_on_support(freq.f_gen, freq.f_train)[1]
    assert out["kl_gen_true"] == kl_on_support(freq.f_gen, freq.f_true)[0]
    assert out["gen_mass_outside_true"] == kl_on_support(freq.f_gen, freq.f_true)[1]
    assert out["entropy_gen"] == entropy(freq.f_gen) and out["entropy_train"] == entropy(freq.f_train)
    assert out["slop_index"] == slop_index(freq.f_gen, freq.f_train, 0.2)
    no_truth = frequency_summary(block_frequencies(gen, train, 2, 2, 3))
    assert set(no_truth) == {"kl_gen_train", "gen_mass_outside_train", "entropy_gen", "entropy_train", "slop_index"}


def brute_summary(gen, train, s, h, num, den, truth=None):
    """frequency_summary's numbers from collections.Counter of block tuples and plain-Python math over dicts."""
    cg, ng = block_counter(gen, s, h)
    ct, nt = block_counter(train, s, h)
    f_gen = {b: c / ng for b, c in cg.items()}
    f_train = {b: c / nt for b, c in ct.items()}
    union = sorted(set(f_gen) | set(f_train))
    out = dict(zip(("kl_gen_train", "gen_mass_outside_train"), python_kl_on_support(f_gen, f_train)))
    out["entropy_gen"], out["entropy_train"] = python_entropy(f_gen), python_entropy(f_train)
    out["slop_index"] = brute_slop([f_gen.get(b, 0.0) for b in union], [f_train.get(b, 0.0) for b in union], num, den)
    if truth is not None:
        out["kl_gen_true"], out["gen_mass_outside_true"] = python_kl_on_support(f_gen, truth)
        # a perfect generalizer's expected f_gen is the truth; the index is linear in f_gen for a fixed top set
        out["slop_index_null"] = brute_slop(
            [truth.get(b, 0.0) for b in union], [f_train.get(b, 0.0) for b in union], num, den
        )
    return out


@pytest.mark.parametrize("name", list(GRAMMARS))
@pytest.mark.parametrize(("num", "den"), [(1, 10), (1, 4)])
def test_frequency_summary_matches_counter(name, num, den):
    """Every number of frequency_summary, at every height, vs Counters of block tuples and the enumerated truth."""
    g = GRAMMARS[name]()
    strings, log_prob = g.enumerate()
    train = torch.cat([g.sample(40, 1), g.sample(10, 1)])  # duplicates: whole strings do not all tie
    noise = torch.randint(0, g.v, (8, g.d), generator=torch.Generator().manual_seed(3))
    gen = torch.cat([g.sample(30, 2), noise])  # blocks outside the training set and outside the grammar
    for h in range(1, g.L + 1):
        positions = g.s ** (g.L - h)
        truth = {}
        for r, p in zip(as_tuples(strings), log_prob.exp().tolist()):
            for b in aligned_blocks(r, g.s, h):
                truth[b] = truth.get(b, 0.0) + p / positions
        bp = g.block_probabilities(h)
        got = frequency_summary(block_frequencies(gen, train, h, g.s, g.v, bp.values, bp.probs), num / den)
        expected = brute_summary(gen, train, g.s, h, num, den, truth)
        assert set(got) == set(expected)
        for key, value in expected.items():
            assert same(got[key], value) or got[key] == pytest.approx(value, abs=1e-13), (h, key)
        no_truth = frequency_summary(block_frequencies(gen, train, h, g.s, g.v), num / den)
        assert set(no_truth) == set(expected) - {"kl_gen_true", "gen_mass_outside_true", "slop_index_null"}


@pytest.mark.parametrize("name", ["v3s2L3", "v6s2L4", "v7s2L5-multiword"])
def test_frequency_summary_matches_counter_random_strings(name):
    """The same on random strings with duplicates (no truth): slop with ties, mass outside the training blocks."""
    v, s, L = SHAPES[name]
    train = train_with_duplicates(v, s**L, 40, seed=11, dup_frac=0.3)
    gen = mixed_samples(train, v, 50, seed=12, s=s)
    for h in range(1, L + 1):
        got = frequency_summary(block_frequencies(gen, train, h, s, v))
        expected = brute_summary(gen, train, s, h, 1, 10)
        assert set(got) == set(expected)
        for key, value in expected.items():
            assert same(got[key], value) or got[key] == pytest.approx(value, abs=1e-13), (h, key)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: entropy(torch.tensor([0.5, 0.6])), "summing to 1"),
        (lambda: entropy(torch.tensor([1.5, -0.5])), "negative"),
        (lambda: kl_on_support(torch.tensor([0.2, 0.2]), torch.tensor([0.5, 0.5])), "p must be a probability"),
        (lambda: kl_on_support(torch.tensor([0.5, 0.5]), torch.tensor([0.9, 0.9])), "at most 1"),
        (lambda: kl_on_support(torch.tensor([0.5, 0.5]), torch.tensor([float("nan"), 0.5])), "NaN"),
    ],
)
def test_unnormalised_inputs_are_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("name", ["v3n2m2s2L3", "zipf-v3n2m3s2L2"])
def test_slop_index_null_is_the_mean_over_grammar_samplers(name):
    """slop_index_null is what a perfect generalizer scores on average: the mean slop index of many generated sets
    drawn from the grammar itself (Monte Carlo, 400 sets of 64) lies within 4 standard errors of it; in these
    grammars it is well below 1 (the top decile is chosen from a finite training sample of 30 strings)."""
    g = GRAMMARS[name]()
    train = g.sample(30, 7)
    for h in range(1, g.L):
        bp = g.block_probabilities(h)
        null = frequency_summary(block_frequencies(train, train, h, g.s, g.v, bp.values, bp.probs))["slop_index_null"]
        draws = [
            frequency_summary(block_frequencies(g.sample(64, 100 + i), train, h, g.s, g.v))["slop_index"]
            for i in range(400)
        ]
        mean = sum(draws) / len(draws)
        se = math.sqrt(sum((d - mean) ** 2 for d in draws) / (len(draws) - 1) / len(draws))
        assert abs(mean - null) < 4 * se + 1e-12, (h, mean, null, se)
        assert null < 1 - 10 * se  # far below 1 here: a null of 1 would fail the comparison above


@pytest.mark.parametrize("name", list(GRAMMARS))
def test_slop_index_true_matches_the_definition(name):
    """slop_index_true vs the definition over the enumerated grammar: block probabilities pooled over positions
    by summing p(x) over every string, generated frequencies from a Counter, the top decile by the truth."""
    g = GRAMMARS[name]()
    strings, log_prob = g.enumerate()
    noise = torch.randint(0, g.v, (8, g.d), generator=torch.Generator().manual_seed(3))
    gen = torch.cat([g.sample(30, 2), noise])  # blocks outside the grammar count in f_gen's total only
    for h in range(1, g.L + 1):
        positions = g.s ** (g.L - h)
        truth = {}
        for r, p in zip(as_tuples(strings), log_prob.exp().tolist()):
            for b in aligned_blocks(r, g.s, h):
                truth[b] = truth.get(b, 0.0) + p / positions
        counts, total = block_counter(gen, g.s, h)
        blocks = sorted(truth)
        expected = brute_slop([counts.get(b, 0) / total for b in blocks], [truth[b] for b in blocks], 1, 10)
        bp = g.block_probabilities(h)
        assert same(slop_index_true(gen, h, g.s, g.v, bp.values, bp.probs), expected), (name, h)


def test_slop_index_true_is_one_for_a_perfect_generalizer():
    """No sample chooses the top set, so the grammar's own samples score 1 on average (Monte Carlo, 400 sets)."""
    g = GRAMMARS["zipf-v3n2m3s2L2"]()
    for h in range(1, g.L + 1):
        bp = g.block_probabilities(h)
        draws = [slop_index_true(g.sample(64, 500 + i), h, g.s, g.v, bp.values, bp.probs) for i in range(400)]
        assert not any(math.isnan(d) for d in draws), h
        mean = sum(draws) / len(draws)
        se = math.sqrt(sum((d - mean) ** 2 for d in draws) / (len(draws) - 1) / len(draws))
        assert abs(mean - 1.0) < 4 * se + 1e-12, (h, mean, se)


# ----------------------------------------------------------------------------------------------------------------------
# novel samples: block probabilities outside the training set, and the slop index's null on novel samples


@pytest.mark.parametrize("name", list(GRAMMARS))
def test_block_probabilities_outside_match_the_enumerated_grammar(name):
    """Per position, the block distribution of the grammar's strings outside a set (with duplicates), from the
    enumerated strings: Σ_{x ∉ S} p(x)·1[block j of x = b] / Σ_{x ∉ S} p(x); every row sums to 1."""
    g = GRAMMARS[name]()
    strings, log_prob = g.enumerate()
    train = g.sample(min(12, len(strings) // 2), 3)
    train = torch.cat([train, train[:2]])  # duplicates count once
    excluded = set(as_tuples(train))
    assert len(excluded) < len(strings)
    for h in range(1, g.L + 1):
        bp = g.block_probabilities(h)
        got = block_probabilities_outside(bp.values, bp.probs, train, g.log_prob(train), h, g.s, g.v)
        column = {b: k for k, b in enumerate(as_tuples(bp.values))}
        positions = g.s ** (g.L - h)
        expected = [[0.0] * len(column) for _ in range(positions)]
        outside = 0.0
        for row, p in zip(as_tuples(strings), log_prob.exp().tolist()):
            if row not in excluded:
                outside += p
                for j, b in enumerate(aligned_blocks(row, g.s, h)):
                    expected[j][column[b]] += p
        expected = torch.tensor(expected, dtype=torch.float64) / outside
        assert got.shape == (positions, len(column))
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)
        torch.testing.assert_close(got.sum(1), torch.ones(positions, dtype=torch.float64), rtol=0, atol=1e-12)


def test_the_novel_null_is_the_mean_over_grammar_samplers_novel_samples():
    """slop_index(f_true outside the training set, f_train) is what a perfect generalizer's novel samples score on
    average (Monte Carlo over 400 sets of 64 grammar samples, copies dropped), within 4 standard errors; the null
    on all samples differs from it by more than that here (the 30 training strings hold much of the mass)."""
    g = GRAMMARS["zipf-v3n2m3s2L2"]()
    train = g.sample(30, 7)
    excluded = set(as_tuples(train))
    for h in range(1, g.L):
        bp = g.block_probabilities(h)
        outside = block_probabilities_outside(bp.values, bp.probs, train, g.log_prob(train), h, g.s, g.v)
        freq = block_frequencies(train, train, h, g.s, g.v, bp.values, outside)
        null = slop_index(freq.f_true, freq.f_train)
        plain = frequency_summary(block_frequencies(train, train, h, g.s, g.v, bp.values, bp.probs))["slop_index_null"]
        draws = []
        for i in range(400):
            gen = g.sample(64, 100 + i)
            novel = gen[torch.tensor([r not in excluded for r in as_tuples(gen)])]
            draws.append(frequency_summary(block_frequencies(novel, train, h, g.s, g.v))["slop_index"])
        mean = sum(draws) / len(draws)
        se = math.sqrt(sum((d - mean) ** 2 for d in draws) / (len(draws) - 1) / len(draws))
        assert abs(mean - null) < 4 * se + 1e-12, (h, mean, null, se)
        assert abs(plain - null) > 6 * se, (h, plain, null, se)


def test_strings_outside_the_grammar_are_ignored_and_a_mismatched_log_prob_is_an_error():
    """A string the grammar cannot derive (log p = −inf) takes no mass away; a finite log p for one is an error."""
    g = GRAMMARS["v3n2m2s2L3"]()
    strings, log_prob = g.enumerate()
    derivable = set(as_tuples(strings))
    bad = next(torch.tensor([r]) for r in itertools.product(range(g.v), repeat=g.d) if r not in derivable)
    assert g.log_prob(bad).item() == -math.inf
    train = torch.cat([strings[:5], bad])
    for h in range(1, g.L + 1):
        bp = g.block_probabilities(h)
        alone = block_probabilities_outside(bp.values, bp.probs, strings[:5], log_prob[:5], h, g.s, g.v)
        got = block_probabilities_outside(bp.values, bp.probs, train, g.log_prob(train), h, g.s, g.v)
        assert torch.equal(got, alone), h
    bp = g.block_probabilities(g.L)
    with pytest.raises(ValueError, match="cannot derive"):
        block_probabilities_outside(bp.values, bp.probs, train, torch.full((6,), -5.0), g.L, g.s, g.v)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("log_prob", "one entry per string"),
        ("everything", "all of the grammar's mass"),
        ("height", "block_probabilities"),
    ],
)
def test_block_probabilities_outside_bad_inputs(change, message):
    g = GRAMMARS["v3n2m2s2L3"]()
    strings, log_prob = g.enumerate()
    bp = g.block_probabilities(1)
    args = [bp.values, bp.probs, strings[:5], log_prob[:5], 1, g.s, g.v]
    if change == "log_prob":
        args[3] = log_prob[:4]
    elif change == "everything":
        args[2], args[3] = strings, log_prob
    else:
        args[4] = 2
    with pytest.raises(ValueError, match=message):
        block_probabilities_outside(*args)
