"""Membership-inference metrics against brute force: all pairs for AUCs, all thresholds for TPR at FPR."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from rhm_memo import metrics as M


def pairwise_auc(pos, neg):
    """Count every (member, non-member) pair: 1 if the member scores higher, ½ on a tie."""
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def roc_tpr(pos, neg, fpr):
    """Max TPR over every threshold (each score, and +inf) of the rule score ≥ threshold, with FPR ≤ fpr."""
    best = 0.0
    for thr in [*pos, *neg, math.inf]:
        if np.mean([n >= thr for n in neg]) <= fpr + 1e-12:
            best = max(best, float(np.mean([p >= thr for p in pos])))
    return best


@pytest.mark.parametrize("seed", range(6))
def test_auc_and_tpr_match_brute_force_with_ties(seed):
    rng = np.random.default_rng(seed)
    pos = rng.integers(0, 12, size=rng.integers(1, 40)).astype(float) + 1.0  # integers: many ties; shifted up
    neg = rng.integers(0, 12, size=rng.integers(1, 300)).astype(float)
    assert M.attack_auc(torch.tensor(pos), torch.tensor(neg)) == pytest.approx(pairwise_auc(pos, neg))
    for fpr in (0.0, 1e-3, 1e-2, 0.1, 0.5, 1.0):
        assert M.tpr_at_fpr(torch.tensor(pos), torch.tensor(neg), fpr) == pytest.approx(roc_tpr(pos, neg, fpr)), fpr


def test_tpr_below_one_over_n_is_at_zero_false_positives():
    """With 100 non-members, FPR 0.1% allows none: the threshold sits above the best non-member."""
    neg = torch.arange(100.0)
    pos = torch.tensor([98.5, 99.5, 100.0, 50.0])
    assert M.tpr_at_fpr(pos, neg, 1e-3) == 0.5
    assert M.tpr_at_fpr(pos, neg, 1e-2) == 0.75  # one false positive allowed: above 98


def brute_force_inference(lm, ln, pm, pn, bins):
    """Every field of membership_inference from its definition, with numpy/scipy."""
    pooled = np.concatenate([pm, pn])
    edges = np.quantile(pooled, np.linspace(0, 1, bins + 1))
    cm, cn = -lm - pm, -ln - pn

    def bin_of(x):
        return min(int(np.sum(x >= edges[1:-1])), bins - 1)

    per_bin = []
    for b in range(bins):
        pos = [c for c, p in zip(cm, pm) if bin_of(p) == b]
        neg = [c for c, p in zip(cn, pn) if bin_of(p) == b]
        per_bin.append(pairwise_auc(pos, neg) if pos and neg else math.nan)
    return {
        "auc_loss": pairwise_auc(-lm, -ln),
        "auc_calibrated": pairwise_auc(cm, cn),
        "auc_grammar": pairwise_auc(pm, pn),
        "tpr_calibrated_1e-2": roc_tpr(cm, cn, 1e-2),
        "spearman": stats.spearmanr(cm, pm).statistic,
        "per_bin": per_bin,
        "members": [sum(bin_of(p) == b for p in pm) for b in range(bins)],
    }


def test_membership_inference_matches_its_definition():
    """A model that lowers the loss of its atypical training strings: the calibrated attack finds it (AUC > 0.5,
    highest in the lowest log-p bin, negative Spearman), the raw loss attack less so."""
    rng = np.random.default_rng(0)
    pm, pn = rng.normal(-20, 2, 300), rng.normal(-21, 2, 400)
    lm = -pm + 0.5 + rng.normal(0, 0.3, 300) - 0.4 * (pm < -21)  # atypical members: lower loss
    ln = -pn + 0.5 + rng.normal(0, 0.3, 400)
    out = M.membership_inference(*(torch.tensor(x) for x in (lm, ln, pm, pn)), bins=4)
    ref = brute_force_inference(lm, ln, pm, pn, 4)
    assert out["auc_loss"] == pytest.approx(ref["auc_loss"])
    assert out["auc_calibrated"] == pytest.approx(ref["auc_calibrated"])
    assert out["auc_grammar"] == pytest.approx(ref["auc_grammar"])
    assert out["tpr_calibrated"][1e-2] == pytest.approx(ref["tpr_calibrated_1e-2"])
    assert out["spearman_calibrated_log_prob"] == pytest.approx(ref["spearman"])
    assert out["by_quantile"]["auc_calibrated"] == pytest.approx(ref["per_bin"], nan_ok=True)
    assert out["by_quantile"]["members"] == ref["members"]
    assert sum(out["by_quantile"]["nonmembers"]) == 400 and len(out["by_quantile"]["edges"]) == 5
    assert out["by_quantile"]["auc_calibrated"][0] > 0.7 > out["by_quantile"]["auc_calibrated"][-1]
    assert out["spearman_calibrated_log_prob"] < 0
    assert out["loss_members"] == pytest.approx(lm.mean()) and out["loss_nonmembers"] == pytest.approx(ln.mean())


def test_a_model_that_is_the_grammar_has_a_calibrated_auc_of_one_half():
    """Loss = −log p exactly: the calibrated score is 0 for every string (AUC ½, TPR 0 at low FPR), while the
    loss attack's AUC equals the grammar's own (members more probable than non-members)."""
    pm, pn = torch.linspace(-10, -5, 50, dtype=torch.float64), torch.linspace(-11, -6, 60, dtype=torch.float64)
    out = M.membership_inference(-pm, -pn, pm, pn)
    assert out["auc_calibrated"] == 0.5 and out["tpr_calibrated"][1e-2] == 0.0
    assert out["auc_loss"] == out["auc_grammar"] > 0.5


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((torch.zeros(0), torch.zeros(3)), "members' scores must be a non-empty 1-d tensor"),
        ((torch.zeros(3), torch.zeros(2, 2)), "non-members' scores must be a non-empty 1-d tensor"),
        ((torch.tensor([math.nan]), torch.zeros(3)), "members' scores contain NaN"),
    ],
)
def test_bad_scores_are_refused(args, match):
    with pytest.raises(ValueError, match=match):
        M.attack_auc(*args)


def test_bad_fpr_and_mismatched_log_probs_are_refused():
    with pytest.raises(ValueError, match="fpr must be a number in"):
        M.tpr_at_fpr(torch.zeros(2), torch.zeros(2), 1.5)
    with pytest.raises(ValueError, match="one log-probability per loss"):
        M.membership_inference(torch.zeros(3), torch.zeros(2), torch.zeros(2), torch.zeros(2))


def test_spearman_matches_scipy():
    rng = np.random.default_rng(1)
    x, y = rng.integers(0, 5, 50).astype(float), rng.normal(size=50)
    assert M.spearman(torch.tensor(x), torch.tensor(y)) == pytest.approx(stats.spearmanr(x, y).statistic)
