"""Arms, trials, the store, the executors and the scheduling of trials."""

from bisect_ml.lab._arm import Arm
from bisect_ml.lab._executors import EXECUTORS, Executor, WorkerLost, get_executor
from bisect_ml.lab._lab import FailedTrial, Lab, Progress, arm_key, trial_key
from bisect_ml.lab._store import SCHEMA_VERSION, Store, StoreInfo, TrialRecord
from bisect_ml.lab._worker import TrialError, TrialTask, run_trial

__all__ = [
    "EXECUTORS",
    "SCHEMA_VERSION",
    "Arm",
    "Executor",
    "FailedTrial",
    "Lab",
    "Progress",
    "Store",
    "StoreInfo",
    "TrialError",
    "TrialRecord",
    "TrialTask",
    "WorkerLost",
    "get_executor",
    "run_trial",
    "arm_key",
    "trial_key",
]
