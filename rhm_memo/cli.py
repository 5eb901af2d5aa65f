"""The ``rhm-memo`` command line (``rhm-memo --help`` lists the subcommands).

* ``rhm-memo fit|validate|test --config CONFIG.yaml [...]``: a ``LightningCLI`` over ``DiffusionModule`` and
  ``RHMDataModule``. The data module's ``vocab_size``, ``seq_len`` and ``s`` are linked into the model; the default
  logger is an offline ``WandbLogger`` (runs land in ``runs/wandb`` and can be synced with ``wandb sync``);
  the resolved config is saved next to the run and logged to W&B; resuming with ``--ckpt_path`` continues
  the same W&B run.
* ``rhm-memo data --config CONFIG.yaml [--config OVERLAY.yaml ...] [--data.KEY VALUE ...]``: build the configs'
  data module, generate (or load) its strings and print a summary. The configs are read as ``fit`` reads them
  (jsonargparse, layered in order); their other top-level keys (``trainer``, ``model``, ...) are ignored.
* ``rhm-memo report RUN_DIR [RUN_DIR ...] --out DIR``: figures and a summary table from the runs' local
  records (``rhm_memo.report``, needs the ``plots`` extra).
* ``rhm-memo grid SWEEP.yaml [...] [--seeds K ...] [--jobs N] [--dry-run]``: run the grid of W&B sweep files
  locally, one ``rhm-memo fit`` subprocess per point, into ``runs/rhm_memo/NAME/`` (``rhm_memo.grid``).
* ``rhm-memo dashboard --entity E [--project P] [--dry-run]``: save the dashboard (the report's figures as
  panels) as a W&B workspace, optionally with a W&B report (``rhm_memo.dashboard``); the only online step.
"""

from __future__ import annotations

import json
import os
import sys
import time
from argparse import SUPPRESS
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import yaml
from jsonargparse import ActionConfigFile, ArgumentError
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback
from lightning.pytorch.loggers import WandbLogger

from rhm_memo.callbacks.records import run_directory
from rhm_memo.dashboard.panels import SETTING_KEY, Sizes, define_metrics
from rhm_memo.data import RHMDataModule
from rhm_memo.module import DiffusionModule
from rhm_memo.report.groups import setting_id
from rhm_memo.runs import CONFIG_FILE, DEFAULT_LOGGER

#: One line per subcommand, for ``rhm-memo --help`` (LightningCLI's own, then ours).
COMMANDS = {
    "fit": "train a model: rhm-memo fit --config configs/quickstart.yaml (docs/training.md)",
    "validate": "the validation loss of a model (--ckpt_path CKPT) on the config's held-out strings",
    "test": "the same evaluation as validate, logged as test/*",
    "predict": "sample data.predict_size strings from --ckpt_path, save and evaluate them (docs/training.md)",
    "data": "generate (or load) the data of a config and print a summary (docs/data.md)",
    "report": "tables and figures from the records of run directories (docs/report.md)",
    "grid": "run the grid of W&B sweep files locally, one fit per point (docs/sweeps.md)",
    "dashboard": "save the W&B dashboard of a project: the report's figures as panels (docs/dashboards.md)",
}
#: Top-level keys of a ``fit`` config that ``rhm-memo data`` accepts and ignores (everything but ``data``).
FIT_ONLY_KEYS = (
    "seed_everything",
    "trainer",
    "checkpoint",
    "model",
    "optimizer",
    "lr_scheduler",
    "ckpt_path",
    "weights_only",
)
#: Checkpoint key holding the W&B run id, so that ``--ckpt_path`` resumes the same run.
WANDB_ID_KEY = "wandb_run_id"


class LogConfigCallback(SaveConfigCallback):
    """Save the resolved config into the run's directory and log it as the W&B run config.

    With a W&B logger the run directory is ``save_dir/project/run_id`` (where Lightning also puts the
    run's checkpoints); with other loggers it is Lightning's ``trainer.log_dir``.
    """

    def setup(self, trainer, pl_module, stage: str) -> None:
        """Write ``config.yaml`` once, on global rank zero, and log it to W&B; only for ``fit``: validate, test
        and predict of a checkpoint run in its run directory, whose config is the training run's."""
        if self.already_saved or stage != "fit":
            return
        run_dir = run_directory(trainer)  # on every rank: trainer.log_dir is a collective under DDP
        if trainer.is_global_zero:
            if run_dir is not None:
                Path(run_dir).mkdir(parents=True, exist_ok=True)
                self.parser.save(
                    self.config, str(Path(run_dir) / self.config_filename), skip_unset=False, overwrite=True
                )
            self.save_config(trainer, pl_module, stage)
        self.already_saved = trainer.strategy.broadcast(True)

    def save_config(self, trainer, pl_module, stage: str) -> None:
        """Log the whole resolved config as the W&B run's config, with its setting (``setting``: the same for runs
        that differ only in their seeds, what the dashboards group by), and define the run's metrics (the step
        metric and summaries of every logged key, ``rhm_memo.dashboard.define_metrics``)."""
        if isinstance(trainer.logger, WandbLogger):
            config = yaml.safe_load(self.parser.dump(self.config, skip_unset=False, format="yaml"))
            run = trainer.logger.experiment
            run.config.update({**config, SETTING_KEY: setting_id(config)}, allow_val_change=True)
            define_metrics(run, heights=config.get("data", {}).get("L", Sizes.heights))

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict[str, Any]) -> None:
        """Store the W&B run id in every checkpoint."""
        if isinstance(trainer.logger, WandbLogger):
            checkpoint[WANDB_ID_KEY] = trainer.logger.version


