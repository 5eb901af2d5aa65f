"""Tests of rhm_memo.metrics.prototypicality against O(n²) Python references and hand cases."""

import math
import random

import pytest
import torch
from metrics_helpers import SHAPE_IDS, SHAPES, aligned_blocks, as_tuples, average_ranks, block_counter, pearson
from metrics_helpers import train_with_duplicates as random_train

from rhm_memo.metrics import (
    NEVER,
    auc,
    commonness_scores,
    fraction_by_quantile,
    memorization_vs_prototypicality,
    spearman_first_step,
)
from rhm_memo.rhm import Grammar

# ----------------------------------------------------------------------------------------------------------------------
# AUC


def brute_auc(scores, positive):
    """Mann–Whitney over all (positive, negative) pairs: 1 if the positive scores higher, ½ on ties."""
    pos = [s for s, p in zip(scores, positive) if p]
    neg = [s for s, p in zip(scores, positive) if not p]
    if not pos or not neg:
        return math.nan
    return sum(1.0 if a > b else 0.5 if a == b else 0.0 for a in pos for b in neg) / (len(pos) * len(neg))


@pytest.mark.parametrize("seed", range(15))
def test_auc_matches_pairwise_count(seed):
    """auc = pairwise count with ties ½, on integer scores in a small range (many ties), ±inf included."""
    rng = random.Random(seed)
    n = rng.randint(2, 80)
    scores = [float(rng.randint(-3, 3)) for _ in range(n)]
    if seed % 3 == 0:
        scores[0], scores[-1] = -math.inf, math.inf
    positive = [rng.random() < 0.4 for _ in range(n)]
    positive[0], positive[1] = True, False
    got = auc(torch.tensor(scores, dtype=torch.float64), torch.tensor(positive))
    assert got == pytest.approx(brute_auc(scores, positive), abs=1e-12)


def test_auc_hand_cases():
    """Perfect separation → 1 (or 0 reversed); all scores tied → ½; one class empty → NaN."""
    s = torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert auc(s, torch.tensor([False, False, True, True])) == 1.0
    assert auc(s, torch.tensor([True, True, False, False])) == 0.0
    assert auc(torch.zeros(5), torch.tensor([True, False, True, False, False])) == 0.5
    assert auc(torch.tensor([1.0, 1.0, 0.0]), torch.tensor([True, False, False])) == pytest.approx(0.75)
    assert math.isnan(auc(s, torch.ones(4, dtype=torch.bool)))
    assert math.isnan(auc(s, torch.zeros(4, dtype=torch.bool)))


@pytest.mark.parametrize(
    ("scores", "mask"),
    [
        (torch.zeros(3), torch.tensor([1, 0, 1])),
        (torch.zeros(3), torch.tensor([True, False])),
        (torch.zeros(0), torch.zeros(0, dtype=torch.bool)),
        (torch.zeros(2, 2), torch.zeros(2, 2, dtype=torch.bool)),
        (torch.tensor([0.0, math.nan]), torch.tensor([True, False])),
    ],
    ids=["int-mask", "length-mismatch", "empty", "2-D", "nan"],
)
def test_auc_and_quantiles_reject(scores, mask):
    """auc and fraction_by_quantile reject non-bool masks, mismatched or empty or 2-D inputs, NaN scores."""
    with pytest.raises(ValueError):
        auc(scores, mask)
    with pytest.raises(ValueError):
        fraction_by_quantile(scores, mask)


# ----------------------------------------------------------------------------------------------------------------------
# quantile bins


def brute_bins(scores, positive, edges):
    """Bin of each score by the documented rule (edges[i] ≤ x < edges[i+1], last bin closed), counts and fractions."""
    bins = len(edges) - 1
    counts, hits = [0] * bins, [0] * bins
    for x, p in zip(scores, positive):
        found = [i for i in range(bins) if edges[i] <= x < edges[i + 1] or (i == bins - 1 and x == edges[i + 1])]
        assert len(found) == 1, (x, edges)
        counts[found[0]] += 1
        hits[found[0]] += p
    return counts, [h / c if c else math.nan for h, c in zip(hits, counts)]


def python_quantile(sorted_x, q):
    """Linear-interpolation quantile (numpy's default, as torch.quantile)."""
    pos = q * (len(sorted_x) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_x) - 1)
    return sorted_x[lo] + (sorted_x[hi] - sorted_x[lo]) * (pos - lo)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("bins", [1, 3, 10])
def test_fraction_by_quantile_matches_bin_rule(seed, bins):
    """Edges are the linear quantiles; counts and positive fractions follow the documented bin rule (ties share)."""
    rng = random.Random(seed * 31 + bins)
    n = rng.randint(1, 60)
    scores = [float(rng.randint(0, 4)) if seed % 2 else rng.gauss(0, 1) for _ in range(n)]
    positive = [rng.random() < 0.5 for _ in range(n)]
    out = fraction_by_quantile(torch.tensor(scores, dtype=torch.float64), torch.tensor(positive), bins)
    edges = out["edges"].tolist()
    assert len(edges) == bins + 1
    srt = sorted(scores)
    assert edges == pytest.approx([python_quantile(srt, i / bins) for i in range(bins + 1)], abs=1e-12)
    counts, fracs = brute_bins(scores, positive, edges)
    assert out["counts"].tolist() == counts
    assert sum(counts) == n
    for a, b in zip(out["fraction"].tolist(), fracs):
        assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, abs=1e-14)


