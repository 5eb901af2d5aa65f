"""PrivacyMonitor: membership inference against the training strings, with the grammar as the reference model.

Thin glue: the loss is ``DiffusionModule.negative_elbo`` and the attacks are ``rhm_memo.metrics.privacy``; this
callback schedules, splits the strings over ranks, gathers their losses, logs and persists on global rank zero.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from typing_extensions import override

from rhm_memo import metrics as M
from rhm_memo.callbacks.base import ScheduledMonitor
from rhm_memo.callbacks.ema import averaged_weights
from rhm_memo.callbacks.sampling import evaluation_generator
from rhm_memo.checks import check_bool, check_int, check_seed
from rhm_memo.runs import PRIVACY_FILE


class PrivacyMonitor(ScheduledMonitor):
    """Can an attacker tell training strings from held-out ones by the model's loss on them?

    At each evaluation it estimates the negative ELBO (the per-string diffusion loss) of ``num_strings``
    training strings (members) and as many held-out strings (non-members), and records two attacks (docs/
    concepts/privacy.md): the loss attack (score ``−loss``) and the calibrated attack (score ``−loss − log p``,
    the likelihood ratio against the grammar, the exact reference model), their AUC and TPR at 1% and 0.1% FPR,
    and exposure vs prototypicality (the calibrated AUC per log-p quantile bin, the Spearman correlation of the
    members' calibrated scores with log p). The strings are split over ranks and their losses gathered; the
    per-string losses of every evaluation go to ``privacy.npz`` and the checkpoint.

    Args:
        num_strings: Members and non-members each (a fixed random subset, the same at every evaluation; at
            most P and the number of held-out strings). None: all of them.
        num_times: Noise levels per string of the ELBO estimate (stratified; for a uniform process, T or more
            sums every step once).
        batch_size: Denoiser rows per call (strings per call × ``num_times``).
        per_octave: Log-spaced evaluations per doubling of the step (1: every power of 2; 0: none).
        every_n_steps: Also evaluate every N optimizer steps.
        at_end: Also evaluate at the end of training.
        start_step: No evaluation before this step (except at the end).
        use_ema: Use the EMA weights when an ``EMAWeightAveraging`` callback is present.
        bins: Log-p quantile bins for the exposure per bin.
        seed: Seed of the subsets and of the noise (combined with the step and the rank).
        out_dir: Where to write the records (None: the run directory).
    """

    name = "privacy"

    def __init__(
        self,
        num_strings: int | None = 256,
        num_times: int = 16,
        batch_size: int = 4096,
        per_octave: int = 1,
        every_n_steps: int | None = None,
        at_end: bool = True,
        start_step: int = 1,
        use_ema: bool = True,
        bins: int = 5,
        seed: int = 0,
        out_dir: str | None = None,
    ) -> None:
        super().__init__(per_octave, every_n_steps, at_end, out_dir, start_step)
        if num_strings is not None:
            check_int("num_strings", num_strings, 1)
        check_int("num_times", num_times, 1)
        check_int("batch_size", batch_size, 1)
        check_int("bins", bins, 1)
        check_bool("use_ema", use_ema)
        check_seed("seed", seed)
        self.num_strings = num_strings
        self.num_times = num_times
        self._num_times = num_times  # the noise levels last used (a uniform process's T at most)
        self.batch_size = batch_size
        self.use_ema = use_ema
        self.bins = bins
        self.seed = seed
        self.history: dict[str, list] = {"steps": [], "members": [], "nonmembers": []}

    # ------------------------------------------------------------------ set-up and state
    @override
    def prepare(self, trainer: L.Trainer) -> None:
        """The subsets (the same on every rank) and this rank's share of the strings."""
        dm = self.dm
        if len(dm.test_strings) == 0:
            raise ValueError("PrivacyMonitor needs held-out strings (data.test_size >= 1)")
        g = torch.Generator().manual_seed(self.seed)
        self.member_index = self._subset(dm.train_strings.shape[0], g)
        self.nonmember_index = self._subset(dm.test_strings.shape[0], g)
        strings = torch.cat([dm.train_strings[self.member_index], dm.test_strings[self.nonmember_index]])
        self.num_total = strings.shape[0]
        per_rank = -(-self.num_total // trainer.world_size)
        share = strings[trainer.global_rank * per_rank : (trainer.global_rank + 1) * per_rank]
        pad = per_rank - share.shape[0]  # the last ranks of an uneven split repeat a string; cut after gathering
        self.local = torch.cat([share, strings[:1].expand(pad, -1)]) if pad else share

    def _subset(self, size: int, generator: torch.Generator) -> torch.Tensor:
        """Sorted indices of ``num_strings`` of ``size`` strings (all of them when None or larger)."""
        if self.num_strings is None or self.num_strings >= size:
            return torch.arange(size)
        return torch.randperm(size, generator=generator)[: self.num_strings].sort().values

    @override
    def state_dict(self) -> dict[str, Any]:
        return {key: list(values) for key, values in self.history.items()}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = {key: list(state_dict[key]) for key in ("steps", "members", "nonmembers")}
        if self.history["steps"]:  # the checkpoint's last evaluation is not repeated at the end of a resumed fit
            self._last_step = self.history["steps"][-1]

    # ------------------------------------------------------------------ evaluation
    @override
    def evaluate(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any] | None:
        """Every rank: the losses of its share of the strings; rank zero: the attacks, logged and recorded."""
        step = trainer.global_step
        self._last_step = step
        generator = evaluation_generator(pl_module.device, self.seed, step, trainer.global_rank)
        self._num_times = pl_module.process.elbo_times(self.num_times)  # what is used: a uniform process's T at most
        start = time.perf_counter()
        with averaged_weights(trainer, pl_module, self.use_ema) as used_ema:
            with torch.inference_mode(), trainer.precision_plugin.forward_context():
                local = pl_module.negative_elbo(self.local, self._num_times, generator, self.batch_size)
        losses = pl_module.all_gather(local).reshape(-1)[: self.num_total] if trainer.world_size > 1 else local
        seconds = time.perf_counter() - start
        if not trainer.is_global_zero:
            return None
        losses = losses.double().cpu()
        record = self.compute(losses, step)
        record["seconds"] = seconds
        record["ema"] = used_ema
        self.publish(trainer, record)
        return record

    def compute(self, losses: torch.Tensor, step: int) -> dict[str, Any]:
        """The record of one evaluation from the ``(members + non-members,)`` losses (rank zero)."""
        members, nonmembers = losses[: len(self.member_index)], losses[len(self.member_index) :]
        self.history["steps"].append(step)
        self.history["members"].append(members.float())  # tensors: checkpoints load with weights_only=True
        self.history["nonmembers"].append(nonmembers.float())
        dm = self.dm
        attacks = M.membership_inference(members, nonmembers, dm.train_log_prob[self.member_index],
                                         dm.test_log_prob[self.nonmember_index], self.bins)  # fmt: skip
        return {
            "monitor": self.name,
            "step": step,
            "num_members": len(self.member_index),
            "num_nonmembers": len(self.nonmember_index),
            "num_times": self._num_times,
            **attacks,
        }

    @override
    def log_record(self, trainer: L.Trainer, record: dict[str, Any], *media: Any) -> None:
        """Scalars under ``privacy/…`` to every logger (docs/records.md)."""
        scalars = {f"privacy/{k}": float(record[k]) for k in ("auc_loss", "auc_calibrated", "auc_grammar",
                                                              "spearman_calibrated_log_prob")}  # fmt: skip
        scalars["privacy/nelbo_train"] = record["loss_members"]
        scalars["privacy/nelbo_heldout"] = record["loss_nonmembers"]
        for attack in ("loss", "calibrated"):
            for fpr, tpr in record[f"tpr_{attack}"].items():
                scalars[f"privacy/tpr_{attack}_fpr{fpr:.0e}".replace("e-0", "e-")] = tpr
        for b, value in enumerate(record["by_quantile"]["auc_calibrated"]):
            scalars[f"privacy/auc_calibrated_q{b}"] = value
        for logger in trainer.loggers:
            logger.log_metrics(scalars, step=record["step"])

    @override
    def persist(self) -> None:
        """Rewrite ``privacy.npz``: the per-string losses of every evaluation, the subsets and their log p."""
        dm = self.dm
        self.records.save_arrays(
            Path(PRIVACY_FILE).stem,
            steps=np.array(self.history["steps"], dtype=np.int64),
            loss_members=torch.stack(self.history["members"]).numpy(),
            loss_nonmembers=torch.stack(self.history["nonmembers"]).numpy(),
            member_index=self.member_index.numpy(),
            nonmember_index=self.nonmember_index.numpy(),
            log_prob_members=dm.train_log_prob[self.member_index].numpy(),
            log_prob_nonmembers=dm.test_log_prob[self.nonmember_index].numpy(),
        )
