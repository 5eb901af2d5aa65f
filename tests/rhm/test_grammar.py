"""Tests of rhm_memo.rhm.grammar against a pure-Python brute-force enumeration of tiny grammars."""

import functools
import itertools
import math
import random

import numpy as np
import pytest
import torch

from rhm_memo.rhm import Grammar, random_rules

# ----------------------------------------------------------------------------------------------------------------------
# Brute-force reference: every derivation of a tiny grammar, from the rules and probabilities read as Python lists.


class BruteForce:
    """All derivations of a grammar, by recursive enumeration over rule choices (itertools.product)."""

    def __init__(self, g):
        self.rules = [r.tolist() for r in g.rules]
        self.probs = [p.tolist() for p in g.rule_probs]
        self.prior = g.root_prior.tolist()
        self.v, self.s, self.L = g.v, g.s, g.L
        self.d = self.s**self.L
        self._memo = {}
        # every derivation from every root, zero-probability ones included: (string, root, log p without the prior)
        self.all_derivations = [
            (block, root, lp) for root in range(len(self.rules[0])) for block, lp in self.subtrees(1, root)
        ]
        # strings with positive probability: string -> (log p with prior, log p without prior, root)
        self.strings = {}
        for block, root, lp in self.all_derivations:
            if self.prior[root] > 0 and lp > -math.inf:
                self.strings[block] = (math.log(self.prior[root]) + lp, lp, root)
        # derivable blocks per height h (positive probability): from any symbol at level L-h+1 for h < L, and from a
        # root with positive prior for h = L (i.e. the strings with positive probability)
        self.derivable = {self.L: set(self.strings)}
        # block -> the symbol it derives from (unique by unambiguity), for positive-probability derivations only:
        # zero-probability rules and zero-prior roots are not part of the grammar, so their blocks do not parse
        self.block_symbol = {}
        for h in range(1, self.L + 1):
            level = self.L - h + 1
            table = {}
            for sym in range(len(self.rules[level - 1])):
                if h == self.L and self.prior[sym] == 0:
                    continue
                for block, lp in self.subtrees(level, sym):
                    if lp > -math.inf:
                        table[block] = sym
            self.block_symbol[h] = table
            if h < self.L:
                self.derivable[h] = {
                    block
                    for sym in range(len(self.rules[level - 1]))
                    for block, lp in self.subtrees(level, sym)
                    if lp > -math.inf
                }

    def subtrees(self, level, sym):
        """All ``(tokens, log p)`` subtrees of ``sym`` whose rule is chosen at ``level`` (zero-prob rules included)."""
        key = (level, sym)
        if key not in self._memo:
            out = []
            for rule, p in zip(self.rules[level - 1][sym], self.probs[level - 1][sym], strict=True):
                lp = math.log(p) if p > 0 else -math.inf
                if level == self.L:
                    out.append((tuple(rule), lp))
                    continue
                for combo in itertools.product(*(self.subtrees(level + 1, c) for c in rule)):
                    out.append((sum((t for t, _ in combo), ()), lp + sum(x for _, x in combo)))
            self._memo[key] = out
        return self._memo[key]

    def block_marginals(self, h):
        """``{(position, block): probability}`` of the aligned height-h blocks under the string distribution."""
        width = self.s**h
        out = {}
        for string, (lp, _, _) in self.strings.items():
            p = math.exp(lp)
            for j in range(self.d // width):
                key = (j, string[j * width : (j + 1) * width])
                out[key] = out.get(key, 0.0) + p
        return out

    def symbol_marginals(self, h):
        """``{(position, symbol): probability}`` of the height-h node symbols under the string distribution."""
        width = self.s**h
        out = {}
        for string, (lp, _, _) in self.strings.items():
            p = math.exp(lp)
            for j in range(self.d // width):
                key = (j, self.block_symbol[h][string[j * width : (j + 1) * width]])
                out[key] = out.get(key, 0.0) + p
        return out


def random_probs(rows, m, seed, zero_frac=0.4):
    """Per-symbol random rule probabilities (rows, m) with some exact zeros (never a whole row)."""
    rng = np.random.default_rng(seed)
    w = rng.random((rows, m)) + 0.05
    zero = rng.random((rows, m)) < zero_frac
    zero[np.arange(rows), w.argmax(1)] = False
    w[zero] = 0.0
    return w / w.sum(1, keepdims=True)


# Tiny grammars: (v, n, m, s, L, seed, kwargs) through Grammar(...), or hand-made rules through Grammar.from_rules.
CASES = {
    "uniform-v2n1m1s2L1": lambda: Grammar(2, 1, 1, 2, 1, seed=0),
    "uniform-v3n2m2s2L2": lambda: Grammar(3, 2, 2, 2, 2, seed=3),
    "uniform-v2n2m2s2L3": lambda: Grammar(2, 2, 2, 2, 3, seed=4),
    "zipf0.5@1-v3n3m3s2L2": lambda: Grammar(3, 3, 3, 2, 2, seed=5, zipf_exponent=0.5, zipf_levels=(1,)),
    "zipf1.3@1,3-v4n3m2s2L3": lambda: Grammar(4, 3, 2, 2, 3, seed=11, zipf_exponent=1.3, zipf_levels=(1, 3)),
    "zipf2@all-v2n2m2s2L3": lambda: Grammar(2, 2, 2, 2, 3, seed=12, zipf_exponent=2.0, zipf_levels=(1, 2, 3)),
    "zipf1@1-v4n3m3s2L1": lambda: Grammar(4, 3, 3, 2, 1, seed=8, zipf_exponent=1.0, zipf_levels=(1,)),
    "zipf1.3@2-v2n3m2s3L2": lambda: Grammar(2, 3, 2, 3, 2, seed=9, zipf_exponent=1.3, zipf_levels=(2,)),
    "uniform-v2n1m2s3L3": lambda: Grammar(2, 1, 2, 3, 3, seed=14),
    "persym-zeros-prior0-v3n3m2s3L2": lambda: Grammar(
        3, 3, 2, 3, 2, seed=6, rule_probs={1: [0.3, 0.7], 2: random_probs(3, 2, seed=1)}, root_prior=[0.5, 0.0, 0.5]
    ),
    "persym-zeros-v3n2m3s2L3": lambda: Grammar(
        3,
        2,
        3,
        2,
        3,
        seed=13,
        rule_probs={1: random_probs(2, 3, seed=2), 3: random_probs(3, 3, seed=3)},
        root_prior=[0.7, 0.3],
    ),
    "persym-zipf-v4n2m3s2L2": lambda: Grammar(
        4,
        2,
        3,
        2,
        2,
        seed=15,
        zipf_exponent=2.0,
        zipf_levels=(1,),
        rule_probs={2: random_probs(4, 3, seed=4, zero_frac=0)},
    ),
    "from_rules-v2n1m2s2L2": lambda: Grammar.from_rules(
        [[[[0, 1], [1, 1]]], [[[0, 0], [1, 0]], [[0, 1], [1, 1]]]], rule_probs={2: [[0.25, 0.75], [1.0, 0.0]]}
    ),
    "from_rules-unreachable-v3n2m2s2L2": lambda: Grammar.from_rules(
        [
            torch.tensor([[[0, 1], [1, 1]], [[1, 0], [0, 0]]]),
            torch.tensor([[[0, 0], [0, 1]], [[1, 0], [1, 1]], [[2, 2], [0, 2]]]),
        ],
        zipf_exponent=1.0,
        zipf_levels=(2,),
        root_prior=[0.25, 0.75],
    ),
    "from_rules-L1-prior0-v4": lambda: Grammar.from_rules(
        [np.array([[[0, 1], [3, 0]], [[2, 2], [1, 3]]])], v=4, root_prior=[0.0, 1.0], rule_probs={1: [0.4, 0.6]}
    ),
    "from_rules-v3n1m3s2L2-zeros": lambda: Grammar.from_rules(
        [[[[0, 1], [2, 2], [1, 0]]], [[[0, 0], [1, 2], [2, 1]], [[0, 1], [1, 1], [2, 2]], [[0, 2], [1, 0], [2, 0]]]],
        rule_probs={1: [0.5, 0.0, 0.5], 2: [[0.2, 0.3, 0.5], [0.0, 0.0, 1.0], [0.6, 0.0, 0.4]]},
    ),
}
CASE_IDS = list(CASES)


@functools.cache
def case(name):
    """The grammar of a named case and its brute-force reference (cached across tests)."""
    g = CASES[name]()
    return g, BruteForce(g)


def as_tuples(strings):
    """Rows of a token tensor as Python tuples."""
    return [tuple(row) for row in strings.tolist()]


def assert_close(got, expected, tol=1e-9):
    """Element-wise comparison of floats, with -inf allowed (and required to match exactly)."""
    assert len(got) == len(expected)
    for i, (a, b) in enumerate(zip(got, expected, strict=True)):
        if b == -math.inf:
            assert a == -math.inf, (i, a, b)
        else:
            assert math.isclose(a, b, rel_tol=tol, abs_tol=tol), (i, a, b)


def probe_strings(g, bf, seed, num_random=1500):
    """All strings when there are few, else random strings plus every string with positive probability."""
    if g.v**g.d <= 4096:
        return torch.tensor(list(itertools.product(range(g.v), repeat=g.d)), dtype=torch.int64).view(-1, g.d)
    rnd = torch.randint(0, g.v, (num_random, g.d), generator=torch.Generator().manual_seed(seed))
    syntactic = torch.tensor([b for b, _, _ in bf.all_derivations], dtype=torch.int64)
    return torch.cat([rnd, syntactic])


# ----------------------------------------------------------------------------------------------------------------------
# 1. counting and enumeration


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
# 2. log_prob and full validity


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
# 3. sampled derivations


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
# 4. validity per height


def splice_and_mutate(g, bf, seed, num=300):
    """Strings valid at low heights but not at the top: spliced halves of valid strings, one-token mutations."""
    rng = random.Random(seed)
    valid = list(bf.strings)
    out = []
    for _ in range(num):
        a, b = rng.choice(valid), rng.choice(valid)
        cut = g.d // g.s * rng.randint(1, g.s - 1)  # an aligned cut between top-level blocks
        out.append(a[:cut] + b[cut:])
        c = list(rng.choice(valid))
        pos = rng.randrange(g.d)
        c[pos] = rng.choice([t for t in range(g.v) if t != c[pos]])
        out.append(tuple(c))
    return torch.tensor(out, dtype=torch.int64)


@pytest.mark.parametrize("name", CASE_IDS)
def test_valid_per_height_matches_derivable_blocks(name):
    """valid(h)[i, j] is True iff block j of height h is derivable (positive probability) at level L-h+1."""
    g, bf = case(name)
    x = torch.cat([splice_and_mutate(g, bf, seed=3), probe_strings(g, bf, seed=4, num_random=500)])
    parse = g.parse(x)
    rows = as_tuples(x)
    for h in range(1, g.L + 1):
        width = g.s**h
        expected = [[r[j * width : (j + 1) * width] in bf.derivable[h] for j in range(g.d // width)] for r in rows]
        got = parse.valid(h)
        assert got.shape == (x.shape[0], g.s ** (g.L - h))
        assert got.tolist() == expected, f"height {h}"


@pytest.mark.parametrize("name", CASE_IDS)
def test_parse_symbols_match_brute_force(name):
    """parse gives each derivable block the symbol it derives from, and -1 (symbol and rule) elsewhere."""
    g, bf = case(name)
    x = torch.cat([splice_and_mutate(g, bf, seed=5), probe_strings(g, bf, seed=6, num_random=500)])
    parse = g.parse(x)
    rows = as_tuples(x)
    for h in range(1, g.L + 1):
        width = g.s**h
        table = bf.block_symbol[h]
        expected = [[table.get(r[j * width : (j + 1) * width], -1) for j in range(g.d // width)] for r in rows]
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
# 5. statistics of sampled derivations


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
# 6. sampling without replacement


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


# ----------------------------------------------------------------------------------------------------------------------
# 7. block probabilities


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
# 8. random rules vs the RHM reference algorithm


def reference_rules(v, n, m, s, L, seed):
    """The RHM reference ``sample_rules``, with a private random.Random(seed) instead of random.seed(seed)."""
    rng = random.Random(seed)
    tuples = list(itertools.product(range(v), repeat=s))
    rules = [torch.tensor(rng.sample(tuples, n * m)).reshape(n, m, s)]
    for _ in range(1, L):
        rules.append(torch.tensor(rng.sample(tuples, v * m)).reshape(v, m, s))
    return rules


@pytest.mark.parametrize(
    ("v", "n", "m", "s", "L", "seed"),
    [
        (6, 6, 4, 2, 4, 1951),
        (2, 1, 1, 2, 1, 0),
        (2, 2, 2, 2, 2, 5),
        (3, 2, 2, 3, 2, 0),
        (4, 3, 2, 2, 3, 17),
        (5, 4, 3, 2, 3, 123),
        (10, 10, 8, 2, 3, 42),
        (10, 2, 3, 3, 2, 7),
        (3, 9, 1, 2, 2, 3),
        (8, 8, 8, 2, 2, 99),
    ],
)
def test_random_rules_match_reference(v, n, m, s, L, seed):
    """random_rules and Grammar(...).rules equal the reference algorithm's rules, level by level."""
    expected = reference_rules(v, n, m, s, L, seed)
    got = random_rules(v, n, m, s, L, seed)
    assert len(got) == L
    for level, (a, b) in enumerate(zip(got, expected, strict=True), start=1):
        assert a.dtype == torch.int64
        assert torch.equal(a, b), f"level {level}"
    g = Grammar(v, n, m, s, L, seed=seed)
    for a, b in zip(g.rules, expected, strict=True):
        assert torch.equal(a, b)


def test_random_rules_depend_on_seed():
    """Different seeds give different rules; random_rules does not touch the global random state."""
    state = random.getstate()
    a = random_rules(6, 6, 4, 2, 4, 1)
    assert random.getstate() == state
    b = random_rules(6, 6, 4, 2, 4, 2)
    assert any(not torch.equal(x, y) for x, y in zip(a, b, strict=True))


# ----------------------------------------------------------------------------------------------------------------------
# 9. exact counts of large grammars


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


# ----------------------------------------------------------------------------------------------------------------------
# 10. errors


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


def test_random_rules_rejects_bad_sizes():
    """random_rules validates sizes like Grammar (ValueError naming the parameter)."""
    with pytest.raises(ValueError, match=r"m\*n"):
        random_rules(2, 3, 2, 2, 1, seed=0)
    with pytest.raises(ValueError, match=r"\bs\b"):
        random_rules(2, 1, 1, 1, 1, seed=0)


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
