"""Sampling with the averaged weights of Lightning's ``WeightAveraging`` (e.g. ``EMAWeightAveraging``).

The one place that touches the weight-averaging callback. It relies on one public, documented behaviour of
``lightning.pytorch.callbacks.WeightAveraging``: ``on_validation_epoch_start`` "transfers parameter values
from the AveragedModel to the current model" and ``on_validation_epoch_end`` "recovers the current model
parameters" (Lightning ≥ 2.6). ``tests/callbacks/test_monitors.py`` checks that the weights inside the
context are the averaged ones and that the raw ones come back, so a change of that behaviour fails a test.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import lightning as L
from lightning.pytorch.callbacks import WeightAveraging


def weight_averaging(trainer: L.Trainer) -> WeightAveraging | None:
    """The trainer's weight-averaging callback, if it has one."""
    return next((c for c in trainer.callbacks if isinstance(c, WeightAveraging)), None)


@contextmanager
def averaged_weights(trainer: L.Trainer, pl_module: L.LightningModule, use: bool = True) -> Iterator[bool]:
    """Inside the block the module holds the averaged weights (when ``use`` and the trainer averages weights);
    the raw weights are restored on exit, also after an exception. Yields whether averaged weights are in."""
    averaging = weight_averaging(trainer) if use else None
    if averaging is None:
        yield False
        return
    averaging.on_validation_epoch_start(trainer, pl_module)
    try:
        yield True
    finally:
        averaging.on_validation_epoch_end(trainer, pl_module)
