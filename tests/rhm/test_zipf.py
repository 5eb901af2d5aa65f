"""Tests of rhm_memo.rhm.zipf: Zipf laws, per-level rule probabilities and root priors."""

import math

import pytest
import torch

from rhm_memo.rhm import Grammar, level_rule_probs, root_prior_probs, zipf_probs


@pytest.mark.parametrize(
    ("m", "a", "expected"),
    [
        (4, 1.0, [12 / 25, 6 / 25, 4 / 25, 3 / 25]),
        (3, 2.0, [36 / 49, 9 / 49, 4 / 49]),
        (2, 0.5, [1 / (1 + 2**-0.5), 2**-0.5 / (1 + 2**-0.5)]),
        (3, 1.3, [k**-1.3 / (1 + 2**-1.3 + 3**-1.3) for k in (1, 2, 3)]),
        (5, 0.0, [0.2] * 5),
        (1, 1.3, [1.0]),
        (4, 0, [0.25] * 4),
    ],
)
def test_zipf_probs_hand_computed(m, a, expected):
    """zipf_probs(m, a) = k**(-a) / Σ_j j**(-a), k = 1..m, as float64 of shape (m,)."""
    p = zipf_probs(m, a)
    assert p.dtype == torch.float64 and p.shape == (m,)
    torch.testing.assert_close(p, torch.tensor(expected, dtype=torch.float64), rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("a", [0.3, 1.0, 2.5])
def test_zipf_probs_decreasing_and_ratio(a):
    """Zipf probabilities decrease with rank and p_1 / p_k = k**a exactly (up to rounding)."""
    p = zipf_probs(8, a)
    assert bool((p[1:] < p[:-1]).all())
    for k in range(1, 9):
        assert math.isclose(p[0].item() / p[k - 1].item(), k**a, rel_tol=1e-12)
    assert math.isclose(p.sum().item(), 1.0, rel_tol=1e-14)


@pytest.mark.parametrize(
    ("m", "a", "match"),
    [(0, 1.0, r"\bm\b"), (4, -0.5, "zipf_exponent"), (4, math.nan, "zipf_exponent"), (4, math.inf, "zipf_exponent")],
)
def test_zipf_probs_errors(m, a, match):
    """zipf_probs rejects m < 1 and negative / NaN / infinite exponents, naming the parameter."""
    with pytest.raises(ValueError, match=match):
        zipf_probs(m, a)


def test_level_rule_probs_default_uniform():
    """Without Zipf levels or explicit arrays every level is uniform, with shape (num_parents[ℓ-1], m)."""
    out = level_rule_probs([2, 5, 5], 3)
    assert [tuple(p.shape) for p in out] == [(2, 3), (5, 3), (5, 3)]
    for p in out:
        assert p.dtype == torch.float64
        torch.testing.assert_close(p, torch.full_like(p, 1 / 3))


def test_level_rule_probs_zipf_at_chosen_levels():
    """Zipf levels (counted from the top) get the Zipf law in every row; the other levels stay uniform."""
    out = level_rule_probs([2, 3, 3, 3], 3, zipf_exponent=1.0, zipf_levels=(1, 3))
    zipf = torch.tensor([6 / 11, 3 / 11, 2 / 11], dtype=torch.float64)  # 1, 1/2, 1/3 over 11/6
    uniform = torch.full((3, 3), 1 / 3, dtype=torch.float64)
    torch.testing.assert_close(out[0], zipf.expand(2, 3), rtol=1e-14, atol=0)
    torch.testing.assert_close(out[1], uniform, rtol=1e-14, atol=0)
    torch.testing.assert_close(out[2], zipf.expand(3, 3), rtol=1e-14, atol=0)
    torch.testing.assert_close(out[3], uniform, rtol=1e-14, atol=0)


def test_level_rule_probs_zipf_exponent_zero_is_uniform():
    """A Zipf law with exponent 0 is uniform."""
    out = level_rule_probs([2, 3], 4, zipf_exponent=0.0, zipf_levels=(1, 2))
    for p in out:
        torch.testing.assert_close(p, torch.full_like(p, 0.25))


def test_level_rule_probs_explicit_arrays():
    """rule_probs: an (m,) array is shared by every symbol of its level, a (symbols, m) array is used per row."""
    per_symbol = [[0.5, 0.5, 0.0], [0.1, 0.2, 0.7], [0.0, 0.0, 1.0]]
    out = level_rule_probs(
        [2, 3, 3], 3, zipf_exponent=2.0, zipf_levels=(3,), rule_probs={1: [0.2, 0.3, 0.5], 2: per_symbol}
    )
    torch.testing.assert_close(out[0], torch.tensor([[0.2, 0.3, 0.5]] * 2, dtype=torch.float64))
    torch.testing.assert_close(out[1], torch.tensor(per_symbol, dtype=torch.float64))
    torch.testing.assert_close(out[2], torch.tensor([[36 / 49, 9 / 49, 4 / 49]] * 3, dtype=torch.float64))
    assert all(p.is_contiguous() for p in out)


def test_level_rule_probs_renormalizes_within_tolerance():
    """Rows within the tolerance of 1 are accepted and renormalized; rows further off are rejected."""
    out = level_rule_probs([1, 2], 2, rule_probs={2: [0.5 + 4e-7, 0.5]})
    torch.testing.assert_close(out[1].sum(-1), torch.ones(2, dtype=torch.float64), rtol=0, atol=1e-15)
    with pytest.raises(ValueError, match=r"rule_probs\[2\]"):
        level_rule_probs([1, 2], 2, rule_probs={2: [0.5 + 1e-4, 0.5]})


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"zipf_exponent": -1.0, "zipf_levels": (1,)}, "zipf_exponent"),
        ({"zipf_exponent": math.nan}, "zipf_exponent"),
        ({"zipf_exponent": 1.0, "zipf_levels": (0,)}, "level"),
        ({"zipf_exponent": 1.0, "zipf_levels": (4,)}, "level"),
        ({"rule_probs": {4: [0.5, 0.5]}}, "level"),
        ({"zipf_exponent": 1.0, "zipf_levels": (2,), "rule_probs": {2: [0.5, 0.5]}}, "rule_probs"),
        ({"rule_probs": {2: [0.5, 0.6]}}, r"rule_probs\[2\]"),
        ({"rule_probs": {2: [1.5, -0.5]}}, r"rule_probs\[2\]"),
        ({"rule_probs": {2: [0.5, 0.25, 0.25]}}, r"rule_probs\[2\]"),
        ({"rule_probs": {2: [[0.5, 0.5]] * 2}}, r"rule_probs\[2\]"),
        ({"rule_probs": {1: [[[0.5, 0.5]]]}}, r"rule_probs\[1\]"),
    ],
)
def test_level_rule_probs_errors(kwargs, match):
    """Bad exponents, levels outside 1..L, Zipf/explicit clashes and bad arrays raise ValueError."""
    with pytest.raises(ValueError, match=match):
        level_rule_probs([3, 3, 3], 2, **kwargs)


