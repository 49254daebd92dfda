"""Bundled and user data sets, split identically for both sides.

The split is fixed by ``data.split_seed`` and done here, once, in NumPy, so the
two sides train and test on the very same samples. Preprocessing is *not* done
here: it is a factor, applied by each backend with its framework's components.
"""

from __future__ import annotations

import csv
import functools
import math
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bisect_ml._errors import ScenarioError
from bisect_ml.scenario._spec import DataSpec, LayerSpec

__all__ = ["Dataset", "check_model_fits", "load_data", "validation_cut"]


@dataclass(frozen=True, eq=False)
class Dataset:
    """Raw train and test data.

    For tabular and image data ``x_*`` is ``(n, features)`` and ``y_*`` holds
    class indices or regression targets. For a series, ``x_*`` is the 1-D series
    of that part and ``y_*`` is ``None``: windows are cut by the backend, since
    how they are cut is a factor.
    """

    x_train: np.ndarray
    y_train: np.ndarray | None
    x_test: np.ndarray
    y_test: np.ndarray | None
    task: str
    n_classes: int = 0
    series: bool = False

    @property
    def n_features(self) -> int:
        return 1 if self.series else int(self.x_train.shape[1])


def _bundled(name: str) -> tuple[np.ndarray, np.ndarray]:
    from sklearn import datasets

    if name == "digits":
        bunch = datasets.load_digits()
        # The 8x8 images hold 0..16; present them as the uint8 images a vision
        # pipeline sees (0..255), so ToTensor and Rescaling(1/255) mean what
        # they mean on real image data.
        x = np.rint(bunch.data * (255.0 / 16.0)).astype(np.uint8)
        return x, bunch.target.astype(np.int64)
    if name == "sunspots":
        from statsmodels.datasets import sunspots

        series = sunspots.load_pandas().data["SUNACTIVITY"].to_numpy(np.float64)
        return series, np.empty(0)
    loader = {
        "breast_cancer": datasets.load_breast_cancer,
        "wine": datasets.load_wine,
        "diabetes": functools.partial(datasets.load_diabetes, scaled=False),
    }[name]
    bunch = loader()
    y = bunch.target
    y = y.astype(np.float64) if name == "diabetes" else y.astype(np.int64)
    return bunch.data.astype(np.float64), y


def _from_path(spec: DataSpec) -> tuple[np.ndarray, np.ndarray]:
    path = Path(spec.path or "")
    if not path.is_file():
        raise ScenarioError(
            "does not exist or is not a file", key="data.path", received=str(path)
        )
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as npz:
                keys = set(npz.files)
                if not {"x", "y"} <= keys:
                    raise ScenarioError(
                        "must be an .npz file holding arrays `x` and `y`",
                        key="data.path",
                        received=sorted(keys),
                    )
                x, y = npz["x"], npz["y"]
        except (
            OSError,
            ValueError,
            EOFError,
            zipfile.BadZipFile,
            zlib.error,
        ) as err:
            first = (str(err).splitlines() or [""])[0]
            raise ScenarioError(
                f"cannot be read as .npz ({err.__class__.__name__}: {first})",
                key="data.path",
                received=str(path),
            ) from None
    elif path.suffix == ".csv":
        x, y = _read_csv(path, spec.target)
    else:
        raise ScenarioError(
            "must end in .npz or .csv", key="data.path", received=str(path)
        )
    _check_arrays(path, x, y)
    if spec.task == "classification":
        if not np.all(np.equal(np.mod(y, 1), 0)):
            raise ScenarioError(
                "must hold integer class labels for classification",
                key="data.path",
                received=str(path),
            )
        classes, y = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ScenarioError(
                "must hold at least two classes for classification (every "
                f"label is {classes[0]:g})",
                key="data.path",
                received=str(path),
            )
        y = y.astype(np.int64)
    else:
        y = y.astype(np.float64)
    return x.astype(np.float64), y


def _check_arrays(path: Path, x: np.ndarray, y: np.ndarray) -> None:
    """Shapes, a numeric type, at least one feature, and finite values."""
    if x.ndim != 2 or y.ndim != 1 or len(x) != len(y):
        raise ScenarioError(
            "must hold `x` of shape (n, features) and `y` of shape (n,)",
            key="data.path",
            received=f"x{x.shape}, y{y.shape}",
        )
    for name, arr in (("x", x), ("y", y)):
        if arr.dtype.kind not in "biuf":
            raise ScenarioError(
                f"must hold numbers in `{name}` (integer, float or bool), not "
                f"dtype {arr.dtype}",
                key="data.path",
                received=str(path),
            )
    if x.shape[1] == 0:
        raise ScenarioError(
            "must hold at least one feature column besides the target",
            key="data.path",
            received=str(path),
        )
    for name, arr in (("feature", x), ("target", y)):
        bad = ~np.isfinite(arr.astype(np.float64))
        if bad.any():
            row = int(np.argwhere(bad)[0][0])
            value = arr.reshape(len(arr), -1)[row][bad.reshape(len(arr), -1)[row]][0]
            raise ScenarioError(
                f"must hold only finite {name} values ({int(bad.sum())} are not; "
                f"the first, in data row {row + 1}, is {float(value)})",
                key="data.path",
                received=str(path),
            )


