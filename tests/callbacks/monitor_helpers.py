"""Helpers imported by the monitor tests: tiny data, model and trainer; a scripted sampler; expected records."""

from __future__ import annotations

import json
import math
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any

import lightning as L
import torch

from rhm_memo import metrics as M
from rhm_memo.data import RHMDataModule
from rhm_memo.diffusion import UniformDiffusion
from rhm_memo.models import DiffusionTransformer
from rhm_memo.module import DiffusionModule

#: A grammar of 256 strings of d = 8 tokens (v = 4), Zipf rules at every level (so log-probs differ, with ties);
#: 32 training and 8 held-out strings; 4 batches per epoch.
DATA = {"v": 4, "n": 2, "m": 2, "s": 2, "L": 3, "zipf_exponent": 1.0, "zipf_levels": [1, 2, 3], "train_size": 32,
        "test_size": 8, "batch_size": 8, "eval_batch_size": 8, "cache_dir": None}  # fmt: skip

#: Keys that docs/records.md lists for every record, and for each monitor.
COMMON_KEYS = {"schema", "monitor", "step", "num_samples"}
MEMORIZATION_KEYS = COMMON_KEYS | {
    "copy_fraction", "novelty", "fraction_distinct", "copies", "distinct_memorized", "ever_memorized",
    "near_copy_within", "hamming_histogram", "validity", "block_copies", "block_copies_test", "auc_now",
    "auc_ever", "auc_commonness_ever", "spearman_first_step", "quantile_edges", "quantile_counts",
    "quantile_fraction_ever", "seconds_sampling", "seconds_metrics", "null",
}  # fmt: skip
SUBSTRING_KEYS = COMMON_KEYS | {
    "heights", "top_blocks", "rule_usage_gen", "rule_usage_train", "seconds_metrics", "seconds_sampling", "ema",
}  # fmt: skip
HEIGHT_KEYS = {"kl_gen_train", "gen_mass_outside_train", "entropy_gen", "entropy_train", "slop_index",
               "kl_gen_true", "gen_mass_outside_true", "slop_index_null", "slop_index_true", "slop_index_novel",
               "slop_index_novel_null"}  # fmt: skip


def tiny_data(**overrides: Any) -> RHMDataModule:
    """The tiny RHM data module (in memory)."""
    return RHMDataModule(**{**DATA, **overrides})


def tiny_model(dm: RHMDataModule, cls: type[DiffusionModule] = DiffusionModule, **kwargs: Any) -> DiffusionModule:
    """A width-16, depth-1 transformer under uniform diffusion with T = 5, Adam lr 0.01."""
    return cls(
        dm.vocab_size,
        dm.seq_len,
        process=partial(UniformDiffusion, num_steps=5),
        net=partial(DiffusionTransformer, width=16, depth=1, heads=2),
        optimizer=partial(torch.optim.Adam, lr=0.01),
        **kwargs,
    )


def tiny_trainer(root: Path, callbacks: list, max_steps: int, **kwargs: Any) -> L.Trainer:
    """A CPU trainer without validation, progress bar or summary; no logger or checkpoints unless given."""
    options = {"logger": False, "enable_checkpointing": False, **kwargs}
    return L.Trainer(
        accelerator="cpu",
        devices=1,
        max_steps=max_steps,
        callbacks=callbacks,
        default_root_dir=str(root),
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        log_every_n_steps=1,
        **options,
    )


class ScriptedSampler(DiffusionModule):
    """``sample`` returns the training strings ``script(step)`` (indices) padded with held-out strings (never copies).

    ``script`` is set after construction (not a hyper-parameter, so checkpoints stay picklable); every call is
    recorded in ``calls`` as ``(global_step, num, steps, batch_size)``.
    """

    script = staticmethod(lambda step: [])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[tuple[int, int, int | None, int]] = []

    def sample(self, num, generator, steps=None, batch_size=4096):
        step = self.trainer.global_step
        self.calls.append((step, num, steps, batch_size))
        return scripted_strings(self.trainer.datamodule, self.script(step), num)


