"""The ``rhm-memo`` command line.

``rhm-memo data --config CONFIG.yaml [--data.KEY VALUE ...]`` builds the configured ``RHMDataModule``,
generates (or loads from the cache) its strings, and prints a summary. The config file uses the layout
of the training configs: the data module's arguments under a top-level ``data:`` key; other top-level
keys (``model:``, ``trainer:``, ...) are ignored by this command.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence

import yaml
from jsonargparse import ArgumentParser

from rhm_memo.data import RHMDataModule


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


COMMANDS = {"data": run_data}


def main(argv: Sequence[str] | None = None) -> None:
    """Run the ``rhm-memo`` command line."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        print(f"usage: rhm-memo {{{','.join(COMMANDS)}}} [--config CONFIG.yaml] [options]\n", file=sys.stderr)
        print("  data   generate (or load) the configured RHM data and print a summary", file=sys.stderr)
        raise SystemExit(0 if argv and argv[0] in ("-h", "--help") else 2)
    COMMANDS[argv[0]](argv[1:])
