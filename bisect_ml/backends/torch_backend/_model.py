"""The neutral model as an ``nn.Sequential``, built as the layer factors say.

Each factor value that is torch's own default is torch's genuine module with
its own initialisation (``nn.Linear``, ``nn.Conv2d(padding=k//2)``,
``nn.BatchNorm2d``, ``nn.Flatten``...); Keras's values are emulated with torch
parts, each tested against the Keras layer it imitates.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from bisect_ml.backends._common import ModelOptions
from bisect_ml.backends._transplant import (
    LayerWeights,
    donor_weights,
    gate_order,
    merge_biases,
    read_weights,
    write_weights,
)
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
    "ClassicGRU",
    "DropoutAtInference",
    "FlattenHWC",
    "ModelOptions",
    "Recurrent",
    "TrainModeBatchNorm",
    "build_model",
    "get_weights",
    "set_weights",
    "start_model",
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


class ClassicGRU(nn.Module):
    """A GRU that applies its reset gate before the recurrent product (Cho 2014).

    Keras's ``GRU(reset_after=False)``: n = tanh(W_in x + W_hn (r * h) + b_n)
    with one bias, where torch's ``nn.GRU`` (always ``reset_after=True``)
    computes r * (W_hn h + b_hn). Weights are laid out as ``nn.GRU``'s (gate
    order r, z, n, shapes (3u, in) and (3u, u)); batch first; returns every
    step's state and the last state, as ``nn.GRU`` does.
    """

    def __init__(self, inputs: int, units: int) -> None:
        super().__init__()
        self.units = units
        self.weight_ih_l0 = nn.Parameter(torch.empty(3 * units, inputs))
        self.weight_hh_l0 = nn.Parameter(torch.empty(3 * units, units))
        self.bias_l0 = nn.Parameter(torch.empty(3 * units))
        bound = 1.0 / math.sqrt(units)
        with torch.no_grad():
            # torch's own RNN init for every weight; the one bias starts as
            # the sum of nn.GRU's two, so it has their distribution.
            for weight in (self.weight_ih_l0, self.weight_hh_l0):
                nn.init.uniform_(weight, -bound, bound)
            self.bias_l0.copy_(
                torch.empty(3 * units).uniform_(-bound, bound)
                + torch.empty(3 * units).uniform_(-bound, bound)
            )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        u = self.units
        w_hr, w_hz, w_hn = self.weight_hh_l0.split(u)
        projected = F.linear(x, self.weight_ih_l0, self.bias_l0)
        h = x.new_zeros(x.shape[0], u)
        steps = []
        for t in range(x.shape[1]):
            x_r, x_z, x_n = projected[:, t].split(u, dim=1)
            r = torch.sigmoid(x_r + h @ w_hr.T)
            z = torch.sigmoid(x_z + h @ w_hz.T)
            n = torch.tanh(x_n + (r * h) @ w_hn.T)
            h = (1 - z) * n + z * h
            steps.append(h)
        return torch.stack(steps, dim=1), h


class Recurrent(nn.Module):
    """An ``nn.LSTM`` or ``nn.GRU`` (batch first) returning every step or the last.

    Keras's recurrent layers return the last step unless
    ``return_sequences=True``; torch's return every step and the state.
    """

    def __init__(
        self, rnn: nn.LSTM | nn.GRU | ClassicGRU, return_sequences: bool
    ) -> None:
        super().__init__()
        self.rnn, self.return_sequences = rnn, return_sequences

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return out if self.return_sequences else out[:, -1]


def _recurrent(layer: LayerSpec, shape: Shape, options: ModelOptions) -> nn.Module:
    units = int(layer.units or 0)
    if layer.type == "gru" and not options.gru_reset_after:
        return _classic_gru(layer, shape, options)
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
        if layer.type == "lstm" and options.lstm_bias == "single":
            # Keras's one bias: b_ih holds the sum (same distribution), b_hh
            # stays at zero and out of training, so the bias takes one
            # optimiser step per update, not two.
            weights["bias_ih_l0"].add_(weights["bias_hh_l0"])
            nn.init.zeros_(weights["bias_hh_l0"])
    if layer.type == "lstm" and options.lstm_bias == "single":
        rnn.bias_hh_l0.requires_grad_(False)
    return Recurrent(rnn, bool(layer.return_sequences))


def _classic_gru(layer: LayerSpec, shape: Shape, options: ModelOptions) -> nn.Module:
    units = int(layer.units or 0)
    rnn = ClassicGRU(shape.dims[-1], units)
    with torch.no_grad():
        if options.rnn_kernel == "glorot_uniform":
            nn.init.xavier_uniform_(rnn.weight_ih_l0)
        if options.rnn_recurrent == "orthogonal":
            recurrent = torch.empty(units, 3 * units)
            nn.init.orthogonal_(recurrent)
            rnn.weight_hh_l0.copy_(recurrent.T)
        if options.rnn_bias == "zeros_unit_forget":
            nn.init.zeros_(rnn.bias_l0)
    return Recurrent(rnn, bool(layer.return_sequences))


class DropoutAtInference(nn.Dropout):
    """``nn.Dropout`` that keeps dropping in eval mode.

    What a model left in training mode at prediction time does: the masks
    of ``F.dropout(training=True)``, also under ``model.eval()``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.dropout(x, self.p, True, self.inplace)


