"""The training command line in-process: fit, config printing and checking, size links, bf16, resume, W&B, data."""

import json
import math
import sys
from pathlib import Path

import lightning as L
import pytest
import torch
import yaml
from lightning.pytorch.callbacks import ModelCheckpoint

from rhm_memo.cli import WANDB_ID_KEY, cli_main, main
from rhm_memo.models import BackboneInputs, HierarchicalUNet
from rhm_memo.module import DiffusionModule

pytestmark = pytest.mark.filterwarnings(
    "ignore:.*LeafSpec", "ignore:.*log_every_n_steps", "ignore:Checkpoint directory .* exists"
)


@pytest.fixture(autouse=True)
def bare_argv(monkeypatch):
    """The CLI sees only the args given to it, not pytest's command line."""
    monkeypatch.setattr(sys, "argv", ["rhm-memo"])


def config(tmp_path: Path, **sections) -> dict:
    """A tiny fit config (v = 4, d = 8, transformer width 16, uniform diffusion T = 20); ``sections`` update it."""
    cfg = {
        "seed_everything": 0,
        "trainer": {
            "accelerator": "cpu",
            "devices": 1,
            "max_steps": 3,
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "limit_val_batches": 0,
            "logger": False,
            "default_root_dir": str(tmp_path / "root"),
        },
        "model": {
            "process": {"class_path": "rhm_memo.diffusion.UniformDiffusion", "init_args": {"num_steps": 20}},
            "net": {"class_path": "rhm_memo.models.DiffusionTransformer",
                    "init_args": {"width": 16, "depth": 1, "heads": 2}},
            "n_trajectories": 2,
            "optimizer": {"class_path": "torch.optim.Adam", "init_args": {"lr": 0.01}},
            "compile": False,
            "val_windows": 10,
            "noise_seed": 0,
        },
        "data": {"v": 4, "n": 2, "m": 2, "s": 2, "L": 3, "train_size": 8, "test_size": 8, "batch_size": 4,
                 "eval_batch_size": 8, "cache_dir": None},
    }  # fmt: skip
    for name, values in sections.items():
        cfg[name].update(values)
    return cfg


def write(tmp_path: Path, cfg: dict, name: str = "config.yaml") -> str:
    """Write ``cfg`` as YAML into tmp_path and return its path."""
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


@pytest.fixture
def no_fit(monkeypatch):
    """Make Trainer.fit fail the test: errors must come before any training."""

    def fit(*args, **kwargs):
        pytest.fail("Trainer.fit was reached")

    monkeypatch.setattr(L.Trainer, "fit", fit)


@pytest.fixture
def count_steps(monkeypatch):
    """Record the batch_idx of every DiffusionModule.training_step call."""
    calls: list[int] = []
    original = DiffusionModule.training_step

    def training_step(self, batch, batch_idx):
        calls.append(batch_idx)
        return original(self, batch, batch_idx)

    monkeypatch.setattr(DiffusionModule, "training_step", training_step)
    return calls


# ---------------------------------------------------------------------- fit
def test_fit_reaches_max_steps(tmp_path):
    """fit from a YAML runs max_steps optimizer steps and logs a finite training and validation loss."""
    cfg = config(tmp_path, trainer={"limit_val_batches": 1, "val_check_interval": 2})
    cli = cli_main(["fit", "--config", write(tmp_path, cfg)])
    assert cli.trainer.global_step == 3
    metrics = cli.trainer.callback_metrics
    assert math.isfinite(metrics["train/loss"].item()) and math.isfinite(metrics["val/loss"].item())
    assert {f"val/loss_window_{w}" for w in range(10)} <= set(metrics)


def test_bf16_mixed_fit_on_cpu(tmp_path):
    """fit with precision bf16-mixed runs the transformer under CPU bf16 autocast with a finite loss."""
    cfg = config(tmp_path, trainer={"precision": "bf16-mixed", "max_steps": 2})
    cli = cli_main(["--config", write(tmp_path, cfg)], run=False)
    dtypes: list[torch.dtype] = []
    cli.model.net.readout.register_forward_hook(lambda module, args, out: dtypes.append(out.dtype))
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    assert cli.trainer.global_step == 2
    assert dtypes and all(d == torch.bfloat16 for d in dtypes)
    assert math.isfinite(cli.trainer.callback_metrics["train/loss"].item())


