"""Framework-free helpers the real backends share: scaling and windowing.

These give the *numbers* each factor value means; each backend applies them
with its own framework's components, and the tests check both backends against
these references.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Affine", "WINDOW_OFFSETS", "fit_scaler", "window_numpy"]

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
