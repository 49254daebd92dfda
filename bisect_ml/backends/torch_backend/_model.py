"""The neutral model as an ``nn.Sequential``, built as the layer factors say.

Each factor value that is torch's own default is torch's genuine module with
its own initialisation (``nn.Linear``, ``nn.Conv2d(padding=k//2)``,
``nn.BatchNorm2d``, ``nn.Flatten``...); Keras's values are emulated with torch
parts, each tested against the Keras layer it imitates.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from bisect_ml.backends._common import ModelOptions
from bisect_ml.scenario import LayerSpec
from bisect_ml.scenario._geometry import (
    Shape,
    layer_shapes,
    pool_padding,
    symmetric_padding,
)

__all__ = [
    "BIAS_INITS",
    "KERNEL_INITS",
    "AvgPoolExcludingPad",
    "BiasedBatchNorm1d",
    "BiasedBatchNorm2d",
    "FlattenHWC",
    "ModelOptions",
    "Recurrent",
    "build_model",
]


def _keep(weight: torch.Tensor) -> None:
    """The layer's own ``reset_parameters`` already drew this tensor."""


def _glorot_uniform(weight: torch.Tensor) -> None:
    # Keras VarianceScaling(1, "fan_avg", "uniform"): U(+-sqrt(6/(fan_in+fan_out))).
    # torch counts conv fans as Keras does: in*kh*kw and out*kh*kw.
    nn.init.xavier_uniform_(weight, gain=1.0)


def _he_uniform(weight: torch.Tensor) -> None:
    # Keras VarianceScaling(2, "fan_in", "uniform"): U(+-sqrt(6/fan_in)).
    nn.init.kaiming_uniform_(weight, mode="fan_in", nonlinearity="relu")


def _lecun_uniform(weight: torch.Tensor) -> None:
    # Keras VarianceScaling(1, "fan_in", "uniform"): U(+-sqrt(3/fan_in)).
    nn.init.kaiming_uniform_(weight, mode="fan_in", nonlinearity="linear")


def _zeros(bias: torch.Tensor) -> None:
    nn.init.zeros_(bias)


#: init.*.kernel value -> what to do to an ``nn.Linear`` or ``nn.Conv2d`` weight.
KERNEL_INITS: dict[str, Callable[[torch.Tensor], None]] = {
    "kaiming_uniform_sqrt5": _keep,
    "glorot_uniform": _glorot_uniform,
    "he_uniform": _he_uniform,
    "lecun_uniform": _lecun_uniform,
}

#: init.*.bias value -> what to do to an ``nn.Linear`` or ``nn.Conv2d`` bias.
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


class FlattenHWC(nn.Module):
    """Flatten an NCHW batch in Keras's channels-last order (H, W, C)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, 2, 3, 1).flatten(1)


class AvgPoolExcludingPad(nn.Module):
    """Average pooling over explicitly padded input, divided by real inputs only.

    TensorFlow's 'SAME' average with its uneven split: the zero-padded sum
    over the count of unpadded positions in each window. ``pads`` is
    ``(left, right, top, bottom)`` as for ``F.pad``.
    """

    def __init__(self, pads: tuple[int, int, int, int], kernel: int, stride: int):
        super().__init__()
        self.pads, self.kernel, self.stride = pads, kernel, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ones = torch.ones_like(x[:1, :1])
        total = F.avg_pool2d(F.pad(x, self.pads), self.kernel, self.stride)
        count = F.avg_pool2d(F.pad(ones, self.pads), self.kernel, self.stride)
        return total / count


def _train_biased(bn: nn.BatchNorm1d | nn.BatchNorm2d, x: torch.Tensor) -> torch.Tensor:
    """A training step of ``bn`` with Keras's running variance (the biased one).

    The batch is normalised exactly as torch does (``F.batch_norm`` with batch
    statistics); only the running variance's update differs, taking the batch
    variance divided by n instead of n - 1.
    """
    dims = [0, *range(2, x.dim())]
    momentum = float(bn.momentum or 0.0)
    assert bn.running_mean is not None and bn.running_var is not None
    with torch.no_grad():
        mean = x.mean(dim=dims)
        variance = x.var(dim=dims, unbiased=False)
        bn.running_mean.mul_(1 - momentum).add_(mean, alpha=momentum)
        bn.running_var.mul_(1 - momentum).add_(variance, alpha=momentum)
        if bn.num_batches_tracked is not None:
            bn.num_batches_tracked.add_(1)
    return F.batch_norm(x, None, None, bn.weight, bn.bias, True, 0.0, bn.eps)


class BiasedBatchNorm1d(nn.BatchNorm1d):
    """``nn.BatchNorm1d`` whose running variance is the biased estimate."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _train_biased(self, x) if self.training else super().forward(x)


