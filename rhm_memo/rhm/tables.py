"""Look-up tables behind the grammar: inverse-CDF tables for sampling, tuple-code tables for bottom-up parsing.

Parse tables map the code of an s-tuple (its symbols as base-``v+1`` digits; digit ``v`` marks an unparsed
child) to a node id ``symbol*m + rule``, one table per height (height 1 first).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

#: Dense tuple→(symbol, rule) look-up tables are used while v**s is at most this; sorted search beyond.
DENSE_TABLE_MAX = 2**24


@dataclass(frozen=True)
class LevelTable:
    """Look-up from an s-tuple code (base v+1) to a node id ``symbol*m + rule``, and attributes per id.

    The last id (``len(symbol) - 1``) means "does not parse". Dense tables index ``keys`` by code; sorted
    tables (``order`` set, for huge v**s) binary-search the sorted codes.
    """

    keys: torch.Tensor
    order: torch.Tensor | None
    symbol: torch.Tensor
    symbol_up: torch.Tensor
    rule: torch.Tensor
    logp: torch.Tensor
    logp_with_prior: torch.Tensor

    def to(self, device: torch.device) -> LevelTable:
        """This table with every tensor on ``device``."""
        return LevelTable(**{k: v if v is None else v.to(device) for k, v in vars(self).items()})

    def lookup(self, code: torch.Tensor) -> torch.Tensor:
        """Node id for each tuple code (the "does not parse" id where no rule produces the tuple)."""
        if self.order is None:
            return self.keys[code]
        pos = torch.searchsorted(self.keys, code).clamp_max(self.keys.numel() - 1)
        return torch.where(self.keys[pos] == code, self.order[pos], len(self.symbol) - 1)


def parse_tables(
    rules: list[torch.Tensor], rule_logp: list[torch.Tensor], root_logp: torch.Tensor, v: int, device: torch.device
) -> list[LevelTable]:
    """Per-height parse tables (height 1 first) on ``device``; zero-probability rules and roots do not parse.

    ``rules[ℓ-1]`` and ``rule_logp[ℓ-1]`` are the ``(symbols, m, s)`` rules and ``(symbols, m)`` log-probabilities
    of level ℓ; ``root_logp`` the log prior of the root symbols.
    """
    m, s = rules[0].shape[1:]
    base = torch.tensor([(v + 1) ** (s - 1 - j) for j in range(s)], dtype=torch.int64)
    tables = []
    for level in reversed(range(1, len(rules) + 1)):
        level_rules = rules[level - 1]
        ids = torch.arange(level_rules.shape[0] * m)
        codes = (level_rules * base).sum(-1).view(-1)  # tuple code of each (symbol, rule), in base v+1
        symbol = torch.cat([ids // m, torch.tensor([-1])])
        logp = torch.cat([rule_logp[level - 1].view(-1), torch.tensor([-math.inf], dtype=torch.float64)])
        if level == 1:
            allowed = torch.isfinite(logp[:-1] + root_logp[symbol[:-1]])
        else:
            allowed = torch.isfinite(logp[:-1])
        found, codes = ids[allowed], codes[allowed]  # zero-probability rules are not in the grammar
        if (v + 1) ** s <= DENSE_TABLE_MAX:
            keys, order = torch.full(((v + 1) ** s,), len(ids), dtype=torch.int64), None
            keys[codes] = found
        else:
            keys, position = codes.sort()
            order = found[position]
        table = LevelTable(
            keys=keys,
            order=order,
            symbol=symbol,
            symbol_up=torch.where(symbol < 0, v, symbol),
            rule=torch.cat([ids % m, torch.tensor([-1])]),
            logp=logp,
            logp_with_prior=logp + torch.cat([root_logp, torch.zeros(1, dtype=torch.float64)])[symbol]
            if level == 1
            else logp,
        )
        tables.append(table.to(device))
    return tables


def cdf(probs: torch.Tensor) -> torch.Tensor:
    """Row-wise CDF in float64 whose entries from the last positive category on are exactly 1.

    With ``u`` in [0, 1), ``#{j : cdf[j] <= u}`` then never exceeds the last positive category, and never
    lands on a zero-probability category (its CDF entry equals its predecessor's).
    """
    out = probs.cumsum(-1)
    last_positive = probs.shape[-1] - 1 - (probs > 0).flip(-1).long().argmax(-1, keepdim=True)
    return torch.where(torch.arange(probs.shape[-1]) >= last_positive, 1.0, out)


def categorical(cdf: torch.Tensor, rows: torch.Tensor | None, u: torch.Tensor) -> torch.Tensor:
    """Inverse-CDF draws in float64: for each uniform ``u`` in [0, 1), the category under row ``rows`` of ``cdf``."""
    if rows is None or bool((cdf == cdf[:1]).all()):
        return torch.searchsorted(cdf[0], u, right=True)
    out = torch.empty(u.shape, dtype=torch.int64)
    chunk = 2**20  # bounds the (chunk, m) gathered rows
    for start in range(0, u.numel(), chunk):
        c = cdf[rows[start : start + chunk]]
        out[start : start + chunk] = (c <= u[start : start + chunk].unsqueeze(-1)).sum(-1)
    return out


__all__ = ["DENSE_TABLE_MAX", "LevelTable", "categorical", "cdf", "parse_tables"]
