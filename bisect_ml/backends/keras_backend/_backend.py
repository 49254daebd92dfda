"""The Keras backend: checks its arguments once, then runs one trial."""

from __future__ import annotations

import operator
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from bisect_ml._errors import BackendError, ScenarioError
from bisect_ml.backends.keras_backend._train import build_trial, fit_trial
from bisect_ml.factors import registry
from bisect_ml.scenario import check_model_fits
from bisect_ml.scenario._spec import ACTIVATIONS

if TYPE_CHECKING:
    from bisect_ml.backends._base import Outcome
    from bisect_ml.factors import Value
    from bisect_ml.scenario import Dataset, Spec

__all__ = ["KerasBackend", "check_assignment"]

_LOSSES = {"cross_entropy": "classification", "mse": "regression"}
_SUPPORTED = (
    "dense",
    "conv2d",
    "max_pool2d",
    "avg_pool2d",
    "flatten",
    "batch_norm",
    "layer_norm",
    "dropout",
    "embedding",
    "lstm",
    "gru",
)
_METRICS = {"error_rate": "classification", "mse": "regression"}
_OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop", "adadelta")


class KerasBackend:
    """Trains the neutral spec with Keras 3 on TensorFlow.

    Each factor value that is Keras's own default runs Keras's genuine
    component; each torch value is emulated with Keras parts:

    ========================== =============================================
    factor                     how
    ========================== =============================================
    ``init.dense.kernel``      Dense's own GlorotUniform for
                               ``glorot_uniform``; ``kaiming_uniform_sqrt5``
                               is ``VarianceScaling(1/3, "fan_in",
                               "uniform")``; He/LeCun uniform by name
    ``init.dense.bias``        Dense's own Zeros; ``uniform_fan_in`` is
                               ``RandomUniform(+-1/sqrt(fan_in))`` per layer
    ``preprocess.scale``       ``Rescaling`` on uint8 images for ``unit`` and
                               ``symmetric``; otherwise the affine map of
                               `~bisect_ml.backends._common.fit_scaler`
    ``preprocess.window``      ``keras.utils.timeseries_dataset_from_array``
                               with shifted targets
    ``optimizer.*``            ``keras.optimizers.Adam`` / ``AdamW`` with
                               decoupled ``weight_decay``; for ``corrected``
                               epsilon, a subclass with torch's update step;
                               torch's L2 decay adds ``l2 * theta`` to the
                               gradient in ``update_step``
    ``train.batch_size``       ``Model.fit(batch_size=...)``
    ``train.shuffle``          ``fit(shuffle=False)`` for ``off``,
                               ``fit(shuffle=True)`` for ``repeated``;
                               ``every_epoch`` is one ``fit(epochs=1,
                               shuffle=False)`` per epoch on freshly
                               permuted arrays
    ``train.drop_last``        fit keeps the partial batch; dropping it is
                               the per-epoch path on arrays cut to whole
                               batches
    ``train.clip_*``           the optimizer's ``clipnorm`` (per variable)
                               or ``global_clipnorm``
    ``train.validation_rows``  Keras's own ``train_validation_split`` for
                               ``tail``; torch's ``random_split`` rows for
                               ``random`` (`held_out`)
    ``init.conv.*``,           as for dense layers, on Conv2D, LSTM/GRU and
    ``init.recurrent.*``,      Embedding (torch's RNN biases: a sum of two
    ``init.embedding``         uniforms for an LSTM's single bias)
    ``layers.*``               Conv2D/pooling ``padding="same"``, Flatten;
                               torch's values are ZeroPadding2D,
                               `PaddedPool2D` and Permute before Flatten
    ``layers.gru.reset_after`` GRU(reset_after=...), both genuine
    ``layers.lstm.bias``       LSTM for ``single``; torch's ``double`` is an
                               RNN over `DoubleBiasLSTMCell`
    ``eval.dropout``           Dropout; ``on`` is `DropoutAtInference`
    ``eval.batch_norm``        BatchNormalization; ``batch`` is
                               `BatchNormAtInference` (training=True)
    ``init.values``            ``transplanted`` loads torch's default initial
                               weights at the seed (`start_from_torch`)
    ``norm.*``                 BatchNormalization(momentum=1 - m) and
                               LayerNormalization; torch's running variance
                               is `UnbiasedBatchNormalization`
    ``loss.*``                 SparseCategoricalCrossentropy on a softmax
                               Dense (Keras takes its logits); torch's
                               values use `OpaqueSoftmax`; MSE, or
                               `BroadcastMSE` for ``broadcast``
    ========================== =============================================

    Notes
    -----
    ``keras.utils.set_random_seed(seed)`` runs before the model is built, so
    the same seed gives the same outcome in any process started with the same
    ``BISECT_ML_THREADS``. It also reseeds Python's ``random`` and NumPy's
    global generator.

    With a global seed set, Keras 3.15's ``fit(shuffle=True)`` on arrays draws
    one permutation and reuses it in every epoch (its ``tf.random.shuffle``
    kernel is rebuilt from the same seeds for each epoch's iterator); torch's
    ``DataLoader(shuffle=True)`` draws a new one each epoch. The two are the
    ``train.shuffle`` values ``repeated`` (Keras's default here, run
    genuinely) and ``every_epoch`` (emulated).

    Each epoch runs as one TensorFlow call (``steps_per_execution`` and
    ``steps_per_epoch`` are the number of batches): the batches and updates
    are those of a plain ``fit``, with less Python overhead per batch.

    Examples
    --------
    The assignment must hold every factor; a side's ``explicit`` settings
    alone are rejected, its ``assignment`` fills in Keras's defaults:

    >>> from bisect_ml.backends import get_backend
    >>> from bisect_ml.scenario import (DataSpec, LayerSpec, Side, Spec,
    ...                                 TrainSpec, load_data)
    >>> spec = Spec(DataSpec(dataset="digits", max_samples=300),
    ...             (LayerSpec("dense", 32, "relu"), LayerSpec("dense", 10)),
    ...             TrainSpec(epochs=2, loss="cross_entropy", from_logits=True))
    >>> side = Side("keras", {"optimizer.epsilon_placement": "corrected"})
    >>> backend = get_backend("keras")
    >>> data = load_data(spec.data)
    >>> outcome = backend.train(spec, data, side.assignment, seed=0)
    >>> len(outcome.metric_curve)
    2
    >>> backend.train(spec, data, dict(side.explicit), seed=0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    bisect_ml._errors.ScenarioError: `assignment` lacks a value for ...
    """

    name = "keras"

    def train(
        self, spec: Spec, data: Dataset, assignment: dict[str, Value], seed: int
    ) -> Outcome:
        """Train once and return the test metric and the per-epoch curves."""
        start = time.perf_counter()
        values = check_assignment(assignment)
        _check_spec(spec, data)
        seed = _check_seed(seed)

        trial = build_trial(spec, data, values, seed)
        return fit_trial(trial, start=start)


