"""Framework-free helpers the real backends share: scaling and windowing.

The scaling and windowing helpers give the *numbers* each factor value means;
each backend applies them with its own framework's components, and the tests
check both backends against these references. The model's input
layout, the thread count and the ``train.drop_last`` check are found the same
way by both backends.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

import numpy as np

from bisect_ml._errors import BackendError, ScenarioError
from bisect_ml.scenario._geometry import Shape, input_layout, input_shape

if TYPE_CHECKING:
    from bisect_ml.scenario import Dataset, Spec

__all__ = [
    "THREADS_ENV",
    "WINDOW_OFFSETS",
    "Affine",
    "ModelOptions",
    "arrange",
    "check_drop_last",
    "digits_tokens",
    "env_threads",
    "fit_scaler",
    "model_inputs",
    "window_numpy",
]

#: preprocess.window value -> index of the target relative to the window end:
#: target = series[start + window - 1 + offset].
WINDOW_OFFSETS = {"next": 1, "last": 0, "skip": 2}


@dataclass(frozen=True)
class Affine:
    """x' = (x - shift) / scale, per feature."""

    shift: np.ndarray
    scale: np.ndarray

    def apply(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.shift) / self.scale).astype(np.float32)

    def invert(self, z: np.ndarray) -> np.ndarray:
        return z * self.scale + self.shift


def fit_scaler(value: str, x_train: np.ndarray) -> Affine:
    """The affine map a `preprocess.scale` value means for this training data.

    uint8 data is image data: ``unit`` is x/255 and ``symmetric`` is
    (x/255 - 0.5)/0.5, exactly what ``ToTensor`` + ``Normalize`` and
    ``Rescaling`` do. Other data has no fixed range, so ``unit`` and
    ``symmetric`` use each feature's training minimum and maximum.
    """
    x = np.asarray(x_train, dtype=np.float64)
    axis = 0
    if x_train.dtype == np.uint8:
        lo, hi = np.zeros(x.shape[1:]), np.full(x.shape[1:], 255.0)
    else:
        lo, hi = x.min(axis=axis), x.max(axis=axis)
    span = np.where(hi - lo > 0, hi - lo, 1.0)
    if value == "unit":
        return Affine(lo, span)
    if value == "symmetric":
        return Affine(lo + span / 2, span / 2)
    if value == "standardize":
        std = x.std(axis=axis)
        return Affine(x.mean(axis=axis), np.where(std > 0, std, 1.0))
    if value == "raw":
        return Affine(np.zeros(x.shape[1:]), np.ones(x.shape[1:]))
    raise ValueError(f"unknown preprocess.scale value {value!r}")


def window_numpy(
    series: np.ndarray, window: int, value: str
) -> tuple[np.ndarray, np.ndarray]:
    """Reference windowing: inputs (n, window) and targets (n,).

    ``start`` takes the first value of each window as its target; the others
    take ``series[i + window - 1 + offset]``. Every window that has a target
    is kept; the incomplete windows at the end of the series are dropped.
    """
    series = np.asarray(series)
    if value == "start":
        n = len(series) - window + 1
        targets = series[:n]
    else:
        offset = WINDOW_OFFSETS[value]
        n = len(series) - window + 1 - offset
        targets = series[window - 1 + offset : window - 1 + offset + n]
    inputs = np.stack([series[i : i + window] for i in range(n)])
    return inputs, targets


