"""When monitors evaluate: log-spaced steps (k per octave), optionally every N steps and at the end."""

from __future__ import annotations

import math
from dataclasses import dataclass

from rhm_memo.checks import check_bool, check_int


@dataclass(frozen=True)
class EvalSchedule:
    """Evaluation steps: ``round(2**(i/per_octave))`` for i = 0, 1, ... (1 per octave = every power of 2), from
    ``start_step`` on.

    Args:
        per_octave: Log-spaced points per doubling of the step (0 disables them).
        every_n_steps: Also evaluate every N optimizer steps (None: never).
        at_end: Also evaluate at the end of training.
        start_step: No evaluation before this step (except at the end): dense schedules skip the early
            steps, where nothing is copied yet.
    """

    per_octave: int = 1
    every_n_steps: int | None = None
    at_end: bool = True
    start_step: int = 1

    def __post_init__(self) -> None:
        check_int("per_octave", self.per_octave, 0)
        check_int("start_step", self.start_step, 1)
        if self.every_n_steps is not None:
            check_int("every_n_steps", self.every_n_steps, 1)
        check_bool("at_end", self.at_end)

    def is_due(self, step: int) -> bool:
        """Whether ``step`` (optimizer steps done, >= 1) is an evaluation step."""
        if step < self.start_step:
            return False
        if self.every_n_steps is not None and step % self.every_n_steps == 0:
            return True
        if self.per_octave == 0:
            return False
        i = round(self.per_octave * math.log2(step))
        return any(round(2 ** (j / self.per_octave)) == step for j in (i - 1, i, i + 1))

    def steps(self, max_step: int) -> list[int]:
        """All evaluation steps in 1..max_step (the end is added by the caller when ``at_end``)."""
        check_int("max_step", max_step, 0)
        return [s for s in range(1, max_step + 1) if self.is_due(s)]
