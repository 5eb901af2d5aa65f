"""A run resumed from a checkpoint equals the uninterrupted run: weights, records and first-memorized steps."""

import json

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from monitor_helpers import flat_parameters, tiny_data, tiny_model, tiny_trainer

from rhm_memo.callbacks import MemorizationMonitor, SubstringMonitor

TIMINGS = ("seconds_sampling", "seconds_metrics")


def _fit(root, max_steps, ckpt_path=None, every=None):
    L.seed_everything(0, verbose=False)
    dm = tiny_data()
    model = tiny_model(dm)
    common = {"num_samples": 32, "batch_size": 32, "sample_steps": 5, "out_dir": str(root / "records")}
    memo, substr = MemorizationMonitor(**common), SubstringMonitor(**common)
    checkpoint = ModelCheckpoint(dirpath=root / "ckpt", save_last=True, every_n_train_steps=every, save_top_k=-1)
    trainer = tiny_trainer(root, [memo, substr, checkpoint], max_steps, enable_checkpointing=True)
    trainer.fit(model, datamodule=dm, ckpt_path=ckpt_path)
    return trainer, model, memo


def _records(root):
    lines = (root / "records" / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in TIMINGS} for line in lines]


@pytest.mark.parametrize("stop", [5, 8])  # mid-epoch (4 batches per epoch) and at an evaluation step
def test_resumed_run_equals_the_uninterrupted_run(tmp_path, stop):
    total = 16
    straight_trainer, straight, straight_memo = _fit(tmp_path / "straight", total)
    first_trainer, _, _ = _fit(tmp_path / "split", stop)
    ckpt = first_trainer.checkpoint_callback.last_model_path
    assert torch.load(ckpt, map_location="cpu", weights_only=False)["global_step"] == stop
    trainer, resumed, memo = _fit(tmp_path / "split", total, ckpt_path=ckpt)
    assert trainer.global_step == straight_trainer.global_step == total
    assert torch.equal(flat_parameters(resumed), flat_parameters(straight))
    assert torch.equal(memo.first_step, straight_memo.first_step) and memo.history == straight_memo.history
    straight_records = _records(tmp_path / "straight")
    split_records = [r for r in _records(tmp_path / "split") if r["step"] != stop or stop in (1, 2, 4, 8, 16)]
    assert split_records == straight_records


def test_resuming_an_earlier_checkpoint_drops_the_records_of_discarded_training(tmp_path):
    """Fit to 12 with a checkpoint at 4, then resume from step 4 ("after a crash") to 16: no step is recorded
    twice, and every record equals the uninterrupted run's."""
    _fit(tmp_path / "straight", 16)
    _fit(tmp_path / "split", 12, every=4)
    ckpt = tmp_path / "split" / "ckpt" / "epoch=0-step=4.ckpt"
    assert ckpt.is_file() and max(r["step"] for r in _records(tmp_path / "split")) == 12
    _fit(tmp_path / "split", 16, ckpt_path=str(ckpt))
    records = _records(tmp_path / "split")
    keys = [(r["monitor"], r["step"]) for r in records]
    assert len(keys) == len(set(keys))
    assert records == _records(tmp_path / "straight")


def test_a_fresh_fit_replaces_the_records_of_an_unfinished_one(tmp_path):
    """A fit cut at step 12 (as by a crash), then a fresh fit (no checkpoint) to 16 in the same run directory: the
    records hold one training, equal to the uninterrupted run's, and the replacement is announced."""
    _fit(tmp_path / "straight", 16)
    _fit(tmp_path / "again", 12)
    with pytest.warns(UserWarning, match=r"replaced \d+ record\(s\) of an earlier fit"):
        _fit(tmp_path / "again", 16)
    records = _records(tmp_path / "again")
    assert len({(r["monitor"], r["step"]) for r in records}) == len(records)
    assert records == _records(tmp_path / "straight")
