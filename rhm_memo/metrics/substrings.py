"""Substrings: aligned blocks per height, block copies (partial memorization), frequencies, over-production, slop.

A block of height h is one of the ``s**(L-h)`` aligned windows of ``s**h`` tokens of a string (the span of a
node at height h). Definitions: ARCHITECTURE.md §3.

Zero frequencies: ``KL(p‖q)`` is computed with p renormalized to the support of q, and the mass of p outside
that support is reported next to it (``*_mass_outside_*``) — no smoothing constant enters any number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import torch

from rhm_memo.metrics.index import RowIndex, check_strings
from rhm_memo.rhm import keys as K


def num_heights(d: int, s: int) -> int:
    """L such that ``d == s**L`` (ValueError otherwise)."""
    L = round(math.log(d, s)) if d > 1 and s >= 2 else 0
    if L < 1 or s**L != d:
        raise ValueError(f"strings of d={d} tokens are not s**L for s={s}, L >= 1")
    return L


def blocks(strings: torch.Tensor, height: int, s: int) -> torch.Tensor:
    """``(N, s**(L-h), s**h)`` view of the aligned blocks of height ``h``."""
    L = num_heights(strings.shape[1], s)
    if not isinstance(height, int) or not 1 <= height <= L:
        raise ValueError(f"height must be an integer in 1..L={L}, got {height!r}")
    return strings.reshape(strings.shape[0], s ** (L - height), s**height)


def block_keys(strings: torch.Tensor, height: int, s: int, v: int) -> torch.Tensor:
    """``(N, s**(L-h), W)`` exact int64 keys of the blocks of height ``h``."""
    b = blocks(strings, height, s)
    return K.pack(b.reshape(-1, b.shape[-1]), v).view(b.shape[0], b.shape[1], -1)


class BlockIndex:
    """The training set's blocks at every height, indexed once, for block-copy look-ups.

    Args:
        train: ``(P, d)`` training tokens.
        v: Vocabulary size.
        s: Branching factor (``d = s**L``).
    """

    def __init__(self, train: torch.Tensor, v: int, s: int) -> None:
        self.train = check_strings(train, "train", v)
        self.v, self.s = v, s
        self.L = num_heights(self.train.shape[1], s)
        self._same: dict[int, RowIndex] = {}
        self._pooled: dict[int, RowIndex] = {}
        for h in range(1, self.L + 1):
            keys = block_keys(self.train, h, s, v)
            self._pooled[h] = RowIndex(keys.reshape(-1, keys.shape[-1]))
            self._same[h] = RowIndex(_with_position(keys, v ** (s**h)))

    def copies(self, strings: torch.Tensor, height: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Boolean ``(N, s**(L-h))`` pair: block found in training at the same position / at any position."""
        strings = check_strings(strings, "strings", self.v, self.train.shape[1])
        keys = block_keys(strings, height, self.s, self.v)
        same = self._same[height].contains(_with_position(keys, self.v ** (self.s**height))).view(keys.shape[:2])
        pooled = self._pooled[height].contains(keys.reshape(-1, keys.shape[-1])).view(keys.shape[:2])
        return same, pooled

    def copy_fractions(self, strings: torch.Tensor) -> dict[int, dict[str, float]]:
        """Per height: fraction of blocks found in the training set at the same position, and at any position."""
        out = {}
        for h in range(1, self.L + 1):
            same, pooled = self.copies(strings, h)
            out[h] = {"same_position": same.double().mean().item(), "pooled": pooled.double().mean().item()}
        return out


def _with_position(keys: torch.Tensor, bound: int) -> torch.Tensor:
    """Rows keyed by (position, block): one word ``key*positions + position`` when it fits in int64 (keys <
    ``bound``), else ``[position, key words...]``."""
    n, positions, w = keys.shape
    pos = torch.arange(positions, device=keys.device).expand(n, positions)
    if w == 1 and bound * positions <= 2**63 - 1:
        return (keys[..., 0] * positions + pos).reshape(-1, 1)
    return torch.cat([pos.unsqueeze(-1), keys], dim=-1).reshape(n * positions, w + 1)


