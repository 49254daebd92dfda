"""Shapes through the neutral model: input layouts, padding and output sizes.

Framework-free arithmetic shared by the loader (which rejects a layer stack
that cannot run), the catalogue (which asks whether a factor can matter for a
model) and both backends (which take their padding amounts from here, so the
two never disagree about what "same" means).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bisect_ml._errors import ScenarioError

if TYPE_CHECKING:
    from bisect_ml.scenario._spec import LayerSpec

__all__ = [
    "DIGITS_VOCAB",
    "LAYER_TYPES",
    "Shape",
    "input_layout",
    "input_shape",
    "layer_shapes",
    "pool_padding",
    "same_padding",
    "symmetric_padding",
]

#: Every layer type of the neutral model.
LAYER_TYPES = (
    "dense",
    "conv2d",
    "max_pool2d",
    "avg_pool2d",
    "flatten",
    "batch_norm",
    "layer_norm",
    "dropout",
    "embedding",
    "lstm",
    "gru",
)

#: Digits pixels read as tokens: the original intensities 0..16.
DIGITS_VOCAB = 17

_SPATIAL = ("conv2d", "max_pool2d", "avg_pool2d")
_RECURRENT = ("lstm", "gru")
# The first layer of one of these types fixes how the data is presented.
_LAYOUT_OF = {
    "dense": "flat",
    "flatten": "flat",
    "layer_norm": "flat",
    "conv2d": "image",
    "max_pool2d": "image",
    "avg_pool2d": "image",
    "lstm": "sequence",
    "gru": "sequence",
    "embedding": "tokens",
}


@dataclass(frozen=True)
class Shape:
    """The shape of one sample between two layers.

    ``kind`` is ``flat`` (features,), ``image`` (height, width, channels),
    ``sequence`` (steps, features) or ``tokens`` (length,) holding integer
    ids below ``vocab``. Images are written channels-last here whatever the
    framework: the torch backend permutes them itself.
    """

    kind: str
    dims: tuple[int, ...]
    vocab: int = 0

    @property
    def size(self) -> int:
        return math.prod(self.dims)


def same_padding(
    size: int, kernel: int, stride: int, dilation: int = 1
) -> tuple[int, int]:
    """TensorFlow's ``SAME`` padding of one spatial axis: (before, after).

    The output has ``ceil(size / stride)`` positions; the padding needed for
    that is split with the odd pixel *after* (bottom or right), as in
    tensorflow/core/framework/kernel_shape_util.cc.
    """
    effective = (kernel - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


def symmetric_padding(kernel: int, dilation: int = 1) -> int:
    """The ``padding=k // 2`` idiom of torch code: the same amount each side."""
    return dilation * (kernel - 1) // 2


def pool_padding(
    value: str, size: int, kernel: int, stride: int, dilation: int = 1
) -> tuple[int, int]:
    """(before, after) padding of a 'same' window under a padding factor value.

    ``asymmetric`` is TensorFlow's split, ``symmetric`` torch's idiom.
    """
    if value == "asymmetric":
        return same_padding(size, kernel, stride, dilation)
    if value == "symmetric":
        pad = symmetric_padding(kernel, dilation)
        return pad, pad
    raise ValueError(f"unknown 'same' padding value {value!r}")