def test_root_prior_probs():
    """root_prior_probs: uniform by default; an explicit (n,) array as float64; bad arrays raise ValueError."""
    torch.testing.assert_close(root_prior_probs(4), torch.full((4,), 0.25, dtype=torch.float64))
    given = torch.tensor([0.25, 0.0, 0.75])
    out = root_prior_probs(3, given)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, torch.tensor([0.25, 0.0, 0.75], dtype=torch.float64))
    out[0] = 9.0
    assert given[0].item() == 0.25  # the caller's array is not aliased
    for bad in ([0.5, 0.5], [0.5, 0.6, -0.1], [0.3, 0.3, 0.3], [[1.0, 0.0, 0.0]]):
        with pytest.raises(ValueError, match="root_prior"):
            root_prior_probs(3, bad)


def test_grammar_rule_probs_and_root_prior_written_out():
    """Grammar.rule_probs / root_prior hold the Zipf law, the explicit array and the uniform law where configured."""
    g = Grammar(3, 2, 2, 2, 3, seed=1, root_prior=[0.6, 0.4], zipf_exponent=0.5, zipf_levels=(1, 3),
                rule_probs={2: [0.7, 0.3]})  # fmt: skip
    zipf = [1 / (1 + 2**-0.5), 2**-0.5 / (1 + 2**-0.5)]  # m = 2, a = 0.5
    expected = [[zipf] * 2, [[0.7, 0.3]] * 3, [zipf] * 3]  # levels 1..3: 2 root symbols, then v = 3 symbols
    assert len(g.rule_probs) == 3
    for got, want in zip(g.rule_probs, expected, strict=True):
        torch.testing.assert_close(got, torch.tensor(want, dtype=torch.float64), rtol=1e-14, atol=0)
    torch.testing.assert_close(g.root_prior, torch.tensor([0.6, 0.4], dtype=torch.float64), rtol=1e-14, atol=0)
    plain = Grammar(3, 2, 2, 2, 3, seed=1)
    assert all(bool((p == 0.5).all()) for p in plain.rule_probs) and plain.root_prior.tolist() == [0.5, 0.5]


@pytest.mark.parametrize("zipf_levels", [(1,), (2,), (3,), (1, 3)])
def test_sampled_rule_frequencies_follow_the_law_only_at_zipf_levels(zipf_levels):
    """In sampled derivations the rule of rank k is chosen with frequency k^-2 / (1 + 1/4 + 1/9) at the Zipf levels
    and 1/3 at the others (pooled over the nodes of a level: every symbol has the same law), within 5 binomial sd."""
    num, L = 20_000, 3
    g = Grammar(4, 2, 3, 2, L, seed=5, zipf_exponent=2.0, zipf_levels=zipf_levels)
    zipf = [36 / 49, 9 / 49, 4 / 49]
    der = g.sample_derivations(num, 11)
    for level in range(1, L + 1):
        rules = der.parse.rules[L - level].flatten()  # nodes of height L - level + 1 have their rule chosen at level
        assert rules.numel() == num * 2 ** (level - 1)
        freq = torch.bincount(rules, minlength=3).double() / rules.numel()
        for k, p in enumerate(zipf if level in zipf_levels else [1 / 3] * 3):
            assert abs(freq[k].item() - p) <= 5 * math.sqrt(p * (1 - p) / rules.numel()), (level, k, freq.tolist())
