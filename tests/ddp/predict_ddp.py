"""Run by tests/ddp/test_ddp_predict.py in a subprocess: ``rhm-memo predict``'s pieces on 1 or 2 gloo processes.

Usage: python predict_ddp.py DEVICES OUT_DIR. An untrained tiny model predicts 17 strings in global batches of 4
with a PredictionEvaluator writing into OUT_DIR/pred; the split is uneven (Lightning's predict sampler gives rank r
the rows r, r + W, … without padding). Rank zero also writes OUT_DIR/expected.json: each batch's strings sampled
again in this process from its seed (``noise_seed`` and the batch's first row).
"""

import json
import sys
from pathlib import Path

import lightning as L
import torch
from ddp_launch import cpu_trainer

sys.path.insert(0, str(Path(__file__).parents[1] / "callbacks"))
from monitor_helpers import tiny_data, tiny_model

from rhm_memo.callbacks import PredictionEvaluator

NUM = 17
BATCH = 4


def main() -> None:
    devices, out = int(sys.argv[1]), Path(sys.argv[2])
    torch.set_num_threads(1)
    L.seed_everything(0, verbose=False)
    dm = tiny_data(predict_size=NUM, eval_batch_size=BATCH)
    model = tiny_model(dm)
    writer = PredictionEvaluator(out_dir=str(out / "pred"), null_draws=10)
    trainer = cpu_trainer(devices, callbacks=[writer])
    trainer.predict(model, datamodule=dm, return_predictions=False)
    if trainer.is_global_zero:
        rows = list(range(NUM))
        per_rank = BATCH // devices
        expected = {}
        for r in range(devices):
            mine = rows[r::devices]
            for start in range(0, len(mine), per_rank):
                batch = mine[start : start + per_rank]
                g = torch.Generator().manual_seed(1_000_003 * model.hparams.noise_seed + batch[0])
                for i, s in zip(batch, model.sample(len(batch), g, batch_size=len(batch)).tolist()):
                    expected[i] = s
        (out / "expected.json").write_text(json.dumps({str(k): v for k, v in sorted(expected.items())}))


if __name__ == "__main__":
    main()
