"""Speed of training and sampling, printed as a table.

    python bench/train.py             # all cases (several minutes on 2 CPU cores)
    python bench/train.py --quick     # fewer timed steps

Setting of the training issue: the paper's grammar (v=6, m=4, s=2, L=4, d=16), uniform D3PM with T=200,
the hierarchical U-Net of width 256, batch 32 strings × 32 trajectories, fp32. Each case runs in a fresh
subprocess (bench/common.py). "Lightning overhead" compares the median step time of ``Trainer.fit`` with a
bare PyTorch loop over the same module, optimizer and DataLoader, measured in the same process. "MFU" is
the achieved FLOP/s of a transformer training step (forward + backward = 3 × forward FLOPs, from
``DiffusionTransformer.flops``) divided by the FLOP/s of a large matmul in the same dtype, measured in the
same run (``F.linear`` on 2048×2048 bf16 matrices; 8192 on a GPU). On a GPU (``--device cuda``) the
transformer case uses a batch of 4096 strings, on the CPU 16.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import time

from common import print_table, run_in_subprocess

PAPER_DATA = dict(v=6, n=6, m=4, s=2, L=4, seed_rules=1951, zipf_exponent=1.0, zipf_levels=[1], test_size=64)


def _module(net: str, width: int, device: str):
    from functools import partial

    import torch

    from rhm_memo.diffusion import UniformDiffusion
    from rhm_memo.models import DiffusionTransformer, HierarchicalUNet
    from rhm_memo.module import DiffusionModule

    torch.manual_seed(2)
    factory = partial(HierarchicalUNet, width=width) if net == "unet" else partial(DiffusionTransformer, width=width)
    if net == "transformer":
        factory = partial(DiffusionTransformer, width=width, depth=8, heads=8)
    model = DiffusionModule(
        6, 16, s=2, process=UniformDiffusion, net=factory, n_trajectories=32,
        optimizer=lambda p: torch.optim.Adam(p, 0.01),
    )  # fmt: skip
    return model.to(device)


def _data(batch_size: int):
    from rhm_memo.data import RHMDataModule

    dm = RHMDataModule(**PAPER_DATA, train_size=20000, batch_size=batch_size, cache_dir=None)
    dm.setup("fit")
    return dm


def bare_step_times(steps: int, device: str) -> list[float]:
    """Per-step wall times of a plain PyTorch loop (data loading included)."""
    import torch

    model = _module("unet", 256, device)
    optimizer = model.configure_optimizers()
    loader = _data(32).train_dataloader()
    gen = torch.Generator(device=device).manual_seed(0)
    times, it = [], iter(loader)
    for _ in range(steps + 3):
        start = time.perf_counter()
        batch = next(it)
        loss = model.process.loss(model.net, batch["x"].to(device), 32, gen)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return times[3:]


def lightning_step_times(steps: int, device: str) -> list[float]:
    """Per-step wall times of ``Trainer.fit`` (intervals between consecutive batch ends)."""
    import lightning as L

    marks: list[float] = []

    class Clock(L.Callback):
        def on_train_batch_end(self, *args) -> None:
            marks.append(time.perf_counter())

    trainer = L.Trainer(
        max_steps=steps + 4,
        accelerator="gpu" if device == "cuda" else "cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        callbacks=[Clock()],
    )
    trainer.fit(_module("unet", 256, "cpu"), datamodule=_data(32))
    return [b - a for a, b in itertools.pairwise(marks[3:])]


def run_case(name: str, steps: int, device: str) -> dict:
    """Run one case in this process."""
    import torch

    if device == "cpu":
        torch.set_num_threads(2)
    if name == "step_bare":
        t = bare_step_times(steps, device)
        return {"min_s": min(t), "median_s": statistics.median(t), "peak_mb": 0}
    if name == "step_lightning":
        t = lightning_step_times(steps, device)
        return {"min_s": min(t), "median_s": statistics.median(t), "peak_mb": 0}
    if name == "overhead":
        bare = statistics.median(bare_step_times(steps, device))
        lit = statistics.median(lightning_step_times(steps, device))
        return {"min_s": lit / bare - 1, "median_s": lit / bare - 1, "peak_mb": 0, "bare": bare, "lightning": lit}
    if name == "sample":
        model = _module("unet", 256, device)
        model.sample(8, 0)  # warm-up
        start = time.perf_counter()
        model.sample(1000, 0, batch_size=1000)
        t = time.perf_counter() - start
        return {"min_s": t, "median_s": t, "peak_mb": 0}
    if name == "sample_compiled":
        model = _module("unet", 256, device)
        model.net.compile()  # what DiffusionModule(compile=True) does
        start = time.perf_counter()
        with torch.no_grad():  # compile for the sampler's batch shape
            model.eval()
            model.net(torch.zeros(1000, 16, dtype=torch.int64, device=device), torch.ones(1000, device=device))
        compile_s = time.perf_counter() - start
        start = time.perf_counter()
        model.sample(1000, 0, batch_size=1000)
        t = time.perf_counter() - start
        return {"min_s": t, "median_s": t, "peak_mb": 0, "compile_s": compile_s}
    if name == "mfu":
        return transformer_mfu(steps, device)
    raise ValueError(name)


def transformer_mfu(steps: int, device: str) -> dict:
    """Achieved FLOP/s of a bf16 transformer training step vs a large bf16 matmul."""
    import torch

    model = _module("transformer", 512, device)
    batch = 4096 if device == "cuda" else 16  # CPU bf16 runs at ~20 GFLOP/s here: keep the CPU case short
    x0 = torch.randint(0, 6, (batch, 16), device=device)
    opt = model.configure_optimizers()
    gen = torch.Generator(device=device).manual_seed(0)

    def step():
        with torch.autocast(device_type=device, dtype=torch.bfloat16):
            loss = model.process.loss(model.net, x0, 1, gen)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device == "cuda":
            torch.cuda.synchronize()

    flops = 3 * model.net.flops(batch)
    for _ in range(2):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    achieved = flops / statistics.median(times)
    # the reference: a large bf16 matmul through F.linear, the kernel nn.Linear uses (on CPU, plain bf16 `a @ b`
    # takes a far slower path)
    n = 8192 if device == "cuda" else 2048
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    torch.nn.functional.linear(a, b)
    reps = 20 if device == "cuda" else 3
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(reps):
        torch.nn.functional.linear(a, b)
    if device == "cuda":
        torch.cuda.synchronize()
    peak = 2 * n**3 * reps / (time.perf_counter() - start)
    ratio = achieved / peak
    return {
        "min_s": ratio,
        "median_s": ratio,
        "peak_mb": 0,
        "achieved_tflops": achieved / 1e12,
        "matmul_tflops": peak / 1e12,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer timed steps")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--case", nargs=3, metavar=("NAME", "STEPS", "DEVICE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case[0], int(args.case[1]), args.case[2])))
        return
    steps = 5 if args.quick else 20
    cases = [
        ("train step, U-Net w=256, 32x32, fp32 (bare)", "step_bare", "<= 0.28 s", "paper code 0.55 s"),
        ("train step, same, Lightning Trainer", "step_lightning", "<= 0.28 s", "paper code 0.55 s"),
        ("Lightning overhead (ratio - 1, not seconds)", "overhead", "<= 0.05", ""),
        ("sample 1000 strings x 200 steps, U-Net w=256", "sample", "<= 13 s", "paper code 25.8 s"),
        ("same, torch.compile (compile time apart)", "sample_compiled", "<= 13 s", "paper code 25.8 s"),
        ("transformer bf16 step: FLOP/s / matmul FLOP/s", "mfu", ">= 0.5", "(ratio, not seconds)"),
    ]
    rows = [(label, run_in_subprocess(__file__, case, str(steps), args.device), t, r) for label, case, t, r in cases]
    print_table(rows)
    for label, result, _, _ in rows:
        if isinstance(result, dict) and len(result) > 3:
            extra = {k: round(v, 4) for k, v in result.items() if k not in ("min_s", "median_s", "peak_mb")}
            print(f"  {label}: {extra}")


if __name__ == "__main__":
    main()
