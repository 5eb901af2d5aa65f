"""MemorizationMonitor and SubstringMonitor in tiny in-process fits: records, shared samples, values, resume, EMA."""

import math

import lightning as L
import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import EMAWeightAveraging, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from monitor_helpers import (
    HEIGHT_KEYS,
    MEMORIZATION_KEYS,
    SUBSTRING_KEYS,
    ScriptedSampler,
    block_frequency,
    expected_memorization,
    expected_substrings,
    flat_parameters,
    read_records,
    tiny_data,
    tiny_model,
    tiny_trainer,
    without,
)
from torch.utils.data import DataLoader

from rhm_memo import metrics as M
from rhm_memo.callbacks import EvalSchedule, MemorizationMonitor, SubstringMonitor
from rhm_memo.callbacks.ema import averaged_weights
from rhm_memo.callbacks.sampling import shared_samples
from rhm_memo.data import RHMDataset
from rhm_memo.module import DiffusionModule

pytestmark = pytest.mark.filterwarnings(
    "ignore:.*LeafSpec", "ignore:.*log_every_n_steps", "ignore:.*does not have many workers",
    "ignore:Checkpoint directory .* exists", "ignore:You're resuming from a checkpoint that ended before the epoch",
    "ignore:You defined a `validation_step` but have no `val_dataloader`",
)  # fmt: skip

TIMINGS = ("seconds_sampling", "seconds_metrics", "ema")


class SampleCalls(list):
    """The recorded sample() calls; ``inject(step)``, if set, gives training strings to put in the first rows."""

    inject = None


@pytest.fixture
def spy_sample(monkeypatch):
    """Record every DiffusionModule.sample call as (global_step, num, steps, batch_size, output)."""
    calls = SampleCalls()
    original = DiffusionModule.sample

    def sample(self, num, generator, steps=None, batch_size=4096):
        out = original(self, num, generator, steps=steps, batch_size=batch_size)
        if calls.inject is not None:
            index = torch.tensor(calls.inject(self.trainer.global_step), dtype=torch.int64)
            out = out.clone()
            out[: len(index)] = self.trainer.datamodule.train_strings[index]
        calls.append((self.trainer.global_step, num, steps, batch_size, out.clone()))
        return out

    monkeypatch.setattr(DiffusionModule, "sample", sample)
    return calls


def monitors(out_dir, num_samples=32, **kwargs):
    """A MemorizationMonitor and a SubstringMonitor with the same sampling settings, writing to ``out_dir``."""
    common = {"num_samples": num_samples, "batch_size": 16, "sample_steps": 5, "out_dir": str(out_dir), **kwargs}
    return MemorizationMonitor(**common), SubstringMonitor(**common)


def fit(tmp_path, callbacks, max_steps, model=None, dm=None, ckpt_path=None, **trainer_kwargs):
    """Seeded tiny fit; returns (trainer, model, data)."""
    L.seed_everything(0, verbose=False)
    dm = dm or tiny_data()
    model = model or tiny_model(dm)
    trainer = tiny_trainer(tmp_path / "root", callbacks, max_steps, **trainer_kwargs)
    trainer.fit(model, datamodule=dm, ckpt_path=ckpt_path)
    return trainer, model, dm


