"""Tests of rhm_memo.metrics.null against exact enumeration: of a tiny grammar's strings, of every sequence of
draws, and of every ordered successive sample without replacement."""

import itertools
import math

import pytest
import torch

from rhm_memo.metrics import NullModel, draw_without_replacement, expected_ever_memorized, training_mass
from rhm_memo.metrics.null import _first_distinct, _gumbel_top_k, successive_order
from rhm_memo.rhm import Grammar

# ----------------------------------------------------------------------------------------------------------------------
# references


def enumerate_strings(g):
    """``{string: probability}`` of every string of a tiny grammar, by expanding every rule choice in Python."""
    rules = [r.tolist() for r in g.rules]
    probs = [p.tolist() for p in g.rule_probs]

    def expand(level, sym):
        if level > g.L:
            return [((sym,), 1.0)]
        out = []
        for rule, p in zip(rules[level - 1][sym], probs[level - 1][sym]):
            for parts in itertools.product(*(expand(level + 1, c) for c in rule)):
                out.append((sum((t for t, _ in parts), ()), p * math.prod(q for _, q in parts)))
        return out

    table = {}
    for root, prior in enumerate(g.root_prior.tolist()):
        for string, p in expand(1, root):
            if prior * p > 0:
                table[string] = table.get(string, 0.0) + prior * p
    return table


def pair_auc(scores, positive):
    """P(score of a positive > score of a negative), ties ½, over all pairs."""
    pos = [s for s, m in zip(scores, positive) if m]
    neg = [s for s, m in zip(scores, positive) if not m]
    return sum(1.0 if a > b else 0.5 if a == b else 0.0 for a in pos for b in neg) / (len(pos) * len(neg))


def successive_sets(weights, k):
    """``{frozenset: probability}`` of k draws without replacement, each ∝ weight among those not yet drawn."""
    out = {}
    total = sum(weights)
    for seq in itertools.permutations(range(len(weights)), k):
        p, left = 1.0, total
        for i in seq:
            p *= weights[i] / left
            left -= weights[i]
        key = frozenset(seq)
        out[key] = out.get(key, 0.0) + p
    return out


def tiny_grammar():
    return Grammar(v=3, n=2, m=2, s=2, L=2, seed=5, zipf_exponent=1.5, zipf_levels=[1, 2])


# ----------------------------------------------------------------------------------------------------------------------
# training mass and expected ever-memorized count


def test_training_mass_equals_enumerated_probability():
    g = tiny_grammar()
    table = enumerate_strings(g)
    assert math.isclose(sum(table.values()), 1.0, rel_tol=1e-12)
    strings = list(table)[::2]
    train = torch.tensor(strings)
    assert math.isclose(training_mass(g.log_prob(train)), sum(table[s] for s in strings), rel_tol=1e-12)


def test_training_mass_is_the_grammar_samplers_copy_fraction():
    g = Grammar(v=4, n=4, m=2, s=2, L=3, seed=2, zipf_exponent=1.0, zipf_levels=[1])
    train = g.sample_unique(60, 1)
    mass = training_mass(g.log_prob(train))
    samples = g.sample(200_000, 3)
    members = {tuple(r) for r in train.tolist()}
    copies = sum(tuple(r) in members for r in samples.tolist())
    se = math.sqrt(mass * (1 - mass) / 200_000)
    assert abs(copies / 200_000 - mass) < 5 * se


@pytest.mark.parametrize("num_draws", [0, 1, 2, 4])
def test_expected_ever_memorized_matches_every_sequence_of_draws(num_draws):
    g = tiny_grammar()
    table = enumerate_strings(g)
    strings = list(table)
    train = set(strings[1::2])
    expected = 0.0
    for seq in itertools.product(strings, repeat=num_draws):
        expected += math.prod(table[s] for s in seq) * len(train.intersection(seq))
    got = expected_ever_memorized(g.log_prob(torch.tensor(sorted(train))), num_draws)
    assert math.isclose(got, expected, rel_tol=1e-10, abs_tol=1e-12)


def test_expected_ever_memorized_tiny_probabilities_are_accurate():
    log_prob = torch.tensor([-40.0, -30.0])
    got = expected_ever_memorized(log_prob, 10**6)
    assert math.isclose(got, 10**6 * (math.exp(-40) + math.exp(-30)), rel_tol=1e-6)


# ----------------------------------------------------------------------------------------------------------------------
# successive sampling without replacement: both algorithms against the exact set distribution

WEIGHTS = [0.4, 0.25, 0.15, 0.1, 0.06, 0.04]


def _set_frequencies(chosen):
    counts = {}
    for row in chosen.tolist():
        assert len(set(row)) == len(row)
        key = frozenset(row)
        counts[key] = counts.get(key, 0) + 1
    return counts


