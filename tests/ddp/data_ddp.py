"""Run by tests/test_data_ddp.py in a subprocess: fit one epoch on CPU with N gloo processes, record the data.

Usage: python data_ddp.py DEVICES CACHE_DIR OUT_DIR. Each rank writes OUT_DIR/rank{r}.json with a digest of
its training and held-out strings and the string indices of every training batch it saw.
"""

import hashlib
import json
import sys
from pathlib import Path

import lightning as L
import torch

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


def digest(t: torch.Tensor) -> str:
    return hashlib.sha256(t.numpy().tobytes()).hexdigest()


def main() -> None:
    devices, cache_dir, out = int(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    dm = RHMDataModule(v=5, n=3, m=3, s=2, L=3, train_size=64, test_size=16, batch_size=8, cache_dir=cache_dir)
    model = Recorder()
    trainer = L.Trainer(
        accelerator="cpu",
        devices=devices,
        strategy="ddp" if devices > 1 else "auto",
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
    )
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