class RHMCLI(LightningCLI):
    """LightningCLI with the data→model size links, offline W&B by default and W&B resume from checkpoints."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        """Link ``vocab_size``, ``seq_len`` (properties of the data module) and ``s`` (its argument) into the model;
        checkpoint every run's final state (``--checkpoint.*``: a ``ModelCheckpoint`` with ``save_last=True``)."""
        parser.link_arguments("data.vocab_size", "model.vocab_size", apply_on="instantiate")
        parser.link_arguments("data.seq_len", "model.seq_len", apply_on="instantiate")
        parser.link_arguments("data.s", "model.s", apply_on="parse")
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults({"checkpoint.save_last": True})

    def before_predict(self) -> None:
        """``rhm-memo predict`` saves and evaluates its strings: add a :class:`PredictionEvaluator` with its defaults
        unless the config's ``trainer.callbacks`` has one (with other settings)."""
        from rhm_memo.callbacks.predictions import PredictionEvaluator

        if not any(isinstance(c, PredictionEvaluator) for c in self.trainer.callbacks):
            self.trainer.callbacks.append(PredictionEvaluator())

    def before_instantiate_classes(self) -> None:
        """When resuming from a checkpoint file, make the W&B logger continue the checkpoint's run.

        Lightning's special values (``last``, ``best``, ``hpc``, ``registry:…``) and paths that are not files go
        to Lightning untouched (it resolves them or reports the error); the W&B id is read with ``mmap``, so
        the checkpoint's tensors are not loaded into memory.
        """
        config = self.config.get(self.subcommand) if self.subcommand else self.config
        ckpt_path = config.get("ckpt_path") if config is not None else None
        logger = config.get("trainer", {}).get("logger") if config is not None else None
        if not ckpt_path or not logger or "WandbLogger" not in str(getattr(logger, "class_path", "")):
            return
        if not Path(str(ckpt_path)).is_file():
            return
        checkpoint = torch.load(ckpt_path, map_location="cpu", weights_only=True, mmap=True)
        run_id = checkpoint.get(WANDB_ID_KEY)
        if run_id is not None:
            logger.init_args["id"] = run_id
            logger.init_args["resume"] = "allow"


def cli_main(args: Sequence[str] | None = None, run: bool = True, exit_on_error: bool = True) -> RHMCLI:
    """Run the training command line (``fit``, ``validate``, ``test``, ``predict``) on ``args`` (default:
    ``sys.argv``). ``exit_on_error=False``: a bad argument raises jsonargparse's ``ArgumentError`` (which
    :func:`main` prints on one line) instead of printing the usage and the error and exiting."""
    return RHMCLI(
        DiffusionModule,
        RHMDataModule,
        save_config_callback=LogConfigCallback,
        save_config_kwargs={"config_filename": CONFIG_FILE},
        trainer_defaults={"logger": DEFAULT_LOGGER},
        parser_kwargs={"exit_on_error": exit_on_error},
        args=args,
        run=run,
    )


# ---------------------------------------------------------------------- the data command
def data_parser() -> LightningArgumentParser:
    """Parser of ``rhm-memo data``: ``--config`` files (layered) and every ``RHMDataModule`` argument as ``--data.*``.

    The data module's arguments are added as ``fit`` adds them, so a config means the same to both commands;
    the other top-level keys of a ``fit`` config (:data:`FIT_ONLY_KEYS`) are accepted and ignored.
    """
    parser = LightningArgumentParser(
        prog="rhm-memo data", description="Generate (or load) RHM data and print a summary.", exit_on_error=False
    )
    parser.add_argument(
        "-c", "--config", action=ActionConfigFile, help="a fit config (YAML); repeat to layer configs, later ones win"
    )
    parser.add_lightning_class_args(RHMDataModule, "data")
    for key in FIT_ONLY_KEYS:
        parser.add_argument(f"--{key}", type=Any, default=None, help=SUPPRESS)
    return parser


def run_data(argv: Sequence[str]) -> dict:
    """Parse ``argv``, set up the data module, print and return its summary; bad input exits with one line."""
    try:
        cfg = data_parser().parse_args(list(argv))
    except ArgumentError as err:
        raise SystemExit(f"rhm-memo data: {_one_line(err)}") from None
    dm = RHMDataModule(**cfg.data.as_dict())
    start = time.perf_counter()
    dm.prepare_data()
    dm.setup("fit")
    summary = dm.summary()
    summary["seconds"] = round(time.perf_counter() - start, 3)
    print(json.dumps(summary, indent=2))
    return summary


