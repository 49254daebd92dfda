"""Weight transplant between torch and Keras, and the factors it serves.

For every layer type a model is built in one framework, its weights are read
into the neutral layout and loaded into the same model built in the other
framework, and the two forward passes must agree (float32, ``RTOL``/``ATOL``
below), in both directions. Each agreement is paired with a check that can
fail: the copy without the flatten permutation, into a GRU of the other
``reset_after``, or without the weights at all, gives different outputs.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from bisect_ml.backends._common import ModelOptions
from bisect_ml.backends._transplant import (
    LayerWeights,
    donor_weights,
    flat_image_dims,
    gate_order,
    merge_biases,
)
from bisect_ml.backends.keras_backend import _model as keras_model
from bisect_ml.backends.keras_backend._runtime import keras
from bisect_ml.factors import default_assignment, registry
from bisect_ml.scenario import LayerSpec
from bisect_ml.scenario._geometry import Shape

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from bisect_ml.backends.torch_backend import _model as torch_model  # noqa: E402

pytestmark = pytest.mark.frameworks

#: Float32 forward passes through a few layers of two frameworks agree to
#: about 1e-6 relative; the recurrent ones accumulate over 7 steps.
RTOL, ATOL = 1e-5, 1e-5

L = LayerSpec
IMAGE = Shape("image", (8, 8, 2))
MODELS: dict[str, tuple[tuple[LayerSpec, ...], Shape]] = {
    "dense": ((L("dense", 12, "tanh"), L("dense", 3)), Shape("flat", (10,))),
    "conv2d": (
        (
            L("conv2d", filters=3, kernel_size=3, strides=2, padding="same"),
            L("max_pool2d", pool_size=2),
            L("flatten"),
            L("dense", 4),
        ),
        IMAGE,
    ),
    "batch_norm": (
        (
            L("conv2d", filters=3, kernel_size=3, activation="relu"),
            L("batch_norm"),
            L("flatten"),
            L("batch_norm"),
            L("dense", 4),
        ),
        IMAGE,
    ),
    "layer_norm": (
        (
            L("conv2d", filters=3, kernel_size=3, activation="relu"),
            L("flatten"),
            L("layer_norm"),
            L("dense", 4),
        ),
        IMAGE,
    ),
    "embedding": (
        (L("embedding", 4), L("flatten"), L("dense", 3)),
        Shape("tokens", (6,), vocab=9),
    ),
    "lstm": ((L("lstm", 5), L("dense", 3)), Shape("sequence", (7, 4))),
    "gru": ((L("gru", 6), L("dense", 3)), Shape("sequence", (7, 4))),
}

#: Per model, option sets to build both frameworks with (besides the two
#: frameworks' defaults): the structural factors of each layer type.
VARIANTS: dict[str, dict[str, dict[str, object]]] = {
    "lstm": {"single": {"lstm_bias": "single"}, "double": {"lstm_bias": "double"}},
    "gru": {"classic": {"gru_reset_after": False}},
}


def _options(framework: str, **changes: object) -> ModelOptions:
    return dataclasses.replace(ModelOptions.defaults(framework), **changes)


def _inputs(shape: Shape, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if shape.kind == "tokens":
        return rng.integers(0, shape.vocab, (5, *shape.dims))
    return rng.normal(size=(5, *shape.dims)).astype(np.float32)


def _torch_out(model: nn.Module, x: np.ndarray) -> np.ndarray:
    model.eval()
    tensor = torch.from_numpy(x)
    if x.ndim == 4:
        tensor = tensor.permute(0, 3, 1, 2).contiguous()
    with torch.no_grad():
        return model(tensor).numpy()


def _keras_out(model: keras.Model, x: np.ndarray) -> np.ndarray:
    return keras.ops.convert_to_numpy(model(x, training=False))


def _build(framework: str, layers, shape, options, seed: int = 0):
    if framework == "torch":
        torch.manual_seed(seed)
        return torch_model.build_model(layers, shape, options)
    keras.utils.set_random_seed(seed)
    return keras_model.build_model(layers, shape, options)


def _stir_statistics(framework: str, model, shape: Shape) -> None:
    """A few training-mode batches, so running statistics leave 0 and 1."""
    for seed in range(3):
        x = _inputs(shape, 10 + seed) * 2.0 + 1.0
        if framework == "torch":
            model.train()
            tensor = torch.from_numpy(x.astype(np.float32)).permute(0, 3, 1, 2)
            with torch.no_grad():
                model(tensor.contiguous())
        else:
            model(x, training=True)


def _get(framework: str, model, layers, shape, options, **kw) -> list[LayerWeights]:
    module = torch_model if framework == "torch" else keras_model
    return module.get_weights(model, layers, shape, options, **kw)


def _set(framework: str, model, weights, options, **kwargs) -> None:
    module = torch_model if framework == "torch" else keras_model
    module.set_weights(model, weights, options, **kwargs)


def _out(framework: str, model, x: np.ndarray) -> np.ndarray:
    return _torch_out(model, x) if framework == "torch" else _keras_out(model, x)


def _cases() -> list[tuple[str, str, str]]:
    cases = []
    for name in MODELS:
        variants = ["torch", "keras", *VARIANTS.get(name, {})]
        for variant in variants:
            for source in ("torch", "keras"):
                cases.append((name, variant, source))
    return cases


def _variant_options(name: str, variant: str) -> ModelOptions:
    if variant in ("torch", "keras"):
        return _options(variant)
    # Structural variants on torch's defaults (torch's initialisers draw).
    return _options("torch", **VARIANTS[name][variant])


@pytest.mark.parametrize(("name", "variant", "source"), _cases())
def test_transplant_keeps_the_function(name: str, variant: str, source: str) -> None:
    layers, shape = MODELS[name]
    options = _variant_options(name, variant)
    target = "keras" if source == "torch" else "torch"
    donor = _build(source, layers, shape, options, seed=1)
    if name == "batch_norm":
        _stir_statistics(source, donor, shape)
    receiver = _build(target, layers, shape, options, seed=2)
    x = _inputs(shape)
    before = _out(target, receiver, x)

    _set(target, receiver, _get(source, donor, layers, shape, options), options)

    expected = _out(source, donor, x)
    np.testing.assert_allclose(_out(target, receiver, x), expected, RTOL, ATOL)
    # Power: the receiver's own weights computed something else.
    assert np.abs(before - expected).max() > 100 * ATOL
    # And back again: the round trip returns the very arrays (a single-bias
    # layer reads as its bias and zeros, so biases compare summed).
    back = _get(target, receiver, layers, shape, options)
    for a, b in zip(_get(source, donor, layers, shape, options), back, strict=True):
        for key in set(a.arrays) - {"bias", "recurrent_bias"}:
            np.testing.assert_allclose(b.arrays[key], a.arrays[key], 1e-6, 1e-7)
        if "bias" in a.arrays:
            np.testing.assert_allclose(merge_biases(b), merge_biases(a), 1e-6, 1e-6)


@pytest.mark.parametrize("source", ["torch", "keras"])
def test_transplant_between_flatten_orders(source: str) -> None:
    # R10: weights from a channels-first model into a channels-last one.
    layers, shape = MODELS["conv2d"]
    target = "keras" if source == "torch" else "torch"
    mine = _options(source, flatten_order="chw")
    theirs = dataclasses.replace(mine, flatten_order="hwc")
    donor = _build(source, layers, shape, mine, seed=1)
    weights = _get(source, donor, layers, shape, mine)
    x = _inputs(shape)
    expected = _out(source, donor, x)

    receiver = _build(target, layers, shape, theirs)
    _set(target, receiver, weights, theirs)
    np.testing.assert_allclose(_out(target, receiver, x), expected, RTOL, ATOL)

    # A copy that leaves the dense rows where the source stored them is wrong.
    stored = _get(source, donor, layers, shape, mine, flatten_rows="as_stored")
    naive = _build(target, layers, shape, theirs)
    _set(target, naive, stored, theirs, flatten_rows="as_stored")
    assert np.abs(_out(target, naive, x) - expected).max() > 100 * ATOL
    # Between equal flatten orders the hand-written copy is right.
    same = _build(target, layers, shape, mine)
    _set(target, same, stored, mine, flatten_rows="as_stored")
    np.testing.assert_allclose(_out(target, same, x), expected, RTOL, ATOL)


def test_flat_image_marks_reach_the_next_dense() -> None:
    layers, shape = MODELS["batch_norm"]
    marks = flat_image_dims(layers, shape)
    assert marks == [None, None, None, (6, 6, 3), (6, 6, 3)]
    assert flat_image_dims(MODELS["embedding"][0], MODELS["embedding"][1]) == [
        None,
        None,
        None,
    ]


def test_gru_gate_order_swaps_the_first_two_blocks() -> None:
    array = np.arange(12.0).reshape(1, 12)
    swapped = gate_order(array, 4, to_torch=True)
    np.testing.assert_array_equal(swapped[0, :4], array[0, 4:8])
    np.testing.assert_array_equal(swapped[0, 4:8], array[0, :4])
    np.testing.assert_array_equal(gate_order(swapped, 4, to_torch=False), array)


@pytest.mark.parametrize("source", ["torch", "keras"])
def test_gru_reset_after_changes_the_function(source: str) -> None:
    # R12: copying reset_after=True weights into a classic GRU (biases summed,
    # gates reordered) does not give the same outputs.
    layers, shape = MODELS["gru"]
    target = "keras" if source == "torch" else "torch"
    options = _options(source, rnn_bias="uniform_hidden")
    donor = _build(source, layers, shape, options, seed=1)
    classic = dataclasses.replace(options, gru_reset_after=False)
    receiver = _build(target, layers, shape, classic)
    _set(target, receiver, _get(source, donor, layers, shape, options), classic)
    x = _inputs(shape)
    assert np.abs(_out(target, receiver, x) - _out(source, donor, x)).max() > 1e-3


@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_donor_weights_are_the_frameworks_own_draws(framework: str) -> None:
    # The donor is the model the framework's backend builds at that seed
    # with every factor at its default.
    layers, shape = MODELS["lstm"]
    donated = donor_weights(framework, layers, shape, seed=4)
    model = _build(framework, layers, shape, _options(framework), seed=4)
    own = _get(framework, model, layers, shape, _options(framework))
    for a, b in zip(donated, own, strict=True):
        for key in a.arrays:
            np.testing.assert_array_equal(a.arrays[key], b.arrays[key])
    again = donor_weights(framework, layers, shape, seed=5)
    assert not np.array_equal(again[0].arrays["kernel"], donated[0].arrays["kernel"])


@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_transplanted_side_starts_from_the_other_sides_weights(framework: str) -> None:
    # init.values = transplanted, through the backends' own start functions:
    # the side's initial weights are the other side's own at that seed.
    layers = (L("conv2d", filters=3, kernel_size=3), L("flatten"), L("dense", 4))
    shape = Shape("image", (8, 8, 1))
    other = "keras" if framework == "torch" else "torch"
    mine, theirs = _options(framework), _options(other)
    if framework == "torch":
        model = torch_model.start_model(layers, shape, mine, 7, "transplanted")
    else:
        keras.utils.set_random_seed(7)
        model = keras_model.build_model(layers, shape, mine)
        keras_model.start_from_torch(model, layers, shape, mine, 7)
    reference = _build(other, layers, shape, theirs, seed=7)
    x = _inputs(shape)
    np.testing.assert_allclose(
        _out(framework, model, x), _out(other, reference, x), RTOL, ATOL
    )


def test_torch_start_model_keeps_torchs_random_stream() -> None:
    # Dropout masks draw from torch's stream after the build: a transplanted
    # start must leave it where an own start leaves it.
    layers, shape = MODELS["dense"]
    options = _options("torch")
    torch_model.start_model(layers, shape, options, 3, "own")
    own = torch.rand(4)
    torch_model.start_model(layers, shape, options, 3, "transplanted")
    np.testing.assert_array_equal(torch.rand(4).numpy(), own.numpy())


def test_init_values_factor_and_its_scope() -> None:
    from bisect_ml.scenario import DataSpec, Pair, Side, Spec, TrainSpec

    factor = registry["init.values"]
    assert factor.default("torch") == factor.default("keras") == "own"
    spec = Spec(
        DataSpec(dataset="digits"),
        (L("dense", 8, "relu"), L("dense", 10)),
        TrainSpec(epochs=1, loss="cross_entropy", from_logits=True),
    )

    def pair(torch_values: str, keras_values: str) -> Pair:
        return Pair(
            "p",
            spec,
            {
                "torch": Side("torch", {"init.values": torch_values}),
                "keras": Side("keras", {"init.values": keras_values}),
            },
        )

    # Both sides transplanted: their init.* values are ignored, never candidates.
    both = pair("transplanted", "transplanted")
    assert "init.dense.kernel" not in both.differing()
    one = pair("transplanted", "own")
    assert {"init.values", "init.dense.kernel"} <= set(one.differing())
    assert "init.values" not in pair("own", "own").differing()


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_recurrent_structure_defaults_are_the_installed_ones(kind: str) -> None:
    # layers.gru.reset_after and layers.lstm.bias against the installed layers.
    layer = (keras.layers.LSTM if kind == "lstm" else keras.layers.GRU)(3)
    layer.build((None, 2, 4))
    names = [w.path.rsplit("/", 1)[-1] for w in layer.weights]
    rnn = (nn.LSTM if kind == "lstm" else nn.GRU)(4, 3)
    torch_names = [n for n, _ in rnn.named_parameters()]
    assert torch_names == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    if kind == "gru":
        assert layer.reset_after is True
        assert registry["layers.gru.reset_after"].default("keras") is True
        assert registry["layers.gru.reset_after"].default("torch") is True
        assert tuple(layer.weights[2].shape) == (2, 9)
    else:
        assert names == ["kernel", "recurrent_kernel", "bias"]
        assert registry["layers.lstm.bias"].default("keras") == "single"
        assert registry["layers.lstm.bias"].default("torch") == "double"


def test_eval_dropout_defaults_are_inference_mode() -> None:
    assert registry["eval.dropout"].default("torch") == "off"
    assert registry["eval.dropout"].default("keras") == "off"
    drop = nn.Dropout(0.5)
    drop.eval()
    x = torch.ones(100)
    assert torch.equal(drop(x), x)
    layer = keras.layers.Dropout(0.5)
    ones = np.ones((1, 100), np.float32)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(ones)), ones)
    assert set(default_assignment("torch")) == set(registry)


def _classic_gru_weights(framework: str, **changes: object) -> LayerWeights:
    layers = (L("gru", 64), L("dense", 2))
    shape = Shape("sequence", (3, 48))
    options = _options("torch", gru_reset_after=False, **changes)
    model = _build(framework, layers, shape, options, seed=0)
    return _get(framework, model, layers, shape, options)[0]


@pytest.mark.parametrize("bias", ["uniform_hidden", "zeros_unit_forget"])
def test_classic_gru_initialises_alike_in_both_frameworks(bias: str) -> None:
    # ClassicGRU (torch) against Keras's GRU(reset_after=False): torch's
    # uniform weights, and its one bias as the sum of nn.GRU's two.
    from scipy import stats

    ours = _classic_gru_weights("torch", rnn_bias=bias)
    theirs = _classic_gru_weights("keras", rnn_bias=bias)
    assert "recurrent_bias" not in ours.arrays
    for key in ("kernel", "recurrent", "bias"):
        a, b = ours.arrays[key].ravel(), theirs.arrays[key].ravel()
        if bias == "zeros_unit_forget" and key == "bias":
            assert not a.any() and not b.any()
            continue
        assert stats.ks_2samp(a, b).pvalue > 1e-3, key
    if bias == "uniform_hidden":
        # A sum of two U(+-1/8) reaches past one's bound: triangular on +-1/4.
        for sample in (ours, theirs):
            assert 0.125 < np.abs(sample.arrays["bias"]).max() <= 0.25
