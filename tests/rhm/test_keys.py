"""Tests of rhm_memo.rhm.keys against Python tuple / dict / set references."""

import math
import random

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rhm_memo.rhm import keys as K

INT64_MAX = 2**63 - 1


def rows(x):
    """Rows of a 2-D tensor as Python tuples."""
    return [tuple(r) for r in x.tolist()]


def tricky_strings(v, d, num, seed):
    """Random strings with exact duplicates, neighbours differing in one token (first, last, middle) and extremes."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randint(0, v, (num, d), generator=gen)
    rng = random.Random(seed)
    extra = []
    for _ in range(num // 3):
        base = x[rng.randrange(num)].clone()
        extra.append(base.clone())  # duplicate
        for pos in (0, d - 1, d // 2):
            y = base.clone()
            y[pos] = (y[pos] + rng.randrange(1, v)) % v if v > 1 else 0
            extra.append(y)
    extra.append(torch.zeros(d, dtype=torch.int64))
    extra.append(torch.full((d,), v - 1, dtype=torch.int64))
    extra.append(torch.full((d,), v - 1, dtype=torch.int64))
    out = torch.cat([x, torch.stack(extra)])
    return out[torch.randperm(out.shape[0], generator=gen)]


@pytest.mark.parametrize(
    ("v", "k"), [(1, 63), (2, 62), (3, 39), (6, 24), (10, 18), (50, 11), (256, 7), (2**31, 2), (2**32, 1)]
)
def test_digits_per_word_values(v, k):
    """digits_per_word(v) for hand-checked vocabularies."""
    assert K.digits_per_word(v) == k


def test_digits_per_word_is_largest_fitting_width():
    """v**k fits in int64 and v**(k+1) does not, for v = 2..400."""
    for v in range(2, 401):
        k = K.digits_per_word(v)
        assert v**k <= INT64_MAX < v ** (k + 1), v


PACK_CASES = [(2, 16), (6, 16), (2, 100), (50, 16), (50, 30), (256, 20), (3, 100), (7, 1), (1000, 5), (6, 24), (6, 25)]


@pytest.mark.parametrize(("v", "d"), PACK_CASES)
def test_pack_preserves_order_and_equality(v, d):
    """pack: (N, ceil(d/k)) int64 keys; key rows compare like the token tuples (order and equality)."""
    x = tricky_strings(v, d, 300, seed=v * 1000 + d)
    keys = K.pack(x, v)
    width = math.ceil(d / K.digits_per_word(v))
    assert keys.dtype == torch.int64 and keys.shape == (x.shape[0], width)
    assert bool((keys >= 0).all())
    s, k = rows(x), rows(keys)
    # the same (stable) order
    assert sorted(range(len(s)), key=s.__getitem__) == sorted(range(len(k)), key=k.__getitem__)
    # pairwise comparisons on random pairs, and key equality iff string equality
    rng = random.Random(d)
    for _ in range(3000):
        i, j = rng.randrange(len(s)), rng.randrange(len(s))
        assert (s[i] < s[j]) == (k[i] < k[j]) and (s[i] == s[j]) == (k[i] == k[j])
    assert len(set(s)) == len(set(k)) == len(set(zip(s, k, strict=True)))


def test_pack_multi_word_needed():
    """For v=50, d=16 the packed value v**d exceeds int64, so keys have several words."""
    assert 50**16 > INT64_MAX
    assert K.pack(torch.zeros(3, 16, dtype=torch.int64), 50).shape == (3, 2)


def test_pack_dtypes_and_errors():
    """pack gives the same keys from uint8 / int32 tokens; a 1-D tensor raises ValueError."""
    x = tricky_strings(50, 16, 100, seed=0)
    keys = K.pack(x, 50)
    assert torch.equal(K.pack(x.to(torch.uint8), 50), keys)
    assert torch.equal(K.pack(x.int(), 50), keys)
    with pytest.raises(ValueError, match="strings"):
        K.pack(x[0], 50)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    v=st.integers(2, 70),
    data=st.data(),
)
def test_pack_order_property(v, data):
    """Property: for any two strings, key comparison equals tuple comparison."""
    d = data.draw(st.integers(1, 40))
    a = data.draw(st.lists(st.integers(0, v - 1), min_size=d, max_size=d))
    b = data.draw(st.lists(st.integers(0, v - 1), min_size=d, max_size=d))
    ka, kb = rows(K.pack(torch.tensor([a, b]), v))
    assert (ka < kb) == (a < b) and (ka == kb) == (a == b)


@pytest.mark.parametrize(("v", "d"), [(6, 16), (50, 16), (2, 200), (4, 3)])
def test_first_occurrences_vs_dict(v, d):
    """first_occurrences = increasing indices of each row's first occurrence (dict reference)."""
    x = tricky_strings(v, d, 400, seed=d)
    keys = K.pack(x, v)
    reference = {}
    for i, r in enumerate(rows(x)):
        reference.setdefault(r, i)
    got = K.first_occurrences(keys)
    assert got.dtype == torch.int64
    assert got.tolist() == sorted(reference.values())
    assert K.first_occurrences(keys[:0]).shape == (0,)


@pytest.mark.parametrize(("v", "d"), [(6, 16), (50, 16), (2, 200), (5, 4)])
def test_isin_rows_vs_set(v, d):
    """isin_rows(keys, table) marks exactly the rows whose string is in the table (set reference)."""
    x = tricky_strings(v, d, 400, seed=d + 1)
    table_strings = torch.cat([x[::3], tricky_strings(v, d, 100, seed=d + 2)])
    keys, table = K.pack(x, v), K.pack(table_strings, v)
    reference = set(rows(table_strings))
    expected = [r in reference for r in rows(x)]
    assert any(expected) and not all(expected)
    got = K.isin_rows(keys, table)
    assert got.dtype == torch.bool and got.tolist() == expected
    assert K.isin_rows(keys, table[:0]).tolist() == [False] * len(expected)
    assert K.isin_rows(keys[:0], table).shape == (0,)


@pytest.mark.parametrize(("v", "d"), [(6, 16), (50, 16), (50, 40), (2, 200)])
def test_lexsort_rows_vs_sorted(v, d):
    """lexsort_rows(pack(x)) is the stable permutation of sorted(tuples) (ties keep their input order)."""
    x = tricky_strings(v, d, 400, seed=d + 3)
    order = K.lexsort_rows(K.pack(x, v))
    s = rows(x)
    assert order.tolist() == sorted(range(len(s)), key=s.__getitem__)


def test_lexsort_rows_generic_int64():
    """lexsort_rows sorts arbitrary int64 rows (negative and huge values, duplicates) like sorted(tuples)."""
    gen = torch.Generator().manual_seed(0)
    keys = torch.randint(-5, 5, (500, 3), generator=gen) * (2**60)
    keys[::7] = keys[1::7][: keys[::7].shape[0]]
    keys[::11, 2] = INT64_MAX
    k = rows(keys)
    assert K.lexsort_rows(keys).tolist() == sorted(range(len(k)), key=k.__getitem__)
