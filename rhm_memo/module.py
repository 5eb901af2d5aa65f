"""DiffusionModule: a discrete diffusion process wrapped around a denoiser backbone, as a LightningModule."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import lightning as L
import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from typing_extensions import override

from rhm_memo.checks import check_bool, check_int, check_seed, check_strings
from rhm_memo.diffusion import DiffusionProcess, UniformDiffusion
from rhm_memo.models import Backbone, BackboneInputs, DiffusionTransformer

#: ``process(vocab_size)``: a process class, or a ``class_path`` config without ``vocab_size``.
ProcessFactory = Callable[[int], DiffusionProcess]
#: ``net(inputs)``: a :class:`Backbone` subclass, or a ``class_path`` config of one without ``inputs``.
BackboneFactory = Callable[[BackboneInputs], Backbone]


def _adam(params: Iterable) -> torch.optim.Optimizer:
    """The default optimizer: Adam, lr 1e-3."""
    return torch.optim.Adam(params, lr=1e-3)


class DiffusionModule(L.LightningModule):
    """Trains ``net`` to denoise RHM strings under ``process``; samples strings with :meth:`sample`.

    The process and the backbone are given as factories (``class_path`` + ``init_args`` in YAML, without
    the sizes): the module calls ``process(vocab_size)``, then ``net(inputs)`` with
    ``inputs = BackboneInputs(process.input_size, vocab_size, seq_len, s, process.cond_schedule())``, so sizes
    are never repeated in configs (the CLI links ``vocab_size``, ``seq_len`` and ``s`` from the data).

    Args:
        vocab_size: Number of tokens v (linked from the data module by the CLI).
        seq_len: Tokens per string d = s**L (linked from the data module by the CLI).
        s: Symbols per rule s of the grammar (linked from the data module by the CLI); None if unknown (the
            U-Net needs it, the transformer does not).
        process: Diffusion process factory, e.g. ``rhm_memo.diffusion.UniformDiffusion``.
        net: Backbone factory: a ``rhm_memo.models.Backbone`` subclass, e.g. ``DiffusionTransformer`` or
            ``HierarchicalUNet``, called with the ``BackboneInputs``.
        n_trajectories: Independent noisings (t and noise) of each training string per step (paper: 32).
        optimizer: Optimizer factory (default Adam, lr 1e-3).
        lr_scheduler: Optional learning-rate scheduler factory (stepped every optimizer step).
        compile: Compile the backbone in place with ``torch.compile`` (checkpoint keys stay unchanged).
        val_windows: Number of equal noise windows of t for the per-window validation loss.
        noise_seed: Seed of the training noise; each rank uses ``noise_seed + global_rank``.
        val_seed: Seed of the validation noise (the same at every validation, so losses are comparable).
    """

    def __init__(
        self,
        vocab_size: int,
        seq_len: int,
        s: int | None = None,
        process: ProcessFactory = UniformDiffusion,
        net: BackboneFactory = DiffusionTransformer,
        n_trajectories: int = 1,
        optimizer: OptimizerCallable = _adam,
        lr_scheduler: LRSchedulerCallable | None = None,
        compile: bool = False,
        val_windows: int = 10,
        noise_seed: int = 0,
        val_seed: int = 12345,
    ) -> None:
        super().__init__()
        # Under the CLI the factories are saved as their class_path configs (plain data), so
        # ``DiffusionModule.load_from_checkpoint(path)`` rebuilds the model; factories passed from Python are
        # code, not data, and are left out (checkpoints stay loadable with ``weights_only=True``).
        self.save_hyperparameters()
        code = [k for k in ("process", "net", "optimizer", "lr_scheduler") if callable(self.hparams.get(k))]
        # an unset ``s`` is left out too: the data module's ``s`` would clash with it when a logger merges them
        left_out = code + (["s"] if s is None else [])
        if left_out:
            self.save_hyperparameters(ignore=left_out)
        for name, value in [("vocab_size", vocab_size), ("seq_len", seq_len), ("n_trajectories", n_trajectories),
                            ("val_windows", val_windows)]:  # fmt: skip
            check_int(name, value, 1)
        check_seed("noise_seed", noise_seed)
        check_seed("val_seed", val_seed)
        check_bool("compile", compile)
        self.vocab_size, self.seq_len = vocab_size, seq_len
        self.process = process(vocab_size)
        self.net = net(
            BackboneInputs(
                input_size=self.process.input_size,
                vocab_size=vocab_size,
                seq_len=seq_len,
                s=s,
                cond_schedule=tuple(self.process.cond_schedule().tolist()),
            )
        )
        if compile:
            self.net.compile()
        self.n_trajectories = n_trajectories
        self.optimizer_factory = optimizer
        self.lr_scheduler_factory = lr_scheduler
        self.val_windows = val_windows
        self._noise: torch.Generator | None = None
        self._noise_state: torch.Tensor | None = None

    @override
    def forward(self, x_t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Denoiser logits of x_0: ``(B, d)`` tokens and ``(B,)`` conditioning → ``(B, d, v)``."""
        return self.net(x_t, cond)

    # ------------------------------------------------------------------ training
    def _noise_generator(self) -> torch.Generator:
        """The training-noise generator of this rank, created on the module's device at first use.

        It is seeded with ``noise_seed + global_rank``, or restored from the checkpoint being resumed (when
        that checkpoint was written on the same kind of device).
        """
        if self._noise is None or self._noise.device != self.device:
            self._noise = torch.Generator(device=self.device)
            self._noise.manual_seed(self.hparams.noise_seed + self.global_rank)
            if self._noise_state is not None:
                try:
                    self._noise.set_state(self._noise_state)
                except RuntimeError:  # a state from another device type: keep the fresh seed
                    pass
                self._noise_state = None
        return self._noise

    @override
    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        out = self.process.loss(self.net, batch["x"], self.n_trajectories, self._noise_generator())
        self.log("train/loss", out["loss"], prog_bar=True, batch_size=batch["x"].shape[0])
        return out["loss"]

    @override
    def on_validation_epoch_start(self) -> None:
        self._val_noise = torch.Generator(device=self.device)
        self._val_noise.manual_seed(self.hparams.val_seed + self.global_rank)

    @override
    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._eval_step(batch, "val")

    @override
    def on_test_epoch_start(self) -> None:
        self.on_validation_epoch_start()

    @override
    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._eval_step(batch, "test")

    def _eval_step(self, batch: dict[str, torch.Tensor], stage: str) -> None:
        """Loss per noise window (t stratified over ``val_windows`` equal windows) and their mean."""
        x0 = batch["x"]
        losses = []
        for w in range(self.val_windows):
            t = self.process.window_time(x0.shape[0], w, self.val_windows, self._val_noise, self.device)
            loss = self.process.loss_at(self.net, x0, t, self._val_noise)["loss"]
            self.log(f"{stage}/loss_window_{w}", loss, sync_dist=True, batch_size=x0.shape[0])
            losses.append(loss)
        self.log(f"{stage}/loss", torch.stack(losses).mean(), prog_bar=True, sync_dist=True, batch_size=x0.shape[0])

    @override
    def predict_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> dict[str, torch.Tensor]:
        """Sample one string per row index of the batch: ``{"index": (B,), "x": (B, d)}``.

        The generator is seeded by ``noise_seed`` and the batch's first row index, so the strings depend on the
        seed and on how the indices are batched over ranks, not on which rank draws them.
        """
        index = batch["index"]
        generator = torch.Generator(device=self.device)
        generator.manual_seed(1_000_003 * self.hparams.noise_seed + int(index[0]))
        samples = self.sample(index.numel(), generator, batch_size=index.numel())
        return {"index": index, "x": samples}

    @override
    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer_factory(self.parameters())
        if self.lr_scheduler_factory is None:
            return optimizer
        scheduler = self.lr_scheduler_factory(optimizer)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    @override
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if self._noise is not None:
            checkpoint["noise_generator_state"] = self._noise.get_state()

    @override
    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self._noise, self._noise_state = None, checkpoint.get("noise_generator_state")

    # ------------------------------------------------------------------ sampling
    @torch.no_grad()
    def sample(
        self,
        num: int,
        generator: torch.Generator | int,
        steps: int | None = None,
        batch_size: int = 4096,
    ) -> torch.Tensor:
        """``(num, seq_len)`` strings from the model (eval mode, ``batch_size`` strings per sampler call).

        ``generator``: a ``torch.Generator`` (CPU or the module's device) or an int seed (a CPU generator).
        """
        check_int("num", num, 0)
        check_int("batch_size", batch_size, 1)
        if isinstance(generator, int):
            generator = torch.Generator().manual_seed(generator)
        was_training = self.net.training
        self.net.eval()
        try:
            chunks = [
                self.process.sample(self.net, min(batch_size, num - start), self.seq_len, generator, steps, self.device)
                for start in range(0, num, batch_size)
            ]
        finally:
            self.net.train(was_training)
        return torch.cat(chunks) if chunks else torch.zeros(0, self.seq_len, dtype=torch.int64, device=self.device)

    # ------------------------------------------------------------------ per-string likelihood
    @torch.no_grad()
    def negative_elbo(
        self,
        x0: torch.Tensor,
        num_times: int | None = None,
        generator: torch.Generator | int | None = None,
        batch_size: int = 4096,
    ) -> torch.Tensor:
        """``(B,)`` float64: each string's negative ELBO in nats, the per-string diffusion loss (eval mode).

        An unbiased estimate over ``num_times`` noise levels per string (``DiffusionProcess.negative_elbo``;
        default: every step of a uniform process, ``num_steps`` levels of a masked one; more than a uniform
        process's T is lowered to T, every step once), with about ``batch_size`` denoiser rows per call.
        ``generator``: a ``torch.Generator``, an int seed (a CPU generator), or None (the device's default
        generator).
        """
        check_int("batch_size", batch_size, 1)
        x0 = check_strings(x0, "x0", d=self.seq_len, allow_empty=True)
        if isinstance(generator, int):
            generator = torch.Generator().manual_seed(generator)
        if generator is not None and not isinstance(generator, torch.Generator):
            got = type(generator).__name__
            raise ValueError(f"generator must be a torch.Generator, an int seed or None, got {got}")
        num_times = self.process.elbo_times(num_times)
        x0 = x0.to(self.device)
        per_call = max(1, batch_size // num_times)
        was_training = self.net.training
        self.net.eval()
        try:
            chunks = [self.process.negative_elbo(self.net, x0[i : i + per_call], num_times, generator)
                      for i in range(0, x0.shape[0], per_call)]  # fmt: skip
        finally:
            self.net.train(was_training)
        return torch.cat(chunks) if chunks else torch.zeros(0, dtype=torch.float64, device=self.device)
