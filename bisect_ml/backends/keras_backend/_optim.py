"""Adam with Keras's epsilon placement (genuine) or torch's (emulated)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bisect_ml.backends.keras_backend._runtime import keras

if TYPE_CHECKING:
    from bisect_ml.factors import Value

__all__ = ["KerasL2Adam", "TorchAdam", "TorchL2Adam", "make_optimizer"]

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


def make_optimizer(
    assignment: dict[str, Value], optimizer: str = "adam"
) -> keras.optimizers.Adam:
    """The Adam (or AdamW) the optimizer and clipping factors describe.

    Keras's own classes run for Keras's values: Adam or AdamW, decoupled
    ``weight_decay``, ``clipnorm`` (per variable) or ``global_clipnorm``.
    torch's epsilon placement is `TorchAdam`; torch's L2 decay is an
    ``update_step`` that adds ``l2 * theta`` to the gradient.
    """
    options: dict[str, Any] = {
        "learning_rate": float(assignment["optimizer.learning_rate"]),
        "beta_1": float(assignment["optimizer.beta_1"]),
        "beta_2": float(assignment["optimizer.beta_2"]),
        "epsilon": float(assignment["optimizer.epsilon"]),
    }
    clip = float(assignment["train.clip_norm"])
    if clip > 0:
        scope = assignment["train.clip_scope"]
        options["clipnorm" if scope == "per_variable" else "global_clipnorm"] = clip
    torch_step = assignment["optimizer.epsilon_placement"] == "corrected"

    if optimizer == "adamw":
        options["weight_decay"] = float(assignment["optimizer.adamw.weight_decay"])
        if torch_step:
            return TorchAdam(**options)
        return keras.optimizers.AdamW(**options)
    decay = float(assignment["optimizer.weight_decay"])
    if decay > 0 and assignment["optimizer.weight_decay_mode"] == "l2":
        return (TorchL2Adam if torch_step else KerasL2Adam)(l2=decay, **options)
    if decay > 0:
        options["weight_decay"] = decay
    return (TorchAdam if torch_step else keras.optimizers.Adam)(**options)