def test_resume_from_checkpoint_continues_global_step(tmp_path, count_steps):
    """fit --ckpt_path resumes at the checkpoint's step: 4 steps, then 2 more up to max_steps 6."""
    args = ["fit", "--config", write(tmp_path, config(tmp_path, trainer={"max_steps": 4}))]
    first = cli_main(args)
    assert first.trainer.global_step == 4 and len(count_steps) == 4
    ckpt_path = first.trainer.checkpoint_callback.best_model_path
    checkpoint = torch.load(ckpt_path, map_location="cpu", weights_only=False)
    assert checkpoint["global_step"] == 4
    assert "noise_generator_state" in checkpoint
    assert set(checkpoint["state_dict"]) == {f"net.{k}" for k in first.model.net.state_dict()}
    second = cli_main([*args, "--trainer.max_steps", "6", "--ckpt_path", ckpt_path])
    assert second.trainer.global_step == 6
    assert len(count_steps) == 6  # 2 more steps, not 6 from scratch


def test_compiled_model_checkpoint_keys(tmp_path, eager_compile):
    """With model.compile true (eager Dynamo backend), a fit's checkpoint keys carry no _orig_mod prefix."""
    cfg = config(tmp_path, trainer={"max_steps": 1}, model={"compile": True})
    cli = cli_main(["fit", "--config", write(tmp_path, cfg)])
    assert cli.model.net._compiled_call_impl is not None
    checkpoint = torch.load(cli.trainer.checkpoint_callback.best_model_path, map_location="cpu", weights_only=False)
    assert set(checkpoint["state_dict"]) == {f"net.{k}" for k in cli.model.net.state_dict()}
    assert not any("_orig_mod" in k for k in checkpoint["state_dict"])


# ---------------------------------------------------------------------- printing and help
def test_print_config(tmp_path, capsys):
    """fit --print_config prints the resolved YAML with model.process and data, without the linked sizes."""
    with pytest.raises(SystemExit) as exc:
        cli_main(["fit", "--config", write(tmp_path, config(tmp_path)), "--print_config"])
    assert exc.value.code in (0, None)
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["model"]["process"]["class_path"] == "rhm_memo.diffusion.UniformDiffusion"
    assert printed["model"]["process"]["init_args"]["num_steps"] == 20
    assert printed["data"]["train_size"] == 8 and printed["data"]["L"] == 3
    assert "vocab_size" not in printed["model"] and "seq_len" not in printed["model"]


def test_help(capsys):
    """`rhm-memo fit --help` exits 0 and lists the model and data options."""
    with pytest.raises(SystemExit) as exc:
        main(["fit", "--help"])
    assert exc.value.code in (0, None)
    out = capsys.readouterr().out
    assert "--model.n_trajectories" in out and "--data.train_size" in out


# ---------------------------------------------------------------------- config errors
@pytest.mark.parametrize("section", ["model", "data"])
def test_unknown_key_is_an_error(tmp_path, capsys, no_fit, section):
    """An unknown key under model: or data: exits non-zero before training, naming the key."""
    with pytest.raises(SystemExit) as exc:
        cli_main(["fit", "--config", write(tmp_path, config(tmp_path, **{section: {"bogus_key": 1}}))])
    assert exc.value.code not in (0, None)
    assert f"{section}.bogus_key" in capsys.readouterr().err


def test_wrong_type_is_an_error(tmp_path, capsys, no_fit):
    """data.train_size: "abc" exits non-zero before training, naming the key."""
    with pytest.raises(SystemExit) as exc:
        cli_main(["fit", "--config", write(tmp_path, config(tmp_path, data={"train_size": "abc"}))])
    assert exc.value.code not in (0, None)
    assert "train_size" in capsys.readouterr().err


