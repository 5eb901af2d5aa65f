"""rhm_memo.rhm.rules: random rules equal the RHM reference algorithm's; bad sizes are rejected."""

import itertools
import random

import pytest
import torch

from rhm_memo.rhm import Grammar, random_rules

# ----------------------------------------------------------------------------------------------------------------------
# random rules vs the RHM reference algorithm


def reference_rules(v, n, m, s, L, seed):
    """The RHM reference ``sample_rules``, with a private random.Random(seed) instead of random.seed(seed)."""
    rng = random.Random(seed)
    tuples = list(itertools.product(range(v), repeat=s))
    rules = [torch.tensor(rng.sample(tuples, n * m)).reshape(n, m, s)]
    for _ in range(1, L):
        rules.append(torch.tensor(rng.sample(tuples, v * m)).reshape(v, m, s))
    return rules


@pytest.mark.parametrize(
    ("v", "n", "m", "s", "L", "seed"),
    [
        (6, 6, 4, 2, 4, 1951),
        (2, 1, 1, 2, 1, 0),
        (2, 2, 2, 2, 2, 5),
        (3, 2, 2, 3, 2, 0),
        (4, 3, 2, 2, 3, 17),
        (5, 4, 3, 2, 3, 123),
        (10, 10, 8, 2, 3, 42),
        (10, 2, 3, 3, 2, 7),
        (3, 9, 1, 2, 2, 3),
        (8, 8, 8, 2, 2, 99),
    ],
)
def test_random_rules_match_reference(v, n, m, s, L, seed):
    """random_rules and Grammar(...).rules equal the reference algorithm's rules, level by level."""
    expected = reference_rules(v, n, m, s, L, seed)
    got = random_rules(v, n, m, s, L, seed)
    assert len(got) == L
    for level, (a, b) in enumerate(zip(got, expected, strict=True), start=1):
        assert a.dtype == torch.int64
        assert torch.equal(a, b), f"level {level}"
    g = Grammar(v, n, m, s, L, seed=seed)
    for a, b in zip(g.rules, expected, strict=True):
        assert torch.equal(a, b)


def test_random_rules_depend_on_seed():
    """Different seeds give different rules; random_rules does not touch the global random state."""
    state = random.getstate()
    a = random_rules(6, 6, 4, 2, 4, 1)
    assert random.getstate() == state
    b = random_rules(6, 6, 4, 2, 4, 2)
    assert any(not torch.equal(x, y) for x, y in zip(a, b, strict=True))


def test_random_rules_rejects_bad_sizes():
    """random_rules validates sizes like Grammar (ValueError naming the parameter)."""
    with pytest.raises(ValueError, match=r"m\*n"):
        random_rules(2, 3, 2, 2, 1, seed=0)
    with pytest.raises(ValueError, match=r"\bs\b"):
        random_rules(2, 1, 1, 1, 1, seed=0)
