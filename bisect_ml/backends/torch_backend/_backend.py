"""`TorchBackend`: one trial of the neutral spec, trained with PyTorch."""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from typing import TYPE_CHECKING

import torch
from torch import nn

from bisect_ml._errors import BackendError, ScenarioError
from bisect_ml.backends._base import Outcome, library_versions
from bisect_ml.backends._common import (
    check_drop_last,
    env_threads,
    model_inputs,
)
from bisect_ml.backends.torch_backend._model import ModelOptions, start_model
from bisect_ml.backends.torch_backend._optim import build_optimizer
from bisect_ml.backends.torch_backend._preprocess import Prepared, prepare
from bisect_ml.backends.torch_backend._train import (
    Objective,
    fit,
    make_objective,
    training_rows,
)
from bisect_ml.factors import registry
from bisect_ml.scenario._geometry import Shape, layer_shapes

if TYPE_CHECKING:
    from collections.abc import Mapping

    from bisect_ml.factors import Value
    from bisect_ml.scenario import Dataset, Spec

__all__ = ["TorchBackend", "TorchTrial", "build_trial"]

logger = logging.getLogger(__name__)

_threads_set = False


def _set_threads() -> None:
    global _threads_set
    if _threads_set:
        return
    threads = env_threads("torch")
    torch.set_num_threads(threads)
    logger.debug("torch uses %d thread(s)", threads)
    _threads_set = True


def _read(assignment: Mapping[str, Value]) -> dict[str, Value]:
    """Every registry factor's value, validated; raise on a missing or extra one."""
    missing = [name for name in registry if name not in assignment]
    unknown = [name for name in assignment if name not in registry]
    if missing or unknown:
        parts = []
        if missing:
            parts.append("lacks " + ", ".join(f"`{n}`" for n in missing))
        if unknown:
            parts.append("has unknown " + ", ".join(f"`{n}`" for n in unknown))
        raise BackendError(
            "torch",
            f"the assignment {' and '.join(parts)}; it must give a value for "
            "every factor of `bisect_ml.factors.registry`",
        )
    return {name: registry[name].validate(assignment[name]) for name in registry}


def arrange(x: torch.Tensor, shape: Shape) -> torch.Tensor:
    """Flat samples (n, features) in the model's input layout.

    Images become NCHW (the spec's shapes are channels-last), sequences
    (n, steps, features); flat samples stay as they are.
    """
    if shape.kind == "image":
        height, width, channels = shape.dims
        return x.reshape(-1, height, width, channels).permute(0, 3, 1, 2).contiguous()
    if shape.kind == "sequence":
        return x.reshape(-1, *shape.dims).contiguous()
    return x


def _check_batches(spec: Spec, shape: Shape, n_train: int, batch_size: int) -> None:
    """torch's BatchNorm refuses one value per channel in training; Keras not."""
    last = n_train % batch_size or batch_size
    if last != 1:
        return
    outputs = layer_shapes(spec.layers, shape)
    for layer, before in zip(spec.layers, [shape, *outputs[:-1]], strict=True):
        if layer.type == "batch_norm" and before.size // before.dims[-1] == 1:
            raise ScenarioError(
                f"leaves a batch of one sample ({n_train} training samples), on "
                "which torch's BatchNorm cannot train (it raises; Keras trains "
                "on it): choose another batch size, or set train.drop_last",
                key="train.batch_size",
                received=batch_size,
            )


@dataclasses.dataclass(eq=False)
class TorchTrial:
    """A trial ready to train: model, optimizer, objective, data and values."""

    model: nn.Sequential
    optimizer: torch.optim.Optimizer
    objective: Objective
    prepared: Prepared
    values: dict[str, Value]
    shape: Shape


def build_trial(
    spec: Spec, data: Dataset, assignment: Mapping[str, Value], seed: int
) -> TorchTrial:
    """Prepare the data, then seed and build the model, optimizer and loss.

    What `TorchBackend.train` trains, exposed so that the closure check can
    step it batch by batch beside Keras.
    """
    values = _read(assignment)
    _set_threads()

    if data.series and spec.data.window is None:
        raise ScenarioError("is required for a time series", key="data.window")
    try:
        prepared = prepare(
            data.x_train,
            data.y_train,
            data.x_test,
            data.y_test,
            task=data.task,
            series=data.series,
            scale=str(values["preprocess.scale"]),
            window=spec.data.window,
            window_value=str(values["preprocess.window"]),
        )
    except ValueError as err:
        raise BackendError("torch", f"cannot prepare the data ({err})") from None
    prepared, shape = model_inputs(
        spec, data, prepared, from_numpy=torch.from_numpy, arrange=arrange
    )
    kept = training_rows(
        len(prepared.x_train),
        spec.train.validation_split,
        str(values["train.validation_rows"]),
        seed,
    )
    if kept is not None:
        prepared = dataclasses.replace(
            prepared, x_train=prepared.x_train[kept], y_train=prepared.y_train[kept]
        )

    batch_size, n_train = int(values["train.batch_size"]), len(prepared.x_train)
    check_drop_last(n_train, batch_size, bool(values["train.drop_last"]))
    if not values["train.drop_last"]:
        _check_batches(
            spec, shape, len(prepared.x_train), int(values["train.batch_size"])
        )

    model = start_model(
        spec.layers,
        shape,
        ModelOptions.from_assignment(values),
        seed,
        str(values["init.values"]),
    )
    optimizer = build_optimizer(
        model.parameters(), spec.train.optimizer, values, model=model
    )
    objective = make_objective(
        spec.train.loss,
        spec.train.from_logits,
        softmax_output=str(values["loss.softmax_output"]),
        target_shape=str(values["loss.target_shape"]),
    )
    return TorchTrial(model, optimizer, objective, prepared, values, shape)


