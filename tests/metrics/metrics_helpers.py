"""Brute-force references and input generators shared by the tests of rhm_memo.metrics (plain Python only)."""

import itertools
import math
import random
from collections import Counter

import torch

from rhm_memo.rhm import Grammar

# (v, s, L) string shapes: one int64 word per string, and several (v**d > 2**63). "v15s2L5" also has one-word keys
# at height 4 whose (key, position) pair no longer fits one word (15**16 * 2 > 2**63): the [position, key] fallback.
SHAPES = {
    "v3s2L3": (3, 2, 3),
    "v2s3L2": (2, 3, 2),
    "v6s2L4": (6, 2, 4),
    "v15s2L5-multiword": (15, 2, 5),
    "v7s2L5-multiword": (7, 2, 5),
    "v50s2L4-multiword": (50, 2, 4),
}
SHAPE_IDS = list(SHAPES)


def as_tuples(x):
    """Rows of a 2-D tensor as Python tuples."""
    return [tuple(r) for r in x.tolist()]


def train_with_duplicates(v, d, num, seed, dup_frac=0.25):
    """(num, d) random training strings, about ``dup_frac`` of them exact duplicates of earlier or later rows."""
    rng = random.Random(seed)
    rows = [tuple(rng.randrange(v) for _ in range(d)) for _ in range(num)]
    for i in range(num):
        if rng.random() < dup_frac:
            rows[i] = rows[rng.randrange(num)]
    return torch.tensor(rows, dtype=torch.int64)


