"""Random unambiguous rules (the RHM reference algorithm) and the size checks an unambiguous RHM needs."""

from __future__ import annotations

import random

import torch

from rhm_memo.checks import check_int


def random_rules(v: int, n: int, m: int, s: int, L: int, seed: int) -> list[torch.Tensor]:
    """Random unambiguous rules, identical to the RHM reference code's ``sample_rules(v, n, m, s, L, seed)``.

    That code seeds Python's ``random`` and draws ``random.sample(tuples, n*m)`` then ``(v*m)`` per lower
    level from ``itertools.product(range(v), repeat=s)``. We draw the same indices from ``range(v**s)``
    with a private ``random.Random(seed)`` (same algorithm, no global state, no list of v**s tuples).
    """
    check_sizes(v, n, m, s, L)
    rng = random.Random(seed)
    powers = torch.tensor([v ** (s - 1 - j) for j in range(s)], dtype=torch.int64)
    rules = []
    for level in range(1, L + 1):
        parents = n if level == 1 else v
        idx = torch.tensor(rng.sample(range(v**s), parents * m), dtype=torch.int64)
        rules.append(((idx[:, None] // powers) % v).view(parents, m, s))
    return rules


def check_sizes(v: int, n: int, m: int, s: int, L: int) -> None:
    """Raise ``ValueError`` naming the parameter when (v, n, m, s, L) cannot define an unambiguous RHM."""
    for name, value, low in [("v", v, 1), ("n", n, 1), ("m", m, 1), ("s", s, 2), ("L", L, 1)]:
        check_int(name, value, low)
    if m * n > v**s:
        raise ValueError(f"need m*n <= v**s for unambiguous level-1 rules, got m*n = {m * n} > v**s = {v**s}")
    if L >= 2 and m * v > v**s:
        raise ValueError(f"need m*v <= v**s for unambiguous rules at levels >= 2, got m*v = {m * v} > v**s = {v**s}")


__all__ = ["check_sizes", "random_rules"]