def check_assignment(assignment: Mapping[str, object]) -> dict[str, Value]:
    """Every factor's value, validated; raise `ScenarioError` on a bad key."""
    known = set(registry)
    for name in assignment:
        if name not in known:
            registry[name]  # raises, suggesting the closest factor name
    missing = [name for name in registry if name not in assignment]
    if missing:
        names = ", ".join(f"`{name}`" for name in missing)
        raise ScenarioError(
            f"lacks a value for {names} (a backend needs every factor; "
            "`Side.assignment` fills in the defaults)",
            key="assignment",
        )
    return {
        name: factor.validate(assignment[name]) for name, factor in registry.items()
    }


def _check_spec(spec: Spec, data: Dataset) -> None:
    for i, layer in enumerate(spec.layers):
        if layer.type not in _SUPPORTED:
            raise BackendError(
                "keras",
                f"`model.layers[{i}].type` must be one of "
                f"{', '.join(repr(t) for t in _SUPPORTED)}, got {layer.type!r}",
            )
        if layer.activation not in ACTIVATIONS:
            raise BackendError(
                "keras",
                f"`model.layers[{i}].activation` must be one of "
                f"{', '.join(ACTIVATIONS)}, got {layer.activation!r}",
            )
    if not spec.layers:
        raise BackendError("keras", "`model.layers` must hold at least one layer")
    train = spec.train
    if train.optimizer not in _OPTIMIZERS:
        raise BackendError(
            "keras",
            f"`train.optimizer` must be one of "
            f"{', '.join(repr(o) for o in _OPTIMIZERS)}, got {train.optimizer!r}",
        )
    if train.epochs < 1:
        raise BackendError(
            "keras", f"`train.epochs` must be a positive integer, got {train.epochs!r}"
        )
    for key, value, tasks in (
        ("train.loss", train.loss, _LOSSES),
        ("train.metric", train.metric, _METRICS),
    ):
        if tasks.get(value) != data.task:
            fits = [name for name, task in tasks.items() if task == data.task]
            raise BackendError(
                "keras",
                f"`{key}` must be {' or '.join(repr(f) for f in fits)} for "
                f"{data.task} data, got {value!r}",
            )
    check_model_fits(spec.layers, data)


def _check_seed(seed: object) -> int:
    try:
        value = operator.index(seed)  # type: ignore[arg-type]
    except TypeError:
        value = -1
    if isinstance(seed, bool) or not 0 <= value < 2**32:
        raise BackendError(
            "keras", f"`seed` must be an integer in [0, 2**32), got {seed!r}"
        )
    return value
