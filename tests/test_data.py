"""RHMDataModule: uniqueness, disjointness, determinism, the verified cache, loaders and errors."""

import pytest
import torch

from rhm_memo.data import RHMDataModule, RHMDataset, collate
from rhm_memo.rhm.keys import pack

SMALL = dict(v=5, n=3, m=3, s=2, L=3, train_size=300, test_size=50, batch_size=16)


def make(tmp_path, **kw) -> RHMDataModule:
    dm = RHMDataModule(**{**SMALL, "cache_dir": str(tmp_path / "cache"), **kw})
    dm.prepare_data()
    dm.setup("fit")
    return dm


def distinct(x: torch.Tensor) -> int:
    return torch.unique(x, dim=0).shape[0]


def test_sizes_known_right_after_init():
    """vocab_size, seq_len and the grammar exist before any data is generated (the CLI links them)."""
    dm = RHMDataModule(**SMALL, cache_dir=None)
    assert (dm.vocab_size, dm.seq_len, dm.grammar.d) == (5, 8, 8)
    assert dm.train_strings is None


@pytest.mark.parametrize("zipf", [0.0, 1.0, 2.5])
def test_unique_train_and_disjoint_test(tmp_path, zipf):
    """unique=True: P distinct training strings; held-out strings distinct and disjoint from training."""
    dm = make(tmp_path, zipf_exponent=zipf, zipf_levels=[1, 2])
    train, test = dm.train_strings, dm.test_strings
    assert train.shape == (300, 8) and test.shape == (50, 8)
    assert distinct(train) == 300 and distinct(test) == 50
    assert distinct(torch.cat([train, test])) == 350
    assert torch.isfinite(dm.train_log_prob).all() and torch.isfinite(dm.test_log_prob).all()
    torch.testing.assert_close(dm.train_log_prob, dm.grammar.log_prob(train))


def test_iid_train_has_duplicates_and_test_still_disjoint(tmp_path):
    """unique=False: i.i.d. training strings (a small grammar makes duplicates certain); test stays disjoint."""
    dm = make(tmp_path, v=3, n=2, m=2, L=3, train_size=200, test_size=5, unique=False)
    assert dm.grammar.num_strings() == 256
    assert distinct(dm.train_strings) < 200
    both = torch.cat([torch.unique(dm.train_strings, dim=0), dm.test_strings])
    assert distinct(both) == both.shape[0]


def test_same_seeds_same_data_other_seed_other_data(tmp_path):
    """Determinism: equal seeds give equal strings (cached or not); another seed_data gives other strings."""
    a = make(tmp_path / "a")
    b = make(tmp_path / "b", cache_dir=None)
    c = make(tmp_path / "c", seed_data=2)
    assert torch.equal(a.train_strings, b.train_strings) and torch.equal(a.test_strings, b.test_strings)
    assert not torch.equal(a.train_strings, c.train_strings)


def test_cache_is_written_once_and_reused(tmp_path):
    """prepare_data writes one cache file; a second data module loads it instead of regenerating."""
    a = make(tmp_path)
    path = a.cache_path
    assert path.exists() and len(list(path.parent.iterdir())) == 1
    mtime = path.stat().st_mtime_ns
    b = make(tmp_path)
    assert path.stat().st_mtime_ns == mtime
    assert torch.equal(a.train_strings, b.train_strings)
    assert make(tmp_path, train_size=301).cache_path != path  # the key covers the whole configuration


def _tamper_checksum(path):
    payload = torch.load(path, weights_only=True)
    payload["train"][0, 0] = (payload["train"][0, 0] + 1) % 5
    torch.save(payload, path)


def _tamper_config(path):
    payload = torch.load(path, weights_only=True)
    payload["config"] = payload["config"].replace('"seed_data": 1', '"seed_data": 7')
    torch.save(payload, path)


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda p: p.write_bytes(b"not a torch file"),
        lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]),
        _tamper_checksum,
        _tamper_config,
    ],
    ids=["garbage", "truncated", "contents", "config"],
)
def test_corrupted_cache_is_regenerated_never_used(tmp_path, corrupt):
    """A corrupted or mismatched cache file triggers a warning and regeneration; the data stay correct."""
    good = make(tmp_path)
    corrupt(good.cache_path)
    with pytest.warns(UserWarning, match="invalid data cache"):
        again = make(tmp_path)
    assert torch.equal(again.train_strings, good.train_strings)
    assert torch.equal(again.test_strings, good.test_strings)
    fresh = RHMDataModule(**SMALL, cache_dir=str(tmp_path / "cache"))
    fresh.setup("fit")  # the rewritten file is valid again: no warning
    assert torch.equal(fresh.train_strings, good.train_strings)


