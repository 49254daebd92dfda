"""The neutral dense model as an ``nn.Sequential``, initialised per the factors."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from bisect_ml.scenario import LayerSpec

__all__ = ["BIAS_INITS", "KERNEL_INITS", "build_model"]


def _keep(weight: torch.Tensor) -> None:
    """nn.Linear's own ``reset_parameters`` already drew this tensor."""


def _glorot_uniform(weight: torch.Tensor) -> None:
    # Keras VarianceScaling(1, "fan_avg", "uniform"): U(+-sqrt(6/(fan_in+fan_out))).
    nn.init.xavier_uniform_(weight, gain=1.0)


def _he_uniform(weight: torch.Tensor) -> None:
    # Keras VarianceScaling(2, "fan_in", "uniform"): U(+-sqrt(6/fan_in)).
    nn.init.kaiming_uniform_(weight, mode="fan_in", nonlinearity="relu")


def _lecun_uniform(weight: torch.Tensor) -> None:
    # Keras VarianceScaling(1, "fan_in", "uniform"): U(+-sqrt(3/fan_in)).
    nn.init.kaiming_uniform_(weight, mode="fan_in", nonlinearity="linear")


def _zeros(bias: torch.Tensor) -> None:
    nn.init.zeros_(bias)


#: init.dense.kernel value -> what to do to an ``nn.Linear`` weight (out, in).
KERNEL_INITS: dict[str, Callable[[torch.Tensor], None]] = {
    "kaiming_uniform_sqrt5": _keep,
    "glorot_uniform": _glorot_uniform,
    "he_uniform": _he_uniform,
    "lecun_uniform": _lecun_uniform,
}

#: init.dense.bias value -> what to do to an ``nn.Linear`` bias.
BIAS_INITS: dict[str, Callable[[torch.Tensor], None]] = {
    "uniform_fan_in": _keep,
    "zeros": _zeros,
}

_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "softmax": lambda: nn.Softmax(dim=1),
}


def build_model(
    layers: tuple[LayerSpec, ...], n_inputs: int, kernel: str, bias: str
) -> nn.Sequential:
    """Dense layers with their activations; draws from the global torch RNG.

    Each ``nn.Linear`` is built, and so initialised by its own
    ``reset_parameters``, then its kernel and bias are redrawn when the factor
    value is not torch's default.
    """
    init_kernel, init_bias = KERNEL_INITS[kernel], BIAS_INITS[bias]
    modules: list[nn.Module] = []
    width = n_inputs
    for layer in layers:
        if layer.type != "dense":
            raise ValueError(f"layer type {layer.type!r} is not supported")
        linear = nn.Linear(width, layer.units)
        with torch.no_grad():
            init_kernel(linear.weight)
            init_bias(linear.bias)
        modules.append(linear)
        if layer.activation != "linear":
            modules.append(_ACTIVATIONS[layer.activation]())
        width = layer.units
    return nn.Sequential(*modules)