# ---------------------------------------------------------------------- records and shared samples
@pytest.mark.parametrize("max_steps", [6, 8])
def test_one_record_per_monitor_per_evaluation_step(tmp_path, spy_sample, max_steps):
    """metrics.jsonl holds one record of each monitor at each schedule step (plus the end), and npz the arrays."""
    out = tmp_path / "run"
    memo, substr = monitors(out)
    trainer, _, dm = fit(tmp_path, [memo, substr], max_steps)
    steps = EvalSchedule(1).steps(max_steps)
    if steps[-1] != max_steps:
        steps.append(max_steps)
    assert steps == ([1, 2, 4, 6] if max_steps == 6 else [1, 2, 4, 8])
    records = read_records(out)
    assert [(r["monitor"], r["step"]) for r in records] == [
        (m, s) for s in steps for m in ("memorization", "substrings")
    ]
    for r in records:
        assert r["schema"] == 1 and r["num_samples"] == 32
        if r["monitor"] == "memorization":
            assert set(r) >= MEMORIZATION_KEYS and "ema" in r
            assert set(r["validity"]) == set(r["block_copies"]) == set(r["block_copies_test"]) == {"1", "2", "3"}
            assert set(r["near_copy_within"]) == {"1", "2"} and len(r["hamming_histogram"]) == 9
            assert sum(r["hamming_histogram"]) == 32 and sum(r["quantile_counts"]) == 32
            assert len(r["quantile_edges"]) == 11 and len(r["quantile_fraction_ever"]) == 10
            assert r["seconds_sampling"] > 0 and r["seconds_metrics"] > 0
        else:
            assert set(r) >= SUBSTRING_KEYS
            assert set(r["heights"]) == set(r["top_blocks"]) == {"1", "2", "3"}
            assert all(set(h) == HEIGHT_KEYS for h in r["heights"].values())
            assert set(r["rule_usage_gen"]) == set(r["rule_usage_train"]) == {"1", "2", "3"}
    arrays = np.load(out / "memorization.npz")
    assert set(arrays.files) == {"schema", "log_prob", "commonness", "first_step", "counts", "eval_steps"}
    assert int(arrays["schema"]) == 1 and arrays["eval_steps"].tolist() == steps
    for name, dtype in [("log_prob", np.float64), ("commonness", np.float64), ("first_step", np.int64),
                        ("counts", np.int64)]:  # fmt: skip
        assert arrays[name].shape == (32,) and arrays[name].dtype == dtype
    np.testing.assert_array_equal(arrays["log_prob"], dm.train_log_prob.numpy())
    np.testing.assert_array_equal(arrays["commonness"], M.commonness_scores(dm.train_strings, 4, 2).numpy())
    assert not list(out.glob("*.tmp*"))  # the atomic rewrite leaves no temporary file
    # the two monitors share one sampling per evaluation step, with the monitors' settings
    assert [c[:4] for c in spy_sample] == [(s, 32, 5, 16) for s in steps]
    assert trainer.global_step == max_steps


def test_record_values_equal_the_metric_functions(tmp_path, spy_sample):
    """Every field of every record equals rhm_memo.metrics applied to the samples drawn at that step."""
    out = tmp_path / "run"
    memo, substr = monitors(out, num_samples=48)
    spy_sample.inject = {1: [0, 1, 2], 2: [2, 5, 5, 9], 4: [9, 10, 11, 12, 13]}.get  # model samples plus copies
    _, model, dm = fit(tmp_path, [memo, substr], 4)
    evaluations = [(step, samples) for step, *_, samples in spy_sample]
    assert [s for s, _ in evaluations] == [1, 2, 4]
    shared = shared_samples(model.trainer)
    assert shared.step == 4 and torch.equal(shared.samples, evaluations[-1][1])
    assert not any(name.startswith("_monitor") for name in vars(model))  # nothing is kept on the module
    records = read_records(out)
    memo_records = [without(r, *TIMINGS) for r in records if r["monitor"] == "memorization"]
    substr_records = [without(r, *TIMINGS) for r in records if r["monitor"] == "substrings"]
    expected, first, counts = expected_memorization(dm, evaluations)
    for got, want in zip(memo_records, expected, strict=True):
        assert got == want
    assert [expected_substrings(dm, step, samples) for step, samples in evaluations] == substr_records
    assert torch.equal(memo.first_step, first) and torch.equal(memo.counts, counts)
    assert first[[0, 2, 5, 9, 13]].tolist() == [1, 1, 2, 2, 4] and counts[[2, 5, 9]].tolist() == [2, 2, 2]
    assert all(r["auc_now"] is not None and r["spearman_first_step"] is not None for r in memo_records)
    assert memo.history == [(r["step"], r["copy_fraction"]) for r in memo_records]
    arrays = np.load(out / "memorization.npz")
    np.testing.assert_array_equal(arrays["first_step"], first.numpy())
    np.testing.assert_array_equal(arrays["counts"], counts.numpy())


