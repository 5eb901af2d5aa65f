"""Denoiser backbones: ``forward(x_t (B, d) int64, cond (B,)) → logits of x_0 (B, d, out_size)``; no Lightning.

Each is a :class:`Backbone` built as ``Net(inputs: BackboneInputs, **hyperparameters)``.
"""

from rhm_memo.models.base import Backbone, BackboneInputs
from rhm_memo.models.transformer import DiffusionTransformer
from rhm_memo.models.unet import HierarchicalUNet

__all__ = ["Backbone", "BackboneInputs", "DiffusionTransformer", "HierarchicalUNet"]
