"""PrivacyMonitor: records, arrays aligned with the right strings, exact resume, bad arguments."""

import json

import lightning as L
import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from monitor_helpers import read_records, tiny_data, tiny_model, tiny_trainer

from rhm_memo import metrics as M
from rhm_memo.callbacks import PrivacyMonitor
from rhm_memo.module import DiffusionModule
from rhm_memo.runs import PRIVACY_FILE


def token_loss(self, x0, num_times=None, generator=None, batch_size=4096):
    """A stand-in loss that names its string: the tokens read as a base-10 number (no noise)."""
    return (x0.double() * 10.0 ** torch.arange(x0.shape[1] - 1, -1, -1, dtype=torch.float64)).sum(-1)


def test_records_and_arrays_hold_the_attacks_of_the_right_strings(tmp_path, monkeypatch):
    """Each string's loss lands next to its own log p: with a loss that encodes the string, the arrays decode to
    the sampled members and held-out strings, and every record equals membership_inference on the arrays."""
    monkeypatch.setattr(DiffusionModule, "negative_elbo", token_loss)
    dm = tiny_data()
    monitor = PrivacyMonitor(num_strings=6, num_times=3, bins=2, out_dir=str(tmp_path))
    tiny_trainer(tmp_path, [monitor], max_steps=4).fit(tiny_model(dm), datamodule=dm)
    records = read_records(tmp_path)
    assert [(r["monitor"], r["step"]) for r in records] == [("privacy", s) for s in (1, 2, 4)]
    with np.load(tmp_path / PRIVACY_FILE) as a:
        arrays = dict(a)
    assert arrays["steps"].tolist() == [1, 2, 4]
    assert arrays["loss_members"].shape == (3, 6) and arrays["loss_nonmembers"].shape == (3, 6)
    members, nonmembers = dm.train_strings[arrays["member_index"]], dm.test_strings[arrays["nonmember_index"]]
    assert len(set(arrays["member_index"].tolist())) == 6
    np.testing.assert_allclose(arrays["loss_members"][0], token_loss(None, members).numpy())
    np.testing.assert_allclose(arrays["loss_nonmembers"][2], token_loss(None, nonmembers).numpy())
    np.testing.assert_allclose(arrays["log_prob_members"], dm.grammar.log_prob(members).numpy())
    np.testing.assert_allclose(arrays["log_prob_nonmembers"], dm.grammar.log_prob(nonmembers).numpy())
    as_tensor = {k: torch.from_numpy(np.asarray(v, dtype=np.float64)) for k, v in arrays.items()}
    losses = as_tensor["loss_members"][1], as_tensor["loss_nonmembers"][1]
    expected = M.membership_inference(*losses, as_tensor["log_prob_members"], as_tensor["log_prob_nonmembers"], bins=2)
    assert records[1]["auc_calibrated"] == pytest.approx(expected["auc_calibrated"])
    assert records[1]["tpr_loss"] == {str(k): pytest.approx(v) for k, v in expected["tpr_loss"].items()}
    assert records[1]["by_quantile"]["members"] == expected["by_quantile"]["members"]
    assert (records[0]["num_members"], records[0]["num_nonmembers"], records[0]["num_times"]) == (6, 6, 3)


def test_all_strings_by_default_when_the_sets_are_small(tmp_path):
    """num_strings larger than the sets: every member and held-out string, with real (positive) ELBO losses."""
    dm = tiny_data()
    monitor = PrivacyMonitor(num_strings=1000, num_times=5, per_octave=0, out_dir=str(tmp_path))
    tiny_trainer(tmp_path, [monitor], max_steps=2).fit(tiny_model(dm), datamodule=dm)
    (record,) = read_records(tmp_path)
    assert (record["step"], record["num_members"], record["num_nonmembers"]) == (2, 32, 8)
    with np.load(tmp_path / PRIVACY_FILE) as arrays:
        assert (arrays["loss_members"] > 0).all() and arrays["member_index"].tolist() == list(range(32))
    assert 0 <= record["auc_loss"] <= 1 and 0 <= record["auc_calibrated"] <= 1