def test_top_blocks_are_the_most_frequent_training_blocks(tmp_path, spy_sample):
    """top_blocks[h] lists the training blocks by decreasing training frequency with their generated frequency."""
    out = tmp_path / "run"
    substr = SubstringMonitor(num_samples=40, batch_size=40, per_octave=0, top_blocks=5, out_dir=str(out))
    _, _, dm = fit(tmp_path, [substr], 2)
    (record,) = read_records(out)
    samples = spy_sample[0][-1]
    assert record["step"] == 2 and samples.shape == (40, 8)
    for h in (1, 2, 3):
        f_train = block_frequency(dm.train_strings, h, 2)
        f_gen = block_frequency(samples, h, 2)
        rows = record["top_blocks"][str(h)]
        assert len(rows) == min(5, len(f_train))
        assert [r["f_train"] for r in rows] == sorted(f_train.values(), reverse=True)[: len(rows)]
        for r in rows:
            assert r["f_train"] == pytest.approx(f_train[tuple(r["block"])], rel=1e-12)
            assert r["f_gen"] == pytest.approx(f_gen.get(tuple(r["block"]), 0.0), rel=1e-12)
            assert 0 < r["f_true"] <= 1


def test_monitors_with_different_settings_sample_separately(tmp_path, spy_sample):
    """Monitors whose sampling settings differ each draw their own samples (two samplings per step)."""
    out = tmp_path / "run"
    memo = MemorizationMonitor(num_samples=32, batch_size=32, out_dir=str(out))
    substr = SubstringMonitor(num_samples=40, batch_size=32, out_dir=str(out))
    fit(tmp_path, [memo, substr], 2)
    assert [c[:2] for c in spy_sample] == [(1, 32), (1, 40), (2, 32), (2, 40)]
    assert [(r["monitor"], r["num_samples"]) for r in read_records(out)] == [
        ("memorization", 32),
        ("substrings", 40),
    ] * 2


def test_near_copies_off_omits_the_hamming_fields(tmp_path):
    """near_copies=False records neither hamming_histogram nor near_copy_within; other k values are honoured."""
    out_off, out_on = tmp_path / "off", tmp_path / "on"
    off = MemorizationMonitor(num_samples=16, batch_size=16, per_octave=0, near_copies=False, out_dir=str(out_off))
    on = MemorizationMonitor(num_samples=16, batch_size=16, per_octave=0, near_copy_k=[0, 3], out_dir=str(out_on))
    fit(tmp_path / "a", [off], 1)
    fit(tmp_path / "b", [on], 1)
    (record_off,), (record_on,) = read_records(out_off), read_records(out_on)
    assert "hamming_histogram" not in record_off and "near_copy_within" not in record_off
    assert set(record_on["near_copy_within"]) == {"0", "3"}
    assert record_on["near_copy_within"]["0"] == record_on["copy_fraction"]
    assert record_on["near_copy_within"]["3"] == sum(record_on["hamming_histogram"][:4]) / 16


def test_seconds_sampling_is_recorded_whatever_the_callback_order(tmp_path):
    """The memorization record's seconds_sampling is the evaluation's sampling time even if SubstringMonitor sampled."""
    out = tmp_path / "run"
    memo, substr = monitors(out)
    fit(tmp_path, [substr, memo], 2)  # the substring monitor comes first and draws the shared samples
    seconds = [r["seconds_sampling"] for r in read_records(out) if r["monitor"] == "memorization"]
    assert len(seconds) == 2
    assert all(s > 0 for s in seconds), f"memorization records report seconds_sampling={seconds}"


