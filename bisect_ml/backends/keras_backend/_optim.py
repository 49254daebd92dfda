"""The optimizers of the ``optimizer.*`` factors, Keras's own where they can be.

Adam with Keras's epsilon placement (genuine) or torch's (`TorchAdam`);
RMSprop with epsilon inside the square root (genuine) or outside
(`TorchRMSprop`); SGD and Adadelta genuine for every value (their updates
have the same form in both frameworks at a constant learning rate). An
embedding's sparse gradient squared per occurrence in Adam (genuine) or
summed first (`summed_moments`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from bisect_ml.backends.keras_backend._runtime import keras, tf

if TYPE_CHECKING:
    from bisect_ml.factors import Value

__all__ = [
    "KerasL2Adam",
    "TorchAdam",
    "TorchL2Adam",
    "TorchRMSprop",
    "make_optimizer",
    "summed_moments",
]

ops = keras.ops


class TorchAdam(keras.optimizers.Adam):
    """Keras Adam taking torch.optim.Adam's step: epsilon after bias correction.

    Only `update_step` differs from `keras.optimizers.Adam`; the step counter,
    learning-rate handling and the rest of ``apply`` are Keras's own. At step
    ``t`` (``iterations + 1``), as in torch/optim/adam.py (single-tensor path)::

        m <- m + (1 - beta_1) * (g - m)
        v <- beta_2 * v + (1 - beta_2) * g**2
        theta <- theta - lr / (1 - beta_1**t)
                         * m / (sqrt(v) / sqrt(1 - beta_2**t) + epsilon)

    Keras instead adds epsilon to the raw ``sqrt(v)`` and folds the correction
    into the step size; the two differ when ``sqrt(v)`` is near epsilon.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.amsgrad:
            raise NotImplementedError("TorchAdam does not emulate amsgrad")

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        gradient = ops.cast(gradient, dtype)
        step = ops.cast(self.iterations + 1, dtype)
        beta_1 = ops.cast(self.beta_1, dtype)
        beta_2 = ops.cast(self.beta_2, dtype)
        bias_correction_1 = 1 - ops.power(beta_1, step)
        bias_correction_2_sqrt = ops.sqrt(1 - ops.power(beta_2, step))

        index = self._get_variable_index(variable)
        m = self._momentums[index]
        v = self._velocities[index]
        self.assign_add(m, ops.multiply(ops.subtract(gradient, m), 1 - beta_1))
        self.assign(
            v,
            ops.add(
                ops.multiply(v, beta_2),
                ops.multiply(ops.square(gradient), 1 - beta_2),
            ),
        )

        denom = ops.add(ops.divide(ops.sqrt(v), bias_correction_2_sqrt), self.epsilon)
        step_size = ops.divide(lr, bias_correction_1)
        self.assign_sub(variable, ops.multiply(step_size, ops.divide(m, denom)))


class _SummedMoments:
    """Densifies a sparse gradient before the update: torch's summed moments.

    Keras passes an embedding table's gradient to ``update_step`` as
    ``tf.IndexedSlices``, one slice per token occurrence, and Adam's
    ``ops.square`` squares each slice before a repeated token's rows are
    summed into the second moment. ``tf.convert_to_tensor`` sums the repeats
    first (the dense gradient torch's ``nn.Embedding`` gives), so the second
    moment takes the square of their sum (``optimizer.sparse_moments =
    "summed"``). Dense gradients pass through unchanged.
    """

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        if isinstance(gradient, tf.IndexedSlices):
            gradient = tf.convert_to_tensor(gradient)
        super().update_step(gradient, variable, learning_rate)  # type: ignore[misc]


_SUMMED: dict[type, type] = {}


def summed_moments(kind: type) -> type:
    """``kind`` (a Keras optimizer class) with `_SummedMoments` before it."""
    if kind not in _SUMMED:
        _SUMMED[kind] = type(f"Summed{kind.__name__}", (_SummedMoments, kind), {})
    return _SUMMED[kind]


class _L2InGradient:
    """Adds ``l2 * theta`` to each gradient, torch Adam's ``weight_decay``.

    It runs in ``update_step``, after Keras has clipped the gradients, as torch
    adds the term inside ``step()`` after ``clip_grad_norm_``.
    """

    l2: float

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        dtype = variable.dtype
        decayed = ops.add(
            ops.cast(gradient, dtype), ops.multiply(variable, ops.cast(self.l2, dtype))
        )
        super().update_step(decayed, variable, learning_rate)  # type: ignore[misc]