def block_counts(strings: torch.Tensor, height: int, s: int, v: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Distinct blocks of height ``h`` pooled over positions: ``values (K, s**h)`` sorted, and ``counts (K,)``."""
    strings = check_strings(strings, "strings", v)
    b = blocks(strings, height, s).reshape(-1, s**height)
    _, inverse, counts = K.unique_rows(K.pack(b, v))
    return b[K.group_first(inverse, counts.numel())], counts


@dataclass(frozen=True)
class BlockFrequencies:
    """Relative frequencies of the blocks of one height, aligned on the union of blocks seen in gen or train.

    ``values (K, s**h)`` sorted; ``f_gen``, ``f_train`` (K,) float64, each summing to 1 over all blocks of
    its set; ``f_true`` (K,) the grammar's probability of each block (pooled over positions), or None.
    """

    height: int
    values: torch.Tensor
    f_gen: torch.Tensor
    f_train: torch.Tensor
    f_true: torch.Tensor | None

    @property
    def overproduction(self) -> torch.Tensor:
        """``f_gen / f_train`` per block (inf where a block never occurs in training but is generated)."""
        return self.f_gen / self.f_train


def block_frequencies(
    gen: torch.Tensor,
    train: torch.Tensor,
    height: int,
    s: int,
    v: int,
    true_values: torch.Tensor | None = None,
    true_probs: torch.Tensor | None = None,
) -> BlockFrequencies:
    """Block frequencies of generated vs training strings, with the grammar truth if given.

    ``true_values (Kt, s**h)`` and ``true_probs (positions, Kt)`` are ``Grammar.block_probabilities(h)``'s
    ``values`` and ``probs``; the truth pooled over positions is their mean over positions.
    """
    gen = check_strings(gen, "gen", v)
    train = check_strings(train, "train", v, gen.shape[1])
    gv, gc = block_counts(gen, height, s, v)
    tv, tc = block_counts(train, height, s, v)
    values = torch.cat([gv, tv])
    keys = K.pack(values, v)
    order = K.first_occurrences(keys)
    values, keys = values[order], keys[order]
    sort = K.lexsort_rows(keys)
    values, keys = values[sort], keys[sort]
    index = RowIndex(keys)
    f_gen = _scatter(index.find(K.pack(gv, v)), gc, len(values))
    f_train = _scatter(index.find(K.pack(tv, v)), tc, len(values))
    f_true = None
    if (true_values is None) != (true_probs is None):
        raise ValueError("give both true_values and true_probs (Grammar.block_probabilities(h)), or neither")
    if true_values is not None:
        positions = gen.shape[1] // s**height
        if true_values.ndim != 2 or true_values.shape[1] != s**height:
            want = f"(K, s**h) = (K, {s**height})"
            raise ValueError(f"true_values must have shape {want}, got {tuple(true_values.shape)}")
        if tuple(true_probs.shape) != (positions, true_values.shape[0]):
            raise ValueError(
                f"true_probs must have shape (positions, K) = ({positions}, {true_values.shape[0]}), "
                f"got {tuple(true_probs.shape)}"
            )
        truth = RowIndex(K.pack(true_values.to(values.device), v)).find(keys)
        pooled = true_probs.to(values.device, torch.float64).mean(0)
        f_true = torch.where(truth >= 0, pooled[truth.clamp_min(0)], 0.0)
    return BlockFrequencies(height, values, f_gen, f_train, f_true)


def _scatter(where: torch.Tensor, counts: torch.Tensor, size: int) -> torch.Tensor:
    out = torch.zeros(size, dtype=torch.float64, device=counts.device)
    out[where] = counts.double()
    return out / out.sum()


def kl_on_support(p: torch.Tensor, q: torch.Tensor) -> tuple[float, float]:
    """``(KL(p̃‖q), mass of p where q = 0)`` in nats, with p̃ = p renormalized to where q > 0.

    q is **not** renormalized, so mass that q puts where p̃ has none still counts (KL ≥ −log Σ_{p̃>0} q ≥ 0):
    a generator that collapses onto a few common blocks gets a large KL, not 0. NaN if p has no mass where
    q > 0.
    """
    if p.shape != q.shape or p.ndim != 1:
        raise ValueError(f"p and q must be aligned (K,) tensors, got {tuple(p.shape)} and {tuple(q.shape)}")
    _check_distribution(p, "p")
    _check_distribution(q, "q", partial=True)  # q may be a distribution restricted to p's support
    common = (p > 0) & (q > 0)
    outside = p[(p > 0) & (q <= 0)].sum().item()
    if not common.any():
        return math.nan, outside
    pc = p[common] / p[common].sum()
    return (pc * (pc / q[common]).log()).sum().item(), outside


def _check_distribution(p: torch.Tensor, name: str, partial: bool = False) -> None:
    """Raise unless ``p`` is a probability vector: no NaN, no negative entry, sum 1 (to 1e-6; with ``partial``,
    at most 1: the restriction of a distribution to some outcomes)."""
    if torch.isnan(p).any() or (p < 0).any():
        raise ValueError(f"{name} must be a probability vector: it has NaN or negative entries")
    total = p.double().sum().item()
    if total > 1.0 + 1e-6 or (not partial and total < 1.0 - 1e-6):
        bound = "at most 1" if partial else "1"
        raise ValueError(f"{name} must be a probability vector summing to {bound}, got a sum of {total:.6g}")


def entropy(p: torch.Tensor) -> float:
    """Shannon entropy (nats) of a distribution (zeros contribute 0); ``p`` must sum to 1."""
    _check_distribution(p, "p")
    nz = p[p > 0]
    return -(nz * nz.log()).sum().item()


def slop_index(f_gen: torch.Tensor, f_train: torch.Tensor, top_fraction: float = 0.1) -> float:
    """Σ_{b ∈ top decile of f_train} f_gen(b) / Σ_{same b} f_train(b); > 1: common blocks are over-produced.

    The top set never depends on the order of the blocks: among the K blocks that occur in training
    (``f_train > 0``), it is every block whose ``f_train`` is ≥ the value at rank ``r = ⌈top_fraction · K⌉``
    (1-based, descending), so blocks tied with rank r all enter and the set may hold more than r blocks.
    ``top_fraction`` generalizes the decile (0.1); r is computed exactly for the decimal ``top_fraction``
    (``0.07 · 100`` gives r = 7, not the 8 of ``ceil(7.000000000000001)``). Where all K training frequencies tie
    (K = 1, or the whole strings of a training set without duplicates) the index is undefined: NaN.
    """
    if f_gen.shape != f_train.shape or f_gen.ndim != 1:
        raise ValueError(f"f_gen and f_train must be aligned (K,) tensors, got {f_gen.shape} and {f_train.shape}")
    if not 0 < top_fraction <= 1:
        raise ValueError(f"top_fraction must be in (0, 1], got {top_fraction}")
    support = f_train[f_train > 0]
    if support.numel() == 0:
        raise ValueError("f_train has no support")
    if bool((support == support[0]).all()):
        return math.nan
    rank = math.ceil(Fraction(repr(float(top_fraction))) * support.numel())
    threshold = torch.sort(support, descending=True).values[rank - 1]
    top = f_train >= threshold
    return (f_gen[top].sum() / f_train[top].sum()).item()


def slop_index_true(
    gen: torch.Tensor,
    height: int,
    s: int,
    v: int,
    true_values: torch.Tensor,
    true_probs: torch.Tensor,
    top_fraction: float = 0.1,
) -> float:
    """The slop index with the top decile chosen by the grammar's own block probabilities instead of the training
    frequencies: Σ_{b ∈ T} f_gen(b) / Σ_{b ∈ T} f_true(b), T the blocks whose pooled true probability is in the top
    ``top_fraction`` (ties as in :func:`slop_index`; NaN where all tie, e.g. a uniform grammar).

    > 1: the truly common blocks are over-produced. No training sample chooses T, so a perfect generalizer scores
    exactly 1 in expectation: unlike :func:`slop_index`, the reference needs no null model, and memorizing the
    training set's own frequencies does not raise it. ``true_values``/``true_probs`` are
    ``Grammar.block_probabilities(h)``'s ``values`` and ``probs``.
    """
    gen = check_strings(gen, "gen", v)
    if true_values.ndim != 2 or true_values.shape[1] != s**height or true_probs.shape[-1] != true_values.shape[0]:
        raise ValueError("true_values (K, s**h) and true_probs (positions, K) must be block_probabilities(h)'s")
    pooled = true_probs.to(torch.float64).mean(0)
    values, counts = block_counts(gen, height, s, v)
    where = RowIndex(K.pack(true_values.to(values.device), v)).find(K.pack(values, v))
    known = where >= 0
    f_gen = torch.zeros(len(pooled), dtype=torch.float64, device=values.device)
    f_gen.index_add_(0, where[known], counts[known].to(torch.float64) / counts.sum())
    return slop_index(f_gen, pooled.to(values.device), top_fraction)


def block_probabilities_outside(
    true_values: torch.Tensor,
    true_probs: torch.Tensor,
    strings: torch.Tensor,
    log_prob: torch.Tensor,
    height: int,
    s: int,
    v: int,
) -> torch.Tensor:
    """The grammar's block probabilities given that the string is none of ``strings`` (e.g. the training set):
    ``(probs[j, b] − Σ_x p(x)·1[block j of x = b]) / (1 − Σ_x p(x))`` over the distinct rows x of ``strings``.

    What a perfect generalizer's *novel* samples (those that copy no training string) produce in expectation, so
    ``slop_index(f_true outside, f_train)`` is the null of the slop index computed on novel samples only.
    ``true_values``/``true_probs`` are ``Grammar.block_probabilities(h)``'s ``values`` and ``probs``, ``log_prob``
    the grammar's log-probability of each row of ``strings`` (``Grammar.log_prob``; rows of probability 0 change
    nothing); returns ``(positions, K)`` float64, each row summing to 1.
    """
    strings = check_strings(strings, "strings", v)
    if true_values.ndim != 2 or true_values.shape[1] != s**height or true_probs.shape[-1] != true_values.shape[0]:
        raise ValueError("true_values (K, s**h) and true_probs (positions, K) must be block_probabilities(h)'s")
    if log_prob.shape != strings.shape[:1]:
        want, got = strings.shape[0], tuple(log_prob.shape)
        raise ValueError(f"log_prob must have one entry per string, shape ({want},), got {got}")
    distinct = K.first_occurrences(K.pack(strings, v))
    strings, p = strings[distinct], log_prob[distinct].to(strings.device, torch.float64).exp()
    strings, p = strings[p > 0], p[p > 0]  # strings the grammar cannot derive take no mass away
    mass = float(p.sum())
    if not mass < 1 - 1e-9:
        raise ValueError(f"the strings hold all of the grammar's mass ({mass:.6g}): no string lies outside them")
    b = blocks(strings, height, s)
    positions, width = b.shape[1], b.shape[2]
    if true_probs.shape[0] != positions:
        got = true_probs.shape[0]
        raise ValueError(f"true_probs must have {positions} rows (the positions of height {height}), got {got}")
    where = RowIndex(K.pack(true_values.to(b.device), v)).find(K.pack(b.reshape(-1, width), v)).view(-1, positions)
    if bool((where < 0).any()):
        raise ValueError(
            "log_prob gives a positive probability to a string with a block the grammar cannot derive "
            "(log_prob and the block probabilities of different grammars?)"
        )
    flat = true_probs.to(b.device, torch.float64).clone().reshape(-1)
    offsets = torch.arange(positions, device=b.device) * true_values.shape[0]
    flat.index_add_(0, (where + offsets).reshape(-1), -p.repeat_interleave(positions))
    outside = flat.clamp_min(0).view(positions, -1)
    return outside / outside.sum(1, keepdim=True)  # each row sums to 1 − M; its own sum cancels less near M = 1


def top_blocks(freq: BlockFrequencies, k: int) -> list[dict[str, Any]]:
    """The ``k`` most frequent training blocks (ties in block order) with their training, generated and true
    frequencies: ``{"block": [tokens], "f_train", "f_gen", "f_true"}`` (``f_true`` None without the grammar's)."""
    order = torch.sort(freq.f_train, descending=True, stable=True).indices[:k]
    return [
        {
            "block": freq.values[i].tolist(),
            "f_train": float(freq.f_train[i]),
            "f_gen": float(freq.f_gen[i]),
            "f_true": None if freq.f_true is None else float(freq.f_true[i]),
        }
        for i in order.tolist()
    ]


def frequency_summary(freq: BlockFrequencies, top_fraction: float = 0.1) -> dict[str, float]:
    """KL(gen‖train), KL(gen‖true), entropies and the slop index of one height (NaN where undefined).

    With the grammar's truth, also ``slop_index_null``: the slop index a sampler of the grammar (a perfect
    generalizer) has in expectation, ``slop_index(f_true, f_train)``. Exact, since the index is linear in
    ``f_gen`` for a fixed training set and the sampler's expected block frequencies are ``f_true``; typically
    below 1, because the top decile holds the blocks that the training sample over-represents.
    """
    kl_train, outside_train = kl_on_support(freq.f_gen, freq.f_train)
    out = {
        "kl_gen_train": kl_train,
        "gen_mass_outside_train": outside_train,
        "entropy_gen": entropy(freq.f_gen),
        "entropy_train": entropy(freq.f_train),
        "slop_index": slop_index(freq.f_gen, freq.f_train, top_fraction),
    }
    if freq.f_true is not None:
        kl_true, outside_true = kl_on_support(freq.f_gen, freq.f_true)
        out["kl_gen_true"] = kl_true
        out["gen_mass_outside_true"] = outside_true
        out["slop_index_null"] = slop_index(freq.f_true, freq.f_train, top_fraction)
    return out
