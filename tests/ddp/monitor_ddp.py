"""Run by tests/ddp/test_ddp_monitors.py in a subprocess: the monitors in a tiny fit on N gloo CPU processes.

Usage: python monitor_ddp.py DEVICES OUT_DIR. One 3-step fit (evaluations at steps 1, 2 and at the end, 3) with two
pairs of monitors:

* real: MemorizationMonitor + SubstringMonitor drawing ``NUM_REAL`` strings from the model, split over the ranks;
  records in OUT_DIR/real.
* fake: the same monitors (subclasses, so that their checkpoint state keys differ) with ``sample_steps=FAKE_STEPS``,
  for which the module returns, on rank r, rank r's share of a fixed list of ``NUM_FAKE`` strings (training strings
  chosen by the step, then held-out strings): the gathered samples are that list whatever the number of processes.
  Records in OUT_DIR/fake.

Every rank writes OUT_DIR/rank{r}.json: world size, rank, the module's ``sample`` calls, and the samples that each
monitor evaluation got back (the gathered samples) on that rank.
"""

import json
import sys
from pathlib import Path

import lightning as L
import torch

sys.path.insert(0, str(Path(__file__).parents[1] / "callbacks"))
from ddp_launch import cpu_trainer
from monitor_helpers import scripted_strings, tiny_data, tiny_model

import rhm_memo.callbacks.base as base_module
from rhm_memo.callbacks import MemorizationMonitor, SubstringMonitor
from rhm_memo.module import DiffusionModule

NUM_REAL = 33  # odd: does not split evenly over 2 ranks
NUM_FAKE = 32
FAKE_STEPS = 1000


def fake_indices(step: int) -> list[int]:
    """Training strings in the fake samples of ``step``: (3·step + j) mod 32 for j ≤ step."""
    return [(3 * step + j) % 32 for j in range(step + 1)]


class FakeOnRequest(DiffusionModule):
    """Samples the model, except with ``steps == FAKE_STEPS``: this rank's share of a fixed list of strings."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[list] = []

    def sample(self, num, generator, steps=None, batch_size=4096):
        step, rank = self.trainer.global_step, self.trainer.global_rank
        self.calls.append([step, num, steps, batch_size])
        if steps != FAKE_STEPS:
            return super().sample(num, generator, steps=steps, batch_size=batch_size)
        full = scripted_strings(self.trainer.datamodule, fake_indices(step), NUM_FAKE)
        return full[rank * num : (rank + 1) * num]


class FakeMemorizationMonitor(MemorizationMonitor):
    """A second MemorizationMonitor in the same trainer (its own state key)."""


class FakeSubstringMonitor(SubstringMonitor):
    """A second SubstringMonitor in the same trainer."""


def main() -> None:
    devices, out = int(sys.argv[1]), Path(sys.argv[2])
    torch.set_num_threads(1)
    evaluations: list[dict] = []

    original = base_module.monitor_samples
    original_evaluate = base_module.SamplingMonitor.evaluate
    current = {"monitor": None}

    def evaluate(self, trainer, pl_module):
        current["monitor"] = "memorization" if isinstance(self, MemorizationMonitor) else "substrings"
        return original_evaluate(self, trainer, pl_module)

    def monitor_samples(trainer, pl_module, spec):
        drawn = original(trainer, pl_module, spec)
        samples, seconds = drawn.samples, drawn.seconds
        evaluations.append({
            "monitor": current["monitor"],
            "fake": spec.sample_steps == FAKE_STEPS,
            "step": trainer.global_step,
            "samples": samples.tolist(),
            "seconds": seconds,
        })  # fmt: skip
        return drawn

    base_module.SamplingMonitor.evaluate = evaluate
    base_module.monitor_samples = monitor_samples

    L.seed_everything(0, verbose=False)
    dm = tiny_data()
    model = tiny_model(dm, FakeOnRequest)
    real = {"num_samples": NUM_REAL, "batch_size": 16, "out_dir": str(out / "real")}
    fake = {"num_samples": NUM_FAKE, "batch_size": 16, "sample_steps": FAKE_STEPS, "out_dir": str(out / "fake")}
    callbacks = [MemorizationMonitor(**real), SubstringMonitor(**real),
                 FakeMemorizationMonitor(**fake), FakeSubstringMonitor(**fake)]  # fmt: skip
    trainer = cpu_trainer(devices, max_steps=3, callbacks=callbacks, default_root_dir=str(out / "root"))
    trainer.fit(model, datamodule=dm)
    record = {
        "world_size": trainer.world_size,
        "rank": trainer.global_rank,
        "global_step": trainer.global_step,
        "calls": model.calls,
        "evaluations": evaluations,
        "train": dm.train_strings.tolist(),
    }
    (out / f"rank{trainer.global_rank}.json").write_text(json.dumps(record))


if __name__ == "__main__":
    main()
