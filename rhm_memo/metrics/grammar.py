"""Grammar-based metrics of generated strings: validity per height and rule usage per level.

Both come from ``rhm.Grammar.parse`` (an exact bottom-up table parse), not from belief propagation.
"""

from __future__ import annotations

import torch

from rhm_memo.metrics.index import check_strings
from rhm_memo.rhm import Grammar


def validity(grammar: Grammar, strings: torch.Tensor) -> dict[int, dict[str, float]]:
    """Per height h: fraction of aligned blocks that parse, and fraction of strings valid at h (all blocks parse).

    Height L's ``strings`` entry is the fully valid fraction.
    """
    strings = check_strings(strings, "strings", grammar.v, grammar.d)
    parse = grammar.parse(strings)
    out = {}
    for h in range(1, grammar.L + 1):
        ok = parse.valid(h)
        out[h] = {"blocks": ok.double().mean().item(), "strings": ok.all(-1).double().mean().item()}
    return out


def fully_valid_fraction(grammar: Grammar, strings: torch.Tensor) -> float:
    """Fraction of strings that parse to a root symbol (with positive probability)."""
    strings = check_strings(strings, "strings", grammar.v, grammar.d)
    return grammar.parse(strings).fully_valid.double().mean().item()


def rule_usage(grammar: Grammar, strings: torch.Tensor) -> list[torch.Tensor]:
    """Per level ℓ = 1..L, the ``(symbols, m)`` share of each (symbol, rule) among the parsed nodes of that level.

    Nodes that do not parse are left out; a level with no parsed node gives all zeros.
    """
    strings = check_strings(strings, "strings", grammar.v, grammar.d)
    parse = grammar.parse(strings)
    out = []
    for level in range(1, grammar.L + 1):
        height = grammar.L - level + 1
        sym, rule = parse.symbols[height - 1], parse.rules[height - 1]
        ok = sym >= 0
        parents = grammar.rules[level - 1].shape[0]
        counts = torch.bincount((sym * grammar.m + rule)[ok], minlength=parents * grammar.m).double()
        out.append((counts / counts.sum().clamp_min(1)).view(parents, grammar.m))
    return out
