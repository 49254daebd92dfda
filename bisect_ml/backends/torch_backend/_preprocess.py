"""Input scaling and series windowing done with torch, as a torch script does them.

torchvision is not a dependency, so its two transforms a vision pipeline uses,
``ToTensor`` and ``Normalize``, are reimplemented here with their documented
semantics for flat (samples, features) arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from bisect_ml.backends._common import WINDOW_OFFSETS, Affine, fit_scaler

__all__ = [
    "Prepared",
    "normalize",
    "prepare",
    "scale_features",
    "to_tensor",
    "window_series",
]


def to_tensor(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    """torchvision's ``ToTensor`` for a batch of flat samples.

    uint8 data is image data in [0, 255] and becomes float32 in [0, 1]; any
    other data is passed through without scaling, as float32. The HWC to CHW
    transpose of ``ToTensor`` does not apply: samples here are flattened.
    """
    tensor = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.array(x))
    if tensor.dtype == torch.uint8:
        return tensor.to(torch.float32).div(255)
    return tensor.to(torch.float32)


def normalize(
    x: torch.Tensor,
    mean: Sequence[float] | np.ndarray,
    std: Sequence[float] | np.ndarray,
) -> torch.Tensor:
    """torchvision's ``Normalize``: ``(x - mean) / std``, never in place.

    ``mean`` and ``std`` hold one value (broadcast to every feature) or one per
    feature. Like torchvision, a non-float input raises `TypeError` and a zero
    standard deviation raises `ValueError`.
    """
    if not torch.is_floating_point(x):
        raise TypeError(f"input should be a float tensor, got {x.dtype}")
    mean_t = torch.as_tensor(np.asarray(mean), dtype=x.dtype)
    std_t = torch.as_tensor(np.asarray(std), dtype=x.dtype)
    if (std_t == 0).any():
        raise ValueError(
            f"std evaluated to zero after conversion to {x.dtype}, leading to "
            "division by zero"
        )
    return x.sub(mean_t).div(std_t)


def scale_features(
    value: str, x_train: np.ndarray, x_test: np.ndarray
) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply the `preprocess.scale` value, fitted on the training features.

    uint8 images go through ``to_tensor`` (``unit``), then ``normalize``
    (``symmetric`` is ``Normalize((0.5,), (0.5,))``, ``standardize`` uses the
    per-feature training mean and standard deviation); other data gets the
    affine map of `fit_scaler`.
    """
    affine = fit_scaler(value, x_train)
    if x_train.dtype != np.uint8:
        return torch.from_numpy(affine.apply(x_train)), torch.from_numpy(
            affine.apply(x_test)
        )
    if value == "raw":
        return _float32(x_train), _float32(x_test)
    if value == "unit":
        return to_tensor(x_train), to_tensor(x_test)
    mean: Sequence[float] | np.ndarray
    std: Sequence[float] | np.ndarray
    if value == "symmetric":
        mean, std = (0.5,), (0.5,)
    else:
        # The training statistics, in ToTensor's [0, 1] units.
        mean, std = affine.shift / 255.0, affine.scale / 255.0
    return (
        normalize(to_tensor(x_train), mean, std),
        normalize(to_tensor(x_test), mean, std),
    )


def window_series(
    series: torch.Tensor, window: int, value: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut a 1-D series into inputs (n, window) and targets (n,) with ``unfold``.

    Same windows and targets as `bisect_ml.backends._common.window_numpy`.
    """
    offset = 0 if value == "start" else WINDOW_OFFSETS[value]
    n = series.shape[0] - window + 1 - offset
    if n < 1:
        raise ValueError(
            f"a series of {series.shape[0]} points has no window of {window} "
            f"with a target ({value!r})"
        )
    inputs = series.unfold(0, window, 1)[:n]
    first = 0 if value == "start" else window - 1 + offset
    return inputs, series[first : first + n]


@dataclass(frozen=True)
class Prepared:
    """Model-ready tensors, and what the metric needs to undo the scaling.

    ``y_*`` hold class indices (int64, shape (n,)) for classification and
    scaled targets (float32, shape (n, 1)) for regression. For regression,
    ``target_scale`` maps scaled targets back to original units,
    ``y_test_original`` holds the test targets in those units (n, 1) and
    ``target_variance`` is the variance of the original training targets.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    target_scale: Affine | None = None
    y_test_original: np.ndarray | None = None
    target_variance: float = 1.0

    @property
    def classification(self) -> bool:
        return self.target_scale is None


def prepare(
    x_train: np.ndarray,
    y_train: np.ndarray | None,
    x_test: np.ndarray,
    y_test: np.ndarray | None,
    *,
    task: str,
    series: bool,
    scale: str,
    window: int | None,
    window_value: str,
) -> Prepared:
    """Scale inputs (and regression targets) and, for a series, cut windows."""
    if series:
        if window is None:
            raise ValueError("a series needs `data.window`")
        return _prepare_series(x_train, x_test, scale, window, window_value)

    if y_train is None or y_test is None:
        raise ValueError("tabular data needs targets")
    xs_train, xs_test = scale_features(scale, x_train, x_test)
    if task == "classification":
        return Prepared(
            xs_train,
            torch.as_tensor(y_train, dtype=torch.int64),
            xs_test,
            torch.as_tensor(y_test, dtype=torch.int64),
        )

    # A fixed neutral rule, not a factor: standardize regression targets with
    # the training mean and standard deviation.
    y_fit = np.asarray(y_train, dtype=np.float64)
    y_eval = np.asarray(y_test, dtype=np.float64).reshape(-1, 1)
    std = float(y_fit.std())
    targets = Affine(np.asarray(y_fit.mean()), np.asarray(std if std > 0 else 1.0))
    return Prepared(
        xs_train,
        _column(targets.apply(y_fit)),
        xs_test,
        _column(targets.apply(y_eval)),
        targets,
        y_eval,
        _variance(y_fit),
    )


def _prepare_series(
    train: np.ndarray, test: np.ndarray, scale: str, window: int, value: str
) -> Prepared:
    affine = fit_scaler(scale, train)
    x_train, y_train = window_series(
        torch.from_numpy(affine.apply(train)), window, value
    )
    x_test, y_test = window_series(torch.from_numpy(affine.apply(test)), window, value)

    # The metric's units: the same targets cut from the unscaled series.
    _, y_fit = window_series(_float64(train), window, value)
    _, y_eval = window_series(_float64(test), window, value)
    return Prepared(
        x_train.contiguous(),
        y_train.reshape(-1, 1),
        x_test.contiguous(),
        y_test.reshape(-1, 1),
        affine,
        y_eval.numpy().reshape(-1, 1),
        _variance(y_fit.numpy()),
    )


def _variance(targets: np.ndarray) -> float:
    variance = float(np.var(targets))
    if not variance > 0:
        raise ValueError(
            "the training targets are constant; the MSE metric "
            "divides by their variance"
        )
    return variance


def _float64(values: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(values, dtype=np.float64))


def _float32(values: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(values, dtype=np.float32).copy())


def _column(values: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(values)).reshape(-1, 1)