def test_fraction_by_quantile_hand_case():
    """Scores 1..10 in 2 bins: edges 1, 5.5, 10 → bins {1..5}, {6..10}; tied scores share one bin, others stay empty."""
    scores = torch.arange(1, 11, dtype=torch.float64)
    positive = torch.tensor([True] * 2 + [False] * 3 + [True] * 4 + [False])
    out = fraction_by_quantile(scores, positive, 2)
    assert out["edges"].tolist() == [1.0, 5.5, 10.0]
    assert out["counts"].tolist() == [5, 5]
    assert out["fraction"].tolist() == pytest.approx([0.4, 0.8])
    tied = fraction_by_quantile(torch.tensor([0.0, 0.0, 0.0, 1.0]), torch.tensor([True, False, False, True]), 4)
    assert tied["edges"].tolist() == [0.0, 0.0, 0.0, 0.25, 1.0]
    assert tied["counts"].tolist() == [0, 0, 3, 1]  # the three tied zeros share bin 2 (edges[2] ≤ 0 < edges[3])
    frac = tied["fraction"].tolist()
    assert math.isnan(frac[0]) and math.isnan(frac[1]) and frac[2:] == pytest.approx([1 / 3, 1.0])


def test_fraction_by_quantile_single_score():
    """One score: every edge equals it and it falls in the last bin (fraction 1 or 0), the other bins are empty."""
    out = fraction_by_quantile(torch.tensor([-2.5]), torch.tensor([True]), 4)
    assert out["edges"].tolist() == [-2.5] * 5
    assert out["counts"].tolist() == [0, 0, 0, 1]
    assert out["fraction"][-1].item() == 1.0 and out["fraction"][:-1].isnan().all()


def test_fraction_by_quantile_rejects_bins_and_inf():
    """bins < 1 and infinite scores raise ValueError."""
    s, m = torch.tensor([0.0, 1.0]), torch.tensor([True, False])
    with pytest.raises(ValueError):
        fraction_by_quantile(s, m, 0)
    with pytest.raises(ValueError):
        fraction_by_quantile(torch.tensor([0.0, -math.inf]), m)


# ----------------------------------------------------------------------------------------------------------------------
# Spearman


def brute_spearman(first_step, scores):
    """Pearson correlation of average ranks, never-memorized (NEVER) ranked as +inf."""
    steps = [math.inf if f == NEVER else float(f) for f in first_step]
    return pearson(average_ranks(steps), average_ranks(scores))


@pytest.mark.parametrize("seed", range(15))
def test_spearman_matches_rank_pearson(seed):
    """spearman_first_step = Pearson of average ranks (ties averaged, NEVER → +inf) on tie-heavy inputs."""
    rng = random.Random(seed)
    n = rng.randint(2, 50)
    first = [rng.choice([NEVER, NEVER, 1, 2, 4, 8, 16]) for _ in range(n)]
    scores = [float(rng.randint(-4, 0)) for _ in range(n)]
    first[0], first[1], scores[0], scores[1] = 1, NEVER, 0.0, -1.0
    got = spearman_first_step(torch.tensor(first), torch.tensor(scores, dtype=torch.float64))
    assert got == pytest.approx(brute_spearman(first, scores), abs=1e-12)


def test_spearman_hand_cases():
    """Higher score memorized earlier (never last) → −1; reversed → +1; constant side → NaN."""
    scores = torch.tensor([-1.0, -2.0, -3.0, -4.0])
    assert spearman_first_step(torch.tensor([1, 4, 16, NEVER]), scores) == pytest.approx(-1.0, abs=1e-14)
    assert spearman_first_step(torch.tensor([NEVER, 16, 4, 1]), scores) == pytest.approx(1.0, abs=1e-14)
    # NEVER ranks after every real step, however large
    assert spearman_first_step(torch.tensor([1, 10**9, NEVER]), torch.tensor([3.0, 2.0, 1.0])) == pytest.approx(-1.0)
    assert math.isnan(spearman_first_step(torch.full((4,), NEVER), scores))
    assert math.isnan(spearman_first_step(torch.tensor([1, 2, 3, 4]), torch.zeros(4)))


def test_spearman_rejects():
    """spearman_first_step rejects mismatched lengths, empty and 2-D inputs."""
    for first, scores in [
        (torch.tensor([1, 2]), torch.zeros(3)),
        (torch.zeros(0, dtype=torch.int64), torch.zeros(0)),
        (torch.ones(2, 2, dtype=torch.int64), torch.zeros(2, 2)),
    ]:
        with pytest.raises(ValueError):
            spearman_first_step(first, scores)


# ----------------------------------------------------------------------------------------------------------------------
# commonness


