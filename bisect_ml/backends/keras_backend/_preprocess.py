"""Feature scaling, series windowing and target handling, with Keras utilities.

The numbers come from `bisect_ml.backends._common`; what is a Keras idiom is
done with the Keras component: ``Rescaling`` on uint8 images and
``timeseries_dataset_from_array`` for windows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bisect_ml._errors import ScenarioError
from bisect_ml.backends._common import WINDOW_OFFSETS, fit_scaler
from bisect_ml.backends.keras_backend._runtime import keras
from bisect_ml.scenario import Dataset, Spec

__all__ = ["Prepared", "cut_windows", "prepare", "metric_value", "scale_features"]


@dataclass(frozen=True, eq=False)
class Prepared:
    """Arrays ready for ``fit`` and what the test metric needs.

    ``y_train`` is what the model is trained on: class indices, or float32
    targets of shape (n, 1) in model units. ``y_test`` is in the units the
    metric is reported in: class indices, or targets in the original units.
    ``decode`` maps model outputs (n, 1) back to original units and
    ``target_variance`` is the variance of the original training targets.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    decode: Callable[[np.ndarray], np.ndarray] | None = None
    target_variance: float = float("nan")


def scale_features(
    value: str, x_train: np.ndarray, x_test: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Both parts scaled as ``preprocess.scale`` says, fitted on ``x_train``.

    On uint8 images ``unit`` and ``symmetric`` are the Rescaling layers of the
    Keras tutorials; everything else is `fit_scaler`'s affine map.
    """
    if x_train.dtype == np.uint8 and value in ("unit", "symmetric"):
        if value == "unit":
            layer = keras.layers.Rescaling(1.0 / 255)
        else:
            layer = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0)
        return (
            keras.ops.convert_to_numpy(layer(x_train)),
            keras.ops.convert_to_numpy(layer(x_test)),
        )
    affine = fit_scaler(value, x_train)
    return affine.apply(x_train), affine.apply(x_test)


def cut_windows(
    series: np.ndarray, window: int, value: str
) -> tuple[np.ndarray, np.ndarray]:
    """Inputs (n, window) and targets (n,) as ``preprocess.window`` says.

    ``timeseries_dataset_from_array`` pairs the window starting at ``i`` with
    ``targets[i]``, so the targets are the series shifted by where the target
    sits: ``series[window - 1 + offset:]``, or the series itself for
    ``start``. It keeps as many windows as there are targets.
    """
    series = np.asarray(series)
    if value == "start":
        targets = series
    else:
        targets = series[window - 1 + WINDOW_OFFSETS[value] :]
    dataset = keras.utils.timeseries_dataset_from_array(
        series,
        targets,
        sequence_length=window,
        batch_size=len(series),
        shuffle=False,
    )
    batches = list(dataset.as_numpy_iterator())
    if not batches:
        raise ScenarioError(
            f"leaves no complete window in a part of {len(series)} points",
            key="data.window",
            received=window,
        )
    inputs = np.concatenate([b[0] for b in batches])
    outputs = np.concatenate([b[1] for b in batches])
    return inputs, outputs


def prepare(spec: Spec, data: Dataset, scale: str, window_value: str) -> Prepared:
    """Scale, window and encode ``data`` for one trial."""
    if data.series:
        return _prepare_series(spec, data, scale, window_value)
    x_train, x_test = scale_features(scale, data.x_train, data.x_test)
    assert data.y_train is not None and data.y_test is not None
    if data.task == "classification":
        return Prepared(
            x_train,
            data.y_train.astype(np.int64),
            x_test,
            data.y_test.astype(np.int64),
        )

    # Regression targets are standardized with the training statistics: a
    # fixed rule, the same on both sides, not a factor.
    y_train = np.asarray(data.y_train, dtype=np.float64)
    mean, std = float(y_train.mean()), float(y_train.std())
    std = std if std > 0 else 1.0

    def decode(z: np.ndarray) -> np.ndarray:
        return np.asarray(z, dtype=np.float64).reshape(-1) * std + mean

    return Prepared(
        x_train,
        ((y_train - mean) / std).astype(np.float32).reshape(-1, 1),
        x_test,
        np.asarray(data.y_test, dtype=np.float64),
        decode,
        _positive(float(y_train.var())),
    )


def _prepare_series(
    spec: Spec, data: Dataset, scale: str, window_value: str
) -> Prepared:
    window = spec.data.window
    if window is None:
        raise ScenarioError("is required for series data", key="data.window")
    affine = fit_scaler(scale, data.x_train)
    x_train, t_train = cut_windows(affine.apply(data.x_train), window, window_value)
    x_test, t_test = cut_windows(affine.apply(data.x_test), window, window_value)

    def decode(z: np.ndarray) -> np.ndarray:
        return np.asarray(
            affine.invert(np.asarray(z, dtype=np.float64).reshape(-1)),
            dtype=np.float64,
        )

    return Prepared(
        x_train,
        t_train.astype(np.float32).reshape(-1, 1),
        x_test,
        decode(t_test),
        decode,
        _positive(float(np.var(decode(t_train)))),
    )


def _positive(variance: float) -> float:
    # Constant targets leave nothing to normalise by; report the raw MSE.
    return variance if variance > 0 else 1.0


def metric_value(kind: str, output: np.ndarray, prepared: Prepared) -> float:
    """The test metric of model ``output``; nan when the output is not finite."""
    if not np.all(np.isfinite(output)):
        return float("nan")
    if kind == "error_rate":
        return float(np.mean(np.argmax(output, axis=1) != prepared.y_test))
    assert prepared.decode is not None
    error = prepared.decode(output) - prepared.y_test
    return float(np.mean(error**2) / prepared.target_variance)
