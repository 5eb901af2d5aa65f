"""Tests of rhm_memo.metrics.grammar (validity, rule usage) against a Python parse and derivable-block sets."""

import math
from collections import Counter

import pytest
import torch
from metrics_helpers import aligned_blocks, as_tuples, derivable_blocks, grammar_probes, py_parse

from rhm_memo.metrics import fully_valid_fraction, rule_usage, validity
from rhm_memo.rhm import Grammar

# tiny grammars (enumerable) and bigger ones (v**d beyond one int64 word, or s = 3)
TINY = {
    "v3n2m2s2L3": lambda: Grammar(3, 2, 2, 2, 3, seed=4),
    "zipf-v4n3m2s2L3": lambda: Grammar(4, 3, 2, 2, 3, seed=11, zipf_exponent=1.3, zipf_levels=(1, 3)),
    "s3-v2n3m2s3L2": lambda: Grammar(2, 3, 2, 3, 2, seed=9, zipf_exponent=1.3, zipf_levels=(2,)),
    "zeros-prior0-v3n3m2s2L3": lambda: Grammar(
        3,
        3,
        2,
        2,
        3,
        seed=6,
        rule_probs={1: [0.3, 0.7], 2: [[1.0, 0.0], [0.4, 0.6], [0.0, 1.0]]},
        root_prior=[0.5, 0.0, 0.5],
    ),
    "L1-v4n2m2": lambda: Grammar(4, 2, 2, 2, 1, seed=3),
}
BIG = {
    "multiword-v7n3m3s2L5": lambda: Grammar(7, 3, 3, 2, 5, seed=1),
    "multiword-v15n4m5s2L5": lambda: Grammar(15, 4, 5, 2, 5, seed=2, zipf_exponent=1.0, zipf_levels=(1, 5)),
    "v6n6m4s2L4-paper": lambda: Grammar(6, 6, 4, 2, 4, seed=1951, zipf_exponent=1.0, zipf_levels=(1,)),
}
ALL = {**TINY, **BIG}


def brute_validity(g, strings, is_valid):
    """Per height: (fraction of valid blocks, fraction of strings with every block valid); ``is_valid(h, block)``."""
    out = {}
    rows = as_tuples(strings)
    for h in range(1, g.L + 1):
        flags = [[is_valid(h, b) for b in aligned_blocks(r, g.s, h)] for r in rows]
        flat = [f for r in flags for f in r]
        out[h] = (sum(flat) / len(flat), sum(all(r) for r in flags) / len(flags))
    return out


def assert_validity(got, expected):
    """Compare validity() output to brute_validity()."""
    assert sorted(got) == sorted(expected)
    for h, (blocks_frac, strings_frac) in expected.items():
        assert set(got[h]) == {"blocks", "strings"}
        assert got[h]["blocks"] == pytest.approx(blocks_frac, abs=1e-14), h
        assert got[h]["strings"] == pytest.approx(strings_frac, abs=1e-14), h


@pytest.mark.parametrize("name", list(TINY))
def test_validity_matches_derivable_sets(name):
    """validity per height = membership of each aligned block in the set of derivable blocks (recursive enumeration)."""
    g = TINY[name]()
    derivable = derivable_blocks(g)
    x = grammar_probes(g, 60, seed=1)
    expected = brute_validity(g, x, lambda h, b: b in derivable[h])
    assert_validity(validity(g, x), expected)
    assert fully_valid_fraction(g, x) == pytest.approx(expected[g.L][1], abs=1e-14)
    enumerated = set(as_tuples(g.enumerate()[0]))
    assert fully_valid_fraction(g, x) == pytest.approx(sum(r in enumerated for r in as_tuples(x)) / len(x), abs=1e-14)
    assert 0 < expected[g.L][1] < 1  # valid and invalid strings both present


@pytest.mark.parametrize("name", list(ALL))
def test_validity_matches_python_parse(name):
    """validity per height = share of blocks (and of strings with all blocks) that the Python parse accepts."""
    g = ALL[name]()
    x = grammar_probes(g, 40, seed=2)
    ok = {h: set() for h in range(1, g.L + 1)}  # blocks the Python parse accepts, per height
    for r, per_height in zip(as_tuples(x), py_parse(g, x)):
        for h in range(1, g.L + 1):
            for b, node in zip(aligned_blocks(r, g.s, h), per_height[h - 1]):
                if node is not None:
                    ok[h].add(b)
    expected = brute_validity(g, x, lambda h, b: b in ok[h])
    got = validity(g, x)
    assert_validity(got, expected)
    assert fully_valid_fraction(g, x) == got[g.L]["strings"]
    assert 0 < expected[g.L][1] < 1  # valid and invalid strings both present
    assert got[1]["blocks"] > got[g.L]["blocks"] or g.L == 1


