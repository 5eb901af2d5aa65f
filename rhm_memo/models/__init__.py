"""Denoiser backbones: ``forward(x_t (B, d) int64, cond (B,)) → logits of x_0 (B, d, out_size)``; no Lightning."""

from rhm_memo.models.transformer import DiffusionTransformer
from rhm_memo.models.unet import HierarchicalUNet

__all__ = ["DiffusionTransformer", "HierarchicalUNet"]
