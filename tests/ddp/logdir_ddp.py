"""Run by tests/ddp/test_ddp_logdir.py in a subprocess: the monitors on 2 gloo CPU processes, records in the run dir.

Usage: python logdir_ddp.py LOGGER OUT_DIR, LOGGER ``csv`` (Lightning's CSVLogger, save_dir OUT_DIR/logs, name
``csv``) or ``none`` (``logger=False``, default_root_dir OUT_DIR/root). One 3-step fit (evaluations at steps 1, 2
and at the end, 3) with a MemorizationMonitor, a SubstringMonitor and a PrivacyMonitor without ``out_dir``: each
resolves its records directory with ``run_directory`` (``trainer.log_dir``, a collective) in ``setup`` on every rank.

Every rank writes OUT_DIR/rank{r}.json: world size, rank, global step, ``trainer.log_dir`` after the fit, and each
monitor's records directory (None where it keeps no records: every rank but zero).
"""

import json
import sys
from pathlib import Path

import lightning as L
import torch
from ddp_launch import cpu_trainer
from lightning.pytorch.loggers import CSVLogger

sys.path.insert(0, str(Path(__file__).parents[1] / "callbacks"))
from monitor_helpers import tiny_data, tiny_model

from rhm_memo.callbacks import MemorizationMonitor, PrivacyMonitor, SubstringMonitor

DEVICES = 2
NUM_SAMPLES = 16
#: Members (of 32 training strings) and non-members (all 8 held-out strings): 17 strings, split unevenly.
NUM_MEMBERS = 9


def main() -> None:
    kind, out = sys.argv[1], Path(sys.argv[2])
    torch.set_num_threads(1)
    logger = {"csv": lambda: CSVLogger(save_dir=str(out / "logs"), name="csv"), "none": lambda: False}[kind]()
    L.seed_everything(0, verbose=False)
    dm = tiny_data()
    model = tiny_model(dm)
    options = {"num_samples": NUM_SAMPLES, "batch_size": 16}
    monitors = [MemorizationMonitor(**options), SubstringMonitor(**options),
                PrivacyMonitor(num_strings=NUM_MEMBERS, num_times=2)]  # fmt: skip
    trainer = cpu_trainer(DEVICES, max_steps=3, callbacks=monitors, logger=logger, default_root_dir=str(out / "root"))
    trainer.fit(model, datamodule=dm)
    record = {
        "world_size": trainer.world_size,
        "rank": trainer.global_rank,
        "global_step": trainer.global_step,
        "log_dir": trainer.log_dir,  # a collective: every rank
        "records": [None if m.records is None else str(m.records.dir) for m in monitors],
    }
    (out / f"rank{trainer.global_rank}.json").write_text(json.dumps(record))


if __name__ == "__main__":
    main()