def test_validity_all_valid_and_all_invalid():
    """Grammar samples: every fraction 1; strings of a token outside every rule's children: every fraction 0."""
    g = Grammar.from_rules([[[[0, 1], [1, 1]]], [[[0, 0], [1, 0]], [[0, 1], [1, 1]], [[0, 2], [1, 2]]]], v=3)
    out = validity(g, g.sample(20, 0))
    assert all(f == {"blocks": 1.0, "strings": 1.0} for f in out.values())
    assert fully_valid_fraction(g, g.sample(20, 0)) == 1.0
    bad = torch.full((5, 4), 2)  # (2, 2) is no rule's children at level 2
    out = validity(g, bad)
    assert all(f == {"blocks": 0.0, "strings": 0.0} for f in out.values())
    assert fully_valid_fraction(g, bad) == 0.0


def test_validity_half_blocks_hand_case():
    """One string whose left half parses and right half does not: blocks 1/2 at height 1, strings 0."""
    g = Grammar.from_rules([[[[0, 1], [1, 1]]], [[[0, 0], [1, 0]], [[0, 1], [1, 1]], [[0, 2], [1, 2]]]], v=3)
    out = validity(g, torch.tensor([[0, 0, 2, 2]]))
    assert out[1] == {"blocks": 0.5, "strings": 0.0}
    assert out[2] == {"blocks": 0.0, "strings": 0.0}


def brute_rule_usage(g, strings):
    """Per level ℓ: (parents, m) nested lists of (symbol, rule) shares among parsed nodes at height L-ℓ+1."""
    parsed = py_parse(g, strings)
    out = []
    for level in range(1, g.L + 1):
        h = g.L - level + 1
        c = Counter(node for per_height in parsed for node in per_height[h - 1] if node is not None)
        total = sum(c.values())
        parents = g.rules[level - 1].shape[0]
        out.append([[c[(x, k)] / total if total else 0.0 for k in range(g.m)] for x in range(parents)])
    return out


@pytest.mark.parametrize("name", list(ALL))
def test_rule_usage_matches_python_count(name):
    """rule_usage per level = shares of (symbol, rule) among the nodes the Python parse accepts at that height."""
    g = ALL[name]()
    x = grammar_probes(g, 40, seed=3)
    got = rule_usage(g, x)
    expected = brute_rule_usage(g, x)
    assert len(got) == g.L
    for level, (a, b) in enumerate(zip(got, expected), start=1):
        assert a.shape == (g.rules[level - 1].shape[0], g.m) and a.dtype == torch.float64
        assert a.flatten().tolist() == pytest.approx([f for row in b for f in row], abs=1e-14), level
        assert a.sum().item() == pytest.approx(1.0, abs=1e-12)


def test_rule_usage_no_parsed_node_gives_zeros():
    """A level where nothing parses gives all zeros (not NaN)."""
    g = Grammar.from_rules([[[[0, 1], [1, 1]]], [[[0, 0], [1, 0]], [[0, 1], [1, 1]], [[0, 2], [1, 2]]]], v=3)
    out = rule_usage(g, torch.tensor([[0, 0, 2, 2], [2, 2, 2, 2]]))
    assert out[0].tolist() == [[0.0, 0.0]]  # no string parses to the root
    assert out[1].tolist() == [[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]]  # one node (0, 0) → symbol 0 rule 0


@pytest.mark.parametrize("name", ["zipf-v4n3m2s2L3", "zeros-prior0-v3n3m2s2L3", "multiword-v15n4m5s2L5"])
def test_rule_usage_of_samples_approximates_rule_probs(name):
    """On N grammar samples, rule_usage(ℓ)[x, k] ≈ π_h(x)·p_ℓ(k|x), π_h = symbol marginal averaged over positions."""
    # Every node of a sample parses, so the share is the mean over N strings of (mean over the string's positions of
    # an indicator): i.i.d. terms in [0, 1] with mean p, hence variance ≤ p(1-p) and standard error ≤ sqrt(p(1-p)/N).
    # Tolerance: 5 standard errors + 1e-3; zero-probability (symbol, rule) pairs must never occur.
    g = ALL[name]()
    num = 20_000
    got = rule_usage(g, g.sample(num, 7))
    for level in range(1, g.L + 1):
        h = g.L - level + 1
        pi = g.symbol_marginals(h).mean(0)
        expected = pi[:, None] * g.rule_probs[level - 1]
        for x in range(expected.shape[0]):
            for k in range(g.m):
                p, f = expected[x, k].item(), got[level - 1][x, k].item()
                if p == 0:
                    assert f == 0, (level, x, k)
                else:
                    assert abs(f - p) <= 5 * math.sqrt(p * (1 - p) / num) + 1e-3, (level, x, k, f, p)


def test_grammar_metrics_reject_bad_strings():
    """validity, fully_valid_fraction and rule_usage raise ValueError on wrong d, bad tokens, floats, empty sets."""
    g = TINY["v3n2m2s2L3"]()
    for bad in [
        torch.zeros(2, 4, dtype=torch.int64),
        torch.full((2, 8), 3),
        torch.full((2, 8), -1),
        torch.zeros(2, 8),
        torch.zeros(0, 8, dtype=torch.int64),
        torch.zeros(8, dtype=torch.int64),
    ]:
        for fn in (validity, fully_valid_fraction, rule_usage):
            with pytest.raises(ValueError):
                fn(g, bad)
