"""Rule-probability helpers: Zipf laws at any set of levels, per-level and per-symbol arrays, root priors.

Levels are counted from the top (level 1 expands the root, level L emits the visible tokens), as in the
paper's ``zipf_layer``. All probabilities are float64 tensors.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence

import torch

ProbSpec = Sequence[float] | Sequence[Sequence[float]] | torch.Tensor

#: Rows of a probability array may deviate from 1 by at most this much before we call it an error.
SUM_TOLERANCE = 1e-6


def zipf_probs(m: int, exponent: float) -> torch.Tensor:
    """Zipf law over ``m`` ranked rules: ``p_k ∝ k**(-exponent)`` for k = 1..m (float64, shape ``(m,)``)."""
    if m < 1:
        raise ValueError(f"m must be >= 1, got m={m}")
    if not _real(exponent) or not math.isfinite(exponent) or exponent < 0:
        raise ValueError(f"zipf_exponent must be a finite real >= 0, got {exponent!r}")
    weights = torch.arange(1, m + 1, dtype=torch.float64).pow(-float(exponent))
    return weights / weights.sum()


def check_probs(probs: ProbSpec, shape: tuple[int, ...], name: str) -> torch.Tensor:
    """Validate a probability array (non-negative, finite, rows summing to 1) and return it as float64."""
    p = torch.as_tensor(probs, dtype=torch.float64).clone()
    if tuple(p.shape) != shape:
        raise ValueError(f"{name} must have shape {shape}, got {tuple(p.shape)}")
    if not torch.isfinite(p).all() or (p < 0).any():
        raise ValueError(f"{name} must be finite and non-negative")
    sums = p.sum(-1)
    if ((sums - 1).abs() > SUM_TOLERANCE).any():
        raise ValueError(
            f"{name} must sum to 1 along its last axis (tolerance {SUM_TOLERANCE}), got sums {sums.tolist()}"
        )
    return p / sums.unsqueeze(-1)


def level_rule_probs(
    num_parents: Sequence[int],
    m: int,
    zipf_exponent: float = 0.0,
    zipf_levels: Sequence[int] = (),
    rule_probs: Mapping[int, ProbSpec] | None = None,
) -> list[torch.Tensor]:
    """Per-level rule probabilities, one ``(num_parents[ℓ-1], m)`` float64 tensor per level ℓ = 1..L.

    Levels default to uniform; ``zipf_levels`` get a Zipf law with ``zipf_exponent``; ``rule_probs`` maps a
    level to an explicit ``(m,)`` array (shared by all symbols) or ``(symbols, m)`` array (one row per symbol).
    A level may not be given both a Zipf law and an explicit array.
    """
    L = len(num_parents)
    if not _real(zipf_exponent) or not math.isfinite(zipf_exponent) or zipf_exponent < 0:
        raise ValueError(f"zipf_exponent must be a finite real >= 0, got {zipf_exponent!r}")
    rule_probs = dict(rule_probs or {})
    for name, levels in [("zipf_levels", zipf_levels), ("rule_probs", rule_probs)]:
        for level in levels:
            if not isinstance(level, int) or isinstance(level, bool) or not 1 <= level <= L:
                raise ValueError(f"{name}: levels must be integers in 1..L={L} (counted from the top), got {level!r}")
    clash = set(zipf_levels) & set(rule_probs)
    if clash and zipf_exponent != 0:
        raise ValueError(f"levels {sorted(clash)} are given both a Zipf law and explicit rule_probs; choose one")
    out = []
    for level, parents in enumerate(num_parents, start=1):
        if level in rule_probs:
            spec = torch.as_tensor(rule_probs[level], dtype=torch.float64)
            if spec.ndim == 1:
                p = check_probs(spec, (m,), f"rule_probs[{level}]").expand(parents, m)
            else:
                p = check_probs(spec, (parents, m), f"rule_probs[{level}]")
        elif level in zipf_levels:
            p = zipf_probs(m, zipf_exponent).expand(parents, m)
        else:
            p = torch.full((parents, m), 1.0 / m, dtype=torch.float64)
        out.append(p.contiguous())
    return out


def root_prior_probs(n: int, root_prior: ProbSpec | None = None) -> torch.Tensor:
    """The prior over the ``n`` root symbols: uniform by default, else a validated ``(n,)`` array."""
    if root_prior is None:
        return torch.full((n,), 1.0 / n, dtype=torch.float64)
    return check_probs(root_prior, (n,), "root_prior")


def _real(x: object) -> bool:
    """Whether ``x`` is a real number (not a bool)."""
    return isinstance(x, numbers.Real) and not isinstance(x, bool)
