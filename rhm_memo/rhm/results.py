"""What a grammar returns: bottom-up parses, sampled derivations and exact block probabilities (see grammar.py)."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Parse:
    """Bottom-up parse of strings: per height h = 1..L, the symbol and rule index of every node.

    ``symbols[h-1]`` and ``rules[h-1]`` are int64 tensors of shape ``(N, s**(L-h))``; -1 marks a block that
    does not parse (and every block above it).
    """

    symbols: list[torch.Tensor]
    rules: list[torch.Tensor]

    def valid(self, height: int) -> torch.Tensor:
        """Boolean ``(N, s**(L-height))``: which aligned blocks of this height parse to some symbol."""
        if not isinstance(height, int) or not 1 <= height <= len(self.symbols):
            raise ValueError(f"height must be an integer in 1..L={len(self.symbols)}, got {height!r}")
        return self.symbols[height - 1] >= 0

    @property
    def fully_valid(self) -> torch.Tensor:
        """Boolean ``(N,)``: which strings parse to a root symbol."""
        return self.symbols[-1][:, 0] >= 0


@dataclass(frozen=True)
class Derivations:
    """Sampled strings with their derivations (as a :class:`Parse`) and exact log-probabilities."""

    strings: torch.Tensor
    parse: Parse
    log_prob: torch.Tensor


@dataclass(frozen=True)
class BlockProbabilities:
    """Exact distribution of the aligned blocks of one height at each position.

    ``values``: ``(K, s**height)`` int64, every block derivable with positive probability from some symbol,
    sorted lexicographically. ``probs``: ``(s**(L-height), K)`` float64, ``probs[j, k]`` is the probability
    that the block at position j equals ``values[k]``; each row sums to 1.
    """

    height: int
    values: torch.Tensor
    probs: torch.Tensor


__all__ = ["BlockProbabilities", "Derivations", "Parse"]