class TorchBackend:
    """Trains the neutral model with PyTorch.

    Each factor value that is torch's default runs torch's own component:
    ``nn.Linear``/``nn.Conv2d``/``nn.LSTM``/``nn.GRU``/``nn.Embedding`` with
    their own ``reset_parameters``, ``nn.Conv2d(padding=k//2)`` and the
    pooling modules' own padding, ``nn.BatchNorm1d/2d``, ``nn.LayerNorm``,
    ``nn.Flatten``, `torch.optim.Adam`/``AdamW``, ``clip_grad_norm_``,
    ``nn.CrossEntropyLoss``/``nn.MSELoss``, ToTensor and Normalize semantics,
    ``DataLoader(batch_size, shuffle, drop_last)``. Keras's values are
    emulated on torch: its initializers through `torch.nn.init`, TensorFlow's
    'same' padding by explicit ``nn.ZeroPad2d``/``ConstantPad2d``, its
    channels-last flatten, its running variance (`BiasedBatchNorm2d`), its
    Adam update (`KerasAdam`), its per-variable clipping, its softmax-aware
    cross-entropy (the model run without its final ``nn.Softmax``), the
    one permutation its seeded ``fit(shuffle=True)`` repeats every epoch, its
    single LSTM bias, its classic GRU (``reset_after=False``,
    `ClassicGRU`), and its validation split of the last rows
    (`training_rows`). ``eval.dropout = "on"`` is `DropoutAtInference`;
    ``eval.batch_norm = "batch"`` is `TrainModeBatchNorm`;
    ``init.values = "transplanted"`` loads Keras's default initial weights at
    the seed (`start_model`).

    Notes
    -----
    ``torch.manual_seed(seed)`` is called before the model is built, so weights
    and the DataLoader's shuffling (its own generator, seeded with the seed) are
    fixed by ``seed``. The first trial in a process sets torch's thread count
    from the ``BISECT_ML_THREADS`` environment variable (default 1).

    A training whose loss or test metric becomes non-finite stops there; its
    curves hold the epochs completed before, and its metric is ``nan``.

    Examples
    --------
    The assignment must hold every factor, not only the ones that differ:

    >>> from bisect_ml.factors import default_assignment
    >>> from bisect_ml.scenario import DataSpec, LayerSpec, Spec, TrainSpec, load_data
    >>> spec = Spec(
    ...     DataSpec(dataset="digits"),
    ...     (LayerSpec("dense", 64, "relu"), LayerSpec("dense", 10)),
    ...     TrainSpec(epochs=20, loss="cross_entropy", from_logits=True),
    ... )
    >>> data = load_data(spec.data)
    >>> backend = TorchBackend()
    >>> backend.train(spec, data, {"train.batch_size": 32}, seed=0)
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    bisect_ml._errors.BackendError: backend `torch`: the assignment lacks ...
    >>> assignment = default_assignment("torch") | {"train.batch_size": 32}
    >>> backend.train(spec, data, assignment, seed=0).metric  # doctest: +SKIP
    0.03...
    """

    name = "torch"

    def train(
        self, spec: Spec, data: Dataset, assignment: dict[str, Value], seed: int
    ) -> Outcome:
        """Train once under ``assignment`` and ``seed``; see `Backend.train`."""
        start = time.perf_counter()
        trial = build_trial(spec, data, assignment, seed)
        model, optimizer, objective = trial.model, trial.optimizer, trial.objective
        prepared, values = trial.prepared, trial.values
        curves = fit(
            model,
            optimizer,
            objective,
            prepared,
            epochs=spec.train.epochs,
            batch_size=int(values["train.batch_size"]),
            shuffle=str(values["train.shuffle"]),
            seed=seed,
            clip_norm=float(values["train.clip_norm"]),
            clip_scope=str(values["train.clip_scope"]),
            drop_last=bool(values["train.drop_last"]),
        )

        metric = math.nan if curves.diverged else curves.metric[-1]
        return Outcome(
            metric=metric,
            diverged=curves.diverged,
            loss_curve=curves.loss,
            metric_curve=curves.metric,
            seconds=time.perf_counter() - start,
            versions=library_versions("torch"),
        )