def _window_out(
    size: int, kernel: int, stride: int, dilation: int, padding: str
) -> int:
    effective = (kernel - 1) * dilation + 1
    if padding == "same":
        return -(-size // stride)
    return (size - effective) // stride + 1


def input_layout(layers: tuple[LayerSpec, ...]) -> str:
    """How the data is presented to the first layer: flat, image, sequence, tokens.

    The first layer that needs a particular input decides; a stack of layers
    that work on anything (dropout, batch normalisation) is flat.
    """
    for layer in layers:
        kind = _LAYOUT_OF.get(layer.type)
        if kind is not None:
            return kind
    return "flat"


def input_shape(
    layout: str,
    *,
    dataset: str | None,
    n_features: int | None = None,
    window: int | None = None,
) -> Shape:
    """The sample shape of a data set under ``layout``; raise if it has none.

    The digits images are 8x8 with one channel; as a sequence they are 8 rows
    of 8 pixels, and as tokens 64 pixel intensities in 0..16. A series window
    is a sequence of ``window`` steps of one feature. Other data is flat, with
    ``n_features`` features when given.
    """
    if layout == "flat":
        if n_features:
            return Shape("flat", (n_features,))
        if dataset == "sunspots" and window is not None:
            return Shape("flat", (window,))
        return Shape("flat", (64 if dataset == "digits" else 0,))
    if dataset == "digits":
        if layout == "image":
            return Shape("image", (8, 8, 1))
        if layout == "sequence":
            return Shape("sequence", (8, 8))
        return Shape("tokens", (64,), DIGITS_VOCAB)
    if dataset == "sunspots" and layout == "sequence" and window is not None:
        return Shape("sequence", (window, 1))
    wanted = {
        "image": "image data (dataset 'digits')",
        "sequence": "sequences (dataset 'digits' read row by row, or 'sunspots' "
        "windows)",
        "tokens": "token ids (dataset 'digits' read as pixel intensities)",
    }[layout]
    raise ScenarioError(f"needs {wanted}", key="model.layers[0].type", received=layout)


def _fail(index: int, rule: str, received: object) -> ScenarioError:
    return ScenarioError(rule, key=f"model.layers[{index}]", received=received)


def layer_shapes(layers: tuple[LayerSpec, ...], shape: Shape) -> list[Shape]:
    """The output shape of each layer, starting from the sample ``shape``.

    Raises
    ------
    ScenarioError
        Naming the first layer that cannot take its input: a dense layer on an
        image (flatten first), a convolution on flat features, a window larger
        than its input, an embedding that is not the first layer...
    """
    shapes = []
    for i, layer in enumerate(layers):
        shape = _next_shape(i, layer, shape)
        shapes.append(shape)
    return shapes


def _next_shape(i: int, layer: LayerSpec, shape: Shape) -> Shape:
    kind = layer.type
    if kind == "dense":
        if shape.kind != "flat":
            return _needs_flat(i, kind, shape)
        return Shape("flat", (int(layer.units or 0),))
    if kind in _SPATIAL:
        if shape.kind != "image":
            raise _fail(i, f"({kind}) needs an image input", shape.kind)
        return _spatial(i, layer, shape)
    if kind == "flatten":
        if shape.kind == "tokens":
            raise _fail(i, "(flatten) cannot take token ids", shape.kind)
        return Shape("flat", (shape.size,))
    if kind in ("dropout",):
        return shape
    if kind == "batch_norm":
        if shape.kind not in ("flat", "image"):
            raise _fail(i, "(batch_norm) needs flat features or an image", shape.kind)
        return shape
    if kind == "layer_norm":
        if shape.kind not in ("flat", "sequence"):
            raise _fail(i, "(layer_norm) needs flat features or a sequence", shape.kind)
        return shape
    if kind == "embedding":
        if shape.kind != "tokens":
            raise _fail(i, "(embedding) must be the first layer, on token ids", kind)
        return Shape("sequence", (shape.dims[0], int(layer.units or 0)))
    if kind in _RECURRENT:
        if shape.kind != "sequence":
            raise _fail(i, f"({kind}) needs a sequence input", shape.kind)
        if layer.return_sequences:
            return Shape("sequence", (shape.dims[0], int(layer.units or 0)))
        return Shape("flat", (int(layer.units or 0),))
    raise _fail(i, "has an unknown type", kind)


def _needs_flat(i: int, kind: str, shape: Shape) -> Shape:
    hint = {
        "image": "add a flatten layer before it",
        "sequence": "end the recurrent stack with return_sequences = false, or flatten",
        "tokens": "start with an embedding",
    }.get(shape.kind, "")
    raise _fail(i, f"({kind}) needs flat features: {hint}", shape.kind)


def _spatial(i: int, layer: LayerSpec, shape: Shape) -> Shape:
    height, width, channels = shape.dims
    if layer.type == "conv2d":
        kernel = int(layer.kernel_size or 0)
        dilation = int(layer.dilation or 1)
        channels = int(layer.filters or 0)
    else:
        kernel = int(layer.pool_size or 0)
        dilation = 1
    stride = layer.stride
    padding = layer.padding or "valid"
    out = [
        _window_out(size, kernel, stride, dilation, padding) for size in (height, width)
    ]
    if min(out) < 1:
        raise _fail(
            i,
            f"leaves no output: a {kernel}x{kernel} window (dilation {dilation}) "
            f"with padding {padding!r} on a {height}x{width} input",
            layer.type,
        )
    return Shape("image", (out[0], out[1], channels))
