"""Prototypicality of training strings and how memorization relates to it.

Scores: exact log-probability under the grammar, or *substring commonness* (mean over heights of the mean
log training frequency of a string's blocks). Statistics: AUC of memorized vs not (Mann–Whitney, ties ½),
memorized fraction per score-quantile bin, Spearman correlation of first-memorized step with the score.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from rhm_memo.checks import check_int
from rhm_memo.metrics.index import check_strings
from rhm_memo.metrics.memorization import NEVER
from rhm_memo.metrics.substrings import block_keys, num_heights
from rhm_memo.rhm import keys as K


def commonness_scores(train: torch.Tensor, v: int, s: int, heights: Sequence[int] | None = None) -> torch.Tensor:
    """``(P,)`` float64: mean over ``heights`` (default 1..L-1) of the mean log f_train of the string's blocks.

    f_train(b) is the relative frequency of block b among all aligned blocks of that height in ``train``
    (pooled over positions). High = built from common substrings.
    """
    train = check_strings(train, "train", v)
    L = num_heights(train.shape[1], s)
    heights = list(heights) if heights is not None else list(range(1, L)) or [L]
    if not heights or any(not isinstance(h, int) or not 1 <= h <= L for h in heights):
        raise ValueError(f"heights must be a non-empty list of integers in 1..L={L}, got {heights!r}")
    total = torch.zeros(train.shape[0], dtype=torch.float64, device=train.device)
    for h in heights:
        keys = block_keys(train, h, s, v)
        n, positions, w = keys.shape
        flat = keys.reshape(-1, w)
        _, inverse, counts = K.unique_rows(flat)
        log_f = (counts.double() / flat.shape[0]).log()[inverse].view(n, positions)
        total += log_f.mean(-1)
    return total / len(heights)


def average_ranks(x: torch.Tensor) -> torch.Tensor:
    """1-based ranks of ``x`` (float64), ties given their average rank; +inf sorts last."""
    order = torch.argsort(x, stable=True)
    sorted_x = x[order]
    _, inverse, counts = torch.unique_consecutive(sorted_x, return_inverse=True, return_counts=True)
    ends = counts.cumsum(0).double()
    avg = ends - (counts.double() - 1) / 2
    ranks = torch.empty_like(avg[inverse])
    ranks[order] = avg[inverse]
    return ranks


def auc(scores: torch.Tensor, positive: torch.Tensor) -> float:
    """P(score of a positive > score of a negative), ties counted ½ (Mann–Whitney U / n⁺n⁻); NaN if a class is empty."""
    scores, positive = _check_pair(scores, positive)
    n_pos = int(positive.sum())
    n_neg = positive.numel() - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = average_ranks(scores)
    u = ranks[positive].sum().item() - n_pos * (n_pos + 1) / 2
    return u / (n_pos * n_neg)


def fraction_by_quantile(scores: torch.Tensor, positive: torch.Tensor, bins: int = 10) -> dict[str, torch.Tensor]:
    """Positive (e.g. memorized) fraction per score-quantile bin.

    Bin edges are the score quantiles at 0, 1/bins, ..., 1; a string falls in bin i when
    edges[i] <= score < edges[i+1] (the last bin includes its upper edge). Equal scores always share a bin, so
    with many ties some bins are empty (count 0, fraction NaN). Returns ``edges (bins+1,)``, ``counts (bins,)``
    and ``fraction (bins,)``.
    """
    scores, positive = _check_pair(scores, positive)
    check_int("bins", bins, 1)
    finite = torch.isfinite(scores)
    if not finite.all():
        raise ValueError("scores must be finite for quantile binning")
    edges = torch.quantile(scores, torch.linspace(0, 1, bins + 1, dtype=torch.float64, device=scores.device))
    which = torch.searchsorted(edges[1:-1].contiguous(), scores, right=True)
    counts = torch.bincount(which, minlength=bins)
    hits = torch.bincount(which, weights=positive.double(), minlength=bins)
    return {"edges": edges, "counts": counts, "fraction": hits / counts.double()}


def spearman_first_step(first_step: torch.Tensor, scores: torch.Tensor) -> float:
    """Spearman correlation of first-memorized step (``NEVER`` = +inf) with the score; ties get average ranks.

    Negative: high-score (prototypical) strings are memorized earlier. NaN if either side is constant.
    """
    if first_step.ndim != 1 or first_step.shape != scores.shape or first_step.numel() == 0:
        raise ValueError(
            f"first_step and scores must be equal-length non-empty (P,) tensors, got "
            f"{tuple(first_step.shape)} and {tuple(scores.shape)}"
        )
    if torch.isnan(scores.double()).any():
        raise ValueError("scores contain NaN")
    return spearman(torch.where(first_step == NEVER, math.inf, first_step.double()), scores)


def spearman(x: torch.Tensor, y: torch.Tensor) -> float:
    """Spearman rank correlation of two equal-length 1-d tensors (ties: average ranks; +inf ranks last).

    NaN if either side is constant.
    """
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise ValueError(f"x and y must be 1-d tensors, got {type(x).__name__} and {type(y).__name__}")
    if x.ndim != 1 or x.shape != y.shape or x.numel() == 0:
        raise ValueError(
            f"x and y must be equal-length non-empty 1-d tensors, got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    if bool(torch.isnan(x.double()).any() | torch.isnan(y.double()).any()):
        raise ValueError("x and y must not contain NaN (NaN has no rank)")
    a, b = average_ranks(x.double()), average_ranks(y.double())
    a, b = a - a.mean(), b - b.mean()
    denom = (a.square().sum() * b.square().sum()).sqrt()
    return (a * b).sum().div(denom).item() if denom > 0 else math.nan


def memorization_vs_prototypicality(
    scores: torch.Tensor,
    memorized_now: torch.Tensor,
    first_step: torch.Tensor,
    step: int,
    bins: int = 10,
) -> dict[str, float | torch.Tensor]:
    """AUC for "memorized at this step" and "ever memorized by this step", per-bin rates, and Spearman."""
    ever = (first_step != NEVER) & (first_step <= step)
    return {
        "auc_now": auc(scores, memorized_now),
        "auc_ever": auc(scores, ever),
        "by_quantile_ever": fraction_by_quantile(scores, ever, bins),
        "spearman_first_step": spearman_first_step(first_step, scores),
    }


def _check_pair(scores: torch.Tensor, positive: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if scores.ndim != 1 or positive.shape != scores.shape or scores.numel() == 0:
        raise ValueError(
            f"scores and the mask must be equal-length non-empty (P,) tensors, got "
            f"{tuple(scores.shape)} and {tuple(positive.shape)}"
        )
    if positive.dtype != torch.bool:
        raise ValueError(f"the mask must be a bool tensor, got {positive.dtype}")
    if torch.isnan(scores).any():
        raise ValueError("scores contain NaN")
    return scores.double(), positive
