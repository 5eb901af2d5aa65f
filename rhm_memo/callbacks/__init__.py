"""Lightning callbacks that evaluate during training: memorization, substring statistics, membership inference."""

from rhm_memo.callbacks.base import SamplingMonitor, ScheduledMonitor
from rhm_memo.callbacks.ema import averaged_weights
from rhm_memo.callbacks.memorization import MemorizationMonitor
from rhm_memo.callbacks.predictions import PredictionEvaluator
from rhm_memo.callbacks.privacy import PrivacyMonitor
from rhm_memo.callbacks.records import RunRecords, run_directory
from rhm_memo.callbacks.sampling import Drawn, SampleSpec, forget_samples, monitor_samples, shared_samples
from rhm_memo.callbacks.schedule import EvalSchedule
from rhm_memo.callbacks.substrings import SubstringMonitor

__all__ = [
    "Drawn",
    "EvalSchedule",
    "MemorizationMonitor",
    "PredictionEvaluator",
    "PrivacyMonitor",
    "RunRecords",
    "SampleSpec",
    "SamplingMonitor",
    "ScheduledMonitor",
    "SubstringMonitor",
    "averaged_weights",
    "forget_samples",
    "monitor_samples",
    "run_directory",
    "shared_samples",
]
