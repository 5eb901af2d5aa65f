"""The grammar's argument errors (each names the offending parameter) and small API properties."""

import math

import numpy as np
import pytest
import torch

from rhm_memo.rhm import Grammar

# ----------------------------------------------------------------------------------------------------------------------
# errors


def _g():
    return Grammar(3, 2, 2, 2, 2, seed=0)


BAD_CALLS = {
    "s<2": (lambda: Grammar(3, 2, 2, 1, 2), r"\bs\b"),
    "L<1": (lambda: Grammar(3, 2, 2, 2, 0), r"\bL\b"),
    "v-float": (lambda: Grammar(3.0, 2, 2, 2, 2), r"\bv\b"),
    "n-float": (lambda: Grammar(3, 2.5, 2, 2, 2), r"\bn\b"),
    "m-zero": (lambda: Grammar(3, 2, 0, 2, 2), r"\bm\b"),
    "L-float": (lambda: Grammar(3, 2, 2, 2, 1.5), r"\bL\b"),
    "s-str": (lambda: Grammar(3, 2, 2, "2", 2), r"\bs\b"),
    "m*n>v**s": (lambda: Grammar(2, 3, 2, 2, 1), r"m\*n"),
    "m*v>v**s": (lambda: Grammar(2, 1, 3, 2, 2), r"m\*v"),
    "rule_probs-sum": (lambda: Grammar(3, 2, 2, 2, 2, rule_probs={1: [0.5, 0.6]}), r"rule_probs\[1\]"),
    "rule_probs-negative": (lambda: Grammar(3, 2, 2, 2, 2, rule_probs={2: [1.5, -0.5]}), r"rule_probs\[2\]"),
    "rule_probs-nan": (lambda: Grammar(3, 2, 2, 2, 2, rule_probs={2: [math.nan, 1.0]}), r"rule_probs\[2\]"),
    "rule_probs-shape-m": (lambda: Grammar(3, 2, 2, 2, 2, rule_probs={2: [0.5, 0.25, 0.25]}), r"rule_probs\[2\]"),
    "rule_probs-shape-rows": (lambda: Grammar(3, 2, 2, 2, 2, rule_probs={2: [[0.5, 0.5]] * 2}), r"rule_probs\[2\]"),
    "rule_probs-persym-sum": (
        lambda: Grammar(3, 2, 2, 2, 2, rule_probs={1: [[0.5, 0.5], [0.5, 0.4]]}),
        r"rule_probs\[1\]",
    ),
    "root_prior-sum": (lambda: Grammar(3, 2, 2, 2, 2, root_prior=[0.5, 0.4]), "root_prior"),
    "root_prior-negative": (lambda: Grammar(3, 2, 2, 2, 2, root_prior=[1.2, -0.2]), "root_prior"),
    "root_prior-shape": (lambda: Grammar(3, 2, 2, 2, 2, root_prior=[1.0]), "root_prior"),
    "zipf_exponent-negative": (lambda: Grammar(3, 2, 2, 2, 2, zipf_exponent=-1.0, zipf_levels=(1,)), "zipf_exponent"),
    "zipf_exponent-nan": (lambda: Grammar(3, 2, 2, 2, 2, zipf_exponent=math.nan, zipf_levels=(1,)), "zipf_exponent"),
    "zipf_exponent-inf": (lambda: Grammar(3, 2, 2, 2, 2, zipf_exponent=math.inf, zipf_levels=(1,)), "zipf_exponent"),
    "zipf_levels-0": (lambda: Grammar(3, 2, 2, 2, 2, zipf_exponent=1.0, zipf_levels=(0,)), "zipf_levels"),
    "zipf_levels-L+1": (lambda: Grammar(3, 2, 2, 2, 2, zipf_exponent=1.0, zipf_levels=(3,)), "zipf_levels"),
    "rule_probs-level-0": (lambda: Grammar(3, 2, 2, 2, 2, rule_probs={0: [0.5, 0.5]}), "rule_probs"),
    "rule_probs-level-L+1": (lambda: Grammar(3, 2, 2, 2, 2, rule_probs={3: [0.5, 0.5]}), "rule_probs"),
    "zipf-and-rule_probs": (
        lambda: Grammar(3, 2, 2, 2, 2, zipf_exponent=1.0, zipf_levels=(1,), rule_probs={1: [0.5, 0.5]}),
        "rule_probs",
    ),
    "from_rules-ambiguous-level1": (lambda: Grammar.from_rules([[[[0, 1], [0, 1]]]], v=2), "ambiguous"),
    "from_rules-ambiguous-level2": (
        lambda: Grammar.from_rules([[[[0, 1]]], [[[0, 0]], [[0, 0]]]]),
        "ambiguous",
    ),
    "from_rules-ambiguous-across-symbols-level1": (
        lambda: Grammar.from_rules([[[[0, 1], [1, 1]], [[1, 0], [1, 1]]]], v=2),
        "ambiguous",
    ),
    "from_rules-entry-too-large": (lambda: Grammar.from_rules([[[[0, 1]]], [[[0, 0]], [[1, 2]]]]), r"rules\[1\]"),
    "from_rules-entry-negative": (lambda: Grammar.from_rules([[[[0, -1]]], [[[0, 0]], [[1, 1]]]]), r"rules\[0\]"),
    "from_rules-entry-vs-v": (lambda: Grammar.from_rules([[[[0, 3]]]], v=3), r"rules\[0\]"),
    "from_rules-shape-level2": (
        lambda: Grammar.from_rules([[[[0, 1]]], [[[0, 0]], [[1, 1]], [[1, 0]]]], v=2),
        r"rules\[1\]",
    ),
    "from_rules-shape-s": (lambda: Grammar.from_rules([[[[0, 1]]], [[[0, 0, 1]], [[1, 1, 1]]]]), r"rules\[1\]"),
    "from_rules-ndim": (lambda: Grammar.from_rules([[[0, 1], [1, 1]]], v=2), r"rules\[0\]"),
    "from_rules-float": (lambda: Grammar.from_rules([np.array([[[0.0, 1.0]]])], v=2), r"rules\[0\]"),
    "from_rules-empty": (lambda: Grammar.from_rules([]), "rules"),
    "num_blocks-0": (lambda: _g().num_blocks(0), "height"),
    "num_blocks-L+1": (lambda: _g().num_blocks(3), "height"),
    "num_blocks-float": (lambda: _g().num_blocks(1.0), "height"),
    "block_probabilities-0": (lambda: _g().block_probabilities(0), "height"),
    "block_probabilities-L+1": (lambda: _g().block_probabilities(3), "height"),
    "symbol_marginals-L+1": (lambda: _g().symbol_marginals(3), "height"),
    "log_prob-float": (lambda: _g().log_prob(torch.zeros(2, 4)), "strings"),
    "log_prob-bool": (lambda: _g().log_prob(torch.zeros(2, 4, dtype=torch.bool)), "strings"),
    "log_prob-shape-d": (lambda: _g().log_prob(torch.zeros(2, 5, dtype=torch.long)), "strings"),
    "log_prob-shape-1d": (lambda: _g().log_prob(torch.zeros(4, dtype=torch.long)), "strings"),
    "log_prob-token-v": (lambda: _g().log_prob(torch.tensor([[0, 1, 2, 3]])), "strings"),
    "log_prob-token-negative": (lambda: _g().log_prob(torch.tensor([[0, 1, -1, 2]])), "strings"),
    "parse-float": (lambda: _g().parse(torch.zeros(2, 4)), "strings"),
    "parse-token-v": (lambda: _g().parse(torch.tensor([[0, 1, 2, 3]])), "strings"),
    "sample_unique-exclude-float": (lambda: _g().sample_unique(2, 0, exclude=torch.zeros(2, 4)), "exclude"),
    "sample_unique-exclude-shape": (
        lambda: _g().sample_unique(2, 0, exclude=torch.zeros(2, 3, dtype=torch.long)),
        "exclude",
    ),
    "sample_unique-too-many": (lambda: _g().sample_unique(17, 0), "distinct"),
    "sample-negative": (lambda: _g().sample(-1, 0), r"\bnum\b"),
    "sample_unique-negative": (lambda: _g().sample_unique(-1, 0), r"\bnum\b"),
}


