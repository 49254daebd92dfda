"""Arms, trials, the store and the scheduling of trials."""

from bisect_ml.lab._arm import Arm
from bisect_ml.lab._lab import Lab, Progress, trial_key
from bisect_ml.lab._store import SCHEMA_VERSION, Store

__all__ = ["SCHEMA_VERSION", "Arm", "Lab", "Progress", "Store", "trial_key"]
