"""EvalSchedule (when the monitors evaluate) and SampleSpec (what they sample): steps and argument checks."""

import pytest

from rhm_memo.callbacks import EvalSchedule, MemorizationMonitor, SampleSpec, SubstringMonitor


def brute_force(per_octave: int, every_n_steps: int | None, max_step: int) -> list[int]:
    """The documented steps: round(2**(i/k)) for i = 0, 1, ... and the multiples of every_n_steps, up to max_step."""
    steps = set()
    if per_octave:
        i = 0
        while round(2 ** (i / per_octave)) <= max_step:
            steps.add(round(2 ** (i / per_octave)))
            i += 1
    if every_n_steps:
        steps |= set(range(every_n_steps, max_step + 1, every_n_steps))
    return sorted(steps)


def test_one_per_octave_is_powers_of_two():
    """per_octave=1 evaluates at 1, 2, 4, 8, ... and nowhere else."""
    schedule = EvalSchedule(per_octave=1)
    assert schedule.steps(1000) == [2**i for i in range(10)]
    assert not schedule.is_due(0) and not schedule.is_due(3) and not schedule.is_due(1023)
    assert schedule.is_due(2**20)


def test_two_per_octave_rounds_and_deduplicates():
    """per_octave=2 gives round(2**(i/2)) without repeats: 1, 2, 3, 4, 6, 8, 11, 16, 23, 32, 45, 64."""
    assert EvalSchedule(per_octave=2).steps(64) == [1, 2, 3, 4, 6, 8, 11, 16, 23, 32, 45, 64]


@pytest.mark.parametrize("per_octave", [1, 2, 3, 5, 8, 16])
@pytest.mark.parametrize("every_n_steps", [None, 1, 7, 100])
def test_steps_match_the_definition(per_octave, every_n_steps):
    """steps(max) equals the documented set for many densities, and is_due agrees with it at every step."""
    schedule = EvalSchedule(per_octave=per_octave, every_n_steps=every_n_steps)
    expected = brute_force(per_octave, every_n_steps, 3000)
    assert schedule.steps(3000) == expected
    due = [s for s in range(-2, 3001) if schedule.is_due(s)]
    assert due == expected


def test_every_n_steps_adds_multiples():
    """every_n_steps=5 with one per octave adds 5, 10, 15, ... to the powers of two."""
    assert EvalSchedule(per_octave=1, every_n_steps=5).steps(20) == [1, 2, 4, 5, 8, 10, 15, 16, 20]


def test_zero_per_octave_with_every_n_steps_only():
    """per_octave=0 disables the log-spaced points: only multiples of every_n_steps (none without it)."""
    assert EvalSchedule(per_octave=0, every_n_steps=3).steps(12) == [3, 6, 9, 12]
    assert not EvalSchedule(per_octave=0, every_n_steps=3).is_due(1)
    assert EvalSchedule(per_octave=0).steps(100) == []


def test_steps_before_the_first_are_never_due():
    """Step 0 and negative steps are never evaluation steps, even with every_n_steps=1; steps(0) is empty."""
    schedule = EvalSchedule(per_octave=4, every_n_steps=1)
    assert not schedule.is_due(0) and not schedule.is_due(-4)
    assert schedule.steps(0) == []
    assert schedule.steps(1) == [1]


def test_start_step_drops_the_earlier_steps_only():
    """With start_step, the schedule is the same set of steps from start_step on, and nothing before."""
    full, late = (
        EvalSchedule(per_octave=4, every_n_steps=100),
        EvalSchedule(per_octave=4, every_n_steps=100, start_step=500),
    )
    assert late.steps(5000) == [s for s in full.steps(5000) if s >= 500]
    assert late.steps(5000)[:4] == [500, 512, 600, 609]


@pytest.mark.parametrize(
    "kwargs",
    [{"per_octave": -1}, {"per_octave": 1.5}, {"per_octave": "2"}, {"per_octave": None},
     {"every_n_steps": 0}, {"every_n_steps": -5}, {"every_n_steps": 2.0}, {"every_n_steps": "3"},
     {"start_step": 0}, {"start_step": 1.5}],
)  # fmt: skip
def test_bad_schedule_arguments(kwargs):
    """A negative or non-integer per_octave, or an every_n_steps that is not a positive integer, is rejected."""
    with pytest.raises(ValueError):
        EvalSchedule(**kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [{"num_samples": 0}, {"num_samples": -3}, {"num_samples": 2.5}, {"num_samples": "10"},
     {"batch_size": 0}, {"batch_size": -1}, {"batch_size": 64.0}, {"batch_size": None}],
)  # fmt: skip
def test_bad_sample_spec_sizes(kwargs):
    """SampleSpec rejects a num_samples or batch_size that is not an integer >= 1."""
    with pytest.raises(ValueError):
        SampleSpec(**kwargs)


@pytest.mark.parametrize("monitor", [MemorizationMonitor, SubstringMonitor])
@pytest.mark.parametrize(
    "kwargs", [{"num_samples": 0}, {"batch_size": -1}, {"per_octave": -1}, {"every_n_steps": 0}, {"start_step": 0}]
)
def test_monitors_check_their_arguments(monitor, kwargs):
    """Both monitors reject bad sampling sizes and schedules at construction."""
    with pytest.raises(ValueError):
        monitor(**kwargs)


def test_sample_spec_is_hashable_and_compares_by_value():
    """Specs compare by value (the shared-samples cache matches on them): equal fields, equal specs."""
    assert SampleSpec(64, None, 32, 0, True) == SampleSpec(64, None, 32, 0, True)
    assert hash(SampleSpec(64, None, 32, 0, True)) == hash(SampleSpec(64, None, 32, 0, True))
    assert SampleSpec(64, None, 32, 0, True) != SampleSpec(64, None, 32, 1, True)
    assert (
        MemorizationMonitor(num_samples=64, batch_size=32).spec == SubstringMonitor(num_samples=64, batch_size=32).spec
    )
