"""Lightning callbacks that sample during training and record memorization and substring statistics."""

from rhm_memo.callbacks.memorization import MemorizationMonitor
from rhm_memo.callbacks.records import RunRecords, run_directory
from rhm_memo.callbacks.sampling import SampleSpec, monitor_samples
from rhm_memo.callbacks.schedule import EvalSchedule
from rhm_memo.callbacks.substrings import SubstringMonitor

__all__ = [
    "EvalSchedule",
    "MemorizationMonitor",
    "RunRecords",
    "SampleSpec",
    "SubstringMonitor",
    "monitor_samples",
    "run_directory",
]
