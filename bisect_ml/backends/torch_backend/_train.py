"""The training loop: DataLoader batches, per-epoch loss and test metric."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from bisect_ml.backends.torch_backend._preprocess import Prepared

__all__ = ["Curves", "evaluate", "fit", "make_loader", "make_loss"]

#: Keras clips probabilities to [eps, 1 - eps] before taking their log.
_PROBABILITY_EPSILON = 1e-7


class _ProbabilityNLL(nn.Module):
    """Cross-entropy of probabilities: NLL of their clipped log."""

    def __init__(self) -> None:
        super().__init__()
        self.nll = nn.NLLLoss()

    def forward(self, probs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        clipped = probs.clamp(_PROBABILITY_EPSILON, 1 - _PROBABILITY_EPSILON)
        return self.nll(clipped.log(), target)


def make_loss(loss: str, from_logits: bool) -> nn.Module:
    """The torch loss for the spec's ``train.loss`` and ``train.from_logits``."""
    if loss == "mse":
        return nn.MSELoss()
    if loss == "cross_entropy":
        return nn.CrossEntropyLoss() if from_logits else _ProbabilityNLL()
    raise ValueError(f"unknown train.loss {loss!r}")


@dataclass(frozen=True)
class Curves:
    """Mean training loss and test metric after each completed epoch."""

    loss: tuple[float, ...]
    metric: tuple[float, ...]
    diverged: bool


def make_loader(
    dataset: TensorDataset, *, batch_size: int, shuffle: str, seed: int
) -> DataLoader[tuple[torch.Tensor, ...]]:
    """The DataLoader of ``train.shuffle``, its order drawn from its own generator.

    ``off`` and ``every_epoch`` are torch's own ``DataLoader(shuffle=False)``
    and ``DataLoader(shuffle=True)``. ``repeated`` emulates Keras 3.15's
    seeded ``fit(shuffle=True)``: one ``randperm``, drawn once from the same
    generator, is the sampler of every epoch.

    The generator is seeded with ``seed``, a genuine DataLoader option, so that
    arms which differ only in how weights are drawn still see the same batches
    (as in Keras, whose initialisers draw from Python's ``random`` and whose
    shuffle draws from TensorFlow's seed).
    """
    generator = torch.Generator().manual_seed(seed)
    if shuffle == "repeated":
        order = torch.randperm(len(dataset), generator=generator).tolist()
        return DataLoader(
            dataset, batch_size=batch_size, sampler=order, generator=generator
        )
    if shuffle in ("off", "every_epoch"):
        return DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=shuffle == "every_epoch",
            generator=generator,
        )
    raise ValueError(f"unknown train.shuffle {shuffle!r}")


def fit(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: nn.Module,
    data: Prepared,
    *,
    epochs: int,
    batch_size: int,
    shuffle: str,
    seed: int,
) -> Curves:
    """Train for ``epochs``; stop at the first non-finite loss or metric.

    The batches come from `make_loader`, in the order ``shuffle`` names.
    """
    loader = make_loader(
        TensorDataset(data.x_train, data.y_train),
        batch_size=batch_size,
        shuffle=shuffle,
        seed=seed,
    )
    losses: list[float] = []
    metrics: list[float] = []
    for _ in range(epochs):
        model.train()
        total, batches = 0.0, 0
        for x, y in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            value = loss.item()
            if not math.isfinite(value):
                return Curves(tuple(losses), tuple(metrics), diverged=True)
            loss.backward()
            optimizer.step()
            total += value
            batches += 1

        metric = evaluate(model, data)
        if not math.isfinite(metric):
            return Curves(tuple(losses), tuple(metrics), diverged=True)
        losses.append(total / batches)
        metrics.append(metric)
    return Curves(tuple(losses), tuple(metrics), diverged=False)


def evaluate(model: nn.Module, data: Prepared) -> float:
    """Test error rate, or test MSE in original units over the training variance."""
    model.eval()
    with torch.no_grad():
        out = model(data.x_test)
    if data.classification:
        wrong = out.argmax(dim=1) != data.y_test
        return float(wrong.double().mean())

    assert data.target_scale is not None and data.y_test_original is not None
    pred = data.target_scale.invert(out.double().numpy())
    if pred.shape != data.y_test_original.shape:
        raise ValueError(
            f"predictions {pred.shape} and targets {data.y_test_original.shape} "
            "differ in shape"
        )
    with np.errstate(over="ignore", invalid="ignore"):
        mse = float(np.mean((pred - data.y_test_original) ** 2))
    return mse / data.target_variance
