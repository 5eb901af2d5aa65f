"""Both monitors through the command line with its default logger, an offline W&B run under runs/."""

import json
import sys

import numpy as np
import pytest
import torch
import yaml
from monitor_helpers import DATA, scripted_strings

from rhm_memo.cli import cli_main
from rhm_memo.module import DiffusionModule

pytestmark = pytest.mark.filterwarnings(
    "ignore:.*LeafSpec", "ignore:.*log_every_n_steps", "ignore::jsonargparse._deprecated.JsonargparseDeprecationWarning"
)


def test_wandb_offline_fit_with_both_monitors(tmp_path, monkeypatch, wandb_offline):
    """A fit via cli_main with the default offline W&B logger writes the W&B run and runs/rhm_memo/<id>/ records."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["rhm-memo"])

    def sample(self, num, generator, steps=None, batch_size=4096):  # two copies per evaluation: W&B's memorized plots
        return scripted_strings(self.trainer.datamodule, [0, self.trainer.global_step], num)

    monkeypatch.setattr(DiffusionModule, "sample", sample)
    monitor_args = {"num_samples": 32, "batch_size": 32}
    cfg = {
        "seed_everything": 0,
        "trainer": {
            "accelerator": "cpu", "devices": 1, "max_steps": 3, "enable_progress_bar": False,
            "enable_model_summary": False, "limit_val_batches": 0,
            "callbacks": [
                {"class_path": "rhm_memo.callbacks.MemorizationMonitor", "init_args": monitor_args},
                {"class_path": "rhm_memo.callbacks.SubstringMonitor", "init_args": monitor_args},
            ],
        },
        "model": {
            "process": {"class_path": "rhm_memo.diffusion.UniformDiffusion", "init_args": {"num_steps": 5}},
            "net": {"class_path": "rhm_memo.models.DiffusionTransformer",
                    "init_args": {"width": 16, "depth": 1, "heads": 2}},
        },
        "data": DATA,
    }  # fmt: skip
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    cli = cli_main(["fit", "--config", "config.yaml"])
    run_id = cli.trainer.logger.version
    wandb_offline.finish()
    assert cli.trainer.global_step == 3
    (run,) = (tmp_path / "runs" / "wandb").glob("offline-run-*")
    assert run.name.endswith(f"-{run_id}")
    logged = next(run.glob("run-*.wandb")).read_bytes()
    for key in (b"memorization/copy_fraction", b"memorization/samples", b"memorization/log_prob_memorized",
                b"memorization/hamming", b"validity/strings_h3", b"substrings/slop_index_h1",
                b"substrings/top_blocks_h2", b"null/mass",
                b"null/auc_ever_mean", b"null/auc_ever_uniform_p"):  # fmt: skip
        assert key in logged
    run_dir = tmp_path / "runs" / "rhm_memo" / run_id
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [(r["monitor"], r["step"]) for r in records] == [
        (m, s) for s in (1, 2, 3) for m in ("memorization", "substrings")
    ]
    assert [r["copy_fraction"] for r in records if r["monitor"] == "memorization"] == [2 / 32] * 3
    arrays = np.load(run_dir / "memorization.npz")
    assert arrays["eval_steps"].tolist() == [1, 2, 3]
    assert arrays["first_step"][:4].tolist() == [1, 1, 2, 3] and int(arrays["counts"].sum()) == 6
    assert (run_dir / "config.yaml").exists() and list((run_dir / "checkpoints").glob("*.ckpt"))
    ckpt = torch.load(next((run_dir / "checkpoints").glob("*.ckpt")), weights_only=False)
    (state,) = [v for k, v in ckpt["callbacks"].items() if "MemorizationMonitor" in k]
    saved_steps = [s for s, _ in state["history"]]
    assert saved_steps and saved_steps == [1, 2, 3][: len(saved_steps)]  # the evaluations done before the save
    last = saved_steps[-1]
    np.testing.assert_array_equal(
        state["first_step"].numpy(), np.where(arrays["first_step"] <= last, arrays["first_step"], -1)
    )
