"""Lightning callbacks that sample during training and record memorization and substring statistics."""

from rhm_memo.callbacks.ema import averaged_weights
from rhm_memo.callbacks.memorization import MemorizationMonitor
from rhm_memo.callbacks.records import RunRecords, run_directory
from rhm_memo.callbacks.sampling import Drawn, SampleSpec, forget_samples, monitor_samples, shared_samples
from rhm_memo.callbacks.schedule import EvalSchedule
from rhm_memo.callbacks.substrings import SubstringMonitor

__all__ = [
    "Drawn",
    "EvalSchedule",
    "MemorizationMonitor",
    "RunRecords",
    "SampleSpec",
    "SubstringMonitor",
    "averaged_weights",
    "forget_samples",
    "monitor_samples",
    "run_directory",
    "shared_samples",
]