def _fit(root, max_steps, ckpt_path=None):
    L.seed_everything(0, verbose=False)
    dm = tiny_data()
    monitor = PrivacyMonitor(num_strings=8, num_times=2, out_dir=str(root / "records"))
    checkpoint = ModelCheckpoint(dirpath=root / "ckpt", save_last=True, save_top_k=-1)
    trainer = tiny_trainer(root, [monitor, checkpoint], max_steps, enable_checkpointing=True)
    trainer.fit(tiny_model(dm), datamodule=dm, ckpt_path=ckpt_path)
    return trainer


def test_resumed_run_equals_the_uninterrupted_run(tmp_path):
    """Stopped at step 5 and resumed to 8: the same records and per-string losses as one run to 8."""
    _fit(tmp_path / "straight", 8)
    first = _fit(tmp_path / "split", 5)
    _fit(tmp_path / "split", 8, ckpt_path=first.checkpoint_callback.last_model_path)

    def records(root):
        return [{k: v for k, v in r.items() if k != "seconds"} for r in read_records(root / "records")]

    split = [r for r in records(tmp_path / "split") if r["step"] != 5]  # the first fit's end-of-training record
    assert split == records(tmp_path / "straight")
    with (
        np.load(tmp_path / "split" / "records" / PRIVACY_FILE) as a,
        np.load(tmp_path / "straight" / "records" / PRIVACY_FILE) as b,
    ):
        assert a["steps"].tolist() == b["steps"].tolist() == [1, 2, 4, 8]  # last.ckpt precedes the end record
        np.testing.assert_array_equal(a["loss_members"], b["loss_members"])
    assert json.dumps(split)  # plain JSON


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_strings": 0}, "num_strings"),
        ({"num_times": 0}, "num_times"),
        ({"bins": 0}, "bins"),
        ({"batch_size": -1}, "batch_size"),
    ],
)
def test_bad_arguments_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PrivacyMonitor(**kwargs)


def test_held_out_strings_are_required(tmp_path):
    dm = tiny_data(test_size=0)
    with pytest.raises(ValueError, match="needs held-out strings"):
        tiny_trainer(tmp_path, [PrivacyMonitor()], max_steps=1).fit(tiny_model(dm), datamodule=dm)


def test_module_negative_elbo_batches_keep_eval_mode_and_match_the_process():
    """DiffusionModule.negative_elbo: one process call per batch of strings, the net back in train mode after,
    and with one batch the same numbers as the process's own estimate with the same generator."""
    dm = tiny_data()
    dm.setup("fit")
    model = tiny_model(dm)
    model.net.train()
    strings = dm.train_strings[:10]
    out = model.negative_elbo(strings, num_times=5, generator=3, batch_size=1000)
    assert model.net.training and out.shape == (10,) and out.dtype == torch.float64
    model.net.eval()
    direct = model.process.negative_elbo(model.net, strings, 5, torch.Generator().manual_seed(3))
    torch.testing.assert_close(out, direct)
    small = model.negative_elbo(strings, num_times=5, generator=3, batch_size=10)  # 2 strings per call
    assert small.shape == (10,) and bool((small > 0).all())
    above = model.negative_elbo(strings, num_times=50, generator=3, batch_size=1000)  # T = 5: every step once
    torch.testing.assert_close(above, out)


def test_the_monitor_does_not_change_training(tmp_path):
    """Its noise comes from its own generator and it runs in eval mode: the weights after a fit with it equal the
    weights after the same fit without it (so privacy runs also replicate the memorization runs)."""
    from monitor_helpers import flat_parameters

    def fit(callbacks):
        L.seed_everything(0, verbose=False)
        dm = tiny_data()
        model = tiny_model(dm)
        tiny_trainer(tmp_path, callbacks, max_steps=6).fit(model, datamodule=dm)
        return flat_parameters(model)

    assert torch.equal(fit([PrivacyMonitor(num_times=2, out_dir=str(tmp_path))]), fit([]))
