"""Argument checks shared by every layer (grammar, data, processes, backbones, module, callbacks)."""

from __future__ import annotations

import torch


def check_int(name: str, value: object, low: int) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value`` is an integer (not a bool) ``>= low``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


def check_seed(name: str, value: object) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value`` is an integer (not a bool) that torch accepts as a seed."""
    if not isinstance(value, int) or isinstance(value, bool) or not -(2**63) <= value < 2**64:
        raise ValueError(f"{name} must be an integer seed (-2**63 .. 2**64 - 1), got {value!r}")


def check_bool(name: str, value: object) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value`` is ``True`` or ``False``."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")


def check_strings(
    strings: torch.Tensor, name: str, v: int | None = None, d: int | None = None, allow_empty: bool = False
) -> torch.Tensor:
    """Validate ``(N, d)`` integer tokens (in 0..v-1 if ``v`` is given; N >= 1 unless ``allow_empty``) as int64."""
    if not isinstance(strings, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape (N, d), got {type(strings).__name__}")
    if strings.dtype.is_floating_point or strings.dtype.is_complex or strings.dtype == torch.bool:
        raise ValueError(f"{name} must be an integer tensor of shape (N, d), got dtype {strings.dtype}")
    if strings.ndim != 2 or (d is not None and strings.shape[1] != d):
        want = f"(N, {d})" if d is not None else "(N, d)"
        raise ValueError(f"{name} must have shape {want}, got {tuple(strings.shape)}")
    if strings.shape[0] == 0 and not allow_empty:
        raise ValueError(f"{name} is empty: need at least one string")
    strings = strings.long()
    if v is not None and strings.numel() and (strings.min() < 0 or strings.max() >= v):
        raise ValueError(f"{name} must hold tokens in 0..v-1 = 0..{v - 1}")
    return strings