def test_records_go_to_the_logger_directory_and_scalars_to_the_logger(tmp_path):
    """Without out_dir the records land in trainer.log_dir; memorization/, validity/, substrings/ and null/ scalars
    go to the logger."""
    memo = MemorizationMonitor(num_samples=32, batch_size=32, per_octave=0, every_n_steps=2)
    substr = SubstringMonitor(num_samples=32, batch_size=32, per_octave=0, every_n_steps=2)
    logger = CSVLogger(tmp_path / "logs", name="csv")
    trainer, _, _ = fit(tmp_path, [memo, substr], 2, logger=logger)
    assert [r["step"] for r in read_records(trainer.log_dir)] == [2, 2]
    assert (tmp_path / "logs" / "csv" / "version_0" / "memorization.npz").exists()
    header = (tmp_path / "logs" / "csv" / "version_0" / "metrics.csv").read_text().splitlines()[0].split(",")
    for name in ("memorization/copy_fraction", "memorization/ever_memorized", "memorization/near_copy_within_1",
                 "memorization/block_copies_h2", "memorization/block_copies_test_h1", "memorization/onset_tau50",
                 "validity/strings_h3", "validity/blocks_h1", "substrings/slop_index_h1", "substrings/kl_gen_true_h3",
                 "null/mass", "null/excess_copy_fraction", "null/expected_ever_memorized", "null/auc_ever_mean",
                 "null/auc_ever_p", "null/auc_ever_uniform_mean", "null/auc_commonness_ever_sd"):  # fmt: skip
        assert name in header


# ---------------------------------------------------------------------- scripted copies
def brute_force_auc(scores: list[float], positives: set[int]) -> float:
    """P(score of a positive > score of a negative), ties ½, over all pairs."""
    pos = [scores[i] for i in positives]
    neg = [x for i, x in enumerate(scores) if i not in positives]
    return sum((p > n) + 0.5 * (p == n) for p in pos for n in neg) / (len(pos) * len(neg))


def test_scripted_copies_give_exact_memorization_statistics(tmp_path):
    """A sampler returning chosen training strings gives the exact copy fraction, first steps, counts and AUCs."""
    out = tmp_path / "run"
    dm = tiny_data()
    model = tiny_model(dm, ScriptedSampler)
    script = {1: [0, 1, 2, 3], 2: [2, 3, 4, 5, 6, 7] * 2, 3: []}
    model.script = script.get
    memo = MemorizationMonitor(num_samples=32, batch_size=32, per_octave=0, every_n_steps=1, out_dir=str(out))
    fit(tmp_path, [memo], 3, model=model, dm=dm)
    records = read_records(out)
    assert [r["step"] for r in records] == [1, 2, 3]
    assert [r["copies"] for r in records] == [4, 12, 0]
    assert [r["copy_fraction"] for r in records] == [4 / 32, 12 / 32, 0.0]
    assert [r["novelty"] for r in records] == [28 / 32, 20 / 32, 1.0]
    assert [r["distinct_memorized"] for r in records] == [4, 6, 0]
    assert [r["ever_memorized"] for r in records] == [4, 8, 8]
    assert [r["fraction_distinct"] for r in records] == [12 / 32, 14 / 32, 8 / 32]
    assert [r["hamming_histogram"][0] for r in records] == [4, 12, 0]
    assert all(r["near_copy_within"]["1"] >= r["copy_fraction"] for r in records)
    assert all(v == {"blocks": 1.0, "strings": 1.0} for r in records for v in r["validity"].values())
    assert records[2]["auc_now"] is None  # nothing copied at step 3: no positive class
    for r in records:
        for key in ("auc_ever", "auc_commonness_ever", *(("auc_now",) if r["step"] < 3 else ())):
            assert 0.0 <= r[key] <= 1.0
        assert -1.0 <= r["spearman_first_step"] <= 1.0
    log_prob = dm.train_log_prob.tolist()
    assert len(set(log_prob)) > 1
    for r, positives in zip(records, [range(4), range(8), range(8)]):
        assert r["auc_ever"] == pytest.approx(brute_force_auc(log_prob, set(positives)), abs=1e-12)
    assert records[1]["auc_now"] == pytest.approx(brute_force_auc(log_prob, set(range(2, 8))), abs=1e-12)
    first = [1] * 4 + [2] * 4 + [-1] * 24
    counts = [1, 1, 3, 3] + [2] * 4 + [0] * 24
    assert memo.first_step.tolist() == first and memo.counts.tolist() == counts
    assert memo.history == [(1, 0.125), (2, 0.375), (3, 0.0)]
    arrays = np.load(out / "memorization.npz")
    assert arrays["first_step"].tolist() == first and arrays["counts"].tolist() == counts
    assert arrays["eval_steps"].tolist() == [1, 2, 3]
    assert model.calls == [(1, 32, None, 32), (2, 32, None, 32), (3, 32, None, 32)]
    # the null model: the training set's mass, and what 32, 64, 96 grammar samples would ever copy
    pi = [math.exp(x) for x in log_prob]
    for r, drawn in zip(records, [32, 64, 96]):
        assert r["null"]["mass"] == pytest.approx(sum(pi), rel=1e-12)
        assert r["null"]["excess_copy_fraction"] == pytest.approx(r["copy_fraction"] - sum(pi), rel=1e-12)
        assert r["null"]["expected_ever_memorized"] == pytest.approx(sum(1 - (1 - p) ** drawn for p in pi), rel=1e-9)
        assert r["null"]["samples_drawn"] == drawn
        for key in ("auc_ever", "auc_ever_uniform", "auc_commonness_ever", "auc_commonness_ever_uniform"):
            assert 0 <= r["null"][key]["mean"] <= 1 and r["null"][key]["sd"] > 0 and r["null"][key]["draws"] == 200
            assert 1 / 201 <= r["null"][key]["p_value"] <= 1


