"""Training a built Keras trial batch by batch, for the step-by-step check."""

from __future__ import annotations

import numpy as np

from bisect_ml.backends._steps import batch_ranges
from bisect_ml.backends.keras_backend._runtime import keras
from bisect_ml.backends.keras_backend._train import Trial

__all__ = ["step_losses", "test_outputs"]


def step_losses(trial: Trial, steps: int) -> list[float]:
    """Train ``steps`` batches in the rows' own order; each batch's loss.

    The trial must be built with ``one_call_per_epoch=False`` (each
    ``train_on_batch`` call is then one optimizer step).
    """
    x, y = trial.prepared.x_train, trial.prepared.y_train
    losses: list[float] = []
    ranges = batch_ranges(len(x), trial.batch_size, steps, drop_last=trial.drop_last)
    for start, stop in ranges:
        out = trial.model.train_on_batch(x[start:stop], y[start:stop])
        losses.append(float(np.ravel(out)[0]))
    return losses


def test_outputs(trial: Trial) -> np.ndarray:
    """The model's outputs on the test inputs, in inference mode."""
    return np.asarray(
        keras.ops.convert_to_numpy(trial.model(trial.prepared.x_test, training=False))
    )
