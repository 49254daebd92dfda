"""The training loop: DataLoader batches, per-epoch loss and test metric."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Sampler, TensorDataset, random_split

from bisect_ml.backends.torch_backend._preprocess import Prepared
from bisect_ml.scenario._data import validation_cut

__all__ = [
    "Curves",
    "Objective",
    "ShuffledBatches",
    "clip_gradients",
    "evaluate",
    "fit",
    "make_loader",
    "make_loss",
    "make_objective",
    "training_rows",
]

#: Keras clips probabilities to [eps, 1 - eps] before taking their log.
_PROBABILITY_EPSILON = 1e-7

#: (model, inputs, targets) -> the batch's mean loss.
Objective = Callable[[nn.Sequential, torch.Tensor, torch.Tensor], torch.Tensor]


class _ProbabilityNLL(nn.Module):
    """Cross-entropy of probabilities: NLL of their clipped log."""

    def __init__(self) -> None:
        super().__init__()
        self.nll = nn.NLLLoss()

    def forward(self, probs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        clipped = probs.clamp(_PROBABILITY_EPSILON, 1 - _PROBABILITY_EPSILON)
        return self.nll(clipped.log(), target)


def make_loss(loss: str, from_logits: bool) -> nn.Module:
    """The torch loss module for the spec's ``train.loss`` and ``from_logits``.

    With probabilities (``from_logits=False``) this is the clipped NLL; what
    a pair actually trains with is `make_objective`'s choice.
    """
    if loss == "mse":
        return nn.MSELoss()
    if loss == "cross_entropy":
        return nn.CrossEntropyLoss() if from_logits else _ProbabilityNLL()
    raise ValueError(f"unknown train.loss {loss!r}")


def make_objective(
    loss: str,
    from_logits: bool,
    *,
    softmax_output: str = "softmax_twice",
    target_shape: str = "matched",
) -> Objective:
    """The training loss as the ``loss.*`` factors say; torch's defaults.

    For a softmax output (``from_logits=False``): ``softmax_twice`` is
    ``nn.CrossEntropyLoss`` on the probabilities, what torch does with them;
    ``logits`` runs the model without its final ``nn.Softmax`` and takes
    ``nn.CrossEntropyLoss`` of the logits, what Keras does; ``clipped_log`` is
    the NLL of the clipped log-probabilities. For MSE, ``broadcast`` hands
    ``nn.MSELoss`` a flat (N,) target against (N, 1) predictions, which torch
    broadcasts to an (N, N) error matrix.
    """
    if loss == "mse":
        mse = nn.MSELoss()
        if target_shape == "matched":
            return lambda model, x, y: mse(model(x), y)
        if target_shape == "broadcast":

            def broadcast(model: nn.Sequential, x: torch.Tensor, y: torch.Tensor):
                with warnings.catch_warnings():
                    # torch warns that this "will likely lead to incorrect
                    # results": reproducing that is the point.
                    warnings.simplefilter("ignore", UserWarning)
                    return mse(model(x), y.reshape(-1))

            return broadcast
        raise ValueError(f"unknown loss.target_shape {target_shape!r}")
    if loss != "cross_entropy":
        raise ValueError(f"unknown train.loss {loss!r}")
    cross_entropy = nn.CrossEntropyLoss()
    if from_logits or softmax_output == "softmax_twice":
        return lambda model, x, y: cross_entropy(model(x), y)
    if softmax_output == "logits":
        return lambda model, x, y: cross_entropy(_without_softmax(model)(x), y)
    if softmax_output == "clipped_log":
        nll = _ProbabilityNLL()
        return lambda model, x, y: nll(model(x), y)
    raise ValueError(f"unknown loss.softmax_output {softmax_output!r}")


def _without_softmax(model: nn.Sequential) -> nn.Module:
    if not isinstance(model[-1], nn.Softmax):
        raise ValueError("the model does not end with nn.Softmax")
    return model[:-1]


def clip_gradients(params: list[nn.Parameter], max_norm: float, scope: str) -> None:
    """Clip gradients in place as ``train.clip_scope`` says; 0 clips nothing.

    ``global`` is torch's own ``clip_grad_norm_``. ``per_variable`` is Keras's
    ``clipnorm`` (``tf.clip_by_norm`` on each variable): ``g * c / max(||g||,
    c)``.
    """
    if max_norm <= 0:
        return
    grads = [p.grad for p in params if p.grad is not None]
    if scope == "global":
        nn.utils.clip_grad_norm_(params, max_norm)
    elif scope == "per_variable":
        for grad in grads:
            norm = torch.linalg.vector_norm(grad)
            grad.mul_(max_norm).div_(torch.clamp(norm, min=max_norm))
    else:
        raise ValueError(f"unknown train.clip_scope {scope!r}")


@dataclass(frozen=True)
class Curves:
    """Mean training loss and test metric after each completed epoch."""

    loss: tuple[float, ...]
    metric: tuple[float, ...]
    diverged: bool


class ShuffledBatches(Sampler[list[int]]):
    """Fixed batches in a fresh order each epoch: tf.data's batch-then-shuffle.

    The batches are consecutive runs of ``batch_size`` samples in the stored
    order, cut once, as ``Dataset.batch(b)`` cuts them; each iteration (each
    epoch) yields them in an order drawn from ``generator``, as
    ``.shuffle(n_batches)`` with ``reshuffle_each_iteration=True`` does. Batch
    membership never changes; ``DataLoader(shuffle=True)`` re-draws it.
    """

    def __init__(
        self,
        n: int,
        batch_size: int,
        generator: torch.Generator,
        *,
        drop_last: bool = False,
    ) -> None:
        starts = range(0, n - batch_size + 1 if drop_last else n, batch_size)
        self.batches = [list(range(s, min(s + batch_size, n))) for s in starts]
        self.generator = generator

    def __iter__(self) -> Iterator[list[int]]:
        order = torch.randperm(len(self.batches), generator=self.generator)
        for index in order.tolist():
            yield self.batches[index]

    def __len__(self) -> int:
        return len(self.batches)


def make_loader(
    dataset: TensorDataset,
    *,
    batch_size: int,
    shuffle: str,
    seed: int,
    drop_last: bool = False,
) -> DataLoader[tuple[torch.Tensor, ...]]:
    """The DataLoader of ``train.shuffle``, its order drawn from its own generator.

    ``off`` and ``every_epoch`` are torch's own ``DataLoader(shuffle=False)``
    and ``DataLoader(shuffle=True)``. ``repeated`` emulates Keras 3.15's
    seeded ``fit(shuffle=True)``: one ``randperm``, drawn once from the same
    generator, is the sampler of every epoch. ``batches`` emulates tf.data's
    ``.batch(b).shuffle(n)`` with `ShuffledBatches`. ``drop_last`` is the
    DataLoader's own (`ShuffledBatches` drops the same batch).

    The generator is seeded with ``seed``, a genuine DataLoader option, so that
    arms which differ only in how weights are drawn still see the same batches
    (as in Keras, whose initialisers draw from Python's ``random`` and whose
    shuffle draws from TensorFlow's seed).
    """
    generator = torch.Generator().manual_seed(seed)
    if shuffle == "batches":
        return DataLoader(
            dataset,
            batch_sampler=ShuffledBatches(
                len(dataset), batch_size, generator, drop_last=drop_last
            ),
        )
    if shuffle == "repeated":
        order = torch.randperm(len(dataset), generator=generator).tolist()
        return DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=order,
            generator=generator,
            drop_last=drop_last,
        )
    if shuffle in ("off", "every_epoch"):
        return DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=shuffle == "every_epoch",
            generator=generator,
            drop_last=drop_last,
        )
    raise ValueError(f"unknown train.shuffle {shuffle!r}")


def training_rows(n: int, fraction: float, rows: str, seed: int) -> list[int] | None:
    """The training rows kept under ``train.validation_split``; ``None``: all.

    ``random`` is torch's own ``random_split`` with lengths ``[k, n - k]``
    (``k`` from `validation_cut`) and a generator of its own seeded with
    ``seed``: the first subset's indices, in its order. ``tail`` emulates
    Keras's ``train_validation_split``: the first ``k`` rows, in order.
    """
    if fraction <= 0:
        return None
    keep = validation_cut(n, fraction)
    if rows == "tail":
        return list(range(keep))
    if rows == "random":
        generator = torch.Generator().manual_seed(seed)
        kept, _ = random_split(
            TensorDataset(torch.arange(n)), [keep, n - keep], generator=generator
        )
        return list(kept.indices)
    raise ValueError(f"unknown train.validation_rows {rows!r}")


# TODO(#3): numerics.dtype (float64) and weight decay restricted to kernels
# are not factors yet.
def fit(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: nn.Module | Objective,
    data: Prepared,
    *,
    epochs: int,
    batch_size: int,
    shuffle: str,
    seed: int,
    clip_norm: float = 0.0,
    clip_scope: str = "global",
    drop_last: bool = False,
) -> Curves:
    """Train for ``epochs``; stop at the first non-finite loss or metric.

    The batches come from `make_loader`, in the order ``shuffle`` names.
    ``loss_fn`` is a loss module applied to the model's output, or an
    `Objective` of `make_objective`. Gradients are clipped by
    `clip_gradients` between ``backward()`` and ``step()``.
    """
    objective: Objective
    if isinstance(loss_fn, nn.Module):
        module = loss_fn
        objective = lambda m, x, y: module(m(x), y)  # noqa: E731
    else:
        objective = loss_fn
    params = [p for p in model.parameters() if p.requires_grad]
    loader = make_loader(
        TensorDataset(data.x_train, data.y_train),
        batch_size=batch_size,
        shuffle=shuffle,
        seed=seed,
        drop_last=drop_last,
    )
    losses: list[float] = []
    metrics: list[float] = []
    for _ in range(epochs):
        model.train()
        total, batches = 0.0, 0
        for x, y in loader:
            optimizer.zero_grad()
            loss = objective(model, x, y)  # type: ignore[arg-type]
            value = loss.item()
            if not math.isfinite(value):
                return Curves(tuple(losses), tuple(metrics), diverged=True)
            loss.backward()
            clip_gradients(params, clip_norm, clip_scope)
            optimizer.step()
            total += value
            batches += 1

        metric = evaluate(model, data)
        if not math.isfinite(metric):
            return Curves(tuple(losses), tuple(metrics), diverged=True)
        losses.append(total / batches)
        metrics.append(metric)
    return Curves(tuple(losses), tuple(metrics), diverged=False)


# TODO(#3): the test set is evaluated as one batch; a test batch size, which
# decides what eval.batch_norm = "batch" normalises by, is not a setting yet.
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
