"""Weights in a neutral layout, to move a model's weights between frameworks.

Each backend reads its model's weights into a list of `LayerWeights`, one per
layer of the spec that has weights, and writes such a list back
(``get_weights`` and ``set_weights`` in each backend's ``_model``). This
module holds the framework-free part: the neutral layout, the gate orders,
the flatten permutation, and `donor_weights`, which draws one framework's
genuine initial weights for the ``init.values = "transplanted"`` factor.

The neutral layout is Keras's, with every bias kept:

============ ==============================================================
layer        arrays
============ ==============================================================
dense        ``kernel`` (inputs, units), ``bias`` (units,)
conv2d       ``kernel`` (kh, kw, in, out) (HWIO), ``bias`` (out,)
batch_norm   ``gamma``, ``beta``, ``mean``, ``variance`` (features,)
layer_norm   ``gamma``, ``beta`` (features,)
embedding    ``table`` (vocab, dim)
lstm         ``kernel`` (inputs, 4u), ``recurrent`` (u, 4u), gates i, f,
             c, o; ``bias`` and ``recurrent_bias`` (4u,): torch's b_ih and
             b_hh; a single-bias layer reads as its bias and zeros
gru          ``kernel`` (inputs, 3u), ``recurrent`` (u, 3u), gates z, r, h
             (Keras's order; torch's is r, z, n); ``bias`` and
             ``recurrent_bias`` (3u,): the rows of Keras's (2, 3u) bias,
             torch's b_ih and b_hh; a ``reset_after=False`` layer has one
             bias, read as its bias and zeros
============ ==============================================================

Features that come from flattening a multi-channel image (the rows of the
next dense kernel, and any batch or layer norm between the flatten and that
dense) are held in Keras's row-column-channel order; a model that flattens
channel-first is permuted on the way in and out, so a transplant between the
two orders keeps the function. ``flatten_rows="as_stored"`` skips that and
copies the rows as they are stored, which is what a hand-written weight copy
does (PUBLIC_CASES R10).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from bisect_ml.scenario._geometry import layer_shapes

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from bisect_ml.scenario import LayerSpec
    from bisect_ml.scenario._geometry import Shape

__all__ = [
    "WEIGHTED_TYPES",
    "LayerWeights",
    "donor_weights",
    "flat_image_dims",
    "from_flat_order",
    "gate_order",
    "merge_biases",
    "permute_flat",
    "read_weights",
    "to_flat_order",
    "write_weights",
]

#: Layer types that carry weights, each giving one `LayerWeights`.
WEIGHTED_TYPES: tuple[str, ...] = (
    "dense",
    "conv2d",
    "batch_norm",
    "layer_norm",
    "embedding",
    "lstm",
    "gru",
)

_GRU_TORCH = ("r", "z", "n")
_GRU_NEUTRAL = ("z", "r", "n")


@dataclass
class LayerWeights:
    """The weights of one spec layer, in the neutral layout.

    ``index`` is the layer's position in the spec; ``flat_image`` the
    ``(height, width, channels)`` of the flattened image the layer's features
    come from, or None.
    """

    type: str
    index: int
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    flat_image: tuple[int, int, int] | None = None

    def copy(self) -> LayerWeights:
        arrays = {k: np.array(v, copy=True) for k, v in self.arrays.items()}
        return dataclasses.replace(self, arrays=arrays)


def flat_image_dims(
    layers: tuple[LayerSpec, ...], shape: Shape
) -> list[tuple[int, int, int] | None]:
    """Per layer: the image its input features were flattened from, or None.

    A flatten of a multi-channel image marks what follows until the next dense
    (which mixes the features); per-feature layers in between (batch and layer
    norm, dropout) keep the mark.
    """
    outputs = layer_shapes(layers, shape)
    marks: list[tuple[int, int, int] | None] = []
    current: tuple[int, int, int] | None = None
    for layer, before in zip(layers, [shape, *outputs[:-1]], strict=True):
        if layer.type == "flatten" and before.kind == "image":
            height, width, channels = before.dims
            marks.append(None)
            current = (height, width, channels) if channels > 1 else None
            continue
        marks.append(current)
        if layer.type not in ("batch_norm", "layer_norm", "dropout"):
            current = None
    return marks


def _chw_to_hwc(dims: tuple[int, int, int]) -> np.ndarray:
    """Index array p with ``x_hwc = x_chw[p]`` for a flattened (H, W, C) image."""
    height, width, channels = dims
    chw = np.arange(height * width * channels).reshape(channels, height, width)
    return chw.transpose(1, 2, 0).reshape(-1)


def to_flat_order(
    array: np.ndarray, dims: tuple[int, int, int], order: str
) -> np.ndarray:
    """Features (first axis) laid out as a model flattens (``order``) -> HWC."""
    if order == "hwc":
        return array
    return array[_chw_to_hwc(dims)]


def from_flat_order(
    array: np.ndarray, dims: tuple[int, int, int], order: str
) -> np.ndarray:
    """Features in HWC order -> the order a model flattening with ``order`` uses."""
    if order == "hwc":
        return array
    out = np.empty_like(array)
    out[_chw_to_hwc(dims)] = array
    return out


def permute_flat(
    weights: LayerWeights, order: str, *, to_neutral: bool
) -> LayerWeights:
    """A layer's flattened-image features between a model's order and HWC.

    A dense layer's kernel rows are its input features (its bias is per
    output, untouched); a batch or layer norm's every array is per feature.
    Layers without the mark come back as they are.
    """
    dims = weights.flat_image
    if dims is None or order == "hwc":
        return weights
    move = to_flat_order if to_neutral else from_flat_order
    keys = ("kernel",) if weights.type == "dense" else tuple(weights.arrays)
    arrays = {
        k: move(v, dims, order) if k in keys else v for k, v in weights.arrays.items()
    }
    return dataclasses.replace(weights, arrays=arrays)


def gate_order(array: np.ndarray, units: int, *, to_torch: bool) -> np.ndarray:
    """A GRU's gate blocks along the last axis, between Keras's and torch's order.

    Keras packs (z, r, h), torch (r, z, n); the two orders differ by a swap of
    the first two blocks, so the map is its own inverse.
    """
    del to_torch  # the swap is an involution; the flag documents the direction
    blocks = [array[..., i * units : (i + 1) * units] for i in range(3)]
    return np.concatenate([blocks[1], blocks[0], blocks[2]], axis=-1)


def merge_biases(weights: LayerWeights) -> np.ndarray:
    """A recurrent layer's two biases as the one bias a single-bias layer holds.

    For an LSTM and a ``reset_after=False`` GRU the two biases only ever
    appear summed, so this keeps the function. For a GRU with
    ``reset_after=True`` the candidate's recurrent bias sits inside the reset
    gate's product, and summing changes the function: that is what copying
    such weights into a classic GRU does (PUBLIC_CASES R12).
    """
    bias = weights.arrays["bias"]
    recurrent = weights.arrays.get("recurrent_bias")
    return bias if recurrent is None else bias + recurrent


#: A framework's weighted layer (an ``nn.Module``, a Keras layer).
_Layer = TypeVar("_Layer")


def read_weights(
    built: Sequence[_Layer],
    layers: tuple[LayerSpec, ...],
    shape: Shape,
    read: Callable[[_Layer, str], dict[str, np.ndarray]],
    *,
    flatten_order: str,
    flatten_rows: str = "match",
) -> list[LayerWeights]:
    """A model's weights in the neutral layout, one entry per weighted layer.

    ``built`` are the model's weighted layers in order, and ``read`` gives one
    such layer's arrays (of a spec layer of that type) in the neutral layout
    but in the model's own flatten order. ``layers`` and ``shape`` must be
    those the model was built with, and ``flatten_order`` its flatten order.
    ``flatten_rows="match"`` moves flattened features to the neutral order;
    ``"as_stored"`` keeps them in the model's own order, for a hand-written
    copy (see `write_weights`).
    """
    marks = flat_image_dims(layers, shape)
    weighted = [i for i, layer in enumerate(layers) if layer.type in WEIGHTED_TYPES]
    assert len(built) == len(weighted)
    out = []
    for i, layer in zip(weighted, built, strict=True):
        kind = layers[i].type
        entry = LayerWeights(kind, i, read(layer, kind), marks[i])
        if flatten_rows == "match":
            entry = permute_flat(entry, flatten_order, to_neutral=True)
        out.append(entry)
    return out


def write_weights(
    built: Sequence[_Layer],
    weights: list[LayerWeights],
    write: Callable[[_Layer, LayerWeights], None],
    *,
    flatten_order: str,
    flatten_rows: str = "match",
) -> None:
    """Load neutral ``weights`` into a model's weighted layers ``built``.

    ``write`` loads one entry, already in the model's flatten order, into
    one layer. ``flatten_rows="match"`` lays flattened features out in the
    model's ``flatten_order``, so the function is kept; ``"as_stored"``
    writes them in the order they come, as a hand-written copy of weights
    read with ``read_weights(flatten_rows="as_stored")`` would (PUBLIC_CASES
    R10). Raises ValueError when the counts of layers differ.
    """
    if len(built) != len(weights):
        raise ValueError(
            f"{len(weights)} weighted layers do not fit a model with {len(built)}"
        )
    for layer, entry in zip(built, weights, strict=True):
        if flatten_rows == "match":
            entry = permute_flat(entry, flatten_order, to_neutral=False)
        write(layer, entry)


def donor_weights(
    framework: str,
    layers: tuple[LayerSpec, ...],
    shape: Shape,
    seed: int,
) -> list[LayerWeights]:
    """The initial weights ``framework`` draws by default for this model at ``seed``.

    The donor is built exactly as that framework's backend builds a trial at
    ``seed`` (``torch.manual_seed`` or ``keras.utils.set_random_seed`` first)
    with every factor at that framework's default, so its genuine
    initialisers draw the weights: these are the initial weights of that
    framework's side of a pair at that seed, whenever that side keeps its
    initialisation and flatten order at their defaults. Running statistics
    come out as initialised (0 and 1). The framework is imported here, only
    when a side asks for it.

    Loaded into a receiver of another structure, the weights keep the
    function where the structures allow: a flatten order is permuted, two
    LSTM biases are summed into one (one bias becomes it and zeros). Into a
    GRU with ``reset_after=False`` (both frameworks' default is True) the two
    biases are summed, which is not the same function (see `merge_biases`).
    """
    from bisect_ml.backends._common import ModelOptions

    options = ModelOptions.defaults(framework)
    if framework == "torch":
        import torch

        from bisect_ml.backends.torch_backend import _model as torch_model

        torch.manual_seed(seed)
        model = torch_model.build_model(layers, shape, options)
        return torch_model.get_weights(model, layers, shape, options)
    if framework == "keras":
        from bisect_ml.backends.keras_backend import _model as keras_model
        from bisect_ml.backends.keras_backend._runtime import keras

        keras.utils.set_random_seed(seed)
        built = keras_model.build_model(layers, shape, options)
        return keras_model.get_weights(built, layers, shape, options)
    raise ValueError(f"no donor framework {framework!r}")