@dataclass(frozen=True)
class ModelOptions:
    """The values of the factors that shape the model, read once per trial."""

    dense_kernel: str
    dense_bias: str
    conv_kernel: str
    conv_bias: str
    conv_padding: str
    pool_padding: str
    count_include_pad: bool
    flatten_order: str
    bn_momentum: float
    bn_epsilon: float
    bn_variance: str
    ln_epsilon: float
    softmax_output: str
    embedding: str
    rnn_kernel: str
    rnn_recurrent: str
    rnn_bias: str
    gru_reset_after: bool = True
    lstm_bias: str = "double"
    eval_dropout: str = "off"
    eval_batch_norm: str = "running"

    @classmethod
    def from_assignment(cls, values: Mapping[str, object]) -> ModelOptions:
        """The options of a complete, validated factor assignment."""

        def number(name: str) -> float:
            value = values[name]
            assert isinstance(value, int | float)
            return float(value)

        return cls(
            dense_kernel=str(values["init.dense.kernel"]),
            dense_bias=str(values["init.dense.bias"]),
            conv_kernel=str(values["init.conv.kernel"]),
            conv_bias=str(values["init.conv.bias"]),
            conv_padding=str(values["layers.conv.padding_same"]),
            pool_padding=str(values["layers.pool.padding_same"]),
            count_include_pad=bool(values["layers.pool.count_include_pad"]),
            flatten_order=str(values["layers.flatten.order"]),
            bn_momentum=number("norm.batch.momentum"),
            bn_epsilon=number("norm.batch.epsilon"),
            bn_variance=str(values["norm.batch.running_variance"]),
            ln_epsilon=number("norm.layer.epsilon"),
            softmax_output=str(values["loss.softmax_output"]),
            embedding=str(values["init.embedding"]),
            rnn_kernel=str(values["init.recurrent.kernel"]),
            rnn_recurrent=str(values["init.recurrent.recurrent_kernel"]),
            rnn_bias=str(values["init.recurrent.bias"]),
            gru_reset_after=bool(values["layers.gru.reset_after"]),
            lstm_bias=str(values["layers.lstm.bias"]),
            eval_dropout=str(values["eval.dropout"]),
            eval_batch_norm=str(values["eval.batch_norm"]),
        )

    @classmethod
    def defaults(cls, framework: str) -> ModelOptions:
        """The options of ``framework``'s own defaults."""
        from bisect_ml.factors import default_assignment

        return cls.from_assignment(default_assignment(framework))


def arrange(x: np.ndarray, shape: Shape) -> np.ndarray:
    """Flat samples (n, features) reshaped to ``shape``: channels-last images,
    (n, steps, features) sequences; flat samples are returned as they are."""
    if shape.kind in ("image", "sequence"):
        return np.ascontiguousarray(x.reshape(-1, *shape.dims))
    return x


def digits_tokens(x: np.ndarray) -> np.ndarray:
    """The digits images as token ids: each pixel's intensity 0..16.

    The bundled images are stored as ``rint(v * 255 / 16)`` of the original
    intensities ``v``, so ``rint(x * 16 / 255)`` recovers them exactly.
    """
    return np.rint(np.asarray(x, dtype=np.float64) * (16.0 / 255.0)).astype(np.int64)


#: Environment variable holding the frameworks' thread count (default 1).
THREADS_ENV = "BISECT_ML_THREADS"


def env_threads(framework: str) -> int:
    """The thread count ``BISECT_ML_THREADS`` asks for (default 1).

    Raises `BackendError` for ``framework`` unless it is a positive integer.
    """
    raw = os.environ.get(THREADS_ENV, "1")
    try:
        n = int(raw)
    except ValueError:
        n = 0
    if n < 1:
        raise BackendError(
            framework, f"`{THREADS_ENV}` must be a positive integer, got {raw!r}"
        )
    return n


def check_drop_last(n_train: int, batch_size: int, drop_last: bool) -> None:
    """Refuse a ``train.drop_last`` that would drop every training sample."""
    if drop_last and n_train < batch_size:
        raise ScenarioError(
            f"is larger than the {n_train} training samples, so dropping the "
            "last incomplete batch leaves nothing to train on",
            key="train.batch_size",
            received=batch_size,
        )


class _Prepared(Protocol):
    """A backend's prepared data: a dataclass with flat ``x_train``, ``x_test``."""

    __dataclass_fields__: ClassVar[dict[str, Any]]

    @property
    def x_train(self) -> Any: ...

    @property
    def x_test(self) -> Any: ...


_P = TypeVar("_P", bound=_Prepared)


def model_inputs(
    spec: Spec,
    data: Dataset,
    prepared: _P,
    *,
    from_numpy: Callable[[np.ndarray], Any],
    arrange: Callable[[Any, Shape], Any],
) -> tuple[_P, Shape]:
    """``prepared`` with its samples laid out for the model, and its input shape.

    ``prepared.x_train`` and ``x_test`` are flat samples (n, features). A
    model that starts with an embedding takes the digits images as tokens
    instead (`digits_tokens` of the raw ``data``, through ``from_numpy``);
    any other takes the prepared samples, put in the shape by the framework's
    ``arrange``.
    """
    shape = input_shape(
        input_layout(spec.layers),
        dataset=spec.data.dataset,
        n_features=int(prepared.x_train.shape[1]),
        window=spec.data.window,
    )
    if shape.kind == "tokens":
        x_train = from_numpy(digits_tokens(data.x_train))
        x_test = from_numpy(digits_tokens(data.x_test))
    else:
        x_train = arrange(prepared.x_train, shape)
        x_test = arrange(prepared.x_test, shape)
    return dataclasses.replace(prepared, x_train=x_train, x_test=x_test), shape