class BiasedBatchNorm2d(nn.BatchNorm2d):
    """``nn.BatchNorm2d`` whose running variance is the biased estimate."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _train_biased(self, x) if self.training else super().forward(x)


class Recurrent(nn.Module):
    """An ``nn.LSTM`` or ``nn.GRU`` (batch first) returning every step or the last.

    Keras's recurrent layers return the last step unless
    ``return_sequences=True``; torch's return every step and the state.
    """

    def __init__(self, rnn: nn.LSTM | nn.GRU, return_sequences: bool) -> None:
        super().__init__()
        self.rnn, self.return_sequences = rnn, return_sequences

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return out if self.return_sequences else out[:, -1]


def _recurrent(layer: LayerSpec, shape: Shape, options: ModelOptions) -> nn.Module:
    units = int(layer.units or 0)
    cls = nn.LSTM if layer.type == "lstm" else nn.GRU
    rnn = cls(shape.dims[-1], units, batch_first=True)
    gates = 4 if layer.type == "lstm" else 3
    weights: dict[str, torch.Tensor] = dict(rnn.named_parameters())
    with torch.no_grad():
        if options.rnn_kernel == "glorot_uniform":
            # Keras's (inputs, gates*units) kernel has the fans of this (g*u, in).
            nn.init.xavier_uniform_(weights["weight_ih_l0"])
        if options.rnn_recurrent == "orthogonal":
            # Keras makes the whole (units, gates*units) matrix orthogonal.
            recurrent = torch.empty(units, gates * units)
            nn.init.orthogonal_(recurrent)
            weights["weight_hh_l0"].copy_(recurrent.T)
        if options.rnn_bias == "zeros_unit_forget":
            nn.init.zeros_(weights["bias_ih_l0"])
            nn.init.zeros_(weights["bias_hh_l0"])
            if layer.type == "lstm":
                weights["bias_ih_l0"][units : 2 * units] = 1.0  # gates i, f, g, o
    return Recurrent(rnn, bool(layer.return_sequences))


def _embedding(layer: LayerSpec, shape: Shape, options: ModelOptions) -> nn.Module:
    embedding = nn.Embedding(shape.vocab, int(layer.units or 0))
    if options.embedding == "uniform_0.05":
        with torch.no_grad():
            nn.init.uniform_(embedding.weight, -0.05, 0.05)
    return embedding


def _dense(layer: LayerSpec, width: int, options: ModelOptions) -> list[nn.Module]:
    linear = nn.Linear(width, int(layer.units or 0))
    with torch.no_grad():
        KERNEL_INITS[options.dense_kernel](linear.weight)
        BIAS_INITS[options.dense_bias](linear.bias)
    return [linear, *_activation(layer)]


def _activation(layer: LayerSpec) -> list[nn.Module]:
    if layer.activation == "linear":
        return []
    return [_ACTIVATIONS[layer.activation]()]


def _conv(layer: LayerSpec, shape: Shape, options: ModelOptions) -> list[nn.Module]:
    height, width, channels = shape.dims
    kernel, stride = int(layer.kernel_size or 0), layer.stride
    dilation = int(layer.dilation or 1)
    modules: list[nn.Module] = []
    padding: int | str = 0
    if layer.padding == "same" and options.conv_padding == "symmetric":
        # torch's own 'same' where it accepts it (stride 1), else the idiom.
        padding = "same" if stride == 1 else symmetric_padding(kernel, dilation)
    elif layer.padding == "same":
        top, bottom = pool_padding("asymmetric", height, kernel, stride, dilation)
        left, right = pool_padding("asymmetric", width, kernel, stride, dilation)
        modules.append(nn.ZeroPad2d((left, right, top, bottom)))
    conv = nn.Conv2d(
        channels,
        int(layer.filters or 0),
        kernel,
        stride=stride,
        padding=padding,
        dilation=dilation,
    )
    with torch.no_grad():
        KERNEL_INITS[options.conv_kernel](conv.weight)
        assert conv.bias is not None
        BIAS_INITS[options.conv_bias](conv.bias)
    return [*modules, conv, *_activation(layer)]


def _pool(layer: LayerSpec, shape: Shape, options: ModelOptions) -> list[nn.Module]:
    kernel, stride = int(layer.pool_size or 0), layer.stride
    is_max = layer.type == "max_pool2d"
    if layer.padding != "same":
        return [
            nn.MaxPool2d(kernel, stride) if is_max else nn.AvgPool2d(kernel, stride)
        ]
    if options.pool_padding == "symmetric":
        pad = symmetric_padding(kernel)
        if is_max:
            return [nn.MaxPool2d(kernel, stride, padding=pad)]
        return [
            nn.AvgPool2d(
                kernel, stride, padding=pad, count_include_pad=options.count_include_pad
            )
        ]
    height, width, _ = shape.dims
    top, bottom = pool_padding("asymmetric", height, kernel, stride)
    left, right = pool_padding("asymmetric", width, kernel, stride)
    pads = (left, right, top, bottom)
    if is_max:
        return [nn.ConstantPad2d(pads, float("-inf")), nn.MaxPool2d(kernel, stride)]
    if options.count_include_pad:
        return [nn.ZeroPad2d(pads), nn.AvgPool2d(kernel, stride)]
    return [AvgPoolExcludingPad(pads, kernel, stride)]


def _batch_norm(shape: Shape, options: ModelOptions) -> nn.Module:
    image = shape.kind == "image"
    channels = shape.dims[-1]
    genuine = options.bn_variance == "unbiased"
    cls: type[nn.Module]
    if image:
        cls = nn.BatchNorm2d if genuine else BiasedBatchNorm2d
    else:
        cls = nn.BatchNorm1d if genuine else BiasedBatchNorm1d
    return cls(channels, eps=options.bn_epsilon, momentum=options.bn_momentum)


def _flatten(shape: Shape, options: ModelOptions) -> nn.Module:
    if shape.kind == "image" and options.flatten_order == "hwc":
        return FlattenHWC()
    return nn.Flatten()


def build_model(
    layers: tuple[LayerSpec, ...],
    shape: Shape,
    options: ModelOptions | None = None,
) -> nn.Sequential:
    """The layers as torch modules; draws initial weights from the global RNG.

    ``shape`` is the sample shape of the input (images channels-last, as in
    `bisect_ml.scenario._geometry`); the model itself takes NCHW images.
    Each layer is built, and so initialised by its own ``reset_parameters``,
    then its weights are redrawn when the factor value is not torch's default.
    """
    options = options or ModelOptions.defaults("torch")
    outputs = layer_shapes(layers, shape)
    modules: list[nn.Module] = []
    for layer, before in zip(layers, [shape, *outputs[:-1]], strict=True):
        kind = layer.type
        if kind == "dense":
            modules += _dense(layer, before.dims[-1], options)
        elif kind == "conv2d":
            modules += _conv(layer, before, options)
        elif kind in ("max_pool2d", "avg_pool2d"):
            modules += _pool(layer, before, options)
        elif kind == "flatten":
            modules.append(_flatten(before, options))
        elif kind == "batch_norm":
            modules.append(_batch_norm(before, options))
        elif kind == "layer_norm":
            modules.append(nn.LayerNorm(before.dims[-1], eps=options.ln_epsilon))
        elif kind == "dropout":
            modules.append(nn.Dropout(float(layer.rate or 0.0)))
        elif kind == "embedding":
            modules.append(_embedding(layer, before, options))
        elif kind in ("lstm", "gru"):
            modules.append(_recurrent(layer, before, options))
        else:
            raise ValueError(f"layer type {kind!r} is not supported")
    return nn.Sequential(*modules)