@pytest.mark.parametrize("algorithm", ["gumbel", "stream", "auto", "order"])
@pytest.mark.parametrize("k", [1, 2, 3])
def test_draws_follow_successive_sampling(algorithm, k):
    log_w = torch.tensor(WEIGHTS, dtype=torch.float64).log()
    gen = torch.Generator().manual_seed(k)
    n = 40_000
    if algorithm == "gumbel":
        chosen = _gumbel_top_k(log_w, k, n, gen)
    elif algorithm == "stream":
        chosen = _first_distinct(torch.tensor(WEIGHTS, dtype=torch.float64), k, n, 2, gen)  # short rounds: continues
    elif algorithm == "order":
        chosen = successive_order(log_w, n, gen)[:, :k].long()
    else:
        chosen = draw_without_replacement(log_w, k, n, gen)
    exact = successive_sets(WEIGHTS, k)
    freq = _set_frequencies(chosen)
    assert set(freq) <= set(exact)
    for key, p in exact.items():
        assert abs(freq.get(key, 0) / n - p) < 5 * math.sqrt(p * (1 - p) / n) + 1e-9, (key, p)


def test_stream_path_is_used_and_exact_on_a_larger_set():
    weights = [1.0 / (i + 1) for i in range(40)]
    log_w = torch.tensor(weights, dtype=torch.float64).log()
    n, k = 30_000, 2
    chosen = draw_without_replacement(log_w, k, n, torch.Generator().manual_seed(0))
    assert k / (1 - max(weights) / sum(weights)) <= 40 / 4  # the short-stream branch
    inclusion = {i: 0.0 for i in range(40)}
    for key, p in successive_sets(weights, k).items():
        for i in key:
            inclusion[i] += p
    counts = torch.bincount(chosen.flatten(), minlength=40).double() / n
    for i, p in inclusion.items():
        assert abs(counts[i].item() - p) < 5 * math.sqrt(p * (1 - p) / n) + 1e-9, (i, p)


def test_zero_weights_are_never_drawn_and_k_is_checked():
    log_w = torch.tensor([0.0, -math.inf, 0.0, -math.inf])
    chosen = draw_without_replacement(log_w, 2, 500, torch.Generator().manual_seed(0))
    assert set(chosen.flatten().tolist()) == {0, 2}
    with pytest.raises(ValueError, match="k=3 exceeds the 2 entries of positive weight"):
        draw_without_replacement(log_w, 3, 1, torch.Generator())