def scripted_strings(dm: RHMDataModule, train_indices: list[int], num: int) -> torch.Tensor:
    """``num`` strings: the training strings at ``train_indices``, then held-out strings cycled."""
    copies = dm.train_strings[torch.as_tensor(train_indices, dtype=torch.int64)]
    filler = dm.test_strings[torch.arange(num - copies.shape[0]) % dm.test_strings.shape[0]]
    return torch.cat([copies, filler]).long()


def read_records(run_dir: Path) -> list[dict]:
    """The records of ``run_dir/metrics.jsonl``, in order."""
    return [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines()]


def plain(value: Any) -> Any:
    """What a JSON round trip makes of a value: tensors to lists, dict keys to str, tuples to lists, NaN to None."""
    if isinstance(value, torch.Tensor):
        value = value.tolist()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def first_index(train: torch.Tensor) -> dict[tuple[int, ...], int]:
    """Each distinct training string (as a tuple) to its smallest index (plain Python, independent of TrainIndex)."""
    out: dict[tuple[int, ...], int] = {}
    for i, row in enumerate(train.tolist()):
        out.setdefault(tuple(row), i)
    return out


def expected_memorization(
    dm: RHMDataModule,
    evaluations: list[tuple[int, torch.Tensor]],
    bins: int = 10,
    near_copy_k=(1, 2),
    seed: int = 0,
    null_draws: int = 200,
) -> tuple[list[dict], torch.Tensor, torch.Tensor]:
    """The memorization records of ``(step, samples)`` evaluations in order, from ``rhm_memo.metrics``.

    Returns the records (minus timings and ``ema``, JSON-plain), the final first-memorized steps and counts.
    Copies, counts and first steps are found in plain Python; the null model is drawn from ``seed``.
    """
    g, train, log_prob = dm.grammar, dm.train_strings, dm.train_log_prob
    num_train = train.shape[0]
    lookup = first_index(train)
    blocks = M.BlockIndex(train, g.v, g.s)
    commonness = M.commonness_scores(train, g.v, g.s)
    first = [M.NEVER] * num_train
    counts = [0] * num_train
    null = M.NullModel(log_prob, {"auc_ever": log_prob, "auc_commonness_ever": commonness}, null_draws, seed)
    records, drawn = [], 0
    for step, samples in evaluations:
        drawn += samples.shape[0]
        hits = [lookup.get(tuple(row), -1) for row in samples.tolist()]
        now = Counter(i for i in hits if i >= 0)
        for i, c in now.items():
            counts[i] += c
            if first[i] == M.NEVER:
                first[i] = step
        first_t = torch.tensor(first, dtype=torch.int64)
        now_mask = torch.tensor([now[i] > 0 for i in range(num_train)])
        ever = torch.tensor([f != M.NEVER and f <= step for f in first])
        by_quantile = M.fraction_by_quantile(log_prob, ever, bins)
        distances, _ = M.nearest_hamming(samples, train, g.v)
        copies = sum(i >= 0 for i in hits)
        records.append(
            plain(
                {
                    "schema": 1,
                    "monitor": "memorization",
                    "step": step,
                    "num_samples": samples.shape[0],
                    "copies": copies,
                    "copy_fraction": copies / samples.shape[0],
                    "novelty": 1.0 - copies / samples.shape[0],
                    "fraction_distinct": len({tuple(r) for r in samples.tolist()}) / samples.shape[0],
                    "distinct_memorized": len(now),
                    "ever_memorized": int(ever.sum()),
                    "validity": M.validity(g, samples),
                    "block_copies": blocks.copy_fractions(samples),
                    "block_copies_test": blocks.copy_fractions(dm.test_strings),
                    "auc_now": M.auc(log_prob, now_mask),
                    "auc_ever": M.auc(log_prob, ever),
                    "auc_commonness_ever": M.auc(commonness, ever),
                    "spearman_first_step": M.spearman_first_step(first_t, log_prob),
                    "quantile_edges": by_quantile["edges"],
                    "quantile_counts": by_quantile["counts"],
                    "quantile_fraction_ever": by_quantile["fraction"],
                    "hamming_histogram": M.hamming_histogram(distances, g.d),
                    "near_copy_within": {k: M.fraction_within(distances, k) for k in near_copy_k},
                    "null": null.summary(
                        copies / samples.shape[0],
                        int(ever.sum()),
                        {"auc_ever": M.auc(log_prob, ever), "auc_commonness_ever": M.auc(commonness, ever)},
                        drawn,
                    ),
                }
            )
        )
    return records, torch.tensor(first, dtype=torch.int64), torch.tensor(counts, dtype=torch.int64)


