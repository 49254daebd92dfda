"""The neutral model as a Keras Sequential, built as the layer factors say.

A value that is Keras's own default is applied by passing nothing, so each
layer builds its genuine default (GlorotUniform, ``padding='same'``,
``BatchNormalization(momentum=0.99)``, ``Flatten``...); torch's values are
Keras layers configured, or small Keras layers written, to compute what torch
computes, each tested against the torch module it imitates.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from bisect_ml._errors import BackendError
from bisect_ml.backends._common import ModelOptions
from bisect_ml.backends._transplant import (
    LayerWeights,
    donor_weights,
    merge_biases,
    read_weights,
    write_weights,
)
from bisect_ml.backends.keras_backend._runtime import keras
from bisect_ml.scenario._geometry import layer_shapes, pool_padding, symmetric_padding

if TYPE_CHECKING:
    from bisect_ml.scenario import LayerSpec
    from bisect_ml.scenario._geometry import Shape

__all__ = [
    "BatchNormAtInference",
    "DoubleBiasLSTMCell",
    "DropoutAtInference",
    "OpaqueSoftmax",
    "PaddedPool2D",
    "SumOfUniforms",
    "UnbiasedBatchNormAtInference",
    "UnbiasedBatchNormalization",
    "bias_initializer",
    "build_model",
    "get_weights",
    "kernel_initializer",
    "set_weights",
    "start_from_torch",
]

ops = keras.ops


def kernel_initializer(value: str) -> keras.initializers.Initializer | None:
    """The initializer an ``init.*.kernel`` value means; None for Keras's own.

    A new instance draws its seed from Python's ``random`` when constructed, so
    call this in layer order, right before the layer it is for. Keras counts
    a conv kernel's fans as torch does (in*kh*kw, out*kh*kw).
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
    """The initializer an ``init.*.bias`` value means; None for Keras's own."""
    if value == "zeros":
        return None
    if value == "uniform_fan_in":
        bound = 1.0 / math.sqrt(fan_in)
        return keras.initializers.RandomUniform(minval=-bound, maxval=bound)
    raise BackendError("keras", f"no bias initializer for {value!r}")


class OpaqueSoftmax(keras.layers.Layer):
    """A softmax Keras's losses cannot see through.

    ``Dense(activation="softmax")`` tags its output with the logits, and
    TensorFlow's cross-entropy uses them instead of the probabilities (see
    ``_get_logits``). Computed as ``exp(x - max) / sum``, the output carries no
    tag and is no ``Softmax`` op, so the loss really gets probabilities.
    """

    def call(self, x: Any) -> Any:
        e = ops.exp(ops.subtract(x, ops.max(x, axis=-1, keepdims=True)))
        return ops.divide(e, ops.sum(e, axis=-1, keepdims=True))

    def compute_output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return shape