def mixed_samples(train, v, num, seed, s=None):
    """Samples mixing exact copies, near copies (1-3 tokens changed), block splices (if ``s``) and random strings."""
    rng = random.Random(seed)
    rows = as_tuples(train)
    d = len(rows[0])
    out = []
    for _ in range(num):
        kind = rng.randrange(4 if s else 3)
        base = list(rng.choice(rows))
        if kind == 1:
            for _ in range(rng.randint(1, 3)):
                base[rng.randrange(d)] = rng.randrange(v)
        elif kind == 2:
            base = [rng.randrange(v) for _ in range(d)]
        elif kind == 3:  # aligned blocks of a random height, each from a random training string and position
            L = round(math.log(d, s))
            w = s ** rng.randint(1, L)
            for j in range(d // w):
                src, pos = rng.choice(rows), rng.randrange(d // w) if rng.random() < 0.5 else j
                base[j * w : (j + 1) * w] = src[pos * w : (pos + 1) * w]
        out.append(tuple(base))
    return torch.tensor(out, dtype=torch.int64)


def train_and_samples(name, num_train, num_samples, seeds, dup_frac=0.25):
    """``v`` of the shape ``name``, a training set of that shape with duplicates, and samples mixing copies of it."""
    v, s, L = SHAPES[name]
    train = train_with_duplicates(v, s**L, num_train, seeds[0], dup_frac)
    return v, train, mixed_samples(train, v, num_samples, seeds[1])


def first_index(rows):
    """``{row: smallest index}`` of a list of tuples."""
    out = {}
    for i, r in enumerate(rows):
        out.setdefault(r, i)
    return out


def brute_lookup(train, samples):
    """Smallest training index equal to each sample, or -1 (Python dict)."""
    table = first_index(as_tuples(train))
    return [table.get(r, -1) for r in as_tuples(samples)]


def aligned_blocks(row, s, h):
    """The aligned height-h blocks of a tuple of s**L tokens, as tuples, left to right."""
    w = s**h
    return [row[j * w : (j + 1) * w] for j in range(len(row) // w)]


def block_counter(strings, s, h):
    """collections.Counter of aligned height-h blocks pooled over positions, and the total number of blocks."""
    c = Counter(b for r in as_tuples(strings) for b in aligned_blocks(r, s, h))
    return c, sum(c.values())


def average_ranks(values):
    """1-based ranks with ties averaged (O(n²) Python)."""
    return [sum(1 for y in values if y < x) + (sum(1 for y in values if y == x) + 1) / 2 for x in values]


def pearson(a, b):
    """Pearson correlation of two Python lists (NaN if one is constant)."""
    ma, mb = sum(a) / len(a), sum(b) / len(b)
    cov = sum((x - ma) * (y - mb) for x, y in zip(a, b))
    va, vb = sum((x - ma) ** 2 for x in a), sum((y - mb) ** 2 for y in b)
    return cov / math.sqrt(va * vb) if va > 0 and vb > 0 else math.nan


# ----------------------------------------------------------------------------------------------------------------------
# Grammar references: parse tables and derivable blocks read from the rules as Python lists.


def parse_tables(g):
    """Per level ℓ = 1..L, ``{child tuple: (symbol, rule)}`` over rules with positive probability (and, at ℓ = 1,
    roots with positive prior): zero-probability rules are not part of the grammar."""
    rules = [r.tolist() for r in g.rules]
    probs = [p.tolist() for p in g.rule_probs]
    prior = g.root_prior.tolist()
    tables = []
    for level in range(1, g.L + 1):
        table = {}
        for sym, (sym_rules, sym_probs) in enumerate(zip(rules[level - 1], probs[level - 1])):
            if level == 1 and prior[sym] == 0:
                continue
            for r, (tup, p) in enumerate(zip(sym_rules, sym_probs)):
                if p > 0:
                    table[tuple(tup)] = (sym, r)
        tables.append(table)
    return tables


def py_parse(g, strings):
    """Bottom-up parse in Python: ``out[i][h-1][j]`` = (symbol, rule) of node j at height h of string i, or None."""
    tables = parse_tables(g)
    out = []
    for row in as_tuples(strings):
        cur, per_height = list(row), []
        for h in range(1, g.L + 1):
            table = tables[g.L - h]
            nodes = []
            for j in range(len(cur) // g.s):
                children = cur[j * g.s : (j + 1) * g.s]
                nodes.append(None if None in children else table.get(tuple(children)))
            per_height.append(nodes)
            cur = [None if node is None else node[0] for node in nodes]
        out.append(per_height)
    return out


def derivable_blocks(g):
    """``{h: set of blocks}`` derivable with positive probability from some symbol at level L-h+1 (recursive)."""
    rules = [r.tolist() for r in g.rules]
    probs = [p.tolist() for p in g.rule_probs]
    prior = g.root_prior.tolist()
    memo = {}

    def subtrees(level, sym):
        if (level, sym) not in memo:
            out = set()
            for tup, p in zip(rules[level - 1][sym], probs[level - 1][sym]):
                if p == 0:
                    continue
                if level == g.L:
                    out.add(tuple(tup))
                else:
                    for combo in itertools.product(*(sorted(subtrees(level + 1, c)) for c in tup)):
                        out.add(sum(combo, ()))
            memo[(level, sym)] = out
        return memo[(level, sym)]

    result = {}
    for h in range(1, g.L + 1):
        level = g.L - h + 1
        syms = [x for x in range(len(rules[level - 1])) if level > 1 or prior[x] > 0]
        result[h] = set().union(*(subtrees(level, x) for x in syms))
    return result


def grammar_probes(g, num, seed):
    """Samples of the grammar, the same with one token changed, splices of two samples at a random aligned cut,
    and uniformly random strings: valid, partly valid and invalid strings."""
    rng = random.Random(seed)
    valid = as_tuples(g.sample(num, seed))
    out = list(valid)
    for _ in range(num):
        c = list(rng.choice(valid))
        c[rng.randrange(g.d)] = rng.randrange(g.v)
        out.append(tuple(c))
        a, b = rng.choice(valid), rng.choice(valid)
        cut = g.s ** rng.randint(1, g.L - 1) * rng.randint(1, g.s - 1) if g.L > 1 else g.d
        out.append(a[:cut] + b[cut:])
        out.append(tuple(rng.randrange(g.v) for _ in range(g.d)))
    return torch.tensor(out, dtype=torch.int64)


# Small grammars whose strings can be enumerated: uniform, Zipf at level 1, zero rule probabilities and a zero prior.
GRAMMARS = {
    "v3n2m2s2L3": lambda: Grammar(3, 2, 2, 2, 3, seed=4),
    "zipf-v3n2m3s2L2": lambda: Grammar(3, 2, 3, 2, 2, seed=5, zipf_exponent=1.0, zipf_levels=(1,)),
    "zeros-prior0-v3n3m2s3L2": lambda: Grammar(
        3,
        3,
        2,
        3,
        2,
        seed=6,
        rule_probs={1: [0.3, 0.7], 2: [[1.0, 0.0], [0.4, 0.6], [0.0, 1.0]]},
        root_prior=[0.5, 0.0, 0.5],
    ),
}