def expected_substrings(dm: RHMDataModule, step: int, samples: torch.Tensor, top_blocks: int = 20) -> dict:
    """The substring record of one evaluation (minus timings, JSON-plain), from ``rhm_memo.metrics``."""
    g, train = dm.grammar, dm.train_strings
    heights, top = {}, {}
    copied = set(map(tuple, train.tolist()))
    novel = samples[torch.tensor([tuple(r) not in copied for r in samples.tolist()], dtype=torch.bool)]
    for h in range(1, g.L + 1):
        truth = g.block_probabilities(h)
        freq = M.block_frequencies(samples, train, h, g.s, g.v, truth.values, truth.probs)
        heights[h] = M.frequency_summary(freq, 0.1)
        heights[h]["slop_index_true"] = M.slop_index_true(samples, h, g.s, g.v, truth.values, truth.probs, 0.1)
        heights[h]["slop_index_novel"] = heights[h]["slop_index_novel_null"] = math.nan
        if len(novel):
            outside = M.block_probabilities_outside(truth.values, truth.probs, train, g.log_prob(train), h, g.s, g.v)
            novel_freq = M.block_frequencies(novel, train, h, g.s, g.v, truth.values, outside)
            heights[h]["slop_index_novel"] = M.slop_index(novel_freq.f_gen, novel_freq.f_train)
            heights[h]["slop_index_novel_null"] = M.slop_index(novel_freq.f_true, novel_freq.f_train)
        order = torch.sort(freq.f_train, descending=True, stable=True).indices[:top_blocks]
        top[h] = [
            {"block": freq.values[i], "f_train": float(freq.f_train[i]), "f_gen": float(freq.f_gen[i]),
             "f_true": float(freq.f_true[i])}
            for i in order.tolist()
        ]  # fmt: skip
    return plain(
        {
            "schema": 1,
            "monitor": "substrings",
            "step": step,
            "num_samples": samples.shape[0],
            "heights": heights,
            "top_blocks": top,
            "rule_usage_gen": dict(enumerate(M.rule_usage(g, samples), start=1)),
            "rule_usage_train": dict(enumerate(M.rule_usage(g, train), start=1)),
        }
    )


def block_frequency(strings: torch.Tensor, height: int, s: int) -> dict[tuple[int, ...], float]:
    """Relative frequency of each aligned block of ``height`` pooled over positions (plain Python)."""
    width = s**height
    found = Counter(tuple(row[i : i + width]) for row in strings.tolist() for i in range(0, len(row), width))
    total = sum(found.values())
    return {b: c / total for b, c in found.items()}


def without(record: dict, *keys: str) -> dict:
    """``record`` without ``keys``."""
    return {k: v for k, v in record.items() if k not in keys}


def flat_parameters(module: torch.nn.Module) -> torch.Tensor:
    """A copy of all parameters of ``module`` as one vector."""
    return torch.cat([p.detach().flatten().clone() for p in module.parameters()])
