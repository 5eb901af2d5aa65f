"""Exact look-up of token strings (or any int64 rows) in a fixed set: sorted packed keys, O(log P) per query.

Strings are packed into int64 words (``rhm_memo.rhm.keys``). When one word holds a string (``v**d < 2**63``,
e.g. the paper's 6**16) the words are the keys. Otherwise rows are hashed to one int64, sorted by hash, and
every hit is verified word by word against the stored row — so hash collisions cost time, never exactness.
"""

from __future__ import annotations

import torch

from rhm_memo.checks import check_strings
from rhm_memo.rhm import keys as K

__all__ = ["RowIndex", "TrainIndex", "check_strings"]

_MIX = torch.tensor(
    [0x9E3779B97F4A7C15 - 2**64, 0xC2B2AE3D27D4EB4F - 2**64, 0x165667B19E3779F9, 0x27D4EB2F165667C5],
    dtype=torch.int64,
)


def _hash(rows: torch.Tensor) -> torch.Tensor:
    """One int64 per row of int64 words (wrapping multiply-xor mix; collisions are resolved by the caller)."""
    h = torch.zeros(rows.shape[0], dtype=torch.int64, device=rows.device)
    mix = _MIX.to(rows.device)
    for w in range(rows.shape[1]):
        h = (h ^ rows[:, w]) * mix[w % len(mix)]
        h = h ^ (h >> 29)
    return h


class RowIndex:
    """Exact membership and position of int64 rows ``(N, W)`` among reference rows ``(P, W)``.

    ``find(rows)`` returns, for each query row, the smallest reference index holding an equal row, or -1.
    """

    def __init__(self, reference: torch.Tensor) -> None:
        if reference.ndim != 2 or reference.shape[0] == 0:
            raise ValueError(f"reference rows must have shape (P, W) with P >= 1, got {tuple(reference.shape)}")
        first = K.first_occurrences(reference)  # dedupe: keep each distinct row's smallest index
        rows = reference[first]
        self.width = reference.shape[1]
        if self.width == 1:
            self.keys, order = rows[:, 0].sort()
            self.rows = None
        else:
            self.keys, order = _hash(rows).sort()
            self.rows = rows[order]
            # the longest run of equal hashes bounds the candidates to verify per query
            _, runs = torch.unique_consecutive(self.keys, return_counts=True)
            self.max_run = int(runs.max())
        self.index = first[order]

    def __len__(self) -> int:
        return self.index.shape[0]

    def find(self, rows: torch.Tensor) -> torch.Tensor:
        """Reference index (smallest, if the reference has duplicates) of each query row, or -1."""
        if rows.ndim != 2 or rows.shape[1] != self.width:
            raise ValueError(f"query rows must have shape (N, {self.width}), got {tuple(rows.shape)}")
        keys = rows[:, 0] if self.width == 1 else _hash(rows)
        pos = torch.searchsorted(self.keys, keys).clamp_max(len(self) - 1)
        if self.rows is None:
            return torch.where(self.keys[pos] == keys, self.index[pos], -1)
        out = torch.full((rows.shape[0],), -1, dtype=torch.int64, device=rows.device)
        for offset in range(self.max_run):
            cand = (pos + offset).clamp_max(len(self) - 1)
            hit = (self.keys[cand] == keys) & (self.rows[cand] == rows).all(-1) & (out < 0)
            out = torch.where(hit, self.index[cand], out)
        return out

    def contains(self, rows: torch.Tensor) -> torch.Tensor:
        """Boolean mask: which query rows occur in the reference."""
        return self.find(rows) >= 0


class TrainIndex:
    """The training strings, packed and sorted once, for exact copy look-ups of generated strings.

    Args:
        train: ``(P, d)`` integer tokens of the training set.
        v: Vocabulary size (tokens are 0..v-1).
    """

    def __init__(self, train: torch.Tensor, v: int) -> None:
        self.train = check_strings(train, "train", v)
        self.v = v
        self.d = self.train.shape[1]
        self._rows = RowIndex(K.pack(self.train, v))

    @property
    def num_train(self) -> int:
        """Number P of training strings (duplicates included)."""
        return self.train.shape[0]

    def lookup(self, samples: torch.Tensor) -> torch.Tensor:
        """For each sample, the index of the training string it copies exactly (smallest if several), or -1."""
        samples = check_strings(samples, "samples", self.v, self.d)
        return self._rows.find(K.pack(samples, self.v))
