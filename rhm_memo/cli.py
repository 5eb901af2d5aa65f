"""The ``rhm-memo`` command line.

* ``rhm-memo fit|validate|test --config CONFIG.yaml [...]``: a ``LightningCLI`` over ``DiffusionModule`` and
  ``RHMDataModule``. The data module's ``vocab_size`` and ``seq_len`` are linked into the model; the default
  logger is an offline ``WandbLogger`` (runs land in ``runs/wandb`` and can be synced with ``wandb sync``);
  the resolved config is saved next to the run and logged to W&B; resuming with ``--ckpt_path`` continues
  the same W&B run.
* ``rhm-memo data --config CONFIG.yaml [--data.KEY VALUE ...]``: build the config's data module, generate
  (or load) its strings and print a summary. Other top-level keys of the config are ignored.
* ``rhm-memo report RUN_DIR [RUN_DIR ...] --out DIR``: figures and a summary table from the runs' local
  records (``rhm_memo.report``, needs the ``plots`` extra).
* ``rhm-memo grid SWEEP.yaml [...] [--seeds K ...] [--jobs N] [--dry-run]``: run the grid of W&B sweep files
  locally, one ``rhm-memo fit`` subprocess per point, into ``runs/rhm_memo/NAME/`` (``rhm_memo.grid``).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import yaml
from jsonargparse import ArgumentParser
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback
from lightning.pytorch.loggers import WandbLogger

from rhm_memo.callbacks.records import run_directory
from rhm_memo.data import RHMDataModule
from rhm_memo.module import DiffusionModule

DEFAULT_LOGGER = {
    "class_path": "lightning.pytorch.loggers.WandbLogger",
    "init_args": {"project": "rhm_memo", "save_dir": "runs", "offline": True},
}
#: Checkpoint key holding the W&B run id, so that ``--ckpt_path`` resumes the same run.
WANDB_ID_KEY = "wandb_run_id"


class LogConfigCallback(SaveConfigCallback):
    """Save the resolved config into the run's directory and log it as the W&B run config.

    With a W&B logger the run directory is ``save_dir/project/run_id`` (where Lightning also puts the
    run's checkpoints); with other loggers it is Lightning's ``trainer.log_dir``.
    """

    def setup(self, trainer, pl_module, stage: str) -> None:
        """Write ``config.yaml`` once, on global rank zero, and log it to W&B."""
        if self.already_saved:
            return
        if trainer.is_global_zero:
            run_dir = run_directory(trainer)
            if run_dir is not None:
                Path(run_dir).mkdir(parents=True, exist_ok=True)
                self.parser.save(
                    self.config, str(Path(run_dir) / self.config_filename), skip_unset=False, overwrite=True
                )
            self.save_config(trainer, pl_module, stage)
        self.already_saved = trainer.strategy.broadcast(True)

    def save_config(self, trainer, pl_module, stage: str) -> None:
        """Log the whole resolved config as the W&B run's config."""
        if isinstance(trainer.logger, WandbLogger):
            config = self.parser.dump(self.config, skip_unset=False, format="yaml")
            trainer.logger.experiment.config.update(yaml.safe_load(config), allow_val_change=True)

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict[str, Any]) -> None:
        """Store the W&B run id in every checkpoint."""
        if isinstance(trainer.logger, WandbLogger):
            checkpoint[WANDB_ID_KEY] = trainer.logger.version


class RHMCLI(LightningCLI):
    """LightningCLI with the data→model size links, offline W&B by default and W&B resume from checkpoints."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        """Link ``vocab_size`` and ``seq_len`` from the data module into the model."""
        parser.link_arguments("data.vocab_size", "model.vocab_size", apply_on="instantiate")
        parser.link_arguments("data.seq_len", "model.seq_len", apply_on="instantiate")

    def before_instantiate_classes(self) -> None:
        """When resuming from a checkpoint, make the W&B logger continue the checkpoint's run."""
        config = self.config.get(self.subcommand) if self.subcommand else self.config
        ckpt_path = config.get("ckpt_path") if config is not None else None
        logger = config.get("trainer", {}).get("logger") if config is not None else None
        if not ckpt_path or not logger or "WandbLogger" not in str(getattr(logger, "class_path", "")):
            return
        checkpoint = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        run_id = checkpoint.get(WANDB_ID_KEY)
        if run_id is not None:
            logger.init_args["id"] = run_id
            logger.init_args["resume"] = "allow"


def cli_main(args: Sequence[str] | None = None, run: bool = True) -> RHMCLI:
    """Run the training command line (``fit``, ``validate``, ``test``) on ``args`` (default: ``sys.argv``)."""
    return RHMCLI(
        DiffusionModule,
        RHMDataModule,
        save_config_callback=LogConfigCallback,
        trainer_defaults={"logger": DEFAULT_LOGGER},
        args=args,
        run=run,
    )


# ---------------------------------------------------------------------- the data command
def data_parser() -> ArgumentParser:
    """Parser of ``rhm-memo data``: a config file and every ``RHMDataModule`` argument under ``--data.*``."""
    parser = ArgumentParser(prog="rhm-memo data", description="Generate (or load) RHM data and print a summary.")
    parser.add_argument("--config", type=str, help="YAML file whose `data:` section configures the data module")
    parser.add_class_arguments(RHMDataModule, "data")
    return parser


def run_data(argv: Sequence[str]) -> dict:
    """Parse ``argv``, set up the data module, print and return its summary."""
    parser = data_parser()
    config_path = _pop_config(list(argv))
    argv = [a for a in argv if a not in (config_path, "--config") and not a.startswith("--config=")]
    if config_path is not None:
        with open(config_path) as f:
            section = (yaml.safe_load(f) or {}).get("data") or {}
        if "init_args" in section:  # class_path / init_args form
            section = section["init_args"]
        parser.set_defaults({f"data.{k}": v for k, v in section.items()})
    cfg = parser.parse_args(list(argv))
    dm = RHMDataModule(**cfg.data.as_dict())
    start = time.perf_counter()
    dm.prepare_data()
    dm.setup("fit")
    summary = dm.summary()
    summary["seconds"] = round(time.perf_counter() - start, 3)
    print(json.dumps(summary, indent=2))
    return summary


def _pop_config(argv: list[str]) -> str | None:
    """The value of ``--config`` (``--config PATH`` or ``--config=PATH``), if given."""
    for i, arg in enumerate(argv):
        if arg.startswith("--config="):
            return arg.split("=", 1)[1]
        if arg == "--config":
            if i + 1 >= len(argv):
                raise SystemExit("rhm-memo data: --config needs a path")
            return argv[i + 1]
    return None


def main(argv: Sequence[str] | None = None) -> None:
    """Run the ``rhm-memo`` command line."""
    from_command_line = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "data":
        run_data(argv[1:])
        return
    if argv and argv[0] == "report":
        from rhm_memo.report import main as report_main  # matplotlib is an optional extra

        report_main(argv[1:])
        return
    if argv and argv[0] == "grid":
        from rhm_memo.grid import main as grid_main

        code = grid_main(argv[1:])
        if code:
            raise SystemExit(code)
        return
    cli_main(None if from_command_line else argv)  # LightningCLI reads sys.argv itself (no args-and-argv warning)