class TrainModeBatchNorm(nn.Sequential):
    """A model whose ``model.eval()`` leaves its BatchNorm modules in train mode.

    What a script that never calls ``model.eval()`` predicts with, for the
    BatchNorm modules only (dropout follows ``eval.dropout``): each
    evaluation normalises the test batch by its own mean and biased variance
    and, as torch does in train mode, updates the running statistics with
    it. Nothing reads those statistics afterwards, since the modules never
    leave train mode.
    """

    def train(self, mode: bool = True) -> TrainModeBatchNorm:
        super().train(mode)
        for module in self.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.train(True)
        return self


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
            rate = float(layer.rate or 0.0)
            on = options.eval_dropout == "on"
            modules.append(DropoutAtInference(rate) if on else nn.Dropout(rate))
        elif kind == "embedding":
            modules.append(_embedding(layer, before, options))
        elif kind in ("lstm", "gru"):
            modules.append(_recurrent(layer, before, options))
        else:
            raise ValueError(f"layer type {kind!r} is not supported")
    if options.eval_batch_norm == "batch":
        return TrainModeBatchNorm(*modules)
    return nn.Sequential(*modules)


def _weighted(model: nn.Sequential) -> list[nn.Module]:
    """The modules holding weights, one per weighted spec layer, in order."""
    return [m for m in model if any(True for _ in m.parameters())]


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy().copy()


def _read(module: nn.Module, kind: str) -> dict[str, np.ndarray]:
    if isinstance(module, nn.Linear):
        return {"kernel": _numpy(module.weight).T, "bias": _numpy(module.bias)}
    if isinstance(module, nn.Conv2d):
        assert module.bias is not None
        kernel = _numpy(module.weight).transpose(2, 3, 1, 0)  # OIHW -> HWIO
        return {"kernel": kernel, "bias": _numpy(module.bias)}
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        assert module.running_mean is not None and module.running_var is not None
        return {
            "gamma": _numpy(module.weight),
            "beta": _numpy(module.bias),
            "mean": _numpy(module.running_mean),
            "variance": _numpy(module.running_var),
        }
    if isinstance(module, nn.LayerNorm):
        return {"gamma": _numpy(module.weight), "beta": _numpy(module.bias)}
    if isinstance(module, nn.Embedding):
        return {"table": _numpy(module.weight)}
    assert isinstance(module, Recurrent)
    rnn = module.rnn
    if isinstance(rnn, ClassicGRU):
        units = rnn.units
        return {
            "kernel": gate_order(_numpy(rnn.weight_ih_l0).T, units, to_torch=False),
            "recurrent": gate_order(_numpy(rnn.weight_hh_l0).T, units, to_torch=False),
            "bias": gate_order(_numpy(rnn.bias_l0), units, to_torch=False),
        }
    assert isinstance(rnn, nn.LSTM | nn.GRU)
    params = dict(rnn.named_parameters())
    arrays = {
        "kernel": _numpy(params["weight_ih_l0"]).T,
        "recurrent": _numpy(params["weight_hh_l0"]).T,
        "bias": _numpy(params["bias_ih_l0"]),
        "recurrent_bias": _numpy(params["bias_hh_l0"]),
    }
    if kind == "gru":
        units = rnn.hidden_size
        arrays = {k: gate_order(v, units, to_torch=False) for k, v in arrays.items()}
    return arrays


