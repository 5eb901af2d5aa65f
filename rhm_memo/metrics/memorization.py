"""Memorization of training strings: exact copies, near copies, novelty, first-memorized steps, onset.

Definitions: ARCHITECTURE.md §3. Every function is pure (tensors in, tensors or numbers out) and works on
any device; none materializes a ``B × P`` matrix except the chunked nearest-Hamming search, whose chunks
are bounded by ``max_elements``.
"""

from __future__ import annotations

import torch
from torchmetrics import Metric

from rhm_memo.checks import check_int
from rhm_memo.metrics.index import check_strings

#: ``first_step`` value of a training string that has never been generated.
NEVER = -1


def copy_fraction(copy_index: torch.Tensor) -> float:
    """Fraction of samples that exactly copy a training string (``copy_index`` from ``TrainIndex.lookup``)."""
    _check_index(copy_index)
    return (copy_index >= 0).double().mean().item()


def novelty(copy_index: torch.Tensor) -> float:
    """Fraction of samples that are not exact copies of a training string."""
    return 1.0 - copy_fraction(copy_index)


def fraction_distinct(samples: torch.Tensor) -> float:
    """Fraction of distinct strings among the samples."""
    samples = check_strings(samples, "samples")
    return torch.unique(samples, dim=0).shape[0] / samples.shape[0]


def copy_counts(copy_index: torch.Tensor, num_train: int) -> torch.Tensor:
    """``(P,)`` int64: how many samples copy each training string."""
    _check_index(copy_index, num_train)
    hits = copy_index[copy_index >= 0]
    return torch.bincount(hits, minlength=num_train)


def distinct_memorized(copy_index: torch.Tensor) -> int:
    """Number of distinct training strings generated at least once."""
    _check_index(copy_index)
    return torch.unique(copy_index[copy_index >= 0]).numel()


def update_first_step(first_step: torch.Tensor, copy_index: torch.Tensor, step: int) -> torch.Tensor:
    """New ``(P,)`` first-memorized steps: ``step`` for strings generated now and never before (``NEVER`` = -1).

    Returns a new tensor; strings already memorized keep their (earlier) first step.
    """
    if first_step.ndim != 1 or first_step.dtype != torch.int64:
        raise ValueError(f"first_step must be a (P,) int64 tensor, got {tuple(first_step.shape)} {first_step.dtype}")
    check_int("step", step, 0)  # -1 is NEVER: a negative step would erase memorization
    hit = copy_counts(copy_index, first_step.shape[0]) > 0
    return torch.where(hit & (first_step == NEVER), step, first_step)


def ever_memorized(first_step: torch.Tensor, step: int) -> torch.Tensor:
    """``(P,)`` bool: training strings whose first-memorized step is <= ``step``."""
    return (first_step != NEVER) & (first_step <= step)