def _one_line(err: ArgumentError) -> str:
    """A jsonargparse error on one line; a config that is not a mapping of keys is said so."""
    text = " ".join(str(err).split())
    if text.startswith("Unexpected config"):  # jsonargparse's words for a YAML list, scalar or empty file
        return f"a --config file is not a YAML mapping of keys ({text})"
    if text.startswith("Problems parsing config"):  # jsonargparse's words for a YAML syntax error
        return f"a --config file is not valid YAML ({text})"
    return text


def usage() -> str:
    """``rhm-memo --help``: every subcommand on one line each."""
    width = max(map(len, COMMANDS))
    lines = ["usage: rhm-memo SUBCOMMAND [options]    (rhm-memo SUBCOMMAND --help: its options)", "", "subcommands:"]
    lines += [f"  {name:<{width}}  {text}" for name, text in COMMANDS.items()]
    return "\n".join(lines)


#: Errors of bad input (arguments, configs, files): one line at the command line, the traceback with ``--debug``.
USER_ERRORS = (
    ValueError,
    FileNotFoundError,
    IsADirectoryError,
    NotADirectoryError,
    MisconfigurationException,
    ArgumentError,
)
#: Set to 1 (or pass ``--debug``) to see the traceback of a user error.
DEBUG_ENV = "RHM_MEMO_DEBUG"


def main(argv: Sequence[str] | None = None) -> None:
    """Run the ``rhm-memo`` command line; a bad input ends it with one line (``--debug``: the traceback)."""
    from_command_line = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or os.environ.get(DEBUG_ENV, "") not in ("", "0")
    if "--debug" in argv:
        argv.remove("--debug")
        from_command_line = False  # LightningCLI must not read the flag from sys.argv
    try:
        _main(argv, from_command_line)
    except USER_ERRORS as err:
        if debug:
            raise
        raise SystemExit(f"rhm-memo: error: {user_message(err)} (--debug shows the traceback)") from None


#: The beginnings of jsonargparse's generic reasons why a value fits none of a Union's types.
_GENERIC = ("Not a valid", "Expected a", "Does not validate", "Subclass types", "Type <", "Problem with given class")


def user_message(err: BaseException) -> str:
    """One line for a user error. When jsonargparse reports that a value fits none of a Union's types, the
    reason that names the problem (e.g. "num_samples must be an integer >= 1, got 0") is picked out of its
    list of per-type errors; failing that, the first type's reason (the class given) after the key, e.g.
    'Parser key "trainer.callbacks": Problem with given class_path '...PrivacyMonitor': Parser key "num_times":
    Expected a <class 'int'>. Got value: a'."""
    text = str(err)
    lines = text.splitlines()
    at = next((i for i, line in enumerate(lines) if line.strip() == "Errors:"), None)
    if "Union subtypes" in text and at is not None:
        indent = len(lines[at]) - len(lines[at].lstrip()) + 2  # the items "- reason", continued deeper
        reasons: list[list[str]] = []
        for line in lines[at + 1 :]:
            depth = len(line) - len(line.lstrip())
            if depth == indent and line.lstrip().startswith("- "):
                reasons.append([line.strip()[2:]])
            elif depth > indent and reasons:
                reasons[-1].append(line.strip())
            else:
                break
        joined = [" ".join(r) for r in reasons]
        specific = [r for r in joined if not r.startswith(_GENERIC)]
        if specific:
            return specific[0]
        head = " ".join(line.strip() for line in lines[: next(i for i, x in enumerate(lines) if "Union" in x)])
        if joined:
            return f"{head} {joined[0]}".strip()
    if isinstance(err, ArgumentError):
        return _one_line(err)
    return " ".join(text.split()) or type(err).__name__


def _main(argv: list[str], from_command_line: bool) -> None:
    if not argv or argv[0] in ("-h", "--help"):
        print(usage(), file=sys.stdout if argv else sys.stderr)  # no subcommand at all is an error, as in argparse
        raise SystemExit(0 if argv else 2)
    if argv[0] == "data":
        run_data(argv[1:])
        return
    if argv[0] == "report":
        from rhm_memo.report import main as report_main  # matplotlib is an optional extra

        report_main(argv[1:])
        return
    if argv[0] == "dashboard":
        from rhm_memo.dashboard.cli import main as dashboard_main

        dashboard_main(argv[1:])
        return
    if argv[0] == "grid":
        from rhm_memo.grid import main as grid_main

        code = grid_main(argv[1:])
        if code:
            raise SystemExit(code)
        return
    if not argv[0].startswith("-") and argv[0] not in COMMANDS:
        raise SystemExit(f"rhm-memo: error: unknown subcommand {argv[0]!r}; choose from {', '.join(COMMANDS)}")
    # LightningCLI reads sys.argv itself (no args-and-argv warning); its parse errors come back as ArgumentError
    cli_main(None if from_command_line else argv, exit_on_error=False)
