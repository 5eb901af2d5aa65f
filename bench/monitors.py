"""What an evaluation of the monitors costs: sampling vs metrics + logging, and monitor vs bare sampling.

    python bench/monitors.py                 # paper grammar, 10^4 samples (about a minute on 2 CPU cores)
    python bench/monitors.py --quickstart    # also: a whole quickstart fit, share of wall time in monitors

Case "paper": the paper's grammar (P = 20000, 1024 held-out), a small transformer (width 64, 3 blocks) and
uniform diffusion with T = 50 so that sampling 10^4 strings fits a CPU bench; one evaluation of both
monitors (MemorizationMonitor with near copies, SubstringMonitor) is timed after the fit of one step, and a
bare ``module.sample()`` of the same size under ``torch.inference_mode()`` is timed in the same process.

Case "privacy": the quickstart's sizes (its grammar, P = 128 and 256 held-out strings, its transformer, T = 100):
one evaluation of the PrivacyMonitor (128 members and 128 non-members, 16 noise levels each) against one of the
MemorizationMonitor (512 samples), in the same process; the issue's target is at most 20%.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def paper_case(num_samples: int) -> dict:
    """One monitor evaluation on the paper grammar: sampling, metrics+logging, bare sampling (seconds)."""
    from functools import partial

    import lightning as L
    import torch

    from rhm_memo.callbacks import MemorizationMonitor, SubstringMonitor, forget_samples
    from rhm_memo.data import RHMDataModule
    from rhm_memo.diffusion import UniformDiffusion
    from rhm_memo.models import DiffusionTransformer
    from rhm_memo.module import DiffusionModule

    torch.set_num_threads(2)
    torch.manual_seed(0)
    dm = RHMDataModule(v=6, n=6, m=4, s=2, L=4, zipf_exponent=1.0, zipf_levels=[1], train_size=20000,
                       test_size=1024, cache_dir=None)  # fmt: skip
    model = DiffusionModule(6, 16, process=partial(UniformDiffusion, num_steps=50),
                            net=partial(DiffusionTransformer, width=64, depth=3, heads=4))  # fmt: skip
    out = Path(tempfile.mkdtemp())
    mem = MemorizationMonitor(num_samples=num_samples, out_dir=str(out))
    sub = SubstringMonitor(num_samples=num_samples, out_dir=str(out))
    trainer = L.Trainer(max_steps=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, limit_val_batches=0, callbacks=[mem, sub])  # fmt: skip
    trainer.fit(model, datamodule=dm)  # evaluates at step 1 (warm-up)
    forget_samples(trainer)
    del mem.history[-1]  # evaluated again at the warm-up's step: its onsets need increasing steps
    start = time.perf_counter()
    record = mem.evaluate(trainer, model)
    sub.evaluate(trainer, model)
    total = time.perf_counter() - start
    start = time.perf_counter()
    with torch.inference_mode():
        model.sample(num_samples, torch.Generator().manual_seed(1), batch_size=4096)
    bare = time.perf_counter() - start
    return {"evaluation_s": total, "sampling_s": record["seconds_sampling"], "bare_sample_s": bare,
            "metrics_and_logging_s": total - record["seconds_sampling"]}  # fmt: skip


def privacy_case() -> dict:
    """One privacy evaluation vs one memorization evaluation at the quickstart's sizes (seconds)."""
    from functools import partial

    import lightning as L
    import torch

    from rhm_memo.callbacks import MemorizationMonitor, PrivacyMonitor, forget_samples
    from rhm_memo.data import RHMDataModule
    from rhm_memo.diffusion import UniformDiffusion
    from rhm_memo.models import DiffusionTransformer
    from rhm_memo.module import DiffusionModule

    torch.set_num_threads(2)
    torch.manual_seed(0)
    dm = RHMDataModule(v=6, n=6, m=4, s=2, L=3, zipf_exponent=1.0, zipf_levels=[1], train_size=128, test_size=256,
                       cache_dir=None)  # fmt: skip
    model = DiffusionModule(6, 8, process=partial(UniformDiffusion, num_steps=100),
                            net=partial(DiffusionTransformer, width=64, depth=3, heads=4))  # fmt: skip
    out = Path(tempfile.mkdtemp())
    mem = MemorizationMonitor(num_samples=512, out_dir=str(out))
    priv = PrivacyMonitor(num_strings=128, num_times=16, out_dir=str(out))
    trainer = L.Trainer(max_steps=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, limit_val_batches=0, callbacks=[mem, priv])  # fmt: skip
    trainer.fit(model, datamodule=dm)  # both evaluate at step 1 (warm-up)
    del mem.history[-1]  # evaluated again at the warm-up's step: its onsets need increasing steps
    times = {}
    for name, monitor in (("memorization_s", mem), ("privacy_s", priv)):
        forget_samples(trainer)
        start = time.perf_counter()
        monitor.evaluate(trainer, model)
        times[name] = time.perf_counter() - start
    return times


