"""Argument checks shared by every layer (grammar, data, processes, backbones, module, callbacks)."""

from __future__ import annotations


def check_int(name: str, value: object, low: int) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value`` is an integer (not a bool) ``>= low``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
