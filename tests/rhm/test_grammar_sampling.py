"""The grammar's samplers: derivations, determinism, frequencies vs probabilities, sampling without replacement."""

import math
import random

import numpy as np
import pytest
import torch
from grammar_helpers import CASE_IDS, as_tuples, assert_close, case, random_probs

from rhm_memo.rhm import Grammar

# ----------------------------------------------------------------------------------------------------------------------
# sampled derivations


@pytest.mark.parametrize("name", CASE_IDS)
def test_sample_derivations_round_trip(name):
    """Sampled derivations: consistent log_prob, shapes, parse round-trip, children produced by the chosen rules."""
    g, bf = case(name)
    num = 400
    der = g.sample_derivations(num, 123)
    x, parse = der.strings, der.parse
    assert x.dtype == torch.int64 and x.shape == (num, g.d)
    assert der.log_prob.dtype == torch.float64 and der.log_prob.shape == (num,)
    torch.testing.assert_close(der.log_prob, g.log_prob(x), rtol=1e-12, atol=1e-12)
    assert_close(der.log_prob.tolist(), [bf.strings[t][0] for t in as_tuples(x)])  # KeyError if not in the language
    assert len(parse.symbols) == len(parse.rules) == g.L
    reparsed = g.parse(x)
    for h in range(1, g.L + 1):
        level = g.L - h + 1
        sym, rule = parse.symbols[h - 1], parse.rules[h - 1]
        assert sym.shape == rule.shape == (num, g.s ** (g.L - h))
        assert sym.dtype == rule.dtype == torch.int64
        assert torch.equal(reparsed.symbols[h - 1], sym)
        assert torch.equal(reparsed.rules[h - 1], rule)
        assert bool((sym >= 0).all()) and bool((rule >= 0).all()) and bool((rule < g.m).all())
        assert bool((g.rule_probs[level - 1][sym, rule] > 0).all())
        below = x if h == 1 else parse.symbols[h - 2]
        produced = g.rules[level - 1][sym, rule]  # (num, s**(L-h), s)
        assert torch.equal(produced, below.view(num, -1, g.s))
    roots = parse.symbols[-1][:, 0]
    assert bool((g.root_prior[roots] > 0).all())
    assert parse.fully_valid.all()


@pytest.mark.parametrize("name", CASE_IDS)
def test_sample_determinism(name):
    """sample(N, seed): same seed (int or Generator) gives the same strings, another seed different ones."""
    g, _ = case(name)
    a = g.sample(300, 7)
    assert torch.equal(a, g.sample(300, 7))
    assert torch.equal(a, g.sample(300, torch.Generator().manual_seed(7)))
    assert torch.equal(a, g.sample_derivations(300, 7).strings)
    if g.num_strings() > 1:
        assert not torch.equal(a, g.sample(300, 8))


# ----------------------------------------------------------------------------------------------------------------------
# statistics of sampled derivations


def test_rule_and_root_frequencies_match_probabilities():
    """Empirical rule frequencies per (level, symbol) and root frequencies of 200k samples match the configuration.

    Tolerance per cell: 5 standard errors sqrt(p(1-p)/N_symbol) (plus 1e-12); zero-probability cells must never occur.
    """
    per_symbol = random_probs(3, 3, seed=7)  # with zeros
    prior = [0.5, 0.3, 0.2]
    g = Grammar(
        3, 3, 3, 2, 3, seed=21, zipf_exponent=1.0, zipf_levels=(1,), rule_probs={2: per_symbol}, root_prior=prior
    )
    expected_probs = {1: np.tile([6 / 11, 3 / 11, 2 / 11], (3, 1)), 2: per_symbol, 3: np.full((3, 3), 1 / 3)}
    num = 200_000
    der = g.sample_derivations(num, 2024)
    for level in range(1, g.L + 1):
        h = g.L - level + 1
        sym, rule = der.parse.symbols[h - 1].flatten(), der.parse.rules[h - 1].flatten()
        parents = g.rules[level - 1].shape[0]
        counts = torch.bincount(sym * g.m + rule, minlength=parents * g.m).view(parents, g.m).double()
        np.testing.assert_allclose(g.rule_probs[level - 1].numpy(), expected_probs[level], rtol=1e-12)
        for x in range(parents):
            total = counts[x].sum().item()
            if total == 0:
                continue
            for k in range(g.m):
                p = expected_probs[level][x, k]
                freq = counts[x, k].item() / total
                if p == 0:
                    assert counts[x, k] == 0, (level, x, k)
                else:
                    assert abs(freq - p) <= 5 * math.sqrt(p * (1 - p) / total) + 1e-12, (level, x, k, freq, p)
    roots = der.parse.symbols[-1][:, 0]
    freq = torch.bincount(roots, minlength=g.n).double() / num
    for r, p in enumerate(prior):
        assert abs(freq[r].item() - p) <= 5 * math.sqrt(p * (1 - p) / num), (r, freq[r].item(), p)