def test_draws_are_reproducible_from_the_generator():
    log_w = torch.randn(500, dtype=torch.float64)
    a = draw_without_replacement(log_w, 7, 20, torch.Generator().manual_seed(3))
    b = draw_without_replacement(log_w, 7, 20, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


# ----------------------------------------------------------------------------------------------------------------------
# null AUC


def _exact_null(scores, weights, k, observed):
    """Exact mean, sd and P(AUC ≥ observed) of the AUC of a successive sample of k strings."""
    dist = successive_sets(weights, k)
    values = [(pair_auc(scores, [i in key for i in range(len(scores))]), p) for key, p in dist.items()]
    mean = sum(a * p for a, p in values)
    sd = math.sqrt(sum((a - mean) ** 2 * p for a, p in values))
    return mean, sd, sum(p for a, p in values if a >= observed - 1e-12)


@pytest.mark.parametrize("max_orders", [1 << 26, 0])  # orders kept, or each k drawn afresh
@pytest.mark.parametrize("k", [1, 2, 4])
def test_null_auc_matches_exact_enumeration(k, max_orders):
    log_p = [-2.0, -2.5, -2.5, -3.0, -4.0, -4.5]  # a tie between strings 1 and 2
    weights = [math.exp(x) for x in log_p]
    commonness = [0.3, -0.2, 0.1, 0.1, -1.0, 0.5]
    draws = 20_000
    scores = {"log_p": torch.tensor(log_p), "common": torch.tensor(commonness)}
    null = NullModel(torch.tensor(log_p), scores, draws, seed=k, max_orders=max_orders)
    observed = {"log_p": 0.6, "common": 0.55}
    got = null.aucs(k, observed)
    for name, scores in [("log_p", log_p), ("common", commonness)]:
        mean, sd, tail = _exact_null(scores, weights, k, observed[name])
        assert abs(got[name].mean - mean) < 5 * sd / math.sqrt(draws) + 1e-12
        assert math.isclose(got[name].sd, sd, rel_tol=0.05)
        assert abs(got[name].p_value - tail) < 5 * math.sqrt(tail * (1 - tail) / draws) + 2 / draws
        assert got[name].observed == observed[name] and got[name].k == k and got[name].draws == draws
    uniform = null.aucs(k, observed, uniform=True)
    u_mean, u_sd, u_tail = _exact_null(log_p, [1.0] * 6, k, observed["log_p"])
    assert math.isclose(u_mean, 0.5, abs_tol=1e-12)  # the uniform null is centred, ties included
    assert abs(uniform["log_p"].mean - u_mean) < 5 * u_sd / math.sqrt(draws)
    assert abs(uniform["log_p"].p_value - u_tail) < 5 * math.sqrt(u_tail * (1 - u_tail) / draws) + 2 / draws


def test_null_auc_of_a_perfect_sampler_is_not_significant():
    """The AUC of strings that a grammar sampler did ever generate sits inside its own null distribution."""
    g = Grammar(v=4, n=4, m=2, s=2, L=3, seed=2, zipf_exponent=1.0, zipf_levels=[1])
    train = g.sample_unique(300, 1)
    log_p = g.log_prob(train)
    members = {tuple(r): i for i, r in enumerate(train.tolist())}
    p_values = []
    for seed in range(20):
        null = NullModel(log_p, {"log_p": log_p}, 400, seed)
        hits = torch.zeros(300, dtype=torch.bool)
        for row in g.sample(1500, 100 + seed).tolist():
            if tuple(row) in members:
                hits[members[tuple(row)]] = True
        k = int(hits.sum())
        observed = pair_auc(log_p.tolist(), hits.tolist())
        p_values.append(null.aucs(k, {"log_p": observed})["log_p"].p_value)
        assert (
            null.aucs(k, {"log_p": observed}, uniform=True)["log_p"].mean
            < null.aucs(k, {"log_p": observed})["log_p"].mean
        )
    assert 0.2 < sum(p_values) / len(p_values) < 0.8  # roughly uniform p-values under the null
    assert sum(p < 0.05 for p in p_values) <= 4


def test_null_auc_edge_cases():
    log_p = torch.tensor([-1.0, -2.0, -3.0])
    null = NullModel(log_p, {"log_p": log_p}, 10)
    for k in (0, 3):
        out = null.aucs(k, {"log_p": 0.7})["log_p"]
        assert out.observed == 0.7 and math.isnan(out.mean) and math.isnan(out.p_value)
    assert math.isnan(NullModel(log_p, {"log_p": log_p}, 0).aucs(1, {"log_p": 0.7})["log_p"].mean)
    assert math.isnan(null.aucs(1, {"log_p": math.nan})["log_p"].p_value)
    assert null.aucs(1, {"log_p": 0.7})["log_p"].as_dict()["k"] == 1


def test_null_draws_are_nested_and_reproducible():
    """The first k strings of a draw are the first k of the same draw for any larger k, and the seed fixes them."""
    log_p = torch.randn(300, dtype=torch.float64) - 8
    a, b = NullModel(log_p, {"s": log_p}, 50, seed=4), NullModel(log_p, {"s": log_p}, 50, seed=4)
    assert torch.equal(a._draw(40, False)[:, :10], a._draw(10, False))
    assert a.aucs(25, {"s": 0.5}) == b.aucs(25, {"s": 0.5})
    assert a.aucs(25, {"s": 0.5}) != NullModel(log_p, {"s": log_p}, 50, seed=5).aucs(25, {"s": 0.5})


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: training_mass(torch.tensor([0.5])), "log-probabilities"),
        (lambda: training_mass(torch.tensor([math.nan])), "log-probabilities"),
        (lambda: training_mass(torch.tensor([-0.1, -0.1])), "sum to"),
        (lambda: training_mass(torch.zeros(2, 2)), r"non-empty \(P,\)"),
        (lambda: expected_ever_memorized(torch.tensor([-1.0]), -1), "num_draws must be an integer >= 0"),
        (lambda: NullModel(torch.tensor([-1.0]), {"x": torch.zeros(2)}), r"scores\['x'\] must have shape \(1,\)"),
        (lambda: NullModel(torch.tensor([-1.0]), {"x": torch.tensor([math.nan])}), "contains NaN"),
        (lambda: NullModel(torch.tensor([-1.0]), {"x": torch.zeros(1)}).aucs(2, {"x": 0.5}),
         "exceeds the number of training strings"),
        (lambda: NullModel(torch.tensor([-1.0]), {"x": torch.zeros(1)}).aucs(1, {"y": 0.5}),
         "observed must have the keys"),
        (lambda: NullModel(torch.tensor([-1.0]), {"x": torch.zeros(1)}, -1), "draws must be an integer >= 0"),
        (lambda: draw_without_replacement(torch.zeros(3), 1, -1, torch.Generator()), "draws must be an integer >= 0"),
    ],
)  # fmt: skip
def test_bad_inputs(call, message):
    with pytest.raises(ValueError, match=message):
        call()