def nearest_hamming(
    samples: torch.Tensor, train: torch.Tensor, v: int, max_elements: int = 2**25
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact nearest Hamming distance of each sample to the training set, and that training string's index.

    Hamming distance = d − (number of equal positions), and the equal positions of all pairs come from one
    matrix product of one-hot encodings (exact in float32 for d < 2**24). The ``B × P`` match matrix is
    computed in chunks of at most ``max_elements`` floats; the one-hot encodings take ``B · d · v`` floats for
    the samples and ``chunk · d · v`` for the current training chunk. Ties go to the smallest index.
    Cost: ``O(B · P · d · v)`` multiply-adds, in BLAS.
    """
    samples = check_strings(samples, "samples", v)
    train = check_strings(train, "train", v, samples.shape[1])
    n, d = samples.shape
    if d >= 2**24:
        raise ValueError(f"strings of d={d} tokens are too long for exact float32 matching counts")
    gen_hot = _one_hot_flat(samples, v)
    best = torch.full((n,), d + 1, dtype=torch.int64, device=samples.device)
    arg = torch.zeros(n, dtype=torch.int64, device=samples.device)
    cols = max(1, min(train.shape[0], max_elements // max(n, 1)))
    rows = max(1, min(n, max_elements // cols))
    for t0 in range(0, train.shape[0], cols):
        train_hot = _one_hot_flat(train[t0 : t0 + cols], v)
        for s0 in range(0, n, rows):
            matches = gen_hot[s0 : s0 + rows] @ train_hot.T  # (rows, cols) equal positions
            top, where = matches.max(dim=1)
            dist = d - top.round().long()
            better = dist < best[s0 : s0 + rows]
            best[s0 : s0 + rows] = torch.where(better, dist, best[s0 : s0 + rows])
            arg[s0 : s0 + rows] = torch.where(better, where + t0, arg[s0 : s0 + rows])
    return best, arg


def _one_hot_flat(x: torch.Tensor, v: int) -> torch.Tensor:
    """``(N, d*v)`` float32 one-hot encoding of tokens."""
    return torch.nn.functional.one_hot(x, v).flatten(1).float()


def hamming_histogram(distances: torch.Tensor, d: int) -> torch.Tensor:
    """``(d+1,)`` int64 counts of nearest-Hamming distances 0..d."""
    if distances.ndim != 1 or distances.numel() == 0:
        raise ValueError(f"distances must be a non-empty (B,) tensor, got {tuple(distances.shape)}")
    if distances.min() < 0 or distances.max() > d:
        raise ValueError(f"distances must lie in 0..d = 0..{d}")
    return torch.bincount(distances.long(), minlength=d + 1)


def fraction_within(distances: torch.Tensor, k: int) -> float:
    """Fraction of samples whose nearest training string is within Hamming distance ``k``."""
    if distances.numel() == 0:
        raise ValueError("distances is empty")
    return (distances <= k).double().mean().item()


def memorization_summary(copy_index: torch.Tensor, samples: torch.Tensor) -> dict[str, float | int]:
    """The scalar exact-copy statistics of one evaluation from its look-up (``TrainIndex.lookup(samples)``):
    number of samples, copies, copy fraction, novelty, fraction of distinct samples, distinct memorized."""
    return {
        "num_samples": samples.shape[0],
        "copies": int((copy_index >= 0).sum()),
        "copy_fraction": copy_fraction(copy_index),
        "distinct_memorized": distinct_memorized(copy_index),
        "novelty": novelty(copy_index),
        "fraction_distinct": fraction_distinct(samples),
    }


def _check_index(copy_index: torch.Tensor, num_train: int | None = None) -> None:
    if copy_index.ndim != 1 or copy_index.dtype != torch.int64 or copy_index.numel() == 0:
        raise ValueError(
            f"copy_index must be a non-empty (B,) int64 tensor, got {tuple(copy_index.shape)} {copy_index.dtype}"
        )
    if copy_index.min() < -1 or (num_train is not None and copy_index.max() >= num_train):
        raise ValueError(f"copy_index entries must be -1 or a training index in 0..{num_train}")


class CopyTally(Metric):
    """Copy counts accumulated over batches and ranks (sum-reduced torchmetrics states).

    ``update(copy_index)`` with each batch's ``TrainIndex.lookup`` result; ``compute()`` returns the totals
    over every batch of every rank: ``counts (P,)``, ``num_samples``, ``copies``.

    Args:
        num_train: Number P of training strings.
    """

    full_state_update = False

    def __init__(self, num_train: int, **kwargs) -> None:
        super().__init__(**kwargs)
        if num_train < 1:
            raise ValueError(f"num_train must be >= 1, got {num_train}")
        self.num_train = num_train
        self.add_state("counts", default=torch.zeros(num_train, dtype=torch.int64), dist_reduce_fx="sum")
        self.add_state("num_samples", default=torch.zeros((), dtype=torch.int64), dist_reduce_fx="sum")

    def update(self, copy_index: torch.Tensor) -> None:
        """Add one batch of look-up results."""
        self.counts += copy_counts(copy_index.to(self.counts.device), self.num_train)
        self.num_samples += copy_index.numel()

    def compute(self) -> dict[str, torch.Tensor]:
        """Totals: per-string counts, samples seen, exact copies."""
        return {"counts": self.counts, "num_samples": self.num_samples, "copies": self.counts.sum()}