class KerasL2Adam(_L2InGradient, keras.optimizers.Adam):
    """Keras's Adam with torch's L2 weight decay (``optimizer.weight_decay_mode
    = "l2"``) instead of its decoupled one."""

    def __init__(self, *args: Any, l2: float = 0.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.l2 = l2


class TorchL2Adam(_L2InGradient, TorchAdam):
    """`TorchAdam` with torch's L2 weight decay: ``torch.optim.Adam(weight_decay)``."""

    def __init__(self, *args: Any, l2: float = 0.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.l2 = l2


class TorchRMSprop(keras.optimizers.RMSprop):
    """Keras RMSprop taking torch.optim.RMSprop's step: epsilon outside sqrt.

    Only `update_step` differs from `keras.optimizers.RMSprop`. As in
    torch/optim/rmsprop.py (single-tensor path)::

        v <- rho * v + (1 - rho) * g**2
        a <- rho * a + (1 - rho) * g                  (centered only)
        d <- sqrt(v - a**2) + epsilon                 (sqrt(v) + epsilon)
        buf <- momentum * buf + g / d; theta <- theta - lr * buf
                                          (theta <- theta - lr * g / d at 0)
    """

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        gradient = ops.cast(gradient, dtype)
        index = self._get_variable_index(variable)
        velocity = self._velocities[index]
        rho = self.rho
        self.assign(
            velocity,
            ops.add(
                ops.multiply(rho, velocity), ops.multiply(1 - rho, ops.square(gradient))
            ),
        )
        if self.centered:
            average = self._average_gradients[index]
            self.assign(
                average,
                ops.add(ops.multiply(rho, average), ops.multiply(1 - rho, gradient)),
            )
            spread = ops.subtract(velocity, ops.square(average))
        else:
            spread = velocity
        denominator = ops.add(ops.sqrt(spread), self.epsilon)
        direction = ops.divide(gradient, denominator)
        if self.momentum > 0:
            buffer = self._momentums[index]
            self.assign(buffer, ops.add(ops.multiply(self.momentum, buffer), direction))
            direction = buffer
        self.assign_sub(variable, ops.multiply(lr, direction))


def _clipping(assignment: Mapping[str, Value]) -> dict[str, float]:
    clip = float(assignment["train.clip_norm"])
    if clip <= 0:
        return {}
    scope = assignment["train.clip_scope"]
    return {"clipnorm" if scope == "per_variable" else "global_clipnorm": clip}


def make_optimizer(
    assignment: Mapping[str, Value],
    optimizer: str = "adam",
    *,
    sparse_gradients: bool = True,
) -> keras.optimizers.Optimizer:
    """The optimizer of ``train.optimizer`` with the factors' values.

    Keras's own classes run for Keras's values: Adam or AdamW, decoupled
    ``weight_decay``, SGD, RMSprop, Adadelta, ``clipnorm`` (per variable) or
    ``global_clipnorm``. torch's Adam epsilon placement is `TorchAdam`;
    torch's L2 decay is an ``update_step`` that adds ``l2 * theta`` to the
    gradient; torch's RMSprop epsilon placement is `TorchRMSprop`; torch's
    summed second moment of a sparse (embedding) gradient is `summed_moments`
    around Adam's class, left out when ``sparse_gradients`` says the model has
    no embedding (both values then take the same steps).
    """
    if optimizer == "sgd":
        return keras.optimizers.SGD(
            learning_rate=float(assignment["optimizer.sgd.learning_rate"]),
            momentum=float(assignment["optimizer.sgd.momentum"]),
            nesterov=bool(assignment["optimizer.sgd.nesterov"]),
            **_clipping(assignment),
        )
    if optimizer == "rmsprop":
        placement = assignment["optimizer.rmsprop.epsilon_placement"]
        if placement not in ("inside", "outside"):
            raise ValueError(
                f"unknown optimizer.rmsprop.epsilon_placement {placement!r}"
            )
        kind = keras.optimizers.RMSprop if placement == "inside" else TorchRMSprop
        return kind(
            learning_rate=float(assignment["optimizer.rmsprop.learning_rate"]),
            rho=float(assignment["optimizer.rmsprop.rho"]),
            momentum=float(assignment["optimizer.rmsprop.momentum"]),
            epsilon=float(assignment["optimizer.rmsprop.epsilon"]),
            centered=bool(assignment["optimizer.rmsprop.centered"]),
            **_clipping(assignment),
        )
    if optimizer == "adadelta":
        return keras.optimizers.Adadelta(
            learning_rate=float(assignment["optimizer.adadelta.learning_rate"]),
            rho=float(assignment["optimizer.adadelta.rho"]),
            epsilon=float(assignment["optimizer.adadelta.epsilon"]),
            **_clipping(assignment),
        )
    if optimizer not in ("adam", "adamw"):
        raise ValueError(f"unknown train.optimizer {optimizer!r}")
    options: dict[str, Any] = {
        "learning_rate": float(assignment["optimizer.learning_rate"]),
        "beta_1": float(assignment["optimizer.beta_1"]),
        "beta_2": float(assignment["optimizer.beta_2"]),
        "epsilon": float(assignment["optimizer.epsilon"]),
        **_clipping(assignment),
    }
    torch_step = assignment["optimizer.epsilon_placement"] == "corrected"
    moments = assignment["optimizer.sparse_moments"]
    if moments not in ("summed", "per_occurrence"):
        raise ValueError(f"unknown optimizer.sparse_moments {moments!r}")

    def sparse(kind: type) -> type:
        summed = moments == "summed" and sparse_gradients
        return summed_moments(kind) if summed else kind

    if optimizer == "adamw":
        options["weight_decay"] = float(assignment["optimizer.adamw.weight_decay"])
        return sparse(TorchAdam if torch_step else keras.optimizers.AdamW)(**options)
    decay = float(assignment["optimizer.weight_decay"])
    if decay > 0 and assignment["optimizer.weight_decay_mode"] == "l2":
        kind = TorchL2Adam if torch_step else KerasL2Adam
        return sparse(kind)(l2=decay, **options)
    if decay > 0:
        options["weight_decay"] = decay
    return sparse(TorchAdam if torch_step else keras.optimizers.Adam)(**options)
