"""Checkpoints from the CLI rebuild the model by themselves; EMA from Lightning's callback works from YAML."""

import textwrap

import lightning as L
import pytest
import torch

from rhm_memo.cli import cli_main
from rhm_memo.diffusion import UniformDiffusion
from rhm_memo.models import DiffusionTransformer, HierarchicalUNet
from rhm_memo.module import DiffusionModule

CONFIG = """
seed_everything: 0
trainer:
  accelerator: cpu
  devices: 1
  max_steps: 3
  logger: false
  enable_progress_bar: false
  enable_model_summary: false
  limit_val_batches: 0
  default_root_dir: {root}
{callbacks}
model:
  process:
    class_path: rhm_memo.diffusion.UniformDiffusion
    init_args: {{num_steps: 10}}
  net:
{net}
  n_trajectories: 2
data:
  v: 4
  n: 2
  m: 2
  s: 2
  L: 3
  train_size: 16
  test_size: 4
  batch_size: 8
  cache_dir: null
"""

NETS = {
    "transformer": """
    class_path: rhm_memo.models.DiffusionTransformer
    init_args: {width: 16, depth: 1, heads: 2}""",
    "unet": """
    class_path: rhm_memo.models.HierarchicalUNet
    init_args: {width: 16}""",
}

EMA = """
  callbacks:
    - class_path: lightning.pytorch.callbacks.EMAWeightAveraging
      init_args: {decay: 0.5}
"""


def _fit(tmp_path, callbacks: str = "", net: str = "transformer"):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(
        CONFIG.format(
            root=tmp_path,
            callbacks=textwrap.indent(callbacks.strip("\n"), "") if callbacks else "",
            net=NETS[net].strip("\n"),
        )
    )
    return cli_main(["fit", "--config", str(cfg)])


@pytest.mark.parametrize("net", list(NETS))
def test_cli_checkpoint_rebuilds_model_with_weights_only(tmp_path, net):
    """DiffusionModule.load_from_checkpoint(path, weights_only=True) rebuilds process + net from the saved config.

    The backbone gets the same inputs again (sizes, data's s, the process's cond_schedule).
    """
    cli = _fit(tmp_path, net=net)
    (ckpt,) = tmp_path.rglob("last.ckpt")
    loaded = DiffusionModule.load_from_checkpoint(ckpt, weights_only=True)
    assert isinstance(loaded.process, UniformDiffusion) and loaded.process.num_steps == 10
    assert isinstance(loaded.net, {"transformer": DiffusionTransformer, "unet": HierarchicalUNet}[net])
    assert loaded.net.width == 16 and loaded.net.inputs == cli.model.net.inputs
    assert loaded.hparams.s == 2
    x, cond = torch.randint(0, 4, (3, 8)), torch.rand(3)
    cli.model.eval()
    loaded.eval()
    torch.testing.assert_close(loaded(x, cond), cli.model(x, cond))


def test_python_built_module_checkpoints_stay_weights_only(tmp_path):
    """Factories passed from Python (here a lambda optimizer) are left out of the hparams: the file loads safely."""
    model = DiffusionModule(
        4, 4, process=UniformDiffusion, net=lambda inputs: DiffusionTransformer(inputs, width=16, depth=1, heads=2),
        optimizer=lambda p: torch.optim.SGD(p, lr=0.1),
    )  # fmt: skip
    trainer = L.Trainer(max_steps=1, logger=False, enable_progress_bar=False, default_root_dir=tmp_path)
    from rhm_memo.data import RHMDataModule

    trainer.fit(model, datamodule=RHMDataModule(v=4, n=2, m=2, s=2, L=2, train_size=8, test_size=2, batch_size=4,
                                                cache_dir=None))  # fmt: skip
    (ckpt,) = tmp_path.rglob("*.ckpt")
    payload = torch.load(ckpt, weights_only=True)
    assert "net" not in payload["hyper_parameters"] and payload["hyper_parameters"]["vocab_size"] == 4


def test_ema_callback_from_yaml(tmp_path):
    """Lightning's EMAWeightAveraging configured in YAML trains and leaves averaged weights in the model."""
    cli = _fit(tmp_path, EMA)
    ema = [c for c in cli.trainer.callbacks if type(c).__name__ == "EMAWeightAveraging"]
    assert len(ema) == 1
    assert cli.trainer.global_step == 3
