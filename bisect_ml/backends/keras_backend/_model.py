"""The neutral dense model as a Keras Sequential, with the initializer factors.

A value that is Keras's own default (``glorot_uniform`` kernel, ``zeros`` bias)
is applied by passing nothing, so Dense builds its genuine default; the other
values are Keras initializers configured to draw what they name.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from bisect_ml._errors import BackendError
from bisect_ml.backends.keras_backend._runtime import keras

if TYPE_CHECKING:
    from bisect_ml.scenario import LayerSpec

__all__ = ["bias_initializer", "build_model", "kernel_initializer"]


def kernel_initializer(value: str) -> keras.initializers.Initializer | None:
    """The initializer an ``init.dense.kernel`` value means; None for Dense's own.

    A new instance draws its seed from Python's ``random`` when constructed, so
    call this in layer order, right before the layer it is for.
    """
    if value == "glorot_uniform":
        return None
    if value == "kaiming_uniform_sqrt5":
        # kaiming_uniform_(a=sqrt(5)): gain^2 = 2/(1+5) = 1/3, and the bound
        # sqrt(3 * (1/3) / fan_in) = 1/sqrt(fan_in), nn.Linear's own.
        return keras.initializers.VarianceScaling(
            scale=1.0 / 3.0, mode="fan_in", distribution="uniform"
        )
    if value == "he_uniform":
        return keras.initializers.HeUniform()
    if value == "lecun_uniform":
        return keras.initializers.LecunUniform()
    raise BackendError("keras", f"no kernel initializer for {value!r}")


def bias_initializer(value: str, fan_in: int) -> keras.initializers.Initializer | None:
    """The initializer an ``init.dense.bias`` value means; None for Dense's own."""
    if value == "zeros":
        return None
    if value == "uniform_fan_in":
        bound = 1.0 / math.sqrt(fan_in)
        return keras.initializers.RandomUniform(minval=-bound, maxval=bound)
    raise BackendError("keras", f"no bias initializer for {value!r}")


def build_model(
    layers: tuple[LayerSpec, ...], n_inputs: int, kernel: str, bias: str
) -> keras.Sequential:
    """A Sequential of Dense layers taking ``(batch, n_inputs)`` inputs."""
    dense = []
    fan_in = n_inputs
    for spec in layers:
        options = {}
        kernel_init = kernel_initializer(kernel)
        if kernel_init is not None:
            options["kernel_initializer"] = kernel_init
        bias_init = bias_initializer(bias, fan_in)
        if bias_init is not None:
            options["bias_initializer"] = bias_init
        dense.append(
            keras.layers.Dense(spec.units, activation=spec.activation, **options)
        )
        fan_in = spec.units
    return keras.Sequential([keras.Input(shape=(n_inputs,)), *dense])
