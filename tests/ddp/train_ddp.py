"""Run by tests/ddp/test_ddp_train.py in a subprocess: a tiny DiffusionModule fit on CPU with N gloo processes.

Usage: python train_ddp.py DEVICES OUT_DIR. The training noise of every string is seeded by its index and the
step, so the loss of a global batch does not depend on how it is split over ranks. Each rank writes
OUT_DIR/rank{r}.json (data digests, batch indices, losses, noise seeds) and OUT_DIR/rank{r}.pt (parameters
before and after training).
"""

import json
import sys
from functools import partial
from pathlib import Path

import lightning as L
import torch
from ddp_launch import cpu_trainer, digest

from rhm_memo.data import RHMDataModule
from rhm_memo.diffusion import UniformDiffusion
from rhm_memo.models import DiffusionTransformer
from rhm_memo.module import DiffusionModule

GLOBAL_BATCH = 8
NOISE_SEED = 7


class PerStringNoise(DiffusionModule):
    """DiffusionModule whose training noise (t and x_t) is seeded per string index and step, not per rank."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.record: dict = {"batches": [], "losses": []}
        self.initial_state: dict[str, torch.Tensor] = {}

    def on_train_start(self) -> None:
        self.initial_state = {k: v.detach().clone() for k, v in self.net.state_dict().items()}
        x0 = self.trainer.datamodule.train_strings[:GLOBAL_BATCH]
        t = self.process.sample_time(x0.shape[0], torch.Generator().manual_seed(123))
        with torch.no_grad():
            loss = self.process.loss_at(self.net, x0, t, torch.Generator().manual_seed(456))["loss"]
        self.record["fixed_loss_before"] = loss.item()
        self.record["noise_seed"] = self._noise_generator().initial_seed()

    def training_step(self, batch, batch_idx):
        losses = []
        for x, i in zip(batch["x"], batch["index"].tolist()):
            g = torch.Generator().manual_seed(1000 * self.global_step + i)
            t = self.process.sample_time(1, g)
            losses.append(self.process.loss_at(self.net, x[None], t, g)["loss"])
        loss = torch.stack(losses).mean()
        self.record["batches"].append(batch["index"].tolist())
        self.record["losses"].append(loss.item())
        return loss


def main() -> None:
    devices, out = int(sys.argv[1]), Path(sys.argv[2])
    torch.set_num_threads(1)
    L.seed_everything(0, verbose=False)
    dm = RHMDataModule(
        v=5, n=3, m=3, s=2, L=2, train_size=GLOBAL_BATCH, test_size=8, batch_size=GLOBAL_BATCH, cache_dir=None
    )
    model = PerStringNoise(
        dm.vocab_size,
        dm.seq_len,
        process=partial(UniformDiffusion, num_steps=10),
        net=partial(DiffusionTransformer, width=16, depth=1, heads=2),
        optimizer=partial(torch.optim.SGD, lr=0.5),
        noise_seed=NOISE_SEED,
    )
    trainer = cpu_trainer(devices, max_steps=2)
    trainer.fit(model, datamodule=dm)
    record = {
        **model.record,
        "train": digest(dm.train_strings),
        "test": digest(dm.test_strings),
        "world_size": trainer.world_size,
        "global_step": trainer.global_step,
    }
    rank = trainer.global_rank
    (out / f"rank{rank}.json").write_text(json.dumps(record))
    torch.save({"before": model.initial_state, "after": model.net.state_dict()}, out / f"rank{rank}.pt")


if __name__ == "__main__":
    main()