def test_novel_slop_ignores_the_copies(tmp_path):
    """slop_index_novel is the slop index of the samples that copy no training string: undefined (None) when all
    32 samples are copies; with 4 copies and 28 held-out strings, the slop index of those 28 alone (h = 1, 2)."""
    out = tmp_path / "run"
    dm = tiny_data()
    model = tiny_model(dm, ScriptedSampler)
    model.script = {1: list(range(32)), 2: [0, 1, 2, 3]}.get
    substr = SubstringMonitor(num_samples=32, batch_size=32, per_octave=0, every_n_steps=1, out_dir=str(out))
    fit(tmp_path, [substr], 2, model=model, dm=dm)
    first, second = read_records(out)
    g = dm.grammar
    held_out = dm.test_strings[torch.arange(28) % dm.test_strings.shape[0]]
    for h in ("1", "2", "3"):
        assert first["heights"][h]["slop_index_novel"] is None and first["heights"][h]["slop_index_novel_null"] is None
    assert second["heights"]["3"]["slop_index_novel"] is None  # whole unique strings: all tie, undefined
    for h in ("1", "2"):
        alone = M.frequency_summary(M.block_frequencies(held_out, dm.train_strings, int(h), g.s, g.v))["slop_index"]
        assert second["heights"][h]["slop_index_novel"] == pytest.approx(alone, rel=1e-12)
        assert second["heights"][h]["slop_index"] != pytest.approx(alone, rel=1e-6)  # the copies do change the index
        expected_null = enumerated_novel_null(g, dm.train_strings, int(h))
        assert first["heights"][h]["slop_index_null"] is not None  # defined, unlike the novel ones at step 1
        assert second["heights"][h]["slop_index_novel_null"] == pytest.approx(expected_null, rel=1e-12)


