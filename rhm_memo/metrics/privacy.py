"""Membership inference with the grammar as the exact reference model: attack AUCs, TPR at low FPR, exposure.

Members are training strings, non-members held-out strings; each has a per-string diffusion loss (the negative
ELBO, ``DiffusionProcess.negative_elbo``) and its exact log-probability under the grammar. Two attacks score a
string, higher meaning "member":

- the **loss attack**: ``−loss(x)``;
- the **calibrated attack**: ``−loss(x) − log p(x)``, the likelihood ratio of the model (its ELBO) against the
  true distribution. Other fields need a "reference model" to estimate how hard each string is; the RHM gives
  the exact one.

``auc_grammar`` is the loss attack of a model that *is* the grammar (score ``log p``): its AUC is not 0.5 when
members and non-members differ in log p (held-out strings are drawn after the training strings, without
replacement, so they are slightly less probable). Exposure vs prototypicality: the calibrated attack's AUC
within quantile bins of log p, and the Spearman correlation of the members' calibrated scores with log p.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from rhm_memo.checks import check_int
from rhm_memo.metrics.prototypicality import auc, fraction_by_quantile, spearman

#: The false-positive rates at which the privacy literature reports an attack's true-positive rate.
FPRS = (1e-2, 1e-3)


def attack_auc(members: torch.Tensor, nonmembers: torch.Tensor) -> float:
    """P(a member's score > a non-member's score), ties ½: the attack's ROC AUC (0.5: no better than chance)."""
    members, nonmembers = _check_scores(members, nonmembers)
    labels = torch.cat([torch.ones_like(members, dtype=torch.bool), torch.zeros_like(nonmembers, dtype=torch.bool)])
    return auc(torch.cat([members, nonmembers]), labels)


def tpr_at_fpr(members: torch.Tensor, nonmembers: torch.Tensor, fpr: float) -> float:
    """The highest true-positive rate of the rules "member iff score ≥ threshold" whose false-positive rate is at
    most ``fpr``. With N non-members, FPRs below 1/N leave only thresholds above every non-member (FPR 0)."""
    members, nonmembers = _check_scores(members, nonmembers)
    if isinstance(fpr, bool) or not (isinstance(fpr, float | int) and 0 <= fpr <= 1):
        raise ValueError(f"fpr must be a number in [0, 1], got {fpr!r}")
    allowed = math.floor(fpr * nonmembers.numel() + 1e-9)  # false positives allowed
    if allowed >= nonmembers.numel():
        return 1.0
    cut = torch.sort(nonmembers, descending=True).values[allowed]  # the threshold must lie above this score
    return (members > cut).double().mean().item()


def membership_inference(
    loss_members: torch.Tensor,
    loss_nonmembers: torch.Tensor,
    log_p_members: torch.Tensor,
    log_p_nonmembers: torch.Tensor,
    bins: int = 5,
    fprs: Sequence[float] = FPRS,
) -> dict[str, Any]:
    """Both attacks' AUC and TPR at each FPR, the grammar's own AUC, and exposure per log-p quantile bin.

    Args:
        loss_members, loss_nonmembers: Per-string losses (negative ELBO, nats), ``(P,)`` and ``(N,)``.
        log_p_members, log_p_nonmembers: The strings' exact log-probabilities under the grammar.
        bins: Quantile bins of log p over members and non-members together (equal log-p values share a bin).
        fprs: False-positive rates for the TPRs.

    Returns a dict: ``auc_loss``, ``auc_calibrated``, ``auc_grammar``, ``tpr_loss`` and ``tpr_calibrated``
    (``{fpr: tpr}``), ``spearman_calibrated_log_prob``, ``loss_members`` and ``loss_nonmembers`` (means), and
    ``by_quantile``: ``edges`` (bins + 1), ``members`` and ``nonmembers`` (counts per bin) and
    ``auc_calibrated`` (per bin; NaN where a bin lacks either side).
    """
    loss_members, loss_nonmembers = _check_scores(loss_members, loss_nonmembers, "losses")
    log_p_members, log_p_nonmembers = _check_scores(log_p_members, log_p_nonmembers, "log-probabilities")
    if log_p_members.shape != loss_members.shape or log_p_nonmembers.shape != loss_nonmembers.shape:
        raise ValueError(
            f"each side needs one log-probability per loss, got {tuple(loss_members.shape)} and "
            f"{tuple(log_p_members.shape)} (members), {tuple(loss_nonmembers.shape)} and "
            f"{tuple(log_p_nonmembers.shape)} (non-members)"
        )
    check_int("bins", bins, 1)
    if isinstance(fprs, (str, bytes)) or not isinstance(fprs, Sequence):
        raise ValueError(f"fprs must be a sequence of false-positive rates in [0, 1], got {fprs!r}")
    loss_score = (-loss_members, -loss_nonmembers)
    calibrated = (-loss_members - log_p_members, -loss_nonmembers - log_p_nonmembers)
    log_p = torch.cat([log_p_members, log_p_nonmembers])
    if not bool(torch.isfinite(log_p).all()):
        raise ValueError("the log-probabilities must be finite (strings the grammar can produce)")
    is_member = torch.cat([torch.ones_like(log_p_members, dtype=torch.bool),
                           torch.zeros_like(log_p_nonmembers, dtype=torch.bool)])  # fmt: skip
    edges = fraction_by_quantile(log_p, is_member, bins)["edges"]
    which = torch.searchsorted(edges[1:-1].contiguous(), log_p, right=True)
    score = torch.cat(calibrated)
    per_bin = []
    for b in range(bins):
        members_b, nonmembers_b = score[(which == b) & is_member], score[(which == b) & ~is_member]
        per_bin.append(attack_auc(members_b, nonmembers_b) if members_b.numel() and nonmembers_b.numel() else math.nan)
    return {
        "auc_loss": attack_auc(*loss_score),
        "auc_calibrated": attack_auc(*calibrated),
        "auc_grammar": attack_auc(log_p_members, log_p_nonmembers),
        "tpr_loss": {fpr: tpr_at_fpr(*loss_score, fpr) for fpr in fprs},
        "tpr_calibrated": {fpr: tpr_at_fpr(*calibrated, fpr) for fpr in fprs},
        "spearman_calibrated_log_prob": spearman(calibrated[0], log_p_members),
        "loss_members": loss_members.mean().item(),
        "loss_nonmembers": loss_nonmembers.mean().item(),
        "by_quantile": {
            "edges": edges.tolist(),
            "members": torch.bincount(which[is_member], minlength=bins).tolist(),
            "nonmembers": torch.bincount(which[~is_member], minlength=bins).tolist(),
            "auc_calibrated": per_bin,
        },
    }


def _check_scores(
    members: torch.Tensor, nonmembers: torch.Tensor, what: str = "scores"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Both sides as float64 1-d tensors; ``ValueError`` if either is empty, not 1-d, or holds NaN."""
    for side, x in (("members", members), ("non-members", nonmembers)):
        if not isinstance(x, torch.Tensor) or x.ndim != 1 or x.numel() == 0:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"the {side}' {what} must be a non-empty 1-d tensor, got {got}")
        if bool(torch.isnan(x.double()).any()):
            raise ValueError(f"the {side}' {what} contain NaN")
    return members.double(), nonmembers.double()
