"""Exact counts, enumeration, log-probabilities, parses and block probabilities of the grammar vs brute force."""

import math

import numpy as np
import pytest
import torch
from grammar_helpers import (
    CASE_IDS,
    BruteForce,
    aligned_blocks,
    as_tuples,
    assert_close,
    case,
    parse_probes,
    probe_strings,
)

from rhm_memo.rhm import Grammar

# ----------------------------------------------------------------------------------------------------------------------
# counting and enumeration


@pytest.mark.parametrize("name", CASE_IDS)
def test_enumerate_matches_brute_force(name):
    """num_strings, enumerate() and its log-probs equal the brute-force set of positive-probability strings."""
    g, bf = case(name)
    # unambiguity: every derivation (zero-probability ones included) yields a distinct string
    all_strings = [b for b, _, _ in bf.all_derivations]
    assert len(set(all_strings)) == len(all_strings)
    assert isinstance(g.num_strings(), int)
    assert g.num_strings() == len(bf.strings)
    strings, log_probs = g.enumerate()
    assert strings.dtype == torch.int64 and strings.shape == (len(bf.strings), g.d)
    assert log_probs.dtype == torch.float64 and log_probs.shape == (len(bf.strings),)
    got = as_tuples(strings)
    assert len(set(got)) == len(got)
    assert set(got) == set(bf.strings)
    assert_close(log_probs.tolist(), [bf.strings[x][0] for x in got])
    assert math.isclose(math.fsum(math.exp(lp) for lp, _, _ in bf.strings.values()), 1.0, rel_tol=1e-12)
    assert math.isclose(log_probs.exp().sum().item(), 1.0, rel_tol=1e-9)


@pytest.mark.parametrize("name", CASE_IDS)
def test_enumerate_max_strings(name):
    """enumerate(max_strings) succeeds at exactly num_strings and raises below it."""
    g, _ = case(name)
    total = g.num_strings()
    assert g.enumerate(max_strings=total)[0].shape[0] == total
    with pytest.raises(ValueError, match="max_strings"):
        g.enumerate(max_strings=total - 1)


# ----------------------------------------------------------------------------------------------------------------------
# log_prob and full validity


@pytest.mark.parametrize("name", CASE_IDS)
def test_log_prob_matches_brute_force(name):
    """log_prob (with and without the root prior) of every positive-probability string equals brute force."""
    g, bf = case(name)
    strings = list(bf.strings)
    x = torch.tensor(strings, dtype=torch.int64).view(-1, g.d)
    lp = g.log_prob(x)
    assert lp.dtype == torch.float64 and lp.shape == (len(strings),)
    assert_close(lp.tolist(), [bf.strings[t][0] for t in strings])
    assert_close(g.log_prob(x, include_root_prior=False).tolist(), [bf.strings[t][1] for t in strings])


@pytest.mark.parametrize("name", CASE_IDS)
def test_log_prob_of_arbitrary_strings(name):
    """Strings outside the positive-probability set get -inf, those inside their exact log-prob."""
    g, bf = case(name)
    x = probe_strings(g, bf, seed=1)
    expected = [bf.strings[t][0] if t in bf.strings else -math.inf for t in as_tuples(x)]
    assert any(e > -math.inf for e in expected)
    assert any(e == -math.inf for e in expected) == (g.num_strings() < g.v**g.d)
    assert_close(g.log_prob(x).tolist(), expected)
    # int32 / uint8 inputs are accepted and give the same values
    assert_close(g.log_prob(x.int()).tolist(), expected)
    assert_close(g.log_prob(x.to(torch.uint8)).tolist(), expected)


@pytest.mark.parametrize("name", CASE_IDS)
def test_fully_valid_matches_positive_probability_set(name):
    """parse(x).fully_valid is True exactly for the strings with positive probability (finite log_prob)."""
    g, bf = case(name)
    x = probe_strings(g, bf, seed=2)
    expected = [t in bf.strings for t in as_tuples(x)]
    parse = g.parse(x)
    assert parse.fully_valid.dtype == torch.bool and parse.fully_valid.shape == (x.shape[0],)
    assert parse.fully_valid.tolist() == expected
    assert parse.fully_valid.tolist() == torch.isfinite(g.log_prob(x)).tolist()


# ----------------------------------------------------------------------------------------------------------------------
# validity per height


@pytest.mark.parametrize("name", CASE_IDS)
def test_valid_per_height_matches_derivable_blocks(name):
    """valid(h)[i, j] is True iff block j of height h is derivable (positive probability) at level L-h+1."""
    g, bf = case(name)
    x = parse_probes(g, bf, seed=3)
    parse = g.parse(x)
    for h in range(1, g.L + 1):
        expected = [[b in bf.derivable[h] for b in aligned_blocks(r, g.s**h)] for r in as_tuples(x)]
        got = parse.valid(h)
        assert got.shape == (x.shape[0], g.s ** (g.L - h))
        assert got.tolist() == expected, f"height {h}"