def test_grammar_constraint_is_an_error(tmp_path, no_fit):
    """A grammar with m*n > v**s is rejected before training with a message about m*n."""
    with pytest.raises(ValueError, match=r"m\*n"):
        cli_main(["fit", "--config", write(tmp_path, config(tmp_path, data={"m": 10}))])


# ---------------------------------------------------------------------- links between data and model
def test_sizes_are_linked_from_data(tmp_path):
    """model.vocab_size and model.seq_len are the data module's v and s**L."""
    cli = cli_main(["--config", write(tmp_path, config(tmp_path))], run=False)
    assert cli.model.vocab_size == cli.datamodule.vocab_size == 4
    assert cli.model.seq_len == cli.datamodule.seq_len == 8
    assert cli.model.net.seq_len == 8 and cli.model.net.out_size == 4


def test_linked_size_on_command_line_is_an_error(tmp_path, capsys):
    """--model.vocab_size is refused: the size must come from the data."""
    with pytest.raises(SystemExit) as exc:
        cli_main(["--config", write(tmp_path, config(tmp_path)), "--model.vocab_size", "9"], run=False)
    assert exc.value.code not in (0, None)
    assert "vocab_size" in capsys.readouterr().err


def _unet_model(process_class: str = "UniformDiffusion", **net_args) -> dict:
    """The model section with a width-16 HierarchicalUNet backbone."""
    return {
        "process": {"class_path": f"rhm_memo.diffusion.{process_class}", "init_args": {"num_steps": 20}},
        "net": {"class_path": "rhm_memo.models.HierarchicalUNet", "init_args": {"width": 16, **net_args}},
    }


@pytest.mark.parametrize("process_class", ["UniformDiffusion", "MaskedDiffusion"])
def test_cli_unet_gets_process_cond_schedule(tmp_path, process_class):
    """Through the CLI, the U-Net is built from the process's cond_schedule() and input_size and data's v, d, s."""
    cfg = config(tmp_path, model=_unet_model(process_class))
    cli = cli_main(["--config", write(tmp_path, cfg)], run=False)
    process = cli.model.process
    inputs = BackboneInputs(process.input_size, 4, 8, s=2, cond_schedule=tuple(process.cond_schedule().tolist()))
    assert cli.model.net.inputs == inputs
    expected = HierarchicalUNet(inputs, width=16)
    assert cli.model.net.cond_mean == pytest.approx(expected.cond_mean)
    assert cli.model.net.cond_std == pytest.approx(expected.cond_std)


def test_cli_unet_gets_data_s(tmp_path):
    """data.s is linked into the model and the U-Net: with s = 3, L = 2 its kernels are 3 wide, over 2 levels."""
    cfg = config(tmp_path, model=_unet_model(), data={"s": 3, "L": 2})
    cli = cli_main(["--config", write(tmp_path, cfg)], run=False)
    assert cli.model.hparams.s == 3 and cli.model.seq_len == 9
    assert cli.model.net.s == 3 and cli.model.net.L == 2 and cli.model.net.down[0].conv.kernel == 3


@pytest.mark.parametrize("key", ["s", "cond_schedule", "input_size"])
def test_cli_backbone_inputs_are_not_config_keys(tmp_path, key, capsys):
    """What the data and the process supply (s, cond_schedule, sizes) is refused under model.net.init_args."""
    cfg = config(tmp_path, model=_unet_model(**{key: [0.3, 0.9] if key == "cond_schedule" else 2}))
    with pytest.raises(SystemExit) as exc:
        cli_main(["--config", write(tmp_path, cfg)], run=False)
    assert exc.value.code not in (0, None)
    assert key in capsys.readouterr().err


def test_cli_linked_s_on_command_line_is_an_error(tmp_path, capsys):
    """--model.s is refused: s comes from data.s."""
    with pytest.raises(SystemExit) as exc:
        cli_main(["--config", write(tmp_path, config(tmp_path)), "--model.s", "3"], run=False)
    assert exc.value.code not in (0, None)
    assert "model.s" in capsys.readouterr().err