def test_batches_carry_indices_and_match_strings(tmp_path):
    """Training batches are dicts of tokens and string indices; one epoch covers every string once."""
    dm = make(tmp_path)
    seen = []
    for batch in dm.train_dataloader():
        assert batch["x"].dtype == torch.int64 and batch["x"].shape[1] == 8
        assert torch.equal(batch["x"], dm.train_strings[batch["index"]])
        seen.append(batch["index"])
    assert torch.equal(torch.cat(seen).sort().values, torch.arange(300))
    val = next(iter(dm.val_dataloader()))
    assert torch.equal(val["x"], dm.test_strings[: val["x"].shape[0]])


def test_dataset_item_and_batched_fetch_agree():
    """__getitem__ + default collation and __getitems__ give the same batch."""
    ds = RHMDataset(torch.arange(40).view(10, 4))
    one_by_one = collate([ds[i] for i in (3, 1, 7)])
    batched = collate(ds.__getitems__([3, 1, 7]))
    assert torch.equal(one_by_one["x"], batched["x"]) and torch.equal(one_by_one["index"], batched["index"])


def test_loader_before_setup_is_a_clear_error():
    """Asking for a loader before setup() says what to do."""
    with pytest.raises(RuntimeError, match="setup"):
        RHMDataModule(**SMALL, cache_dir=None).train_dataloader()


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        (dict(train_size=0), "train_size"),
        (dict(test_size=-1), "test_size"),
        (dict(batch_size=0), "batch_size"),
        (dict(num_workers=-1), "num_workers"),
        (dict(s=1), "s must"),
        (dict(L=0), "L must"),
        (dict(m=9), "m\\*n"),
        (dict(zipf_exponent=-1.0), "zipf_exponent"),
        (dict(zipf_exponent=1.0, zipf_levels=[4]), "levels"),
        (dict(root_prior=[0.5, 0.6, 0.0]), "root_prior"),
        (dict(rule_probs={2: [0.5, 0.5]}), "rule_probs"),
        (dict(train_size=10**6), "exceeds"),
    ],
)
def test_bad_parameters_raise_value_errors_naming_them(kw, match):
    """Bad configurations fail in __init__, before any data is generated, naming the parameter."""
    with pytest.raises(ValueError, match=match):
        RHMDataModule(**{**SMALL, "cache_dir": None, **kw})


def test_global_batch_is_split_over_ranks(tmp_path):
    """batch_size is global: the per-rank loader batch is batch_size / world_size, which must divide."""
    dm = make(tmp_path, batch_size=12)

    class FakeTrainer:
        world_size, global_rank = 3, 1

    dm.trainer = FakeTrainer()
    assert dm.train_dataloader().batch_size == 4
    FakeTrainer.world_size = 5
    with pytest.raises(ValueError, match="divisible"):
        dm.train_dataloader()


def test_multiword_keys_do_not_matter_for_data(tmp_path):
    """Strings longer than one int64 key word (v**d > 2**63) still come out distinct and disjoint."""
    dm = make(tmp_path, v=8, n=2, m=2, s=2, L=5, train_size=200, test_size=20)
    assert pack(dm.train_strings, 8).shape[1] == 2
    assert distinct(torch.cat([dm.train_strings, dm.test_strings])) == 220


def test_silent_inputs_are_errors(tmp_path):
    """A Zipf exponent without levels, and a batch larger than the training set, are rejected with one line."""
    with pytest.raises(ValueError, match=r"zipf_exponent=1\.0 has no effect without zipf_levels"):
        make(tmp_path, zipf_exponent=1.0, zipf_levels=None)
    with pytest.raises(ValueError, match=r"batch_size=64 is larger than the training set \(train_size=32\)"):
        make(tmp_path, train_size=32, batch_size=64)


@pytest.mark.parametrize("unique", [True, False])
def test_summary_train_mass_is_the_probability_of_the_distinct_training_strings(tmp_path, unique):
    """train_mass = Σ p(x) over the distinct training strings, each p(x) looked up in the enumerated grammar."""
    dm = make(tmp_path, zipf_exponent=2.0, zipf_levels=[1, 2, 3], train_size=200, unique=unique)
    strings, log_prob = dm.grammar.enumerate()
    prob = {tuple(x): p for x, p in zip(strings.tolist(), log_prob.exp().tolist())}
    expected = sum(prob[x] for x in {tuple(x) for x in dm.train_strings.tolist()})
    summary = dm.summary()
    assert summary["train_mass"] == pytest.approx(expected, rel=1e-9)
    assert (summary["train_distinct"] < 200) == (not unique)  # a Zipf law this steep repeats strings when i.i.d.