def brute_commonness(train, s, heights):
    """Mean over heights of the mean over a string's blocks of log(count(block) / number of blocks of that height)."""
    counters = {h: block_counter(train, s, h) for h in heights}
    out = []
    for r in as_tuples(train):
        per_h = []
        for h in heights:
            c, total = counters[h]
            bl = aligned_blocks(r, s, h)
            per_h.append(sum(math.log(c[b] / total) for b in bl) / len(bl))
        out.append(sum(per_h) / len(per_h))
    return out


@pytest.mark.parametrize("name", SHAPE_IDS)
def test_commonness_scores_match_counter(name):
    """commonness_scores (default heights 1..L-1, and explicit ones) vs Counter-based logs of block frequencies."""
    v, s, L = SHAPES[name]
    train = random_train(v, s**L, 40, seed=3, dup_frac=0.4)
    got = commonness_scores(train, v, s)
    assert got.dtype == torch.float64 and got.shape == (40,)
    assert got.tolist() == pytest.approx(brute_commonness(train, s, list(range(1, L))), rel=1e-12)
    for heights in ([L], [1, L], [L - 1, 1]):
        assert commonness_scores(train, v, s, heights).tolist() == pytest.approx(
            brute_commonness(train, s, heights), rel=1e-12
        )


def test_commonness_scores_l1_defaults_to_whole_string():
    """With L = 1 the default heights are [1] (the whole string): log of each string's relative frequency."""
    train = torch.tensor([[0, 1], [0, 1], [1, 1], [0, 1]])
    got = commonness_scores(train, 2, 2)
    assert got.tolist() == pytest.approx([math.log(3 / 4)] * 2 + [math.log(1 / 4), math.log(3 / 4)], rel=1e-12)


def test_commonness_scores_reject():
    """commonness_scores raises ValueError on bad strings and on heights outside 1..L."""
    good = torch.zeros(3, 8, dtype=torch.int64)
    for bad in [
        torch.zeros(3, 6, dtype=torch.int64),
        torch.full((3, 8), 2),
        torch.zeros(0, 8, dtype=torch.int64),
        good.float(),
    ]:
        with pytest.raises(ValueError):
            commonness_scores(bad, 2, 2)
    for heights in ([0], [4], [1, 5]):
        with pytest.raises(ValueError):
            commonness_scores(good, 2, 2, heights)


def test_commonness_scores_rejects_empty_heights():
    """An empty height list raises ValueError (a mean over no heights is undefined), rather than returning NaN."""
    with pytest.raises(ValueError):
        commonness_scores(torch.zeros(3, 8, dtype=torch.int64), 2, 2, [])


# ----------------------------------------------------------------------------------------------------------------------
# memorization vs prototypicality


@pytest.mark.parametrize("seed", range(3))
def test_memorization_vs_prototypicality_consistent(seed):
    """Keys, and each value equals auc / fraction_by_quantile / spearman on the masks the caller would build."""
    g = Grammar(3, 2, 2, 2, 3, seed=4, zipf_exponent=1.0, zipf_levels=(1, 3))
    train = g.sample_unique(60, seed)
    scores = g.log_prob(train)
    rng = random.Random(seed)
    first = torch.tensor([rng.choice([NEVER, 1, 2, 4, 8, 16]) for _ in range(60)])
    now = torch.tensor([rng.random() < 0.3 for _ in range(60)])
    step = 4
    out = memorization_vs_prototypicality(scores, now, first, step, bins=5)
    assert set(out) == {"auc_now", "auc_ever", "by_quantile_ever", "spearman_first_step"}
    ever = [f != NEVER and f <= step for f in first.tolist()]
    assert out["auc_now"] == pytest.approx(brute_auc(scores.tolist(), now.tolist()), abs=1e-12)
    assert out["auc_ever"] == pytest.approx(brute_auc(scores.tolist(), ever), abs=1e-12)
    assert out["spearman_first_step"] == pytest.approx(brute_spearman(first.tolist(), scores.tolist()), abs=1e-12)
    q = out["by_quantile_ever"]
    counts, fracs = brute_bins(scores.tolist(), ever, q["edges"].tolist())
    assert q["counts"].tolist() == counts and len(counts) == 5
    for a, b in zip(q["fraction"].tolist(), fracs):
        assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, abs=1e-14)


def test_memorization_vs_prototypicality_no_memorized():
    """Nothing memorized: both AUCs are NaN, the Spearman is NaN (all NEVER), every bin fraction is 0."""
    scores = torch.tensor([-3.0, -2.0, -1.0, -0.5])
    out = memorization_vs_prototypicality(scores, torch.zeros(4, dtype=torch.bool), torch.full((4,), NEVER), 10, 2)
    assert math.isnan(out["auc_now"]) and math.isnan(out["auc_ever"]) and math.isnan(out["spearman_first_step"])
    assert out["by_quantile_ever"]["fraction"].tolist() == [0.0, 0.0]


def test_spearman_rejects_nan_scores():
    with pytest.raises(ValueError, match="NaN"):
        spearman_first_step(torch.tensor([1, 2, NEVER]), torch.tensor([0.1, float("nan"), 0.3]))
