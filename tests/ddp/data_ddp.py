"""Run by tests/ddp/test_ddp_data.py in a subprocess: fit one epoch on CPU with N gloo processes, record the data.

Usage: python data_ddp.py DEVICES OUT_DIR (the data cache goes to OUT_DIR/cache). Each rank writes
OUT_DIR/rank{r}.json with a digest of its training and held-out strings and the string indices of every
training batch it saw.
"""

import json
import sys
from pathlib import Path

import lightning as L
import torch
from ddp_launch import cpu_trainer, digest

from rhm_memo.data import RHMDataModule


class Recorder(L.LightningModule):
    """A one-parameter model that records the indices of its training batches."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(()))
        self.seen: list[list[int]] = []

    def training_step(self, batch, batch_idx):
        self.seen.append(batch["index"].tolist())
        assert torch.equal(batch["x"], self.trainer.datamodule.train_strings[batch["index"]])
        return (self.w - batch["x"].float().mean()) ** 2

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.0)


def main() -> None:
    devices, out = int(sys.argv[1]), Path(sys.argv[2])
    dm = RHMDataModule(v=5, n=3, m=3, s=2, L=3, train_size=64, test_size=16, batch_size=8, cache_dir=out / "cache")
    model = Recorder()
    trainer = cpu_trainer(devices, max_epochs=1)
    trainer.fit(model, datamodule=dm)
    record = {
        "train": digest(dm.train_strings),
        "test": digest(dm.test_strings),
        "log_prob": digest(dm.train_log_prob),
        "batches": model.seen,
        "world_size": trainer.world_size,
    }
    (out / f"rank{trainer.global_rank}.json").write_text(json.dumps(record))


if __name__ == "__main__":
    main()
