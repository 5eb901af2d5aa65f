"""The Random Hierarchy Model: a random, unambiguous probabilistic context-free grammar.

Conventions (see ARCHITECTURE.md §2):

* rule **levels** ℓ = 1..L count from the top: level 1 expands the ``n`` root symbols, level L emits the
  visible tokens. ``rules[ℓ-1]`` has shape ``(n, m, s)`` for ℓ = 1 and ``(v, m, s)`` for ℓ ≥ 2.
* node **heights** h = 1..L count from the leaves: a node at height h spans an aligned block of ``s**h``
  tokens, and its rule is chosen at level ``ℓ = L - h + 1``. ``Parse.symbols[h-1]`` has shape
  ``(N, s**(L-h))``.
* every random draw takes an explicit ``torch.Generator`` (or an int seed); categorical draws are float64.

The rules come from ``rules.py``, the returned objects are defined in ``results.py`` and the sampling and
parse look-up tables are built by ``tables.py``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from rhm_memo.checks import check_strings
from rhm_memo.rhm import keys as K
from rhm_memo.rhm.results import BlockProbabilities, Derivations, Parse
from rhm_memo.rhm.rules import check_sizes, random_rules
from rhm_memo.rhm.tables import LevelTable, categorical, cdf, parse_tables
from rhm_memo.rhm.zipf import ProbSpec, level_rule_probs, root_prior_probs

GeneratorLike = torch.Generator | int

#: Grammars with at most this many strings are sampled without replacement by exact enumeration.
ENUMERATE_BELOW = 2**20


def as_generator(generator: GeneratorLike) -> torch.Generator:
    """A CPU ``torch.Generator``: passed through, or freshly seeded from an int."""
    if isinstance(generator, torch.Generator):
        return generator
    if isinstance(generator, int) and not isinstance(generator, bool):
        return torch.Generator().manual_seed(generator)
    raise TypeError(f"generator must be a torch.Generator or an int seed, got {type(generator).__name__}")


class Grammar:
    """A Random Hierarchy Model: random rules from (v, n, m, s, L, seed), rule probabilities, a root prior.

    Args:
        v: Vocabulary size (symbols at levels 2..L and visible tokens).
        n: Number of root symbols.
        m: Rules per symbol.
        s: Symbols emitted by each rule (branching factor), >= 2.
        L: Depth; strings have ``s**L`` tokens.
        seed: Seed of the random rules (same algorithm as the RHM reference code).
        zipf_exponent: Real ``a >= 0``; rules at ``zipf_levels`` get ``p_k ∝ k**(-a)``, k = 1..m.
        zipf_levels: Levels (1 = the root's rules, L = the token-emitting rules) with a Zipf law.
        rule_probs: Explicit probabilities per level: ``{level: (m,) or (symbols, m) array}``.
        root_prior: Prior over the ``n`` root symbols (uniform by default).
    """

    def __init__(
        self,
        v: int,
        n: int,
        m: int,
        s: int,
        L: int,
        seed: int = 0,
        *,
        zipf_exponent: float = 0.0,
        zipf_levels: Sequence[int] = (),
        rule_probs: Mapping[int, ProbSpec] | None = None,
        root_prior: ProbSpec | None = None,
    ) -> None:
        self._build(v, random_rules(v, n, m, s, L, seed), zipf_exponent, zipf_levels, rule_probs, root_prior)

    @classmethod
    def from_rules(
        cls,
        rules: Sequence[torch.Tensor | np.ndarray | Sequence],
        *,
        v: int | None = None,
        zipf_exponent: float = 0.0,
        zipf_levels: Sequence[int] = (),
        rule_probs: Mapping[int, ProbSpec] | None = None,
        root_prior: ProbSpec | None = None,
    ) -> Grammar:
        """A grammar from explicit rules: level 1 of shape (n, m, s), levels 2..L of shape (v, m, s).

        ``v`` defaults to ``rules[1].shape[0]`` (or the largest token + 1 when L = 1). Ambiguous rules (one
        s-tuple produced by two (symbol, rule) pairs of a level) are rejected.
        """
        if len(rules) < 1:
            raise ValueError("rules must hold at least one level (L >= 1)")
        rules = [torch.as_tensor(np.asarray(r)) for r in rules]
        for level, r in enumerate(rules, start=1):
            if r.dtype.is_floating_point or r.dtype == torch.bool or r.ndim != 3:
                raise ValueError(
                    f"rules[{level - 1}] (level {level}) must be an integer array of shape (symbols, m, s)"
                )
        n, m, s = rules[0].shape
        if v is None:
            v = rules[1].shape[0] if len(rules) > 1 else int(rules[0].max()) + 1
        check_sizes(v, n, m, s, len(rules))
        for level, r in enumerate(rules, start=1):
            expected = (n if level == 1 else v, m, s)
            if tuple(r.shape) != expected:
                raise ValueError(f"rules[{level - 1}] (level {level}) must have shape {expected}, got {tuple(r.shape)}")
            if r.min() < 0 or r.max() >= v:
                raise ValueError(f"rules[{level - 1}] (level {level}) must hold symbols in 0..v-1 = 0..{v - 1}")
        grammar = cls.__new__(cls)
        grammar._build(v, [r.long() for r in rules], zipf_exponent, zipf_levels, rule_probs, root_prior)
        return grammar

    def _build(self, v, rules, zipf_exponent, zipf_levels, rule_probs, root_prior) -> None:
        """Store rules and probabilities, check unambiguity, and build the parse look-up tables."""
        if zipf_exponent and not zipf_levels:
            raise ValueError(
                f"zipf_exponent={zipf_exponent} has no effect without zipf_levels: give the levels that get the "
                "Zipf law (1 = the root's rules), or zipf_exponent=0"
            )
        self.v = v
        self.n, self.m, self.s = rules[0].shape
        self.L = len(rules)
        self.d = self.s**self.L
        self.rules = [r.contiguous() for r in rules]
        self.rule_probs = level_rule_probs([r.shape[0] for r in rules], self.m, zipf_exponent, zipf_levels, rule_probs)
        self.root_prior = root_prior_probs(self.n, root_prior)
        self._rule_logp = [p.log() for p in self.rule_probs]
        self._root_logp = self.root_prior.log()
        self._cdfs = [cdf(p) for p in self.rule_probs]
        self._root_cdf = cdf(self.root_prior.unsqueeze(0))
        powers = torch.tensor([v ** (self.s - 1 - j) for j in range(self.s)], dtype=torch.int64)
        for level, rules in enumerate(self.rules, start=1):
            codes = (rules * powers).sum(-1).view(-1)
            uniq, counts = torch.unique(codes, return_counts=True)
            if (counts > 1).any():
                code = int(uniq[counts > 1][0])
                owners = [(int(i) // self.m, int(i) % self.m) for i in (codes == code).nonzero()[:, 0]]
                tup = [(code // v ** (self.s - 1 - j)) % v for j in range(self.s)]
                raise ValueError(
                    f"ambiguous rules at level {level}: tuple {tup} is produced by (symbol, rule) pairs {owners}"
                )
        self._roots = torch.nonzero(self.root_prior > 0)[:, 0]  # root symbols with positive prior
        self._tables: dict[torch.device, list[LevelTable]] = {}
        self._counts = self._subtree_counts()

    # ------------------------------------------------------------------ describing
    def __repr__(self) -> str:
        return f"Grammar(v={self.v}, n={self.n}, m={self.m}, s={self.s}, L={self.L})"

    def num_strings(self) -> int:
        """Exact number of distinct strings with positive probability (a Python int: it may exceed int64)."""
        return sum(c for c, p in zip(self._counts[0], self.root_prior.tolist(), strict=True) if p > 0)

    def num_blocks(self, height: int) -> int:
        """Exact number of distinct blocks of this height derivable with positive probability."""
        self._check_height(height)
        if height == self.L:
            return self.num_strings()
        return sum(self._counts[self.L - height])

    def _subtree_counts(self) -> list[list[int]]:
        """``counts[ℓ-1][x]``: number of distinct subtrees (with positive probability) of symbol x at level ℓ."""
        below = [1] * self.v  # tokens
        counts: list[list[int]] = []
        for level in reversed(range(1, self.L + 1)):
            rules, probs = self.rules[level - 1].tolist(), self.rule_probs[level - 1].tolist()
            here = [
                sum(math.prod(below[c] for c in rule) for rule, p in zip(sym_rules, sym_probs, strict=True) if p > 0)
                for sym_rules, sym_probs in zip(rules, probs, strict=True)
            ]
            counts.insert(0, here)
            below = here
        return counts

    # ------------------------------------------------------------------ sampling
    def sample(self, num: int, generator: GeneratorLike) -> torch.Tensor:
        """``num`` i.i.d. strings, an int64 tensor of shape ``(num, s**L)``."""
        return self._sample(num, as_generator(generator), derivations=False).strings

    def sample_derivations(self, num: int, generator: GeneratorLike) -> Derivations:
        """``num`` i.i.d. strings with their derivations and exact log-probabilities (root prior included)."""
        return self._sample(num, as_generator(generator), derivations=True)

    def _sample(self, num: int, g: torch.Generator, derivations: bool) -> Derivations:
        """Top-down ancestral sampling; one float64 uniform per node, drawn level by level."""
        if num < 0:
            raise ValueError(f"num must be >= 0, got {num}")
        nodes = categorical(self._root_cdf, None, torch.rand(num, dtype=torch.float64, generator=g))
        log_prob = self._root_logp[nodes] if derivations else None
        symbols, rules = [], []
        for level in range(1, self.L + 1):
            u = torch.rand(nodes.numel(), dtype=torch.float64, generator=g)
            rule = categorical(self._cdfs[level - 1], nodes, u)
            ids = nodes * self.m + rule
            if derivations:
                log_prob = log_prob + self._rule_logp[level - 1].view(-1)[ids].view(num, -1).sum(-1)
                symbols.insert(0, nodes.view(num, -1))
                rules.insert(0, rule.view(num, -1))
            nodes = self.rules[level - 1].view(-1, self.s)[ids].view(-1)
        return Derivations(nodes.view(num, self.d), Parse(symbols, rules), log_prob)

    def sample_unique(self, num: int, generator: GeneratorLike, *, exclude: torch.Tensor | None = None) -> torch.Tensor:
        """``num`` distinct strings, none of them in ``exclude``: sampling without replacement.

        The strings come in the order of successive sampling without replacement (each next string drawn
        with probability ∝ p(x) among those not yet drawn). Small grammars (at most ``ENUMERATE_BELOW``
        strings) are enumerated and sampled exactly by Gumbel-top-k; larger ones by i.i.d. draws keeping
        first occurrences. Raises ``ValueError`` when fewer than ``num`` strings are available.
        """
        if num < 0:
            raise ValueError(f"num must be >= 0, got {num}")
        g = as_generator(generator)
        total = self.num_strings()
        excluded = torch.zeros(0, 1, dtype=torch.int64)
        if exclude is not None and len(exclude) > 0:
            exclude = check_strings(torch.as_tensor(exclude), "exclude", self.v, self.d, allow_empty=True).cpu()
            exclude = exclude[torch.isfinite(self.log_prob(exclude))]
            excluded = K.pack(exclude, self.v)
            excluded = excluded[K.first_occurrences(excluded)]
        available = total - excluded.shape[0]
        if num > available:
            raise ValueError(
                f"cannot draw {num} distinct strings: the grammar produces {total} distinct strings"
                + (f", {excluded.shape[0]} of them excluded" if excluded.shape[0] else "")
            )
        if num == 0:
            return torch.zeros(0, self.d, dtype=torch.int64)
        if total <= ENUMERATE_BELOW:
            strings, log_prob = self.enumerate()
            u = torch.rand(len(strings), dtype=torch.float64, generator=g).clamp_min(1e-300)
            gumbel = -(-u.log()).log()
            keys = torch.where(K.isin_rows(K.pack(strings, self.v), excluded), -math.inf, log_prob + gumbel)
            return strings[keys.argsort(descending=True, stable=True)[:num]]
        return self._sample_unique_by_rejection(num, g, excluded)

    def _sample_unique_by_rejection(self, num: int, g: torch.Generator, excluded: torch.Tensor) -> torch.Tensor:
        """Draw i.i.d. batches and keep first occurrences until ``num`` new distinct strings are found."""
        kept = torch.zeros(0, self.d, dtype=torch.int64)
        kept_keys = torch.zeros(0, excluded.shape[1] if excluded.numel() else K.pack(kept, self.v).shape[1])
        kept_keys = kept_keys.long()
        yield_rate, drawn = 1.0, 0
        while kept.shape[0] < num:
            need = num - kept.shape[0]
            batch = min(int(need / yield_rate * 1.1) + 64, 8 * num + 1024)
            new = self.sample(batch, g)
            drawn += batch
            all_strings, all_keys = torch.cat([kept, new]), torch.cat([kept_keys, K.pack(new, self.v)])
            first = K.first_occurrences(all_keys)
            first = first[~K.isin_rows(all_keys[first], excluded)]
            gained = first.shape[0] - kept.shape[0]
            first = first[:num]
            kept, kept_keys = all_strings[first], all_keys[first]
            yield_rate = max(gained / batch, 1e-3)
            if kept.shape[0] < num and drawn > 1000 * num + 10**6:
                raise RuntimeError(
                    f"sample_unique found only {kept.shape[0]} of {num} distinct strings after {drawn} draws: "
                    "the distribution is too concentrated; ask for fewer strings or flatten the rule probabilities"
                )
        return kept

    def enumerate(self, max_strings: int = 10**7) -> tuple[torch.Tensor, torch.Tensor]:
        """All strings with positive probability and their log-probabilities (raises if more than ``max_strings``)."""
        total = self.num_strings()
        if total > max_strings:
            raise ValueError(f"the grammar produces {total} strings, more than max_strings={max_strings}")
        _, strings, log_prob = self._expand(1, self._roots, self._root_logp[self._roots])
        return strings, log_prob

    def _expand(self, level: int, symbols: torch.Tensor, log_prob: torch.Tensor):
        """All subtrees of ``symbols`` (nodes whose rule is chosen at ``level``), down to the tokens.

        Returns ``(origin, blocks, log_prob)``: the index into ``symbols`` each block comes from, the blocks
        ``(K, s**(L-level+1))``, and ``log_prob`` plus the log-probability of the subtree.
        """
        frontier, origin = symbols.view(-1, 1), torch.arange(len(symbols))
        for lev in range(level, self.L + 1):
            width = frontier.shape[1]
            children = torch.empty(frontier.shape[0], width, self.s, dtype=torch.int64)
            for j in range(width):
                sym = frontier[:, j]
                rows, rule = (self.rule_probs[lev - 1][sym] > 0).nonzero(as_tuple=True)
                frontier, children, origin = frontier[rows], children[rows], origin[rows]
                log_prob = log_prob[rows] + self._rule_logp[lev - 1][sym[rows], rule]
                children[:, j] = self.rules[lev - 1][frontier[:, j], rule]
            frontier = children.view(-1, width * self.s)
        return origin, frontier, log_prob

    # ------------------------------------------------------------------ parsing and probabilities
    def parse(self, strings: torch.Tensor) -> Parse:
        """Bottom-up parse of arbitrary strings ``(N, s**L)``; -1 marks blocks that do not parse."""
        ids, tables = self._node_ids(strings)
        return Parse([t.symbol[i] for t, i in zip(tables, ids)], [t.rule[i] for t, i in zip(tables, ids)])

    def log_prob(self, strings: torch.Tensor, *, include_root_prior: bool = True) -> torch.Tensor:
        """Exact log-probability (float64, shape ``(N,)``) of arbitrary strings; -inf for invalid ones.

        ``include_root_prior=False`` drops log prior(root), as the paper's code does.
        """
        ids, tables = self._node_ids(strings)
        top = tables[-1].logp_with_prior if include_root_prior else tables[-1].logp
        total = top[ids[-1][:, 0]]
        for table, i in zip(tables[:-1], ids[:-1]):
            total = total + table.logp[i].sum(-1)  # an unparsed block has log p = -inf
        return total

    def _node_ids(self, strings: torch.Tensor) -> tuple[list[torch.Tensor], list[LevelTable]]:
        """Per height h = 1..L, the ``(N, s**(L-h))`` node ids ``symbol*m + rule`` (``table.invalid``: no parse)."""
        x = check_strings(torch.as_tensor(strings), "strings", self.v, self.d, allow_empty=True)
        num = x.shape[0]
        tables = self._device_tables(x.device)
        ids = []
        for table in tables:
            blocks = x.reshape(num, x.shape[1] // self.s, self.s)
            code = blocks[..., 0]
            for j in range(1, self.s):
                code = code * (self.v + 1) + blocks[..., j]  # base v+1: digit v marks an unparsed child
            node = table.lookup(code)
            ids.append(node)
            x = table.symbol_up[node]
        return ids, tables

    def block_probabilities(self, height: int, max_blocks: int = 10**6) -> BlockProbabilities:
        """Exact probability of each block value at each aligned position of ``height``.

        Enumerates the ``num_blocks(height)`` possible blocks; raises ``ValueError`` if there are more than
        ``max_blocks`` (e.g. the whole string, height L, of the paper's grammar has 6·4^15 values).
        """
        self._check_height(height)
        count = self.num_blocks(height)
        if count > max_blocks:
            raise ValueError(
                f"height {height} has {count} possible blocks, more than max_blocks={max_blocks}: "
                "exact block probabilities are only available where the blocks can be enumerated"
            )
        level = self.L - height + 1
        marginals = self.symbol_marginals(height)  # (positions, symbols at this level)
        symbols = self._roots if height == self.L else torch.arange(marginals.shape[1])
        origin, blocks, log_prob = self._expand(level, symbols, torch.zeros(len(symbols), dtype=torch.float64))
        probs = marginals[:, symbols[origin]] * log_prob.exp()
        order = K.lexsort_rows(K.pack(blocks, self.v))
        return BlockProbabilities(height, blocks[order], probs[:, order])

    def symbol_marginals(self, height: int) -> torch.Tensor:
        """``(s**(L-height), symbols)`` float64: distribution of the node symbol at each position of a height."""
        self._check_height(height)
        marg = self.root_prior.unsqueeze(0)
        for level in range(1, self.L - height + 1):
            weight = (marg.unsqueeze(-1) * self.rule_probs[level - 1]).flatten(1)  # (P, parents*m)
            child = torch.zeros(marg.shape[0], self.s, self.v, dtype=torch.float64)
            for c in range(self.s):
                index = self.rules[level - 1][:, :, c].reshape(1, -1).expand(marg.shape[0], -1)
                child[:, c].scatter_add_(1, index, weight)
            marg = child.view(-1, self.v)
        return marg

    # ------------------------------------------------------------------ helpers
    def _check_height(self, height: int) -> None:
        if not isinstance(height, int) or not 1 <= height <= self.L:
            raise ValueError(f"height must be an integer in 1..L={self.L}, got {height!r}")

    def _device_tables(self, device: torch.device) -> list[LevelTable]:
        """Per-height look-up tables (height 1 first), cached per device."""
        if device not in self._tables:
            self._tables[device] = parse_tables(self.rules, self._rule_logp, self._root_logp, self.v, device)
        return self._tables[device]


__all__ = [
    "BlockProbabilities",
    "Derivations",
    "Grammar",
    "Parse",
    "as_generator",
    "check_sizes",
    "random_rules",
]
