"""One trial: seed, build, compile and fit a Keras model, recording its curves."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from bisect_ml._errors import BackendError
from bisect_ml.backends._base import Outcome, library_versions
from bisect_ml.backends._common import (
    ModelOptions,
    arrange,
    check_drop_last,
    model_inputs,
)
from bisect_ml.backends.keras_backend._model import build_model, start_from_torch
from bisect_ml.backends.keras_backend._optim import make_optimizer
from bisect_ml.backends.keras_backend._preprocess import (
    Prepared,
    metric_value,
    prepare,
)
from bisect_ml.backends.keras_backend._runtime import keras, tf
from bisect_ml.scenario._data import validation_cut

if TYPE_CHECKING:
    from bisect_ml.factors import Value
    from bisect_ml.scenario import Dataset, Spec, TrainSpec

__all__ = [
    "BroadcastMSE",
    "Trial",
    "batched_then_shuffled",
    "broadcast_mse",
    "build_trial",
    "epoch_orders",
    "fit_trial",
    "held_out",
    "make_loss",
]


@dataclass(eq=False)
class Trial:
    """A compiled model and its data, ready to fit."""

    spec: Spec
    prepared: Prepared
    model: keras.Sequential
    batch_size: int
    shuffle: str
    seed: int
    steps_per_epoch: int | None = None
    drop_last: bool = False


def broadcast_mse(y_true: Any, y_pred: Any) -> Any:
    """torch's MSELoss on (N, 1) predictions and an (N,) target, per sample.

    Row i holds the mean of (target_j - prediction_i)^2 over the batch; the
    loss's mean over rows is torch's mean over the broadcast (N, N) matrix.
    """
    ops = keras.ops
    row = ops.reshape(ops.cast(y_true, y_pred.dtype), (1, -1))
    return ops.mean(ops.square(ops.subtract(row, y_pred)), axis=-1)


class BroadcastMSE(keras.losses.Loss):
    """`broadcast_mse` as a Keras loss, with the default reduction."""

    def __init__(self) -> None:
        super().__init__(name="broadcast_mse")

    def call(self, y_true: Any, y_pred: Any) -> Any:
        return broadcast_mse(y_true, y_pred)


def make_loss(
    train: TrainSpec,
    softmax_output: str = "logits",
    target_shape: str = "matched",
) -> keras.losses.Loss:
    """Keras's loss for the spec and the ``loss.*`` factors, default reduction.

    On a softmax output, ``logits`` is Keras's own behaviour (the model's
    ``Dense(activation="softmax")`` hands the loss its logits); the other two
    values go with `OpaqueSoftmax` outputs: ``softmax_twice`` treats the
    probabilities as logits (``from_logits=True``), ``clipped_log`` takes the
    log of the clipped probabilities (``from_logits=False``).
    """
    if train.loss == "cross_entropy":
        as_logits = train.from_logits or softmax_output == "softmax_twice"
        return keras.losses.SparseCategoricalCrossentropy(from_logits=as_logits)
    if target_shape == "broadcast":
        return BroadcastMSE()
    return keras.losses.MeanSquaredError()


def held_out(
    x: np.ndarray, y: np.ndarray, fraction: float, rows: str, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """The training arrays kept under ``train.validation_split``.

    ``tail`` is Keras's own ``train_validation_split``, the function
    ``fit(validation_split=...)`` calls on its arrays before it builds the
    (shuffling) epoch iterator: the first ``floor(n * (1 - fraction))`` rows.
    ``random`` emulates torch's ``random_split(data, [k, n - k], generator)``:
    the first ``k`` indices of ``torch.randperm`` on a generator seeded with
    ``seed``, in that order. torch draws that permutation, since no Keras
    component draws the same one; it is imported only here.
    """
    if fraction <= 0:
        return x, y
    keep = validation_cut(len(x), fraction)
    if rows == "tail":
        from keras.src.trainers.data_adapters import array_slicing

        (x_kept, y_kept), _ = array_slicing.train_validation_split(
            (x, y), validation_split=fraction
        )
        return np.asarray(x_kept), np.asarray(y_kept)
    if rows == "random":
        import torch

        generator = torch.Generator().manual_seed(seed)
        kept = torch.randperm(len(x), generator=generator).numpy()[:keep]
        return x[kept], y[kept]
    raise ValueError(f"unknown train.validation_rows {rows!r}")


def build_trial(
    spec: Spec,
    data: Dataset,
    assignment: dict[str, Value],
    seed: int,
    *,
    one_call_per_epoch: bool = True,
) -> Trial:
    """Prepare the data, then seed and build the model, then compile it.

    With ``one_call_per_epoch`` (the default), ``steps_per_execution`` and
    ``steps_per_epoch`` are both the number of batches ``fit`` cuts anyway, so
    each epoch runs as one call into TensorFlow over one dataset iterator.
    The batches, their order and every update are those of a plain
    ``fit(batch_size=..., shuffle=...)``, see `fit_trial`; only Python-side
    overhead goes. ``False`` gives that plain call, for comparison.
    """
    prepared = prepare(
        spec,
        data,
        str(assignment["preprocess.scale"]),
        str(assignment["preprocess.window"]),
    )
    prepared, shape = model_inputs(
        spec, data, prepared, from_numpy=np.asarray, arrange=arrange
    )
    x_kept, y_kept = held_out(
        prepared.x_train,
        prepared.y_train,
        spec.train.validation_split,
        str(assignment["train.validation_rows"]),
        seed,
    )
    prepared = dataclasses.replace(prepared, x_train=x_kept, y_train=y_kept)
    batch_size = int(assignment["train.batch_size"])
    drop_last = bool(assignment["train.drop_last"])
    n_train = len(prepared.x_train)
    check_drop_last(n_train, batch_size, drop_last)
    n_batches = (
        (n_train // batch_size) if drop_last else math.ceil(n_train / batch_size)
    )
    options = ModelOptions.from_assignment(assignment)

    # Initializers take their seeds from Python's random as they are
    # constructed, so seeding comes first and the layers are built in order.
    keras.utils.set_random_seed(seed)
    model = build_model(spec.layers, shape, options)
    if assignment["init.values"] == "transplanted":
        start_from_torch(model, spec.layers, shape, options, seed)
    model.compile(
        optimizer=make_optimizer(
            assignment,
            spec.train.optimizer,
            sparse_gradients=any(layer.type == "embedding" for layer in spec.layers),
        ),
        loss=make_loss(
            spec.train,
            options.softmax_output,
            str(assignment["loss.target_shape"]),
        ),
        steps_per_execution=n_batches if one_call_per_epoch else 1,
    )
    return Trial(
        spec,
        prepared,
        model,
        batch_size,
        str(assignment["train.shuffle"]),
        seed,
        n_batches if one_call_per_epoch else None,
        drop_last,
    )


def fit_trial(trial: Trial, *, start: float | None = None) -> Outcome:
    """Fit the trial's model and report its curves as an `Outcome`.

    ``train.shuffle`` picks the call: ``off`` and ``repeated`` are one
    ``fit(shuffle=False)`` or ``fit(shuffle=True)``, Keras's own (after the
    global seed `build_trial` sets, Keras 3.15 repeats one permutation every
    epoch). ``every_epoch`` emulates torch's ``DataLoader(shuffle=True)``: one
    ``fit(epochs=1, shuffle=False)`` per epoch on the arrays permuted by
    `epoch_orders`; the model, optimizer state and callbacks carry over, so
    with unpermuted arrays it trains exactly like ``off`` (the tests check).
    ``train.drop_last``, which ``fit`` cannot do, takes the same per-epoch
    path with the ordered arrays cut to whole batches. ``batches`` is one
    ``fit`` on tf.data's batch-then-shuffle pipeline (`batched_then_shuffled`),
    the genuine component of that value.

    Running a whole epoch per call changes no update: Keras's while loop calls
    the same one-batch train step on each batch of the iterator in turn, and
    an explicit ``steps_per_epoch`` equal to the batch count only makes the
    iterator fit builds at the end of one epoch serve the next, where a plain
    call builds another one (the tests check the curves are identical).

    What it changes is that Keras calls batch-level callbacks once per epoch,
    so ``TerminateOnNaN`` looks at the epoch's running mean loss when the
    epoch ends. A loss that turns non-finite stays so in that mean (losses
    are never negative), so a divergence is still caught in the epoch it
    happens; only the rest of that epoch is wasted work.
    """
    start = time.perf_counter() if start is None else start
    prepared = trial.prepared
    recorder = _TestMetric(prepared, trial.spec.train.metric)
    callbacks = [recorder, keras.callbacks.TerminateOnNaN()]

    try:
        with _quiet_keras():
            if trial.shuffle == "batches":
                losses = _fit_batches(trial, callbacks)
            elif trial.shuffle == "every_epoch" or trial.drop_last:
                losses = _fit_reshuffled(trial, callbacks)
            else:
                losses = _fit(
                    trial,
                    prepared.x_train,
                    prepared.y_train,
                    epochs=trial.spec.train.epochs,
                    shuffle=trial.shuffle == "repeated",
                    callbacks=callbacks,
                )
    except tf.errors.OpError as err:
        raise BackendError("keras", f"training failed: {err.message}") from err

    loss_curve = tuple(losses)
    metric_curve = tuple(recorder.curve)
    diverged = not all(math.isfinite(v) for v in loss_curve + metric_curve)
    return Outcome(
        metric=math.nan if diverged or not metric_curve else metric_curve[-1],
        diverged=diverged,
        loss_curve=loss_curve,
        metric_curve=metric_curve,
        seconds=time.perf_counter() - start,
        versions=library_versions("keras"),
    )


def epoch_orders(seed: int, n: int) -> Iterator[np.ndarray]:
    """The sample order of each epoch for ``every_epoch``: fresh permutations.

    They draw from a NumPy Generator of their own, seeded with the trial's
    seed, so the same seed gives the same orders and no Keras draw moves.
    """
    rng = np.random.default_rng(seed)
    while True:
        yield rng.permutation(n)


def _fit(
    trial: Trial,
    x: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int,
    shuffle: bool,
    callbacks: list[keras.callbacks.Callback],
) -> list[float]:
    history = trial.model.fit(
        x,
        y,
        batch_size=trial.batch_size,
        epochs=epochs,
        shuffle=shuffle,
        steps_per_epoch=trial.steps_per_epoch,
        verbose=0,
        callbacks=callbacks,
    )
    return [float(v) for v in history.history.get("loss", ())]


def batched_then_shuffled(
    x: np.ndarray, y: np.ndarray, batch_size: int, *, drop_last: bool = False
) -> tf.data.Dataset:
    """tf.data's ``.batch(b).shuffle(n_batches)``, repeated for every epoch.

    The pipeline of the d2l TensorFlow loaders (PUBLIC_CASES N12): the batches
    are cut once from the stored order, and only their order is shuffled,
    afresh on each pass (``reshuffle_each_iteration`` defaults to True). The
    shuffle's seed comes from TensorFlow's global seed, which
    ``keras.utils.set_random_seed`` sets.
    """
    n_batches = len(x) // batch_size if drop_last else -(-len(x) // batch_size)
    dataset = tf.data.Dataset.from_tensor_slices((x, y))
    dataset = dataset.batch(batch_size, drop_remainder=drop_last)
    return dataset.shuffle(n_batches).repeat()


def _fit_batches(
    trial: Trial, callbacks: list[keras.callbacks.Callback]
) -> list[float]:
    """``train.shuffle = "batches"``: fit on `batched_then_shuffled`."""
    x, y = trial.prepared.x_train, trial.prepared.y_train
    n = len(x)
    steps = n // trial.batch_size if trial.drop_last else -(-n // trial.batch_size)
    history = trial.model.fit(
        batched_then_shuffled(x, y, trial.batch_size, drop_last=trial.drop_last),
        epochs=trial.spec.train.epochs,
        steps_per_epoch=steps,
        shuffle=False,  # the dataset shuffles; fit would only warn
        verbose=0,
        callbacks=callbacks,
    )
    return [float(v) for v in history.history.get("loss", ())]


def _fit_reshuffled(
    trial: Trial, callbacks: list[keras.callbacks.Callback]
) -> list[float]:
    """One ``fit(epochs=1, shuffle=False)`` per epoch on arrays we order.

    The order is a fresh permutation each epoch (``every_epoch``), the first
    one in every epoch (``repeated``) or the stored order (``off``). With
    ``drop_last`` the ordered arrays are cut to whole batches first.
    """
    x, y = trial.prepared.x_train, trial.prepared.y_train
    orders = epoch_orders(trial.seed, len(x))
    keep = len(x)
    if trial.drop_last:
        keep -= keep % trial.batch_size
    order = np.arange(len(x)) if trial.shuffle == "off" else next(orders)
    losses: list[float] = []
    for epoch in range(trial.spec.train.epochs):
        if trial.shuffle == "every_epoch" and epoch > 0:
            order = next(orders)
        chosen = order[:keep]
        losses += _fit(
            trial, x[chosen], y[chosen], epochs=1, shuffle=False, callbacks=callbacks
        )
        # fit clears stop_training when it starts, so the loop checks it here.
        if trial.model.stop_training:
            break
    return losses


class _TestMetric(keras.callbacks.Callback):
    """Appends the test metric after every epoch; stops on a non-finite one."""

    def __init__(self, prepared: Prepared, kind: str) -> None:
        super().__init__()
        self._prepared = prepared
        self._kind = kind
        self._x_test = tf.constant(prepared.x_test)
        self.curve: list[float] = []

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        # A direct call runs the layers eagerly on the whole test set: far
        # cheaper per epoch than predict(), which builds a dataset each time.
        output = self.model(self._x_test, training=False)
        value = metric_value(
            self._kind, keras.ops.convert_to_numpy(output), self._prepared
        )
        self.curve.append(value)
        if not math.isfinite(value):
            self.model.stop_training = True


@contextlib.contextmanager
def _quiet_keras() -> Iterator[None]:
    """Route Keras's console messages (TerminateOnNaN's) to absl logging."""
    interactive = keras.config.is_interactive_logging_enabled()
    keras.config.disable_interactive_logging()
    try:
        yield
    finally:
        if interactive:
            keras.config.enable_interactive_logging()
