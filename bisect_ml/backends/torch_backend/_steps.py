"""Training a built torch trial batch by batch, for the step-by-step check."""

from __future__ import annotations

import numpy as np
import torch

from bisect_ml.backends._steps import batch_ranges
from bisect_ml.backends.torch_backend._backend import TorchTrial
from bisect_ml.backends.torch_backend._train import clip_gradients

__all__ = ["step_losses", "test_outputs"]


def step_losses(trial: TorchTrial, steps: int) -> list[float]:
    """Train ``steps`` batches in the rows' own order; each batch's loss.

    The batches are the training rows cut at ``train.batch_size`` without
    shuffling, epoch after epoch, as `fit` cuts them with ``shuffle = off``
    (a last partial batch included unless ``train.drop_last``).
    """
    x, y = trial.prepared.x_train, trial.prepared.y_train
    params = [p for p in trial.model.parameters() if p.requires_grad]
    clip_norm = float(trial.values["train.clip_norm"])
    clip_scope = str(trial.values["train.clip_scope"])
    losses: list[float] = []
    size = int(trial.values["train.batch_size"])
    drop_last = bool(trial.values["train.drop_last"])
    for start, stop in batch_ranges(len(x), size, steps, drop_last=drop_last):
        trial.model.train()
        trial.optimizer.zero_grad()
        loss = trial.objective(trial.model, x[start:stop], y[start:stop])
        loss.backward()
        clip_gradients(params, clip_norm, clip_scope)
        trial.optimizer.step()
        losses.append(loss.item())
    return losses


def test_outputs(trial: TorchTrial) -> np.ndarray:
    """The model's outputs on the test inputs, in eval mode."""
    trial.model.eval()
    with torch.no_grad():
        return trial.model(trial.prepared.x_test).numpy()
