"""`rhm-memo predict`: strings from a checkpoint, saved and evaluated with the monitors' metrics."""

import json

import numpy as np
import pytest
import torch
import yaml
from test_training_cli import config, write

from rhm_memo import metrics as M
from rhm_memo.cli import cli_main
from rhm_memo.data import RHMDataModule
from rhm_memo.module import DiffusionModule

pytestmark = pytest.mark.filterwarnings("ignore:.*LeafSpec", "ignore:.*log_every_n_steps", "ignore:Checkpoint dir")


@pytest.fixture
def fitted(tmp_path):
    """A 3-step fit with a last.ckpt in root/checkpoints and a config file."""
    cfg = config(tmp_path)
    cfg["checkpoint"] = {"dirpath": str(tmp_path / "run" / "checkpoints")}
    path = write(tmp_path, cfg)
    cli_main(["fit", "--config", path])
    return path, tmp_path / "run" / "checkpoints" / "last.ckpt"


def test_predict_saves_and_evaluates_the_strings_of_a_checkpoint(tmp_path, fitted):
    """predict_size strings, batched over eval_batch_size: saved in RUN_DIR/predictions/step3 with a memorization
    record that matches the strings (copies counted independently), and a substring record; the fit's config stays."""
    path, ckpt = fitted
    fit_config = tmp_path / "root" / "config.yaml"  # the fit's run directory: no logger, the default_root_dir
    before = fit_config.read_text()
    cli_main(["predict", "--config", path, "--ckpt_path", str(ckpt), "--data.predict_size", "50",
              "--data.eval_batch_size", "16"])  # fmt: skip
    folder = tmp_path / "run" / "predictions" / "step3"
    with np.load(folder / "samples.npz") as arrays:
        strings = arrays["strings"]
        assert strings.shape == (50, 8) and int(arrays["step"]) == 3 and not bool(arrays["ema"])
    records = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    assert [(r["monitor"], r["step"], r["num_samples"]) for r in records] == [("memorization", 3, 50),
                                                                              ("substrings", 3, 50)]  # fmt: skip
    cfg = yaml.safe_load(open(path))
    dm = RHMDataModule(**{**cfg["data"]})
    dm.setup("fit")
    train = {tuple(s) for s in dm.train_strings.tolist()}
    copies = sum(tuple(s) in train for s in strings.tolist())
    assert records[0]["copy_fraction"] == pytest.approx(copies / 50)
    assert records[0]["validity"] == json.loads(json.dumps(M.validity(dm.grammar, torch.from_numpy(strings))))
    assert fit_config.read_text() == before  # predict does not overwrite the training run's config


def test_predicted_strings_depend_on_the_batching_not_on_the_call(tmp_path, fitted):
    """Each batch is seeded by its first row index: two predictions give the same strings; the batches' strings
    are what the model samples with that seed."""
    path, ckpt = fitted
    args = ["predict", "--config", path, "--ckpt_path", str(ckpt), "--data.predict_size", "20",
            "--data.eval_batch_size", "8", "--trainer.callbacks+=rhm_memo.callbacks.PredictionEvaluator"]  # fmt: skip
    runs = []
    for out in ("a", "b"):
        cli_main([*args, f"--trainer.callbacks.out_dir={tmp_path / out}", "--trainer.callbacks.evaluate=false"])
        with np.load(tmp_path / out / "samples.npz") as arrays:
            runs.append(arrays["strings"])
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not (tmp_path / "a" / "metrics.jsonl").exists()
    model = DiffusionModule.load_from_checkpoint(ckpt, map_location="cpu")
    generator = torch.Generator().manual_seed(1_000_003 * model.hparams.noise_seed + 8)  # the second batch: rows 8..15
    np.testing.assert_array_equal(model.sample(8, generator, batch_size=8).numpy(), runs[0][8:16])


def test_bad_predict_size_is_one_line(tmp_path, capsys):
    from rhm_memo.cli import main

    cfg = config(tmp_path)
    with pytest.raises(SystemExit) as err:
        main(["predict", "--config", write(tmp_path, cfg), "--data.predict_size", "0"])
    assert "predict_size must be an integer >= 1, got 0" in str(err.value) or "predict_size" in capsys.readouterr().err