def test_string_frequencies_match_probabilities():
    """Empirical frequencies of whole strings (100k samples of a 16-string grammar) match exp(log_prob), 5 SE."""
    g = Grammar(2, 2, 2, 2, 2, seed=1, zipf_exponent=2.0, zipf_levels=(1, 2), root_prior=[0.8, 0.2])
    strings, log_probs = g.enumerate()
    num = 100_000
    x = g.sample(num, 99)
    index = {t: i for i, t in enumerate(as_tuples(strings))}
    counts = np.zeros(len(index))
    for t in as_tuples(x):
        counts[index[t]] += 1
    for c, p in zip(counts, log_probs.exp().tolist(), strict=True):
        assert abs(c / num - p) <= 5 * math.sqrt(p * (1 - p) / num), (c / num, p)


# ----------------------------------------------------------------------------------------------------------------------
# sampling without replacement


@pytest.mark.parametrize("name", CASE_IDS)
def test_sample_unique_small(name):
    """sample_unique: distinct valid rows, exactly num; num = num_strings returns all; one more raises."""
    g, bf = case(name)
    total = g.num_strings()
    for num in sorted({0, 1, total // 2, total}):
        x = g.sample_unique(num, 11)
        assert x.dtype == torch.int64 and x.shape == (num, g.d)
        rows = as_tuples(x)
        assert len(set(rows)) == num
        assert set(rows) <= set(bf.strings)
    assert set(as_tuples(g.sample_unique(total, 12))) == set(bf.strings)
    with pytest.raises(ValueError):
        g.sample_unique(total + 1, 13)


@pytest.mark.parametrize("name", CASE_IDS)
def test_sample_unique_exclude_small(name):
    """With exclude (duplicates, invalid strings included), available = total - distinct valid excluded strings."""
    g, bf = case(name)
    valid = sorted(bf.strings)
    rng = random.Random(5)
    chosen = rng.sample(valid, len(valid) // 3)
    invalid = [b for b, _, _ in bf.all_derivations if b not in bf.strings]  # zero-probability derivations
    gen = torch.Generator().manual_seed(6)
    junk = as_tuples(torch.randint(0, g.v, (20, g.d), generator=gen))
    junk = [t for t in junk if t not in bf.strings]
    exclude = torch.tensor(chosen + chosen[: len(chosen) // 2] + invalid + junk, dtype=torch.int64).view(-1, g.d)
    available = len(valid) - len(chosen)
    x = g.sample_unique(available, 14, exclude=exclude)
    assert x.shape == (available, g.d)
    assert set(as_tuples(x)) == set(valid) - set(chosen)
    half = g.sample_unique(available // 2, 15, exclude=exclude)
    assert len(set(as_tuples(half))) == available // 2 and not set(as_tuples(half)) & set(chosen)
    with pytest.raises(ValueError):
        g.sample_unique(available + 1, 16, exclude=exclude)
    # an empty exclude changes nothing
    assert torch.equal(g.sample_unique(available, 17), g.sample_unique(available, 17, exclude=exclude[:0]))


def test_sample_unique_determinism_small():
    """sample_unique: same seed (int or Generator) gives identical output, different seeds different orders."""
    g = Grammar(3, 2, 2, 2, 2, seed=3)  # 16 equiprobable strings
    total = g.num_strings()
    a = g.sample_unique(total, 1)
    assert torch.equal(a, g.sample_unique(total, 1))
    assert torch.equal(a, g.sample_unique(total, torch.Generator().manual_seed(1)))
    others = [g.sample_unique(total, seed) for seed in range(2, 6)]
    assert all(not torch.equal(a, b) for b in others)
    assert len({tuple(map(tuple, b.tolist())) for b in [a, *others]}) == 5


def test_sample_unique_first_draw_distribution_small():
    """The first string of sample_unique (exact path) is distributed like p(x): 1000 seeds, 5 SE per string."""
    g = Grammar(2, 2, 2, 2, 2, seed=1, zipf_exponent=2.0, zipf_levels=(1, 2), root_prior=[0.8, 0.2])
    strings, log_probs = g.enumerate()
    index = {t: i for i, t in enumerate(as_tuples(strings))}
    num = 1000
    gen = torch.Generator().manual_seed(0)
    counts = np.zeros(len(index))
    for _ in range(num):
        counts[index[as_tuples(g.sample_unique(1, gen))[0]]] += 1
    for c, p in zip(counts, log_probs.exp().tolist(), strict=True):
        assert abs(c / num - p) <= 5 * math.sqrt(p * (1 - p) / num), (c / num, p)


def _row_set(x):
    """Rows of a small-token tensor as a set of bytes (fast, independent of rhm_memo.rhm.keys)."""
    return set(map(bytes, x.numpy().astype(np.uint8)))


def test_sample_unique_rejection_path_distinct_and_excluded():
    """Large grammar (> 2**20 strings, collisions frequent): distinct valid rows, none excluded, deterministic."""
    g = Grammar(4, 1, 3, 2, 4, seed=5)  # 3**15 ≈ 1.4e7 equiprobable strings
    total = g.num_strings()
    assert total == 3**15 > 2**20
    exclude = g.sample(100_000, 1)
    exclude_set = _row_set(exclude)
    # iid draws would hit the excluded set ~1000 times and repeat themselves ~800 times
    num = 150_000
    x = g.sample_unique(num, 2, exclude=torch.cat([exclude, torch.full((5, g.d), 3)]))
    assert x.shape == (num, g.d)
    rows = _row_set(x)
    assert len(rows) == num
    assert not rows & exclude_set
    assert torch.isfinite(g.log_prob(x)).all()
    y = g.sample_unique(20_000, 3)
    assert torch.equal(y, g.sample_unique(20_000, 3))
    assert not torch.equal(y, g.sample_unique(20_000, 4))
    assert len(_row_set(y)) == 20_000
    with pytest.raises(ValueError):
        g.sample_unique(total - len(exclude_set) + 1, 5, exclude=exclude)
    with pytest.raises(ValueError):
        g.sample_unique(total + 1, 5)


def test_sample_unique_rejection_path_unbiased():
    """Paper grammar with Zipf at level 1: sample_unique draws like sample() (mean log-prob, level-1 rule usage)."""
    g = Grammar(6, 6, 4, 2, 4, seed=1951, zipf_exponent=1.0, zipf_levels=(1,))
    assert g.num_strings() > 2**20
    num = 20_000
    u = g.sample_unique(num, 8)
    assert len(_row_set(u)) == num
    iid = g.sample(num, 9)
    lu, li = g.log_prob(u), g.log_prob(iid)
    tol = 5 * math.sqrt(lu.var().item() / num + li.var().item() / num)
    assert abs(lu.mean().item() - li.mean().item()) <= tol
    rule = g.parse(u).rules[-1][:, 0]
    freq = torch.bincount(rule, minlength=g.m).double() / num
    for k, p in enumerate([12 / 25, 6 / 25, 4 / 25, 3 / 25]):
        assert abs(freq[k].item() - p) <= 5 * math.sqrt(p * (1 - p) / num), (k, freq[k].item(), p)