def quickstart_case() -> dict:
    """A whole quickstart fit: wall time and the share of it spent in the monitors (from the records)."""
    root = Path(tempfile.mkdtemp())
    start = time.perf_counter()
    config = str(Path(__file__).parents[1] / "configs/quickstart.yaml")
    subprocess.run(
        [sys.executable, "-m", "rhm_memo", "fit", "--config", config,
         "--trainer.logger=false", f"--trainer.default_root_dir={root}", "--trainer.enable_progress_bar=false",
         f"--data.cache_dir={root / 'cache'}"],
        check=True, capture_output=True, cwd=root,
    )  # fmt: skip
    wall = time.perf_counter() - start
    (records,) = root.rglob("metrics.jsonl")
    rows = [json.loads(line) for line in records.read_text().splitlines()]
    sampling = sum(r.get("seconds_sampling", 0.0) for r in rows)
    metrics = sum(r.get("seconds_metrics", 0.0) for r in rows)
    evaluations = sum(r["monitor"] == "memorization" for r in rows)
    last = [r for r in rows if r["monitor"] == "memorization"][-1]
    return {"fit_wall_s": wall, "evaluations": evaluations, "sampling_s": sampling, "metrics_s": metrics,
            "final_copy_fraction": last["copy_fraction"], "final_step": last["step"],
            "num_samples": last["num_samples"]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-samples", type=int, default=10000)
    parser.add_argument("--quickstart", action="store_true", help="also time a whole quickstart fit")
    args = parser.parse_args()
    r = paper_case(args.num_samples)
    share = r["metrics_and_logging_s"] / r["evaluation_s"]
    print(f"{'case':58s} {'seconds':>9s} {'share':>7s}  target")
    print(f"{'paper grammar: one evaluation of both monitors':58s} {r['evaluation_s']:9.2f}")
    print(f"{'  of which sampling (' + str(args.num_samples) + ' strings, T=50)':58s} {r['sampling_s']:9.2f}")
    print(f"{'  of which metrics + records + logging':58s} {r['metrics_and_logging_s']:9.2f} {share:7.1%}  <= 5%")
    print(f"{'bare module.sample() of the same size':58s} {r['bare_sample_s']:9.2f}")
    ratio = r["sampling_s"] / r["bare_sample_s"]
    print(f"{'monitor sampling / bare sampling':58s} {ratio:9.2f}          ~ 1")
    p = privacy_case()
    print(f"{'quickstart sizes: one memorization evaluation (512 samples)':58s} {p['memorization_s']:9.2f}")
    share = p["privacy_s"] / p["memorization_s"]
    print(f"{'  one privacy evaluation (2 x 128 strings x 16 levels)':58s} {p['privacy_s']:9.2f} {share:7.1%}  <= 20%")
    if args.quickstart:
        q = quickstart_case()
        monitors = q["sampling_s"] + q["metrics_s"]
        print(f"{'quickstart fit (wall, incl. start-up)':58s} {q['fit_wall_s']:9.1f}")
        label = f"  monitors: {q['evaluations']} evaluations x {q['num_samples']} samples"
        print(f"{label:58s} {monitors:9.1f} {monitors / q['fit_wall_s']:7.1%}")
        print(f"{'  of which metrics':58s} {q['metrics_s']:9.1f} {q['metrics_s'] / max(monitors, 1e-9):7.1%}  <= 5%")
        print(f"  final copy fraction {q['final_copy_fraction']:.3f} at step {q['final_step']}")


if __name__ == "__main__":
    main()
