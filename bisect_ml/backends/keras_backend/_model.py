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

from bisect_ml._errors import BackendError
from bisect_ml.backends._common import ModelOptions
from bisect_ml.backends.keras_backend._runtime import keras
from bisect_ml.scenario._geometry import layer_shapes, pool_padding, symmetric_padding

if TYPE_CHECKING:
    from bisect_ml.scenario import LayerSpec
    from bisect_ml.scenario._geometry import Shape

__all__ = [
    "OpaqueSoftmax",
    "PaddedPool2D",
    "SumOfUniforms",
    "UnbiasedBatchNormalization",
    "bias_initializer",
    "build_model",
    "kernel_initializer",
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


def _recurrent(layer: LayerSpec, options: ModelOptions) -> Any:
    units = int(layer.units or 0)
    bound = 1.0 / math.sqrt(units)
    settings: dict[str, Any] = {"return_sequences": bool(layer.return_sequences)}
    if options.rnn_kernel == "uniform_hidden":
        settings["kernel_initializer"] = keras.initializers.RandomUniform(-bound, bound)
    if options.rnn_recurrent == "uniform_hidden":
        settings["recurrent_initializer"] = keras.initializers.RandomUniform(
            -bound, bound
        )
    if options.rnn_bias == "uniform_hidden":
        if layer.type == "lstm":
            settings["unit_forget_bias"] = False
            settings["bias_initializer"] = SumOfUniforms(bound)
        else:
            # reset_after=True: a (2, 3*units) bias, rows input and recurrent.
            settings["bias_initializer"] = keras.initializers.RandomUniform(
                -bound, bound
            )
    cls = keras.layers.LSTM if layer.type == "lstm" else keras.layers.GRU
    return cls(units, **settings)


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
    if options.bn_variance == "unbiased":
        return UnbiasedBatchNormalization(**settings)
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
            built.append(keras.layers.Dropout(float(layer.rate or 0.0)))
        elif kind == "embedding":
            built.append(_embedding(layer, before, options))
        elif kind in ("lstm", "gru"):
            built.append(_recurrent(layer, options))
        else:
            raise BackendError("keras", f"layer type {kind!r} is not supported")
    dtype = "int64" if shape.kind == "tokens" else "float32"
    return keras.Sequential([keras.Input(shape=shape.dims, dtype=dtype), *built])