# ---------------------------------------------------------------------- backbone choices in --help
def test_help_lists_only_our_backbones(tmp_path, capsys):
    """`fit --help` offers exactly the Backbone subclasses as model.net choices (no foreign nn.Module)."""
    with pytest.raises(SystemExit):
        cli_main(["fit", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    known = out.rsplit("--model.net NET", 1)[1].split("known subclasses:", 1)[1].split(")", 1)[0]
    assert [c.strip() for c in known.split(",")] == [
        "rhm_memo.models.DiffusionTransformer",
        "rhm_memo.models.HierarchicalUNet",
    ]


@pytest.mark.parametrize(
    ("name", "own"),
    [("DiffusionTransformer", ["width", "depth", "heads", "mlp_ratio", "dropout"]),
     ("HierarchicalUNet", ["width", "paper_time_schedule"])],
)  # fmt: skip
def test_net_help_lists_hyperparameters_only(tmp_path, capsys, name, own):
    """`--model.net.help NAME` lists the backbone's own arguments, none of the supplied inputs."""
    with pytest.raises(SystemExit) as exc:
        cli_main(["fit", "--config", write(tmp_path, config(tmp_path)), "--model.net.help", name])
    assert exc.value.code in (0, None)
    out = capsys.readouterr().out
    options = {line.split()[0] for line in out.splitlines() if line.strip().startswith("--model.net.")}
    assert options == {f"--model.net.{arg}" for arg in own}  # no inputs, s, cond_schedule or sizes


@pytest.mark.parametrize("class_path", ["torch.nn.Linear", "rhm_memo.diffusion.UniformDiffusion"])
def test_foreign_class_path_is_rejected(tmp_path, capsys, class_path):
    """A model.net class_path that is not a Backbone subclass fails at parse time, naming Backbone."""
    with pytest.raises(SystemExit) as exc:
        cli_main(["--config", write(tmp_path, config(tmp_path)), "--model.net", class_path], run=False)
    assert exc.value.code not in (0, None)
    assert f"Expected '{class_path}' to be a subclass of" in capsys.readouterr().err


def test_net_by_short_name_and_print_config(tmp_path, capsys):
    """`--model.net HierarchicalUNet` resolves the short name; --print_config shows its init_args, no inputs."""
    args = ["fit", "--config", write(tmp_path, config(tmp_path)), "--model.net", "HierarchicalUNet",
            "--model.net.width", "8", "--print_config"]  # fmt: skip
    with pytest.raises(SystemExit) as exc:
        cli_main(args)
    assert exc.value.code in (0, None)
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["model"]["net"] == {
        "class_path": "rhm_memo.models.HierarchicalUNet",
        "init_args": {"width": 8, "paper_time_schedule": None},
    }
    assert "s" not in printed["model"]


# ---------------------------------------------------------------------- W&B (offline)
def test_wandb_offline_run_config_and_resume(tmp_path, monkeypatch, wandb_offline):
    """The default offline W&B logger gets the resolved config; resuming a checkpoint continues the same run."""
    wandb = wandb_offline
    monkeypatch.chdir(tmp_path)
    cfg = config(tmp_path, trainer={"max_steps": 2})
    del cfg["trainer"]["logger"]  # the CLI's default: offline WandbLogger under runs/
    args = ["fit", "--config", write(tmp_path, cfg)]
    first = cli_main(args)
    run_id = first.trainer.logger.version
    logged = dict(first.trainer.logger.experiment.config)
    assert logged["model"]["process"]["class_path"] == "rhm_memo.diffusion.UniformDiffusion"
    assert logged["model"]["n_trajectories"] == 2
    assert logged["data"]["train_size"] == 8 and logged["data"]["L"] == 3
    wandb.finish()
    assert wandb.run is None
    runs = sorted((tmp_path / "runs" / "wandb").glob("offline-run-*"))
    assert [r.name.rsplit("-", 1)[-1] for r in runs] == [run_id]
    assert b"rhm_memo.diffusion.UniformDiffusion" in next(runs[0].glob("run-*.wandb")).read_bytes()

    ckpt_path = first.trainer.checkpoint_callback.best_model_path
    assert Path(ckpt_path).resolve().is_relative_to(tmp_path.resolve())
    assert torch.load(ckpt_path, map_location="cpu", weights_only=False)[WANDB_ID_KEY] == run_id
    second = cli_main([*args, "--trainer.max_steps", "3", "--ckpt_path", ckpt_path])
    assert second.trainer.global_step == 3
    assert second.trainer.logger.version == run_id
    assert second.trainer.logger.experiment.id == run_id
    wandb.finish()
    runs = sorted((tmp_path / "runs" / "wandb").glob("offline-run-*"))
    assert len(runs) == 2 and all(r.name.endswith(f"-{run_id}") for r in runs)


# ---------------------------------------------------------------------- the data command
def test_data_command_through_main(tmp_path, capsys):
    """`rhm-memo data --config` reads only the data: section of a training config and prints its summary."""
    cfg = config(tmp_path, data={"cache_dir": str(tmp_path / "cache")})
    main(["data", "--config", write(tmp_path, cfg), "--data.train_size", "10"])
    summary = json.loads(capsys.readouterr().out)
    assert summary["train_size"] == summary["train_distinct"] == 10
    assert summary["seq_len"] == 8 and summary["test_size"] == 8
    assert list((tmp_path / "cache").glob("rhm-*.pt"))


def test_ckpt_path_special_values_reach_lightning_with_the_wandb_logger(tmp_path, count_steps):
    """--ckpt_path last/best with the W&B logger is resolved by Lightning, not opened as a file: "last" without a
    last checkpoint trains from scratch, "best" gets Lightning's own message."""
    cfg = config(tmp_path, trainer={"max_steps": 2})
    del cfg["trainer"]["logger"]  # the default: offline W&B under save_dir
    cfg["trainer"]["logger"] = {"class_path": "lightning.pytorch.loggers.WandbLogger",
                                "init_args": {"save_dir": str(tmp_path / "runs"), "offline": True}}  # fmt: skip
    cli = cli_main(["fit", "--config", write(tmp_path, cfg), "--ckpt_path", "last"])
    assert cli.trainer.global_step == 2 and len(count_steps) == 2  # no checkpoint to resume: from scratch
    with pytest.raises(ValueError, match="ModelCheckpoint"):
        cli_main(["fit", "--config", write(tmp_path, cfg), "--ckpt_path", "best"])


def test_fit_checkpoints_its_final_state_by_default(tmp_path):
    """Every fit writes checkpoints/last.ckpt at its last step (--checkpoint.save_last defaults to true)."""
    cfg = config(tmp_path, trainer={"max_steps": 3})
    cli = cli_main(["fit", "--config", write(tmp_path, cfg)])
    last = tmp_path / "root" / "checkpoints" / "last.ckpt"
    assert last.is_file() and torch.load(last, map_location="cpu", weights_only=False)["global_step"] == 3
    assert sum(isinstance(c, ModelCheckpoint) for c in cli.trainer.callbacks) == 1


def test_resuming_on_other_data_fails_at_once(tmp_path, count_steps):
    """A checkpoint stores the data's fingerprint; resuming with another seed_data stops with one clear error."""
    args = ["fit", "--config", write(tmp_path, config(tmp_path, trainer={"max_steps": 2}))]
    first = cli_main(args)
    ckpt = first.trainer.checkpoint_callback.last_model_path
    assert torch.load(ckpt, map_location="cpu", weights_only=False)["RHMDataModule"]["fingerprint"]
    with pytest.raises(ValueError, match="trained on other strings"):
        cli_main([*args, "--trainer.max_steps", "4", "--data.seed_data", "7", "--ckpt_path", ckpt])
    assert len(count_steps) == 2  # nothing trained on the other data
    same = cli_main([*args, "--trainer.max_steps", "4", "--ckpt_path", ckpt])
    assert same.trainer.global_step == 4
