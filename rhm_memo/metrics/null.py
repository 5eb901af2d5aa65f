"""The null model: what a perfect generalizer (the grammar's own sampler) would "memorize".

A model that has learned the grammar exactly and memorized nothing generates training string i with
probability π_i = p(x_i) per sample. Every memorization statistic means something only next to its value
under this sampler (ARCHITECTURE.md §3, docs/concepts/null.md):

- the expected copy fraction is the training set's mass ``M = Σ_i π_i``;
- the expected number of training strings ever generated in ``n`` i.i.d. draws is ``Σ_i 1 − (1 − π_i)^n``;
- the **null AUC** of a score for ``k`` memorized strings: the AUC of ``k`` distinct training strings drawn
  successively ∝ π without replacement (Gumbel-top-k), by Monte Carlo from an explicit generator; with
  uniform weights it is the uniform null (mean 0.5).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import torch

from rhm_memo.checks import check_int
from rhm_memo.metrics.prototypicality import average_ranks

#: Random draws per Monte Carlo chunk are bounded by this many (draw, string) pairs, to bound memory.
_CHUNK = 1 << 22


def _check_log_prob(log_prob: torch.Tensor) -> torch.Tensor:
    if log_prob.ndim != 1 or log_prob.numel() == 0:
        raise ValueError(f"log_prob must be a non-empty (P,) tensor, got shape {tuple(log_prob.shape)}")
    log_prob = log_prob.double()
    if torch.isnan(log_prob).any() or (log_prob > 1e-9).any():
        raise ValueError("log_prob must hold log-probabilities (<= 0, no NaN)")
    return log_prob


def training_mass(log_prob: torch.Tensor) -> float:
    """``M = Σ_i p(x_i)``: the grammar sampler's expected copy fraction (``log_prob`` with the root prior)."""
    log_prob = _check_log_prob(log_prob)
    mass = torch.logsumexp(log_prob, 0).exp().item()
    if mass > 1 + 1e-9:
        raise ValueError(f"the strings' probabilities sum to {mass:.6g} > 1: are they distinct strings?")
    return mass


def expected_ever_memorized(log_prob: torch.Tensor, num_draws: int) -> float:
    """``Σ_i 1 − (1 − π_i)^n``: training strings the grammar sampler generates at least once in ``n`` draws."""
    log_prob = _check_log_prob(log_prob)
    check_int("num_draws", num_draws, 0)
    # 1 − (1 − π)^n = −expm1(n · log1p(−π)), accurate for tiny π and large n
    return (-torch.expm1(num_draws * torch.log1p(-log_prob.exp()))).sum().item()


def draw_without_replacement(log_weights: torch.Tensor, k: int, draws: int, generator: torch.Generator) -> torch.Tensor:
    """``(draws, k)`` int64: ``k`` distinct indices per draw, drawn successively ∝ exp(log_weights).

    Successive sampling without replacement is the first ``k`` distinct values of an i.i.d. stream drawn with
    replacement; when that stream is short (k small against P and the weights not concentrated) it is drawn by
    inverse CDF in float64, else every draw takes the top k of ``log_weights`` + Gumbel noise (Gumbel-top-k,
    Kool et al. 2019), O(P) per draw. Both are exact. Entries of weight 0 (−inf) are never drawn; the order of
    the k indices within a draw is unspecified.
    """
    check_int("k", k, 0)
    check_int("draws", draws, 0)
    log_weights = log_weights.double()
    positive = int(torch.isfinite(log_weights).sum())
    if k > positive:
        raise ValueError(f"k={k} exceeds the {positive} entries of positive weight")
    if k == 0 or draws == 0:
        return torch.empty(draws, k, dtype=torch.int64, device=log_weights.device)
    probs = torch.softmax(log_weights, 0)
    top_mass = torch.topk(probs, k - 1).values.sum().item() if k > 1 else 0.0
    stream = k / max(1.0 - top_mass, 1e-12)  # ≥ the expected stream length of any draw
    if stream <= probs.numel() / 4:
        return _first_distinct(probs, k, draws, math.ceil(stream), generator)
    return _gumbel_top_k(log_weights, k, draws, generator)