def _read_csv(path: Path, target: str | None) -> tuple[np.ndarray, np.ndarray]:
    if target is None:
        raise ScenarioError(
            "is required with a .csv path (the target column)", key="data.target"
        )
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError) as err:
        raise ScenarioError(
            f"cannot be read ({err})", key="data.path", received=str(path)
        ) from None
    if len(rows) < 2:
        raise ScenarioError(
            "must have a header row and data rows", key="data.path", received=str(path)
        )
    header = rows[0]
    if target not in header:
        raise ScenarioError(
            f"must name a column of {path.name} ({', '.join(header)})",
            key="data.target",
            received=target,
        )
    try:
        table = np.array([[float(v) for v in row] for row in rows[1:]])
    except ValueError as err:
        raise ScenarioError(
            f"must hold only numbers ({err})", key="data.path", received=str(path)
        ) from None
    col = header.index(target)
    return np.delete(table, col, axis=1), table[:, col]


def load_data(spec: DataSpec) -> Dataset:
    """Load and split the data ``spec`` describes.

    The test rows are the first of a random permutation fixed by
    ``split_seed``; the training rows are the rest, in that random order, or
    in the file's order when ``spec.order`` is ``"file"`` (the same rows).
    """
    if spec.dataset == "sunspots":
        series, _ = _bundled("sunspots")
        if spec.max_samples:
            series = series[: spec.max_samples]
        cut = int(round(len(series) * (1 - spec.test_fraction)))
        if (
            spec.window is None
            or cut <= spec.window + 2
            or len(series) - cut <= spec.window + 2
        ):
            raise ScenarioError(
                "is too long for the series: each part needs more than window + 2 "
                "points",
                key="data.window",
                received=spec.window,
            )
        return Dataset(
            series[:cut], None, series[cut:], None, "regression", series=True
        )

    x, y = _bundled(spec.dataset) if spec.dataset else _from_path(spec)
    if len(x) < 10:
        raise ScenarioError(
            "must hold at least 10 samples", key="data", received=len(x)
        )
    rng = np.random.default_rng(spec.split_seed)
    order = rng.permutation(len(x))
    if spec.max_samples:
        order = order[: spec.max_samples]
    n_test = max(1, int(round(len(order) * spec.test_fraction)))
    test, train = order[:n_test], order[n_test:]
    if spec.order == "file":
        train = np.sort(train)
    n_classes = int(y.max()) + 1 if spec.task == "classification" else 0
    return Dataset(x[train], y[train], x[test], y[test], spec.task, n_classes)


def check_model_fits(layers: tuple[LayerSpec, ...], data: Dataset) -> None:
    """Raise if the model's output cannot match the task."""
    out = layers[-1].units
    wanted = data.n_classes if data.task == "classification" else 1
    if out != wanted:
        what = f"{wanted} classes" if data.task == "classification" else "1 target"
        raise ScenarioError(
            f"must be {wanted} (the data has {what})",
            key=f"model.layers[{len(layers) - 1}].units",
            received=out,
        )


def validation_cut(n: int, fraction: float) -> int:
    """How many of ``n`` training rows are trained on with ``validation_split``.

    Keras's ``train_validation_split`` keeps ``floor(n * (1 - fraction))``
    rows (keras/src/trainers/data_adapters/array_slicing.py L497); the torch
    idiom this tool compares it with keeps as many (``random_split`` with the
    lengths ``[k, n - k]``). 0 holds nothing out. Raises `ScenarioError`
    where Keras raises: when no row, or every row, would be trained on.
    """
    if fraction <= 0:
        return n
    cut = math.floor(n * (1.0 - fraction))
    if cut == 0 or cut == n:
        left = "no training rows" if cut == 0 else "no validation rows"
        raise ScenarioError(
            f"leaves {left} of the {n} training samples (floor({n} * (1 - "
            f"{fraction:g})) = {cut} are trained on)",
            key="train.validation_split",
            received=fraction,
        )
    return cut
