"""`TorchBackend`: one trial of the neutral spec, trained with PyTorch."""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from bisect_ml._errors import BackendError, ScenarioError
from bisect_ml.backends._base import Outcome, library_versions
from bisect_ml.backends.torch_backend._model import build_model
from bisect_ml.backends.torch_backend._optim import make_optimizer
from bisect_ml.backends.torch_backend._preprocess import prepare
from bisect_ml.backends.torch_backend._train import fit, make_loss
from bisect_ml.factors import registry

if TYPE_CHECKING:
    from collections.abc import Mapping

    from bisect_ml.factors import Value
    from bisect_ml.scenario import Dataset, Spec

__all__ = ["TorchBackend"]

logger = logging.getLogger(__name__)

#: Environment variable holding torch's intra-op thread count (default 1).
THREADS_ENV = "BISECT_ML_THREADS"

_threads_set = False


def _set_threads() -> None:
    global _threads_set
    if _threads_set:
        return
    raw = os.environ.get(THREADS_ENV, "1")
    try:
        threads = int(raw)
    except ValueError:
        threads = 0
    if threads < 1:
        raise BackendError(
            "torch", f"`{THREADS_ENV}` must be a positive integer, got {raw!r}"
        )
    torch.set_num_threads(threads)
    logger.debug("torch uses %d thread(s)", threads)
    _threads_set = True


@dataclass(frozen=True)
class _Settings:
    """One field per registry factor, read from a complete assignment."""

    kernel: str
    bias: str
    scale: str
    window: str
    learning_rate: float
    beta_1: float
    beta_2: float
    epsilon: float
    epsilon_placement: str
    batch_size: int
    shuffle: str

    @classmethod
    def read(cls, assignment: Mapping[str, Value]) -> _Settings:
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
        v = {name: registry[name].validate(assignment[name]) for name in registry}
        return cls(
            kernel=str(v["init.dense.kernel"]),
            bias=str(v["init.dense.bias"]),
            scale=str(v["preprocess.scale"]),
            window=str(v["preprocess.window"]),
            learning_rate=float(v["optimizer.learning_rate"]),
            beta_1=float(v["optimizer.beta_1"]),
            beta_2=float(v["optimizer.beta_2"]),
            epsilon=float(v["optimizer.epsilon"]),
            epsilon_placement=str(v["optimizer.epsilon_placement"]),
            batch_size=int(v["train.batch_size"]),
            shuffle=str(v["train.shuffle"]),
        )


class TorchBackend:
    """Trains the neutral dense model with PyTorch.

    Each factor value that is torch's default runs torch's own component:
    ``nn.Linear``'s ``reset_parameters``, `torch.optim.Adam`, ToTensor and
    Normalize semantics, ``DataLoader(batch_size, shuffle)`` (``shuffle=True``
    for ``train.shuffle = "every_epoch"``). Keras's values are emulated on
    torch: its initializers through `torch.nn.init`, its zero bias, its Adam
    update as a `torch.optim.Optimizer`, and the one permutation its seeded
    ``fit(shuffle=True)`` repeats every epoch (``"repeated"``) as a DataLoader
    whose sampler is a single ``randperm``.

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
        settings = _Settings.read(assignment)
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
                scale=settings.scale,
                window=spec.data.window,
                window_value=settings.window,
            )
        except ValueError as err:
            raise BackendError("torch", f"cannot prepare the data ({err})") from None
        n_inputs = prepared.x_train.shape[1]

        torch.manual_seed(seed)
        model = build_model(spec.layers, n_inputs, settings.kernel, settings.bias)
        optimizer = make_optimizer(
            model.parameters(),
            placement=settings.epsilon_placement,
            lr=settings.learning_rate,
            beta_1=settings.beta_1,
            beta_2=settings.beta_2,
            eps=settings.epsilon,
        )
        curves = fit(
            model,
            optimizer,
            make_loss(spec.train.loss, spec.train.from_logits),
            prepared,
            epochs=spec.train.epochs,
            batch_size=settings.batch_size,
            shuffle=settings.shuffle,
            seed=seed,
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