def _perturbed_chunks(
    log_weights: torch.Tensor, draws: int, generator: torch.Generator
) -> Iterator[tuple[slice, torch.Tensor]]:
    """``(rows, log_weights + float64 Gumbel noise)`` for the draws in chunks of bounded memory."""
    num = log_weights.numel()
    chunk = max(1, _CHUNK // max(1, num))
    for start in range(0, draws, chunk):
        rows = min(chunk, draws - start)
        u = torch.rand(rows, num, dtype=torch.float64, generator=generator, device=log_weights.device)
        gumbel = -torch.log(-torch.log(u.clamp_min(torch.finfo(torch.float64).tiny)))
        yield slice(start, start + rows), log_weights + gumbel


def _gumbel_top_k(log_weights: torch.Tensor, k: int, draws: int, generator: torch.Generator) -> torch.Tensor:
    """Top k of ``log_weights`` + float64 Gumbel noise, per draw."""
    out = torch.empty(draws, k, dtype=torch.int64, device=log_weights.device)
    for rows, keys in _perturbed_chunks(log_weights, draws, generator):
        out[rows] = torch.topk(keys, k, dim=1, sorted=False).indices
    return out


def _first_distinct(probs: torch.Tensor, k: int, draws: int, length: int, generator: torch.Generator) -> torch.Tensor:
    """The first ``k`` distinct values of each draw's i.i.d. stream ∝ ``probs``, drawn ``length`` at a time.

    A draw that has fewer than ``k`` distinct values continues its own stream (never restarts it, which would
    bias the sample towards draws that found k quickly).
    """
    num, device = probs.numel(), probs.device
    cdf = probs.cumsum(0)
    cdf = cdf / cdf[-1]
    out = torch.empty(draws, k, dtype=torch.int64, device=device)
    have = torch.zeros(draws, dtype=torch.int64, device=device)
    seen = torch.zeros(draws, num, dtype=torch.bool, device=device)
    active = torch.arange(draws, device=device)
    while active.numel():
        u = torch.rand(active.numel(), length, dtype=torch.float64, generator=generator, device=device)
        values = torch.searchsorted(cdf, u).clamp_max(num - 1)
        # the first occurrence of each value within the row, and not seen in earlier rounds
        keys = active[:, None] * num + values
        order = torch.sort(keys.flatten(), stable=True).indices
        first = torch.ones(order.numel(), dtype=torch.bool, device=device)
        sorted_keys = keys.flatten()[order]
        first[1:] = sorted_keys[1:] != sorted_keys[:-1]
        new = torch.zeros_like(first)
        new[order] = first
        new = new.view_as(values) & ~seen[active[:, None], values]
        need = (k - have[active])[:, None]
        rank = new.cumsum(1)
        take = new & (rank <= need)
        rows, cols = take.nonzero(as_tuple=True)
        slots = have[active][rows] + rank[rows, cols] - 1
        out[active[rows], slots] = values[rows, cols]
        seen[active[rows], values[rows, cols]] = True
        have[active] += take.sum(1)
        active = active[have[active] < k]
    return out


@dataclass(frozen=True)
class NullAUC:
    """An observed AUC next to its null distribution: the null's mean and sd over ``draws`` Monte Carlo draws,
    and the one-sided p-value ``P(null ≥ observed) = (1 + #{null ≥ observed}) / (draws + 1)``."""

    observed: float
    mean: float
    sd: float
    p_value: float
    k: int
    draws: int

    def as_dict(self) -> dict[str, float | int]:
        """The fields as a plain dict (for records)."""
        return {"observed": self.observed, "mean": self.mean, "sd": self.sd, "p_value": self.p_value,
                "k": self.k, "draws": self.draws}  # fmt: skip


def successive_order(log_weights: torch.Tensor, draws: int, generator: torch.Generator) -> torch.Tensor:
    """``(draws, P)`` int32: per draw, every index in the order of a successive sample without replacement ∝
    exp(log_weights), so that the first k columns of a row are a successive sample of k for every k.

    The descending order of ``log_weights`` + float64 Gumbel noise (the full Gumbel-top-k); entries of weight 0
    come last.
    """
    check_int("draws", draws, 0)
    log_weights = log_weights.double()
    out = torch.empty(draws, log_weights.numel(), dtype=torch.int32, device=log_weights.device)
    for rows, keys in _perturbed_chunks(log_weights, draws, generator):
        out[rows] = torch.argsort(keys, dim=1, descending=True).int()
    return out


class NullModel:
    """The grammar sampler's side of every memorization statistic, for one training set.

    Built once per training set: the scores' ranks, and ``draws`` Monte Carlo draws of the order in which the
    grammar sampler (and a uniform one) first generates each training string, so that a null AUC for any
    count k costs O(draws · k) and the null of one run is the same draws at every evaluation (a smooth curve
    over training). Where ``draws`` · P exceeds ``max_orders`` entries, each call draws its k strings afresh
    (``draw_without_replacement``, seeded by ``seed`` and k) instead of keeping the orders in memory.

    Args:
        log_prob: ``(P,)`` log p(x_i) of the training strings, with the root prior (π_i = p(x_i)).
        scores: Prototypicality scores of the training strings by name (e.g. log-prob, commonness), ``(P,)``.
        draws: Monte Carlo draws R of the null AUCs (0: none).
        seed: Seed of the draws.
        max_orders: The most (draw, string) entries kept per null (int32 each).
    """

    def __init__(
        self,
        log_prob: torch.Tensor,
        scores: Mapping[str, torch.Tensor],
        draws: int = 200,
        seed: int = 0,
        max_orders: int = 1 << 26,
    ) -> None:
        self.log_prob = _check_log_prob(log_prob)
        self.mass = training_mass(self.log_prob)
        check_int("draws", draws, 0)
        self.draws, self.seed, self.max_orders = draws, seed, max_orders
        num = self.log_prob.numel()
        self.ranks: dict[str, torch.Tensor] = {}
        for name, score in scores.items():
            if tuple(score.shape) != (num,):
                raise ValueError(f"scores[{name!r}] must have shape ({num},), got {tuple(score.shape)}")
            if torch.isnan(score).any():
                raise ValueError(f"scores[{name!r}] contains NaN")
            self.ranks[name] = average_ranks(score.double())
        self._orders: dict[bool, torch.Tensor] = {}

    def expected_ever_memorized(self, num_draws: int) -> float:
        """Training strings the grammar sampler generates at least once in ``num_draws`` samples."""
        return expected_ever_memorized(self.log_prob, num_draws)

    def _log_weights(self, uniform: bool) -> torch.Tensor:
        return torch.zeros_like(self.log_prob) if uniform else self.log_prob

    def _draw(self, k: int, uniform: bool) -> torch.Tensor:
        """``(draws, k)``: the first k training strings of each draw of the (uniform or grammar) null."""
        if self.draws * self.log_prob.numel() > self.max_orders:
            generator = torch.Generator().manual_seed(self.seed + 2 * k + int(uniform))
            return draw_without_replacement(self._log_weights(uniform), k, self.draws, generator)
        if uniform not in self._orders:
            generator = torch.Generator().manual_seed(self.seed + int(uniform))
            self._orders[uniform] = successive_order(self._log_weights(uniform), self.draws, generator)
        return self._orders[uniform][:, :k].long()

    def aucs(self, k: int, observed: Mapping[str, float], uniform: bool = False) -> dict[str, NullAUC]:
        """The null AUC of every score for ``k`` memorized strings, next to the ``observed`` AUCs.

        Each draw holds the first ``k`` distinct training strings the grammar sampler generates (successive
        sampling ∝ p(x_i) without replacement), or k drawn uniformly with ``uniform=True`` (the uniform null,
        mean 0.5). All scores share the same draws. A draw's AUC is the Mann–Whitney AUC of its strings against
        the rest (ties ½), from the scores' average ranks. With ``k`` = 0 or P, or no draws, all but
        ``observed`` is NaN.
        """
        check_int("k", k, 0)
        if set(observed) != set(self.ranks):
            raise ValueError(f"observed must have the keys {sorted(self.ranks)}, got {sorted(observed)}")
        num = self.log_prob.numel()
        if k > num:
            raise ValueError(f"k={k} exceeds the number of training strings P={num}")
        if k in (0, num) or self.draws == 0:
            nan = math.nan
            return {name: NullAUC(float(observed[name]), nan, nan, nan, k, self.draws) for name in observed}
        chosen = self._draw(k, uniform)
        out = {}
        for name, ranks in self.ranks.items():
            null = (ranks[chosen].sum(1) - k * (k + 1) / 2) / (k * (num - k))
            obs = float(observed[name])
            p = (1 + int((null >= obs - 1e-12).sum())) / (self.draws + 1) if math.isfinite(obs) else math.nan
            sd = null.std().item() if self.draws > 1 else math.nan
            out[name] = NullAUC(obs, null.mean().item(), sd, p, k, self.draws)
        return out

    def summary(
        self, copy_fraction: float, ever_memorized: int, observed: Mapping[str, float], samples_drawn: int
    ) -> dict[str, float | dict[str, float]]:
        """One evaluation's null record: M, the excess copy fraction, the expected ever-memorized count after
        ``samples_drawn`` samples, and per score the grammar null and the uniform null of its ever-memorized AUC
        (``mean``, ``sd``, ``p_value``, ``draws``; keys ``NAME`` and ``NAME_uniform``)."""
        record: dict[str, float | dict[str, float]] = {
            "mass": self.mass,
            "excess_copy_fraction": copy_fraction - self.mass,
            "expected_ever_memorized": self.expected_ever_memorized(samples_drawn),
            "samples_drawn": samples_drawn,
        }
        for uniform in (False, True):
            for name, null in self.aucs(ever_memorized, observed, uniform).items():
                key = f"{name}_uniform" if uniform else name
                record[key] = {"mean": null.mean, "sd": null.sd, "p_value": null.p_value, "draws": null.draws}
        return record
