"""Discrete diffusion processes with one interface: forward noising, training loss, ancestral sampler."""

from rhm_memo.diffusion.base import Denoiser, DiffusionProcess, categorical
from rhm_memo.diffusion.masked import MaskedDiffusion
from rhm_memo.diffusion.uniform import UniformDiffusion

__all__ = ["Denoiser", "DiffusionProcess", "MaskedDiffusion", "UniformDiffusion", "categorical"]