@pytest.mark.parametrize("name", list(BAD_CALLS))
def test_bad_arguments_raise_value_error(name):
    """Each bad argument raises ValueError whose message names the offending parameter."""
    call, match = BAD_CALLS[name]
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("height", [0, -1, 3])
def test_parse_valid_rejects_bad_height(height):
    """Parse.valid(height) with height outside 1..L raises ValueError (not a silent negative index)."""
    g = _g()
    parse = g.parse(g.sample(5, 0))
    with pytest.raises(ValueError, match="height"):
        parse.valid(height)


# ----------------------------------------------------------------------------------------------------------------------
# small API properties


def test_empty_inputs():
    """Zero strings: sample(0) has shape (0, d); parse / log_prob of a (0, d) tensor return empty results."""
    g = _g()
    assert g.sample(0, 0).shape == (0, g.d)
    assert g.sample_unique(0, 0).shape == (0, g.d)
    empty = torch.zeros(0, g.d, dtype=torch.int64)
    assert g.log_prob(empty).shape == (0,)
    parse = g.parse(empty)
    assert [s.shape for s in parse.symbols] == [(0, g.s ** (g.L - h)) for h in range(1, g.L + 1)]


def test_grammar_attributes():
    """Grammar exposes its sizes, rule shapes per level, float64 probabilities and a uniform default prior."""
    g = Grammar(4, 3, 2, 2, 3, seed=1)
    assert (g.v, g.n, g.m, g.s, g.L, g.d) == (4, 3, 2, 2, 3, 8)
    assert [tuple(r.shape) for r in g.rules] == [(3, 2, 2), (4, 2, 2), (4, 2, 2)]
    assert all(r.dtype == torch.int64 for r in g.rules)
    assert [tuple(p.shape) for p in g.rule_probs] == [(3, 2), (4, 2), (4, 2)]
    assert all(p.dtype == torch.float64 for p in g.rule_probs)
    assert torch.equal(g.root_prior, torch.full((3,), 1 / 3, dtype=torch.float64))
    h = Grammar.from_rules(g.rules)
    assert h.v == 4 and all(torch.equal(a, b) for a, b in zip(h.rules, g.rules, strict=True))
    x = g.sample(50, 0)
    assert torch.equal(h.log_prob(x), g.log_prob(x))


def test_log_prob_without_root_prior_differs_by_log_prior():
    """log_prob(include_root_prior=False) = log_prob - log prior(root) for valid strings, -inf stays -inf."""
    g = Grammar(3, 3, 2, 2, 2, seed=2, root_prior=[0.2, 0.3, 0.5])
    der = g.sample_derivations(200, 0)
    roots = der.parse.symbols[-1][:, 0]
    torch.testing.assert_close(
        g.log_prob(der.strings, include_root_prior=False), der.log_prob - g.root_prior.log()[roots]
    )
    bad = der.strings.clone()
    bad[:, 0] = (bad[:, 0] + 1) % g.v
    invalid = ~g.parse(bad).fully_valid
    assert invalid.any()
    assert (g.log_prob(bad, include_root_prior=False)[invalid] == -math.inf).all()
