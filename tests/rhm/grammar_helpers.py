"""Shared by the grammar tests: a brute-force reference for tiny grammars, the tiny grammars, probe strings."""

import functools
import itertools
import math
import random

import numpy as np
import torch

from rhm_memo.rhm import Grammar

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
        out = {}
        for string, (lp, _, _) in self.strings.items():
            for key in enumerate(aligned_blocks(string, self.s**h)):
                out[key] = out.get(key, 0.0) + math.exp(lp)
        return out

    def symbol_marginals(self, h):
        """``{(position, symbol): probability}`` of the height-h node symbols under the string distribution."""
        out = {}
        for string, (lp, _, _) in self.strings.items():
            for j, block in enumerate(aligned_blocks(string, self.s**h)):
                key = (j, self.block_symbol[h][block])
                out[key] = out.get(key, 0.0) + math.exp(lp)
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


def aligned_blocks(row, width):
    """The aligned blocks of ``width`` tokens of a string given as a tuple, left to right."""
    return [row[j * width : (j + 1) * width] for j in range(len(row) // width)]


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


def parse_probes(g, bf, seed):
    """Strings to parse: splices and mutations of valid strings, plus the probes of ``probe_strings``."""
    return torch.cat([splice_and_mutate(g, bf, seed=seed), probe_strings(g, bf, seed=seed + 1, num_random=500)])