def _write(module: nn.Module, weights: LayerWeights) -> None:
    arrays = weights.arrays

    def put(tensor: torch.Tensor, array: np.ndarray) -> None:
        value = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
        if tuple(value.shape) != tuple(tensor.shape):
            raise ValueError(
                f"layer {weights.index} ({weights.type}): weights of shape "
                f"{tuple(value.shape)} do not fit {tuple(tensor.shape)}"
            )
        tensor.copy_(value)

    if isinstance(module, nn.Linear):
        put(module.weight, arrays["kernel"].T)
        put(module.bias, arrays["bias"])
    elif isinstance(module, nn.Conv2d):
        assert module.bias is not None
        put(module.weight, arrays["kernel"].transpose(3, 2, 0, 1))  # HWIO -> OIHW
        put(module.bias, arrays["bias"])
    elif isinstance(module, nn.modules.batchnorm._BatchNorm):
        assert module.running_mean is not None and module.running_var is not None
        put(module.weight, arrays["gamma"])
        put(module.bias, arrays["beta"])
        put(module.running_mean, arrays["mean"])
        put(module.running_var, arrays["variance"])
    elif isinstance(module, nn.LayerNorm):
        put(module.weight, arrays["gamma"])
        put(module.bias, arrays["beta"])
    elif isinstance(module, nn.Embedding):
        put(module.weight, arrays["table"])
    else:
        assert isinstance(module, Recurrent)
        _write_recurrent(module.rnn, weights, put)


def _write_recurrent(
    rnn: nn.Module, weights: LayerWeights, put: Callable[..., None]
) -> None:
    arrays = weights.arrays
    units = arrays["recurrent"].shape[0]
    gru = weights.type == "gru"

    def torch_order(array: np.ndarray) -> np.ndarray:
        return gate_order(array, units, to_torch=True) if gru else array

    put(rnn.weight_ih_l0, torch_order(arrays["kernel"]).T)
    put(rnn.weight_hh_l0, torch_order(arrays["recurrent"]).T)
    if isinstance(rnn, ClassicGRU):
        put(rnn.bias_l0, torch_order(merge_biases(weights)))
        return
    assert isinstance(rnn, nn.LSTM | nn.GRU)
    recurrent = arrays.get("recurrent_bias")
    if recurrent is None or not rnn.bias_hh_l0.requires_grad:
        # A single-bias source (Keras's LSTM, a classic GRU) or target (an
        # LSTM with layers.lstm.bias = single): the sum goes to b_ih.
        put(rnn.bias_ih_l0, torch_order(merge_biases(weights)))
        put(rnn.bias_hh_l0, np.zeros(rnn.bias_hh_l0.shape, np.float32))
        return
    put(rnn.bias_ih_l0, torch_order(arrays["bias"]))
    put(rnn.bias_hh_l0, torch_order(recurrent))


def get_weights(
    model: nn.Sequential,
    layers: tuple[LayerSpec, ...],
    shape: Shape,
    options: ModelOptions,
    *,
    flatten_rows: str = "match",
) -> list[LayerWeights]:
    """The model's weights in the neutral layout of `bisect_ml.backends._transplant`.

    ``layers``, ``shape`` and ``options`` must be those the model was built
    with; ``flatten_rows`` as in `read_weights`.
    """
    with torch.no_grad():
        return read_weights(
            _weighted(model),
            layers,
            shape,
            _read,
            flatten_order=options.flatten_order,
            flatten_rows=flatten_rows,
        )


def set_weights(
    model: nn.Sequential,
    weights: list[LayerWeights],
    options: ModelOptions,
    *,
    flatten_rows: str = "match",
) -> None:
    """Load neutral ``weights`` into a model built with ``options``.

    ``flatten_rows`` as in `write_weights`: ``"match"`` keeps the function,
    ``"as_stored"`` writes flattened features in the order they come, as a
    hand-written copy of weights read with ``get_weights(flatten_rows=
    "as_stored")`` would (PUBLIC_CASES R10).
    """
    with torch.no_grad():
        write_weights(
            _weighted(model),
            weights,
            _write,
            flatten_order=options.flatten_order,
            flatten_rows=flatten_rows,
        )


def start_model(
    layers: tuple[LayerSpec, ...],
    shape: Shape,
    options: ModelOptions,
    seed: int,
    init_values: str = "own",
) -> nn.Sequential:
    """Seed torch and build the model; its initial weights as ``init.values`` says.

    ``own``: torch draws them (``torch.manual_seed(seed)``, then
    `build_model`). ``transplanted``: the model is built the same way (so
    torch's random stream, which later drives dropout, is where it would
    be), then takes the weights Keras's genuine initialisers draw for this
    model at ``seed`` (`bisect_ml.backends._transplant.donor_weights`).
    """
    torch.manual_seed(seed)
    model = build_model(layers, shape, options)
    if init_values == "transplanted":
        state = torch.get_rng_state()
        donor = donor_weights("keras", layers, shape, seed)
        torch.set_rng_state(state)
        set_weights(model, donor, options)
    return model