class PaddedPool2D(keras.layers.Layer):
    """Pooling over explicitly padded NHWC input, as torch pools.

    ``pads`` is ``((top, bottom), (left, right))``. A max pads with -inf, so
    padding is never the maximum (MaxPool2d's own rule); an average pads with
    zeros and divides by the window size (``count_include_pad=True``) or by
    the number of real inputs in the window (False).
    """

    def __init__(
        self,
        mode: str,
        pool_size: int,
        strides: int,
        pads: tuple[tuple[int, int], tuple[int, int]],
        count_include_pad: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.mode, self.pool_size, self.strides = mode, pool_size, strides
        self.pads, self.count_include_pad = pads, count_include_pad

    def _pad(self, x: Any, value: float) -> Any:
        width = [[0, 0], list(self.pads[0]), list(self.pads[1]), [0, 0]]
        return ops.pad(x, width, constant_values=value)

    def call(self, x: Any) -> Any:
        size, step = self.pool_size, self.strides
        if self.mode == "max":
            return ops.max_pool(self._pad(x, float("-inf")), size, step, "valid")
        total = ops.average_pool(self._pad(x, 0.0), size, step, "valid")
        if self.count_include_pad:
            return total
        ones = ops.ones_like(x[:1, :, :, :1])
        count = ops.average_pool(self._pad(ones, 0.0), size, step, "valid")
        return ops.divide(total, count)


class UnbiasedBatchNormalization(keras.layers.BatchNormalization):
    """BatchNormalization whose moving variance takes torch's unbiased estimate.

    A training batch is normalised exactly as Keras does (biased batch
    variance, ``ops.batch_normalization``); the moving variance is updated
    with that variance times n / (n - 1), n the values per channel. Inference
    and frozen layers are Keras's own code.
    """

    def call(self, inputs: Any, training: bool | None = None, mask: Any = None) -> Any:
        if not (training and self.trainable) or mask is not None:
            return super().call(inputs, training=training, mask=mask)
        inputs = ops.cast(inputs, "float32")
        axes = self._reduction_axes
        mean, variance = ops.moments(inputs, axes=axes)
        shape = ops.shape(inputs)
        count = ops.cast(_count(shape, axes), "float32")
        unbiased = ops.multiply(variance, ops.divide(count, ops.subtract(count, 1.0)))
        momentum = self.momentum
        self.moving_mean.assign(self.moving_mean * momentum + mean * (1.0 - momentum))
        self.moving_variance.assign(
            self.moving_variance * momentum + unbiased * (1.0 - momentum)
        )
        outputs = ops.batch_normalization(
            x=inputs,
            mean=mean,
            variance=variance,
            axis=self.axis,
            offset=self.beta if self.center else None,
            scale=self.gamma if self.scale else None,
            epsilon=self.epsilon,
        )
        return ops.cast(outputs, self.compute_dtype)


class BatchNormAtInference(keras.layers.BatchNormalization):
    """BatchNormalization that normalises by batch statistics at inference.

    What ``model(x, training=True)`` does to a BatchNorm layer (torch's model
    left in train mode, emulated for BatchNorm only): the batch's mean and
    biased variance, and a moving-average update, whatever ``training`` says.
    """

    def call(self, inputs: Any, training: bool | None = None, mask: Any = None) -> Any:
        return super().call(inputs, training=True, mask=mask)


class UnbiasedBatchNormAtInference(UnbiasedBatchNormalization):
    """`UnbiasedBatchNormalization` with batch statistics at inference."""

    def call(self, inputs: Any, training: bool | None = None, mask: Any = None) -> Any:
        return super().call(inputs, training=True, mask=mask)


def _count(shape: tuple[Any, ...], axes: list[int]) -> Any:
    count: Any = 1
    for axis in axes:
        count = count * shape[axis]
    return count


class SumOfUniforms(keras.initializers.Initializer):
    """The sum of two independent U(+-bound) draws: torch's two RNN biases.

    torch's LSTM adds an input and a recurrent bias, each U(+-1/sqrt(units));
    Keras's LSTM has one bias, which starts with this distribution.
    """

    def __init__(self, bound: float) -> None:
        self.bound = bound
        self._first = keras.initializers.RandomUniform(-bound, bound)
        self._second = keras.initializers.RandomUniform(-bound, bound)

    def __call__(self, shape: Any, dtype: Any = None) -> Any:
        return ops.add(self._first(shape, dtype), self._second(shape, dtype))

    def get_config(self) -> dict[str, Any]:
        return {"bound": self.bound}


class DoubleBiasLSTMCell(keras.layers.LSTMCell):
    """An LSTMCell with torch's two biases, b_ih and b_hh, both trained.

    The cell adds ``bias + recurrent_bias`` where Keras's adds ``bias``: the
    same function, but each update moves both, so under Adam the effective
    bias moves about twice as far per step as a single bias does. Dropout is
    not supported (the neutral LSTM has none).
    """

    def __init__(
        self, units: int, recurrent_bias_initializer: Any = "zeros", **kwargs: Any
    ) -> None:
        super().__init__(units, **kwargs)
        self.recurrent_bias_initializer = keras.initializers.get(
            recurrent_bias_initializer
        )

    def build(self, input_shape: Any) -> None:
        super().build(input_shape)
        self.recurrent_bias = self.add_weight(
            shape=(4 * self.units,),
            name="recurrent_bias",
            initializer=self.recurrent_bias_initializer,
        )

    def call(self, inputs: Any, states: Any, training: bool = False) -> Any:
        h_tm1, c_tm1 = states[0], states[1]
        z = ops.add(
            ops.matmul(inputs, self.kernel), ops.matmul(h_tm1, self.recurrent_kernel)
        )
        z = ops.add(z, ops.add(self.bias, self.recurrent_bias))
        c, o = self._compute_carry_and_output_fused(ops.split(z, 4, axis=1), c_tm1)
        h = o * self.activation(c)
        return h, [h, c]


def _recurrent(layer: LayerSpec, options: ModelOptions) -> Any:
    units = int(layer.units or 0)
    bound = 1.0 / math.sqrt(units)
    settings: dict[str, Any] = {}
    if options.rnn_kernel == "uniform_hidden":
        settings["kernel_initializer"] = keras.initializers.RandomUniform(-bound, bound)
    if options.rnn_recurrent == "uniform_hidden":
        settings["recurrent_initializer"] = keras.initializers.RandomUniform(
            -bound, bound
        )
    torch_bias = options.rnn_bias == "uniform_hidden"
    sequences = bool(layer.return_sequences)
    if layer.type == "gru":
        if not options.gru_reset_after:
            settings["reset_after"] = False
        if torch_bias:
            # reset_after=True: a (2, 3*units) bias, rows input and recurrent,
            # each one of torch's; a classic GRU's one bias is their sum.
            settings["bias_initializer"] = (
                keras.initializers.RandomUniform(-bound, bound)
                if options.gru_reset_after
                else SumOfUniforms(bound)
            )
        return keras.layers.GRU(units, return_sequences=sequences, **settings)
    if options.lstm_bias == "double":
        if torch_bias:
            settings["unit_forget_bias"] = False
            settings["bias_initializer"] = keras.initializers.RandomUniform(
                -bound, bound
            )
            settings["recurrent_bias_initializer"] = keras.initializers.RandomUniform(
                -bound, bound
            )
        cell = DoubleBiasLSTMCell(units, **settings)
        return keras.layers.RNN(cell, return_sequences=sequences)
    if torch_bias:
        settings["unit_forget_bias"] = False
        settings["bias_initializer"] = SumOfUniforms(bound)
    return keras.layers.LSTM(units, return_sequences=sequences, **settings)


class DropoutAtInference(keras.layers.Dropout):
    """Keras Dropout that also drops at inference: ``training=True`` always.

    What calling ``model(x, training=True)`` for predictions does to a
    dropout layer (torch's model left in train mode, emulated).
    """

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        return super().call(inputs, training=True)


def _embedding(layer: LayerSpec, shape: Shape, options: ModelOptions) -> Any:
    settings: dict[str, Any] = {}
    if options.embedding == "normal":
        settings["embeddings_initializer"] = keras.initializers.RandomNormal(0.0, 1.0)
    return keras.layers.Embedding(shape.vocab, int(layer.units or 0), **settings)


def _dense(
    layer: LayerSpec, fan_in: int, options: ModelOptions, last: bool
) -> list[keras.layers.Layer]:
    settings: dict[str, Any] = {}
    kernel = kernel_initializer(options.dense_kernel)
    if kernel is not None:
        settings["kernel_initializer"] = kernel
    bias = bias_initializer(options.dense_bias, fan_in)
    if bias is not None:
        settings["bias_initializer"] = bias
    activation = layer.activation
    opaque = last and activation == "softmax" and options.softmax_output != "logits"
    units = int(layer.units or 0)
    if opaque:
        return [keras.layers.Dense(units, **settings), OpaqueSoftmax()]
    return [keras.layers.Dense(units, activation=activation, **settings)]


def _conv(layer: LayerSpec, shape: Shape, options: ModelOptions) -> list[Any]:
    kernel_size, stride = int(layer.kernel_size or 0), layer.stride
    dilation = int(layer.dilation or 1)
    settings: dict[str, Any] = {
        "strides": stride,
        "dilation_rate": dilation,
        "activation": layer.activation,
    }
    fan_in = shape.dims[2] * kernel_size * kernel_size
    kernel = kernel_initializer(options.conv_kernel)
    if kernel is not None:
        settings["kernel_initializer"] = kernel
    bias = bias_initializer(options.conv_bias, fan_in)
    if bias is not None:
        settings["bias_initializer"] = bias

    layers: list[Any] = []
    padding = layer.padding or "valid"
    if padding == "same" and options.conv_padding == "symmetric":
        layers.append(
            keras.layers.ZeroPadding2D(symmetric_padding(kernel_size, dilation))
        )
        padding = "valid"
    conv = keras.layers.Conv2D(
        int(layer.filters or 0), kernel_size, padding=padding, **settings
    )
    return [*layers, conv]


def _pool(layer: LayerSpec, shape: Shape, options: ModelOptions) -> Any:
    size, stride = int(layer.pool_size or 0), layer.stride
    is_max = layer.type == "max_pool2d"
    cls = keras.layers.MaxPooling2D if is_max else keras.layers.AveragePooling2D
    if layer.padding != "same":
        return cls(size, stride)
    genuine = options.pool_padding == "asymmetric" and (
        is_max or not options.count_include_pad
    )
    if genuine:
        return cls(size, stride, padding="same")
    height, width, _ = shape.dims
    pads = (
        pool_padding(options.pool_padding, height, size, stride),
        pool_padding(options.pool_padding, width, size, stride),
    )
    return PaddedPool2D(
        "max" if is_max else "avg", size, stride, pads, options.count_include_pad
    )


def _batch_norm(options: ModelOptions) -> Any:
    settings: dict[str, Any] = {}
    if options.bn_momentum != 0.01:
        settings["momentum"] = 1.0 - options.bn_momentum
    if options.bn_epsilon != 1e-3:
        settings["epsilon"] = options.bn_epsilon
    batch = options.eval_batch_norm == "batch"
    if options.bn_variance == "unbiased":
        cls = UnbiasedBatchNormAtInference if batch else UnbiasedBatchNormalization
        return cls(**settings)
    if batch:
        return BatchNormAtInference(**settings)
    return keras.layers.BatchNormalization(**settings)


def _flatten(shape: Shape, options: ModelOptions) -> list[Any]:
    if shape.kind == "image" and options.flatten_order == "chw":
        return [keras.layers.Permute((3, 1, 2)), keras.layers.Flatten()]
    return [keras.layers.Flatten()]


def build_model(
    layers: tuple[LayerSpec, ...],
    shape: Shape,
    options: ModelOptions | None = None,
) -> keras.Sequential:
    """A Sequential taking samples of ``shape`` (images channels-last).

    Layers are constructed in order, so that each initializer and dropout
    layer takes its seed from Python's ``random`` in a fixed sequence.
    """
    options = options or ModelOptions.defaults("keras")
    outputs = layer_shapes(layers, shape)
    built: list[Any] = []
    last = len(layers) - 1
    for i, (layer, before) in enumerate(
        zip(layers, [shape, *outputs[:-1]], strict=True)
    ):
        kind = layer.type
        if kind == "dense":
            built += _dense(layer, before.dims[-1], options, i == last)
        elif kind == "conv2d":
            built += _conv(layer, before, options)
        elif kind in ("max_pool2d", "avg_pool2d"):
            built.append(_pool(layer, before, options))
        elif kind == "flatten":
            built += _flatten(before, options)
        elif kind == "batch_norm":
            built.append(_batch_norm(options))
        elif kind == "layer_norm":
            epsilon = options.ln_epsilon
            built.append(
                keras.layers.LayerNormalization()
                if epsilon == 1e-3
                else keras.layers.LayerNormalization(epsilon=epsilon)
            )
        elif kind == "dropout":
            rate = float(layer.rate or 0.0)
            on = options.eval_dropout == "on"
            built.append(DropoutAtInference(rate) if on else keras.layers.Dropout(rate))
        elif kind == "embedding":
            built.append(_embedding(layer, before, options))
        elif kind in ("lstm", "gru"):
            built.append(_recurrent(layer, options))
        else:
            raise BackendError("keras", f"layer type {kind!r} is not supported")
    dtype = "int64" if shape.kind == "tokens" else "float32"
    return keras.Sequential([keras.Input(shape=shape.dims, dtype=dtype), *built])


def _weighted(model: keras.Sequential) -> list[Any]:
    """The layers holding weights, one per weighted spec layer, in order."""
    return [layer for layer in model.layers if layer.weights]


def _read(layer: Any, kind: str) -> dict[str, np.ndarray]:
    arrays = [np.array(w, copy=True) for w in layer.get_weights()]
    if kind in ("dense", "conv2d"):
        return {"kernel": arrays[0], "bias": arrays[1]}
    if kind == "batch_norm":
        return dict(zip(("gamma", "beta", "mean", "variance"), arrays, strict=True))
    if kind == "layer_norm":
        return {"gamma": arrays[0], "beta": arrays[1]}
    if kind == "embedding":
        return {"table": arrays[0]}
    out = {"kernel": arrays[0], "recurrent": arrays[1]}
    bias = arrays[2]
    if bias.ndim == 2:  # GRU reset_after=True: rows input and recurrent
        out["bias"], out["recurrent_bias"] = bias[0], bias[1]
    else:
        out["bias"] = bias
    if len(arrays) == 4:  # DoubleBiasLSTMCell
        out["recurrent_bias"] = arrays[3]
    return out


def _write(layer: Any, weights: LayerWeights) -> None:
    arrays, kind = weights.arrays, weights.type
    if kind in ("dense", "conv2d"):
        values = [arrays["kernel"], arrays["bias"]]
    elif kind == "batch_norm":
        values = [arrays[k] for k in ("gamma", "beta", "mean", "variance")]
    elif kind == "layer_norm":
        values = [arrays["gamma"], arrays["beta"]]
    elif kind == "embedding":
        values = [arrays["table"]]
    else:
        values = [arrays["kernel"], arrays["recurrent"]]
        bias_shape = tuple(layer.weights[2].shape)
        recurrent = arrays.get("recurrent_bias")
        if len(bias_shape) == 2:
            zeros = np.zeros_like(arrays["bias"])
            values.append(
                np.stack([arrays["bias"], zeros if recurrent is None else recurrent])
            )
        elif len(layer.weights) == 4:
            values += [
                arrays["bias"],
                np.zeros_like(arrays["bias"]) if recurrent is None else recurrent,
            ]
        else:
            values.append(merge_biases(weights))
    expected = [tuple(w.shape) for w in layer.weights]
    got = [tuple(np.shape(v)) for v in values]
    if expected != got:
        raise ValueError(
            f"layer {weights.index} ({kind}): weights of shapes {got} do not fit "
            f"{expected}"
        )
    layer.set_weights([np.asarray(v, dtype=np.float32) for v in values])


def get_weights(
    model: keras.Sequential,
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
    return read_weights(
        _weighted(model),
        layers,
        shape,
        _read,
        flatten_order=options.flatten_order,
        flatten_rows=flatten_rows,
    )


def set_weights(
    model: keras.Sequential,
    weights: list[LayerWeights],
    options: ModelOptions,
    *,
    flatten_rows: str = "match",
) -> None:
    """Load neutral ``weights`` into a model built with ``options``.

    ``flatten_rows`` as in `write_weights`: ``"match"`` keeps the function,
    ``"as_stored"`` writes flattened features in the order they come (a
    hand-written copy).
    """
    write_weights(
        _weighted(model),
        weights,
        _write,
        flatten_order=options.flatten_order,
        flatten_rows=flatten_rows,
    )


def start_from_torch(
    model: keras.Sequential,
    layers: tuple[LayerSpec, ...],
    shape: Shape,
    options: ModelOptions,
    seed: int,
) -> None:
    """Give a built model the weights torch draws for it at ``seed``.

    For ``init.values = "transplanted"``: torch's genuine initialisers, as
    `bisect_ml.backends._transplant.donor_weights` draws them. Python's,
    NumPy's and TensorFlow's random states are untouched (torch is seeded,
    not Keras), so dropout and shuffling draw as they would have.
    """
    set_weights(model, donor_weights("torch", layers, shape, seed), options)
