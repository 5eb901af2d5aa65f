"""Exact integer keys for token strings: pack base-v digits into int64 words, then sort, dedupe, look up.

A string of ``d`` tokens in ``0..v-1`` becomes ``W = ceil(d / k)`` int64 words of ``k`` digits each, with
``k`` the largest width such that ``v**k`` fits in a signed 64-bit integer. Keys compare like the strings
themselves (lexicographically), and equal keys mean equal strings: no hashing, no collisions.
"""

from __future__ import annotations

import torch

_INT64_MAX = 2**63 - 1


def digits_per_word(v: int) -> int:
    """The largest ``k`` with ``v**k <= 2**63 - 1`` (how many base-v digits fit in one int64 word)."""
    if v < 1:
        raise ValueError(f"v must be >= 1, got {v}")
    if v == 1:
        return 63
    k = 1
    while v ** (k + 1) <= _INT64_MAX:
        k += 1
    return k


def pack(strings: torch.Tensor, v: int) -> torch.Tensor:
    """Pack ``(N, d)`` tokens in ``0..v-1`` into ``(N, W)`` int64 keys that order like the strings."""
    if strings.ndim != 2:
        raise ValueError(f"strings must have shape (N, d), got {tuple(strings.shape)}")
    n, d = strings.shape
    k = digits_per_word(v)
    words = []
    for start in range(0, d, k):
        chunk = strings[:, start : start + k].long()
        width = chunk.shape[1]
        powers = torch.tensor([v ** (width - 1 - j) for j in range(width)], dtype=torch.int64, device=strings.device)
        words.append((chunk * powers).sum(-1))
    if not words:
        return torch.zeros(n, 1, dtype=torch.int64, device=strings.device)
    return torch.stack(words, dim=1)


def unique_rows(keys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Distinct rows of ``(N, W)`` keys, sorted lexicographically, with the inverse map and the counts."""
    if keys.shape[1] == 1:
        uniq, inverse, counts = torch.unique(keys[:, 0], return_inverse=True, return_counts=True)
        return uniq.unsqueeze(1), inverse, counts
    order = lexsort_rows(keys)  # faster than torch.unique(dim=0) on CPU
    rows = keys[order]
    new = torch.ones(rows.shape[0], dtype=torch.bool, device=keys.device)
    new[1:] = (rows[1:] != rows[:-1]).any(-1)
    group = new.cumsum(0) - 1
    inverse = torch.empty_like(group)
    inverse[order] = group
    return rows[new], inverse, torch.bincount(group)


def first_occurrences(keys: torch.Tensor) -> torch.Tensor:
    """Indices of the first occurrence of each distinct row of ``keys``, in increasing order."""
    n = keys.shape[0]
    if n == 0:
        return torch.zeros(0, dtype=torch.int64, device=keys.device)
    uniq, inverse, _ = unique_rows(keys)
    return group_first(inverse, uniq.shape[0]).sort().values


def group_first(inverse: torch.Tensor, num_groups: int) -> torch.Tensor:
    """For each group id 0..num_groups-1 of ``inverse`` (as from :func:`unique_rows`), its first row index."""
    n = inverse.shape[0]
    first = torch.full((num_groups,), n, dtype=torch.int64, device=inverse.device)
    return first.scatter_reduce_(0, inverse, torch.arange(n, device=inverse.device), reduce="amin")


def isin_rows(keys: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Boolean mask: which rows of ``keys`` (N, W) occur among the rows of ``table`` (M, W)."""
    if keys.shape[0] == 0 or table.shape[0] == 0:
        return torch.zeros(keys.shape[0], dtype=torch.bool, device=keys.device)
    if keys.shape[1] == 1:
        return torch.isin(keys[:, 0], table[:, 0])
    _, inverse, _ = unique_rows(torch.cat([table, keys]))
    seen = torch.zeros(int(inverse.max()) + 1, dtype=torch.bool, device=keys.device)
    seen[inverse[: table.shape[0]]] = True
    return seen[inverse[table.shape[0] :]]


def lexsort_rows(keys: torch.Tensor) -> torch.Tensor:
    """Permutation that sorts the rows of ``keys`` (N, W) lexicographically (stable)."""
    order = torch.arange(keys.shape[0], device=keys.device)
    for w in reversed(range(keys.shape[1])):
        order = order[torch.sort(keys[order, w], stable=True).indices]
    return order