@pytest.mark.parametrize("name", CASE_IDS)
def test_parse_symbols_match_brute_force(name):
    """parse gives each derivable block the symbol it derives from, and -1 (symbol and rule) elsewhere."""
    g, bf = case(name)
    x = parse_probes(g, bf, seed=5)
    parse = g.parse(x)
    for h in range(1, g.L + 1):
        expected = [[bf.block_symbol[h].get(b, -1) for b in aligned_blocks(r, g.s**h)] for r in as_tuples(x)]
        assert parse.symbols[h - 1].tolist() == expected, f"height {h}"
        assert torch.equal(parse.rules[h - 1] < 0, parse.symbols[h - 1] < 0)


def test_splices_are_valid_below_the_top():
    """A splice of two valid strings from different roots is valid at every height below L but not at L."""
    g = Grammar(3, 2, 2, 2, 3, seed=3)
    bf = BruteForce(g)
    by_root = {}
    for t, (_, _, root) in bf.strings.items():
        by_root.setdefault(root, []).append(t)
    spliced = [a[: g.d // 2] + b[g.d // 2 :] for a in by_root[0] for b in by_root[1]]
    spliced = torch.tensor([t for t in spliced if t not in bf.strings])
    assert len(spliced) > 0
    parse = g.parse(spliced)
    for h in range(1, g.L):
        assert parse.valid(h).all()
    assert not parse.valid(g.L).any()
    assert (g.log_prob(spliced) == -math.inf).all()


# ----------------------------------------------------------------------------------------------------------------------
# block probabilities


@pytest.mark.parametrize("name", CASE_IDS)
def test_block_probabilities_match_brute_force(name):
    """block_probabilities(h): sorted distinct values = derivable blocks, probs = brute-force block marginals."""
    g, bf = case(name)
    for h in range(1, g.L + 1):
        bp = g.block_probabilities(h)
        assert bp.height == h
        values = as_tuples(bp.values)
        assert bp.values.dtype == torch.int64 and bp.values.shape == (len(values), g.s**h)
        assert values == sorted(set(values)), f"height {h}: values not sorted and distinct"
        assert g.num_blocks(h) == len(values), f"height {h}"
        assert set(values) == bf.derivable[h], f"height {h}"
        positions = g.s ** (g.L - h)
        assert bp.probs.dtype == torch.float64 and bp.probs.shape == (positions, len(values))
        torch.testing.assert_close(bp.probs.sum(1), torch.ones(positions, dtype=torch.float64))
        marg = bf.block_marginals(h)
        assert {key for key, p in marg.items() if p > 0} <= {(j, b) for j in range(positions) for b in values}
        expected = [[marg.get((j, b), 0.0) for b in values] for j in range(positions)]
        np.testing.assert_allclose(bp.probs.numpy(), np.array(expected), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", CASE_IDS)
def test_symbol_marginals_match_brute_force(name):
    """symbol_marginals(h)[j, x] = P(node at height h, position j has symbol x), vs brute force."""
    g, bf = case(name)
    for h in range(1, g.L + 1):
        got = g.symbol_marginals(h)
        symbols = g.n if h == g.L else g.v
        assert got.shape == (g.s ** (g.L - h), symbols)
        marg = bf.symbol_marginals(h)
        expected = [[marg.get((j, x), 0.0) for x in range(symbols)] for j in range(got.shape[0])]
        np.testing.assert_allclose(got.numpy(), np.array(expected), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", CASE_IDS)
def test_block_probabilities_max_blocks(name):
    """block_probabilities raises ValueError when num_blocks(h) > max_blocks, and works at equality."""
    g, _ = case(name)
    for h in range(1, g.L + 1):
        count = g.num_blocks(h)
        assert g.block_probabilities(h, max_blocks=count).values.shape[0] == count
        with pytest.raises(ValueError, match="max_blocks"):
            g.block_probabilities(h, max_blocks=count - 1)


# ----------------------------------------------------------------------------------------------------------------------
# exact counts of large grammars


def test_num_strings_paper_grammar():
    """The paper grammar (v=n=6, m=4, s=2, L=4) produces 6·4**15 strings; num_blocks(h) = v·m**(2**h-1) below L."""
    g = Grammar(6, 6, 4, 2, 4, seed=1951)
    assert g.num_strings() == 6 * 4**15
    for h in range(1, 4):
        assert g.num_blocks(h) == 6 * 4 ** (2**h - 1)
    assert g.num_blocks(4) == 6 * 4**15


def test_num_strings_big_grammar_exceeds_int64():
    """num_strings of v=n=32, m=8, s=2, L=6 is n·m**(2**L-1), an exact Python int above 2**63."""
    g = Grammar(32, 32, 8, 2, 6, seed=0)
    expected = 32 * 8 ** ((2**6 - 1) // (2 - 1))
    assert expected > 2**63
    assert type(g.num_strings()) is int
    assert g.num_strings() == expected


def test_num_strings_with_zero_probabilities():
    """Zero-probability rules and roots are not counted: count = Σ_{roots p>0} Π over positive-probability choices."""
    g = Grammar(6, 6, 4, 2, 4, seed=1951, rule_probs={4: [0.5, 0.5, 0.0, 0.0]}, root_prior=[0.5, 0.5, 0, 0, 0, 0])
    # 3 internal levels with 4 rules (7 nodes), one level with 2 rules (8 nodes)
    assert g.num_strings() == 2 * 4**7 * 2**8