def enumerated_novel_null(g, train, h):
    """The slop index of a perfect generalizer's novel samples, by enumeration (plain Python): every grammar string
    outside the training set weighted by p(x), its blocks pooled over positions; the top decile of the training
    frequencies by rank ⌈0.1·K⌉ with ties included."""
    strings, log_prob = g.enumerate()
    excluded = set(map(tuple, train.tolist()))
    width = g.s**h
    truth, outside = {}, 0.0
    for row, p in zip(strings.tolist(), log_prob.exp().tolist()):
        if tuple(row) in excluded:
            continue
        outside += p
        for i in range(0, len(row), width):
            truth[tuple(row[i : i + width])] = truth.get(tuple(row[i : i + width]), 0.0) + p / (len(row) // width)
    f_train = block_frequency(train, h, g.s)
    ranked = sorted(f_train.values(), reverse=True)
    threshold = ranked[-(-len(ranked) // 10) - 1]  # rank ⌈K/10⌉, in integers
    top = [b for b, f in f_train.items() if f >= threshold]
    return sum(truth.get(b, 0.0) / outside for b in top) / sum(f_train[b] for b in top)


def test_novel_slop_is_undefined_when_the_training_set_holds_every_string(tmp_path):
    """A training set of all 16 strings of a grammar leaves nothing novel to expect: the fit runs and records the
    novel index and its null as None (the other indices as usual)."""
    out = tmp_path / "run"
    dm = tiny_data(v=3, L=2, train_size=16, test_size=0, zipf_levels=[1, 2])
    substr = SubstringMonitor(num_samples=16, batch_size=16, per_octave=0, every_n_steps=1, out_dir=str(out))
    fit(tmp_path, [substr], 1, dm=dm)
    assert dm.grammar.num_strings() == len(torch.unique(dm.train_strings, dim=0)) == 16
    (record,) = read_records(out)
    for h in ("1", "2"):
        assert record["heights"][h]["slop_index_novel"] is None
        assert record["heights"][h]["slop_index_novel_null"] is None
    assert record["heights"]["1"]["slop_index_null"] is not None


def test_evaluate_directly_returns_the_record(tmp_path):
    """evaluate() samples, updates the state and returns the same record it appends to metrics.jsonl."""
    out = tmp_path / "run"
    dm = tiny_data()
    model = tiny_model(dm, ScriptedSampler)
    model.script = lambda step: list(range(8)) if step == 1 else list(range(4, 16))
    memo = MemorizationMonitor(num_samples=32, batch_size=8, per_octave=0, at_end=False, out_dir=str(out))
    trainer, _, _ = fit(tmp_path, [memo], 1, model=model, dm=dm)
    assert not (out / "metrics.jsonl").exists()  # no evaluation step: nothing recorded
    record = memo.evaluate(trainer, model)
    assert record["step"] == 1 and record["copy_fraction"] == 8 / 32 and record["ever_memorized"] == 8
    assert read_records(out)[-1]["copy_fraction"] == record["copy_fraction"]
    assert memo.first_step[:8].tolist() == [1] * 8 and int(memo.counts.sum()) == 8


# ---------------------------------------------------------------------- resume
def _script(step: int) -> list[int]:
    """Training strings copied at ``step``: (7·step + j) mod 32 for j < step, so later steps revisit earlier ones."""
    return [(7 * step + j) % 32 for j in range(step)]


def _scripted_fit(tmp_path, max_steps, ckpt_path=None, name="run"):
    dm = tiny_data()
    model = tiny_model(dm, ScriptedSampler)
    model.script = _script
    memo = MemorizationMonitor(num_samples=32, batch_size=32, out_dir=str(tmp_path / name))
    checkpoint = ModelCheckpoint(dirpath=tmp_path / f"{name}_ckpt", save_last=True)
    trainer, _, _ = fit(tmp_path / name, [memo, checkpoint], max_steps, model=model, dm=dm, ckpt_path=ckpt_path,
                        enable_checkpointing=True)  # fmt: skip
    return trainer, memo, model


@pytest.mark.parametrize("half", [3, 4])
def test_resume_restores_first_steps_counts_and_history(tmp_path, half):
    """Fit N steps, resume from the checkpoint to 2N: first steps, counts and history equal a 2N-step run's."""
    trainer, first_half, _ = _scripted_fit(tmp_path, half, name="first")
    ckpt = trainer.checkpoint_callback.last_model_path
    assert torch.load(ckpt, weights_only=False)["global_step"] == half
    resumed_trainer, resumed, model = _scripted_fit(tmp_path, 2 * half, ckpt_path=ckpt, name="first")
    _, straight, _ = _scripted_fit(tmp_path, 2 * half, name="straight")
    assert resumed_trainer.global_step == 2 * half
    assert all(step > half for step, *_ in model.calls)  # the resumed fit sampled only after the checkpoint
    expected_steps = [1, 2, 4, 6] if half == 3 else [1, 2, 4, 8]
    assert [s for s, _ in straight.history] == expected_steps
    assert (straight.first_step > 1).any() and (straight.first_step == -1).any()  # a non-trivial pattern
    assert torch.equal(resumed.first_step, straight.first_step)
    assert torch.equal(resumed.counts, straight.counts)
    assert resumed.history == straight.history
    assert resumed.samples_drawn == straight.samples_drawn == 32 * len(expected_steps)
    arrays, straight_arrays = (
        np.load(tmp_path / "first" / "memorization.npz"),
        np.load(tmp_path / "straight" / "memorization.npz"),
    )
    for name in ("first_step", "counts", "eval_steps"):
        np.testing.assert_array_equal(arrays[name], straight_arrays[name])
    # the first fit's own end-of-training evaluation (step 3) is recorded but not part of the checkpointed state
    first_steps = [r["step"] for r in read_records(tmp_path / "first")]
    assert first_steps == ([1, 2, 3, 4, 6] if half == 3 else [1, 2, 4, 8])
    assert [s for s, _ in first_half.history] == ([1, 2, 3] if half == 3 else [1, 2, 4])


# ---------------------------------------------------------------------- stopping
def _copies_at(step: int) -> list[int]:
    """Training strings copied at ``step`` (of 32 samples): 4·step of them, so the copy fraction is step/8."""
    return list(range(min(32, 4 * step)))


def _stopping_fit(tmp_path, max_steps, stop_at, ckpt_path=None, name="stop"):
    dm = tiny_data()
    model = tiny_model(dm, ScriptedSampler)
    model.script = _copies_at
    memo = MemorizationMonitor(num_samples=32, batch_size=32, every_n_steps=1, per_octave=0, stop_at=stop_at,
                               out_dir=str(tmp_path / name))  # fmt: skip
    checkpoint = ModelCheckpoint(dirpath=tmp_path / f"{name}_ckpt", save_last=True)
    trainer, _, _ = fit(tmp_path / name, [memo, checkpoint], max_steps, model=model, dm=dm, ckpt_path=ckpt_path,
                        enable_checkpointing=True)  # fmt: skip
    return trainer, memo


def test_stop_at_ends_training_at_the_first_evaluation_that_reaches_it(tmp_path):
    """stop_at=0.5: copy fractions 1/8, 2/8, ... reach 0.5 at step 4, where training stops; None never stops."""
    trainer, memo = _stopping_fit(tmp_path, 10, 0.5)
    assert trainer.global_step == 4 and [s for s, _ in memo.history] == [1, 2, 3, 4]
    assert read_records(tmp_path / "stop")[-1]["copy_fraction"] == 0.5
    trainer, _ = _stopping_fit(tmp_path, 6, None, name="never")
    assert trainer.global_step == 6


def test_a_run_resumed_after_stop_at_ends_at_once(tmp_path):
    """Resuming the checkpoint of a run that stopped at stop_at trains no further step."""
    trainer, _ = _stopping_fit(tmp_path, 10, 0.5)
    ckpt = trainer.checkpoint_callback.last_model_path
    resumed, memo = _stopping_fit(tmp_path, 10, 0.5, ckpt_path=ckpt)
    assert resumed.global_step == 4 and [s for s, _ in memo.history] == [1, 2, 3, 4]


# ---------------------------------------------------------------------- EMA
class WeightProbe(L.Callback):
    """Records the module's parameters (and the EMA callback's averaged parameters) at on_train_batch_end."""

    def __init__(self, ema=None):
        self.ema, self.raw, self.averaged = ema, {}, {}

    def on_train_batch_end(self, trainer, pl_module, *args):
        self.raw[trainer.global_step] = flat_parameters(pl_module)
        if self.ema is not None:
            self.averaged[trainer.global_step] = flat_parameters(self.ema._average_model.module)


@pytest.mark.parametrize("use_ema", [True, False])
def test_sampling_uses_ema_weights_and_restores_the_raw_ones(tmp_path, monkeypatch, use_ema):
    """With an EMA callback and use_ema, sample() sees the averaged weights and the raw ones come back after."""
    seen = {}
    original = DiffusionModule.sample

    def sample(self, num, generator, steps=None, batch_size=4096):
        seen[self.trainer.global_step] = flat_parameters(self)
        return original(self, num, generator, steps=steps, batch_size=batch_size)

    monkeypatch.setattr(DiffusionModule, "sample", sample)
    out = tmp_path / "run"
    ema = EMAWeightAveraging(decay=0.999)
    before, after = WeightProbe(ema), WeightProbe()
    memo = MemorizationMonitor(num_samples=16, batch_size=16, use_ema=use_ema, out_dir=str(out))
    fit(tmp_path, [ema, before, memo, after], 4)
    records = read_records(out)
    assert [r["step"] for r in records] == [1, 2, 4] and sorted(seen) == [1, 2, 4]
    assert [r["ema"] for r in records] == [use_ema] * 3
    for step in (2, 4):
        assert (before.raw[step] - before.averaged[step]).abs().max() > 1e-4  # the average lags the raw weights
        expected = before.averaged[step] if use_ema else before.raw[step]
        assert torch.equal(seen[step], expected)
        assert torch.equal(after.raw[step], before.raw[step])  # raw weights restored for training


class AdapterProbe(L.Callback):
    """At step 3, enters averaged_weights and raises inside it; records the weights inside and after."""

    def __init__(self, ema):
        self.ema, self.seen = ema, {}

    def on_train_batch_end(self, trainer, pl_module, *args):
        if trainer.global_step != 3:
            return
        self.seen["raw"] = flat_parameters(pl_module)
        self.seen["averaged"] = flat_parameters(self.ema._average_model.module)
        with pytest.raises(RuntimeError, match="boom"):
            with averaged_weights(trainer, pl_module) as used:
                self.seen["inside"], self.seen["used"] = flat_parameters(pl_module), used
                raise RuntimeError("boom")
        self.seen["after"] = flat_parameters(pl_module)
        with averaged_weights(trainer, pl_module, use=False) as used:
            self.seen["unused"] = (used, flat_parameters(pl_module))


def test_averaged_weights_restores_the_raw_weights_after_an_error(tmp_path):
    """The EMA adapter swaps the averaged weights in and, even when the block raises, the raw ones back."""
    ema = EMAWeightAveraging(decay=0.5)
    probe = AdapterProbe(ema)
    fit(tmp_path, [ema, probe], 4)
    seen = probe.seen
    assert (seen["raw"] - seen["averaged"]).abs().max() > 1e-6
    assert seen["used"] and torch.equal(seen["inside"], seen["averaged"])
    assert torch.equal(seen["after"], seen["raw"])
    assert seen["unused"][0] is False and torch.equal(seen["unused"][1], seen["raw"])


def test_ema_flag_is_false_without_an_ema_callback(tmp_path):
    """use_ema=True without a weight-averaging callback samples the raw weights and records ema false."""
    out = tmp_path / "run"
    fit(tmp_path, [MemorizationMonitor(num_samples=16, batch_size=16, per_octave=0, out_dir=str(out))], 1)
    assert [(r["step"], r["ema"]) for r in read_records(out)] == [(1, False)]


# ---------------------------------------------------------------------- errors
@pytest.mark.parametrize("monitor", [MemorizationMonitor, SubstringMonitor])
def test_monitor_without_rhm_datamodule_fails_at_setup(tmp_path, monitor):
    """fit with plain dataloaders (no RHMDataModule) raises ValueError before any training step."""
    dm = tiny_data()
    dm.setup("fit")
    model = tiny_model(dm)
    loader = DataLoader(RHMDataset(dm.train_strings), batch_size=8, collate_fn=lambda b: b)
    trainer = tiny_trainer(tmp_path, [monitor(num_samples=8, batch_size=8, out_dir=str(tmp_path))], 2)
    with pytest.raises(ValueError, match="RHMDataModule"):
        trainer.fit(model, train_dataloaders=loader)
    assert trainer.global_step == 0


@pytest.mark.parametrize("monitor", [MemorizationMonitor, SubstringMonitor])
def test_monitor_with_another_datamodule_fails_at_setup(tmp_path, monitor):
    """A LightningDataModule without a grammar is rejected at setup with ValueError."""

    class Plain(L.LightningDataModule):
        def train_dataloader(self):
            return DataLoader(torch.zeros(8, 8, dtype=torch.int64), batch_size=8)

    dm = tiny_data()
    trainer = tiny_trainer(tmp_path, [monitor(num_samples=8, batch_size=8, out_dir=str(tmp_path))], 2)
    with pytest.raises(ValueError, match="RHMDataModule"):
        trainer.fit(tiny_model(dm), datamodule=Plain())
    assert trainer.global_step == 0
