"""Layer factors: each emulation against the genuine component it imitates.

The central check builds the same neutral model in both backends under the
same factor values, copies the Keras weights into torch, and compares the
outputs. Under Keras's defaults every torch module that differs from torch's
own is an emulation (asymmetric padding, count-excluding averages, HWC
flatten, biased running variance), and the reference is genuine Keras; under
torch's defaults it is the other way round. Each check is paired with one
showing that the genuine components of the two frameworks do differ beyond
the tolerance, so that it can fail.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from bisect_ml.backends._common import ModelOptions
from bisect_ml.backends.keras_backend import _model as keras_model
from bisect_ml.backends.keras_backend._runtime import keras
from bisect_ml.scenario import LayerSpec
from bisect_ml.scenario._geometry import Shape, same_padding

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from bisect_ml.backends.torch_backend import _model as torch_model  # noqa: E402

pytestmark = pytest.mark.frameworks

#: Float32 forward passes of a few layers agree to about 1e-6; this leaves room.
ATOL = 2e-5

L = LayerSpec
CNN = (
    L("conv2d", filters=4, kernel_size=3, strides=2, padding="same", activation="relu"),
    L("batch_norm"),
    L("max_pool2d", pool_size=3, strides=2, padding="same"),
    L("conv2d", filters=6, kernel_size=3, padding="same", activation="tanh"),
    L("avg_pool2d", pool_size=3, strides=2, padding="same"),
    L("flatten"),
    L("dense", 16, "relu"),
    L("layer_norm"),
    L("dense", 5),
)
MLP = (L("dense", 12, "tanh"), L("batch_norm"), L("layer_norm"), L("dense", 3))

_PARAMETRISED = (
    nn.Linear,
    nn.Conv2d,
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.LayerNorm,
)


def transplant(source: keras.Model, target: nn.Module) -> None:
    """Copy a Keras model's weights into the torch model of the same spec."""
    donors = [layer for layer in source.layers if layer.weights]
    receivers = [m for m in target.modules() if isinstance(m, _PARAMETRISED)]
    assert len(donors) == len(receivers)
    with torch.no_grad():
        for donor, receiver in zip(donors, receivers, strict=True):
            arrays = [keras.ops.convert_to_numpy(w) for w in donor.weights]
            if isinstance(receiver, nn.Linear):
                receiver.weight.copy_(torch.from_numpy(arrays[0].T))
                receiver.bias.copy_(torch.from_numpy(arrays[1]))
            elif isinstance(receiver, nn.Conv2d):
                kernel = arrays[0].transpose(3, 2, 0, 1)
                receiver.weight.copy_(torch.from_numpy(np.ascontiguousarray(kernel)))
                receiver.bias.copy_(torch.from_numpy(arrays[1]))
            else:
                for tensor, array in zip(_norm_tensors(receiver), arrays, strict=True):
                    tensor.copy_(torch.from_numpy(array))


def _norm_tensors(module: nn.Module) -> list[torch.Tensor]:
    if isinstance(module, nn.LayerNorm):
        return [module.weight, module.bias]
    return [module.weight, module.bias, module.running_mean, module.running_var]


def _options(framework: str, **changes: object) -> ModelOptions:
    return dataclasses.replace(ModelOptions.defaults(framework), **changes)


def _pair(layers: tuple[LayerSpec, ...], shape: Shape, options: ModelOptions):
    keras.utils.set_random_seed(0)
    k = keras_model.build_model(layers, shape, options)
    torch.manual_seed(0)
    t = torch_model.build_model(layers, shape, options)
    transplant(k, t)
    return k, t


def _to_torch(x: np.ndarray) -> torch.Tensor:
    tensor = torch.from_numpy(x)
    return tensor.permute(0, 3, 1, 2).contiguous() if x.ndim == 4 else tensor


def _outputs(k, t, x: np.ndarray, training: bool) -> tuple[np.ndarray, np.ndarray]:
    t.train(training)
    with torch.no_grad():
        theirs = t(_to_torch(x)).numpy()
    mine = keras.ops.convert_to_numpy(k(x, training=training))
    return mine, theirs


OPTION_SETS = {
    "keras": _options("keras"),
    "torch": _options("torch"),
    "torch-pool-in-keras": _options(
        "keras", pool_padding="symmetric", count_include_pad=True, flatten_order="chw"
    ),
    "asymmetric-include": _options(
        "torch", conv_padding="asymmetric", pool_padding="asymmetric"
    ),
    "symmetric-exclude": _options("keras", conv_padding="symmetric"),
}


@pytest.mark.parametrize("size", [8, 9])
@pytest.mark.parametrize("name", list(OPTION_SETS))
def test_same_model_same_output_in_both_frameworks(name: str, size: int) -> None:
    options = OPTION_SETS[name]
    shape = Shape("image", (size, size, 2))
    k, t = _pair(CNN, shape, options)
    rng = np.random.default_rng(size)
    x = rng.normal(size=(6, size, size, 2)).astype(np.float32)

    for training in (False, True):
        mine, theirs = _outputs(k, t, x, training)
        np.testing.assert_allclose(mine, theirs, atol=ATOL, err_msg=f"{training=}")


@pytest.mark.parametrize("name", ["keras", "torch"])
def test_running_statistics_follow_the_same_updates(name: str) -> None:
    # Three training batches through the BatchNorm of both models: momentum
    # (converted for Keras) and the variance estimator must agree.
    options = _options(name, bn_momentum=0.3)
    k, t = _pair(MLP, Shape("flat", (7,)), options)
    rng = np.random.default_rng(1)
    for _ in range(3):
        _outputs(k, t, rng.normal(2.0, 3.0, (5, 7)).astype(np.float32), True)

    bn_k = next(lay for lay in k.layers if "batch_normalization" in lay.name)
    bn_t = next(m for m in t.modules() if isinstance(m, nn.BatchNorm1d))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(bn_k.moving_variance),
        bn_t.running_var.numpy(),
        rtol=1e-5,
    )
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(bn_k.moving_mean),
        bn_t.running_mean.numpy(),
        rtol=1e-5,
        atol=1e-6,
    )
    x = rng.normal(size=(4, 7)).astype(np.float32)
    mine, theirs = _outputs(k, t, x, False)
    np.testing.assert_allclose(mine, theirs, atol=ATOL)


def test_genuine_batch_norms_differ_in_running_variance() -> None:
    # Power of the check above: with momentum and epsilon aligned, genuine
    # torch and genuine Keras still disagree by n/(n-1) in the moving variance.
    genuine_keras = _options("keras", bn_momentum=0.3)
    genuine_torch = dataclasses.replace(genuine_keras, bn_variance="unbiased")
    keras.utils.set_random_seed(0)
    k = keras_model.build_model(MLP, Shape("flat", (7,)), genuine_keras)
    torch.manual_seed(0)
    t = torch_model.build_model(MLP, Shape("flat", (7,)), genuine_torch)
    transplant(k, t)
    assert type(next(m for m in t.modules() if isinstance(m, nn.BatchNorm1d))) is (
        nn.BatchNorm1d
    )
    x = np.random.default_rng(1).normal(2.0, 3.0, (5, 7)).astype(np.float32)
    _outputs(k, t, x, True)
    bn_k = next(lay for lay in k.layers if "batch_normalization" in lay.name)
    bn_t = next(m for m in t.modules() if isinstance(m, nn.BatchNorm1d))
    ratio = (bn_t.running_var.numpy() - 0.7) / (
        keras.ops.convert_to_numpy(bn_k.moving_variance) - 0.7
    )
    np.testing.assert_allclose(ratio, 5 / 4, rtol=1e-4)


def test_genuine_layers_differ_where_the_factors_differ() -> None:
    # Power of the output check: the same weights under torch's and Keras's
    # defaults give clearly different outputs on this model.
    shape = Shape("image", (8, 8, 2))
    keras.utils.set_random_seed(0)
    k = keras_model.build_model(CNN, shape, _options("keras"))
    torch.manual_seed(0)
    t = torch_model.build_model(CNN, shape, _options("torch", flatten_order="hwc"))
    transplant(k, t)
    x = np.random.default_rng(2).normal(size=(6, 8, 8, 2)).astype(np.float32)
    mine, theirs = _outputs(k, t, x, False)
    assert np.abs(mine - theirs).max() > 100 * ATOL


# -- single layers against hand-computed references ----------------------------


def _pool_reference(
    x: np.ndarray,
    kernel: int,
    stride: int,
    pads: tuple[int, int],
    mode: str,
    count: bool,
) -> np.ndarray:
    """NumPy pooling of one channels-last image over explicit padding."""
    before, after = pads
    padded = np.pad(x, ((before, after), (before, after)), constant_values=np.nan)
    out = (padded.shape[0] - kernel) // stride + 1
    result = np.empty((out, out))
    for i in range(out):
        for j in range(out):
            rows = slice(i * stride, i * stride + kernel)
            cols = slice(j * stride, j * stride + kernel)
            window = padded[rows, cols]
            if mode == "max":
                result[i, j] = np.nanmax(window)
            elif count:
                result[i, j] = np.nansum(window) / window.size
            else:
                result[i, j] = np.nanmean(window)
    return result


@pytest.mark.parametrize("size", [7, 8])
@pytest.mark.parametrize("mode", ["max_pool2d", "avg_pool2d"])
@pytest.mark.parametrize("padding", ["symmetric", "asymmetric"])
@pytest.mark.parametrize("count", [True, False])
def test_same_pooling_matches_its_reference_in_both_backends(
    size: int, mode: str, padding: str, count: bool
) -> None:
    layer = (L(mode, pool_size=3, strides=2, padding="same"),)
    shape = Shape("image", (size, size, 1))
    options = _options("keras", pool_padding=padding, count_include_pad=count)
    x = np.random.default_rng(size).normal(size=(1, size, size, 1)).astype(np.float32)
    pads = (1, 1) if padding == "symmetric" else same_padding(size, 3, 2)
    expected = _pool_reference(x[0, :, :, 0], 3, 2, pads, mode[:3], count)

    k = keras_model.build_model(layer, shape, options)
    t = torch_model.build_model(layer, shape, options)
    mine, theirs = _outputs(k, t, x, False)
    np.testing.assert_allclose(mine[0, :, :, 0], expected, atol=1e-6)
    np.testing.assert_allclose(theirs[0, 0], expected, atol=1e-6)


def test_the_pooling_variants_differ_on_an_even_input() -> None:
    x = np.arange(64, dtype=np.float64).reshape(8, 8)
    variants = [
        _pool_reference(x, 3, 2, pads, "avg", count)
        for pads in ((1, 1), same_padding(8, 3, 2))
        for count in (True, False)
    ]
    for i, a in enumerate(variants):
        for b in variants[i + 1 :]:
            assert np.abs(a - b).max() > 0.5


def test_genuine_components_are_used_for_each_frameworks_defaults() -> None:
    shape = Shape("image", (8, 8, 2))
    keras_layers = keras_model.build_model(CNN, shape, _options("keras")).layers
    names = [type(layer).__name__ for layer in keras_layers]
    assert names == [
        "Conv2D",
        "BatchNormalization",
        "MaxPooling2D",
        "Conv2D",
        "AveragePooling2D",
        "Flatten",
        "Dense",
        "LayerNormalization",
        "Dense",
    ]
    assert keras_layers[0].padding == "same"
    assert (keras_layers[1].momentum, keras_layers[1].epsilon) == (0.99, 1e-3)
    assert keras_layers[7].epsilon == 1e-3

    torch_modules = list(torch_model.build_model(CNN, shape, _options("torch")))
    types = [type(m) for m in torch_modules]
    assert types == [
        nn.Conv2d,
        nn.ReLU,
        nn.BatchNorm2d,
        nn.MaxPool2d,
        nn.Conv2d,
        nn.Tanh,
        nn.AvgPool2d,
        nn.Flatten,
        nn.Linear,
        nn.ReLU,
        nn.LayerNorm,
        nn.Linear,
    ]
    assert torch_modules[0].padding == (1, 1)
    assert torch_modules[4].padding == "same"  # stride 1: torch's own 'same'
    assert (torch_modules[2].momentum, torch_modules[2].eps) == (0.1, 1e-5)
    assert torch_modules[6].count_include_pad is True
    assert torch_modules[10].eps == 1e-5


def test_flatten_orders_are_the_frameworks_own() -> None:
    x = np.arange(2 * 3 * 3 * 2, dtype=np.float32).reshape(2, 3, 3, 2)
    hwc = keras.ops.convert_to_numpy(keras.layers.Flatten()(x))
    chw = nn.Flatten()(_to_torch(x)).numpy()
    np.testing.assert_array_equal(hwc, x.reshape(2, -1))
    np.testing.assert_array_equal(chw, x.transpose(0, 3, 1, 2).reshape(2, -1))
    assert not np.array_equal(hwc, chw)

    emulated_hwc = torch_model.FlattenHWC()(_to_torch(x)).numpy()
    permute = keras.Sequential(
        [keras.layers.Permute((3, 1, 2)), keras.layers.Flatten()]
    )
    emulated_chw = keras.ops.convert_to_numpy(permute(x))
    np.testing.assert_array_equal(emulated_hwc, hwc)
    np.testing.assert_array_equal(emulated_chw, chw)


@pytest.mark.parametrize("epsilon", [1e-5, 1e-3])
def test_layer_norm_epsilon_reaches_both_layers(epsilon: float) -> None:
    options = _options("keras", ln_epsilon=epsilon)
    layers = (L("dense", 6), L("layer_norm"), L("dense", 2))
    k, t = _pair(layers, Shape("flat", (4,)), options)
    # Nearly constant features: the epsilon dominates the variance.
    x = (1 + 1e-3 * np.random.default_rng(0).normal(size=(5, 4))).astype(np.float32)
    mine, theirs = _outputs(k, t, x, False)
    np.testing.assert_allclose(mine, theirs, atol=ATOL)
    assert math.isclose(t[1].eps, epsilon)


def test_layer_norm_epsilons_differ_on_low_variance_features() -> None:
    x = torch.tensor([[1.0, 1.001, 0.999, 1.0005]])
    outputs = [nn.LayerNorm(4, eps=eps)(x) for eps in (1e-5, 1e-3)]
    assert (outputs[0] - outputs[1]).abs().max() > 0.1


# -- recurrent and embedding layers ----------------------------------------------

SEQ = (
    L("gru", 6, return_sequences=True),
    L("layer_norm"),
    L("lstm", 5),
    L("dense", 3),
)
TOKENS = (
    L("embedding", 4),
    L("lstm", 3, return_sequences=True),
    L("flatten"),
    L("dense", 2),
)


def _gru_blocks(array: np.ndarray, units: int) -> np.ndarray:
    """Keras's GRU gate blocks (z, r, h) in torch's order (r, z, n), last axis."""
    z, r, h = (array[..., i * units : (i + 1) * units] for i in range(3))
    return np.concatenate([r, z, h], axis=-1)


def transplant_recurrent(source: keras.Model, target: nn.Module) -> None:
    """`transplant`, plus Keras LSTM/GRU/Embedding weights into torch's."""
    donors = [layer for layer in source.layers if layer.weights]
    receivers = [
        m
        for m in target.modules()
        if isinstance(m, (*_PARAMETRISED, nn.LSTM, nn.GRU, nn.Embedding))
    ]
    assert len(donors) == len(receivers)
    with torch.no_grad():
        for donor, receiver in zip(donors, receivers, strict=True):
            arrays = [keras.ops.convert_to_numpy(w) for w in donor.weights]
            if isinstance(receiver, nn.Embedding):
                receiver.weight.copy_(torch.from_numpy(arrays[0]))
            elif isinstance(receiver, nn.LSTM):
                # Same gate order (i, f, c, o); Keras's one bias goes to bias_ih
                # (with layers.lstm.bias = double, its second one to bias_hh).
                kernel, recurrent, bias, *second = arrays
                receiver.weight_ih_l0.copy_(torch.from_numpy(kernel.T.copy()))
                receiver.weight_hh_l0.copy_(torch.from_numpy(recurrent.T.copy()))
                receiver.bias_ih_l0.copy_(torch.from_numpy(bias))
                receiver.bias_hh_l0.zero_()
                if second:
                    receiver.bias_hh_l0.copy_(torch.from_numpy(second[0]))
            elif isinstance(receiver, nn.GRU):
                kernel, recurrent, bias = arrays
                units = recurrent.shape[0]
                for name, array in (
                    ("weight_ih_l0", _gru_blocks(kernel, units).T),
                    ("weight_hh_l0", _gru_blocks(recurrent, units).T),
                    ("bias_ih_l0", _gru_blocks(bias[0], units)),
                    ("bias_hh_l0", _gru_blocks(bias[1], units)),
                ):
                    getattr(receiver, name).copy_(torch.from_numpy(array.copy()))
            else:
                single = keras.Sequential([donor])
                transplant(single, nn.Sequential(receiver))


@pytest.mark.parametrize("name", ["keras", "torch"])
def test_recurrent_models_give_the_same_output(name: str) -> None:
    options = _options(name)
    shape = Shape("sequence", (7, 4))
    keras.utils.set_random_seed(0)
    k = keras_model.build_model(SEQ, shape, options)
    torch.manual_seed(0)
    t = torch_model.build_model(SEQ, shape, options)
    transplant_recurrent(k, t)
    x = np.random.default_rng(3).normal(size=(5, 7, 4)).astype(np.float32)
    mine, theirs = _outputs(k, t, x, False)
    np.testing.assert_allclose(mine, theirs, atol=ATOL)


def test_token_models_give_the_same_output() -> None:
    shape = Shape("tokens", (6,), vocab=9)
    keras.utils.set_random_seed(0)
    k = keras_model.build_model(TOKENS, shape, _options("keras"))
    t = torch_model.build_model(TOKENS, shape, _options("keras"))
    transplant_recurrent(k, t)
    tokens = np.random.default_rng(4).integers(0, 9, (5, 6))
    t.eval()
    with torch.no_grad():
        theirs = t(torch.from_numpy(tokens)).numpy()
    mine = keras.ops.convert_to_numpy(k(tokens, training=False))
    np.testing.assert_allclose(mine, theirs, atol=ATOL)


def test_gru_gate_order_matters() -> None:
    # Power of the GRU transplant: without the (z, r) swap the outputs differ.
    shape = Shape("sequence", (7, 4))
    layers = (L("gru", 6), L("dense", 3))
    keras.utils.set_random_seed(0)
    k = keras_model.build_model(layers, shape, _options("keras"))
    t = torch_model.build_model(layers, shape, _options("keras"))
    transplant_recurrent(k, t)
    gru = t[0].rnn
    with torch.no_grad():
        for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
            tensor = getattr(gru, name)
            tensor.copy_(torch.cat([tensor[6:12], tensor[:6], tensor[12:]]))
    x = np.random.default_rng(3).normal(size=(5, 7, 4)).astype(np.float32)
    mine, theirs = _outputs(k, t, x, False)
    assert np.abs(mine - theirs).max() > 100 * ATOL


UNITS, INPUTS = 64, 48


def _rnn_weights(framework: str, kind: str, **changes: str) -> dict[str, np.ndarray]:
    """Initial (kernel, recurrent, bias) in Keras's layout, from either backend.

    torch's two biases are summed (what the cell adds); a GRU's two bias rows
    stay apart, as both frameworks keep them.
    """
    options = _options("keras", **changes)
    layers = (L(kind, UNITS), L("dense", 1))
    shape = Shape("sequence", (3, INPUTS))
    if framework == "keras":
        keras.utils.set_random_seed(1)
        model = keras_model.build_model(layers, shape, options)
        kernel, recurrent, bias = (
            keras.ops.convert_to_numpy(w) for w in model.layers[0].weights
        )
        return {"kernel": kernel, "recurrent": recurrent, "bias": bias}
    torch.manual_seed(1)
    rnn = torch_model.build_model(layers, shape, options)[0].rnn
    bias_ih, bias_hh = rnn.bias_ih_l0.detach().numpy(), rnn.bias_hh_l0.detach().numpy()
    bias = bias_ih + bias_hh if kind == "lstm" else np.stack([bias_ih, bias_hh])
    return {
        "kernel": rnn.weight_ih_l0.detach().numpy().T,
        "recurrent": rnn.weight_hh_l0.detach().numpy().T,
        "bias": bias,
    }


def _same_distribution(a: np.ndarray, b: np.ndarray) -> bool:
    """Two-sample KS at 1e-3: a few dozen of these run at fixed seeds, and
    each power check below is rejected far beyond it (p < 1e-6)."""
    from scipy import stats

    return bool(stats.ks_2samp(a.ravel(), b.ravel()).pvalue > 1e-3)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("value", ["uniform_hidden", "glorot_uniform"])
def test_recurrent_kernel_init_draws_alike(kind: str, value: str) -> None:
    ours = _rnn_weights("keras", kind, rnn_kernel=value)["kernel"]
    theirs = _rnn_weights("torch", kind, rnn_kernel=value)["kernel"]
    assert _same_distribution(ours, theirs)
    gates = 4 if kind == "lstm" else 3
    bound = (
        1 / math.sqrt(UNITS)
        if value == "uniform_hidden"
        else math.sqrt(6 / (INPUTS + gates * UNITS))
    )
    for sample in (ours, theirs):
        assert 0.99 * bound < np.abs(sample).max() <= bound * (1 + 1e-6)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_orthogonal_recurrent_init_has_orthonormal_rows(kind: str) -> None:
    for framework in ("keras", "torch"):
        recurrent = _rnn_weights(framework, kind, rnn_recurrent="orthogonal")[
            "recurrent"
        ]
        np.testing.assert_allclose(
            recurrent @ recurrent.T, np.eye(UNITS), atol=1e-5, err_msg=framework
        )
    uniform = _rnn_weights("torch", kind, rnn_recurrent="uniform_hidden")["recurrent"]
    # Rows of U(+-1/sqrt(u)) have about unit norm but are not orthogonal.
    assert np.abs(uniform @ uniform.T - np.eye(UNITS)).max() > 0.1
    keras_uniform = _rnn_weights("keras", kind, rnn_recurrent="uniform_hidden")
    assert _same_distribution(keras_uniform["recurrent"], uniform)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_recurrent_bias_init_agrees(kind: str) -> None:
    # Keras's own: exact zeros, an LSTM's forget block at one.
    ours = _rnn_weights("keras", kind, rnn_bias="zeros_unit_forget")["bias"]
    theirs = _rnn_weights("torch", kind, rnn_bias="zeros_unit_forget")["bias"]
    np.testing.assert_array_equal(ours, theirs)
    expected = np.zeros_like(ours)
    if kind == "lstm":
        expected[UNITS : 2 * UNITS] = 1.0
    np.testing.assert_array_equal(ours, expected)

    # torch's own: uniform biases (an LSTM's two summed into Keras's one).
    ours = _rnn_weights("keras", kind, rnn_bias="uniform_hidden")["bias"]
    theirs = _rnn_weights("torch", kind, rnn_bias="uniform_hidden")["bias"]
    assert ours.shape == theirs.shape and _same_distribution(ours, theirs)
    draws = 2 if kind == "lstm" else 1
    assert np.abs(ours).max() <= draws / math.sqrt(UNITS)
    # Each U(+-b) draw adds b^2 / 3 to the variance: an LSTM's summed bias has
    # twice a single draw's, which a KS test on 256 values barely sees.
    expected = draws / (3 * UNITS)
    for sample in (ours, theirs):
        assert 0.8 * expected < np.var(sample) < 1.2 * expected


@pytest.mark.parametrize("value", ["normal", "uniform_0.05"])
def test_embedding_init_draws_alike(value: str) -> None:
    shape = Shape("tokens", (4,), vocab=200)
    layers = (L("embedding", 40), L("flatten"), L("dense", 2))
    options = _options("keras", embedding=value)
    keras.utils.set_random_seed(2)
    ours = keras.ops.convert_to_numpy(
        keras_model.build_model(layers, shape, options).layers[0].embeddings
    )
    torch.manual_seed(2)
    theirs = torch_model.build_model(layers, shape, options)[0].weight.detach().numpy()
    assert ours.shape == theirs.shape == (200, 40)
    assert _same_distribution(ours, theirs)
    spread = np.abs(theirs).max()
    assert (spread > 3) if value == "normal" else (0.0499 < spread <= 0.05)


def test_genuine_recurrent_layers_for_each_frameworks_defaults() -> None:
    shape = Shape("tokens", (6,), vocab=9)
    built = keras_model.build_model(TOKENS, shape, _options("keras")).layers
    assert type(built[0].embeddings_initializer).__name__ == "RandomUniform"
    assert built[1].cell.unit_forget_bias is True
    assert type(built[1].cell.recurrent_initializer).__name__ == "Orthogonal"
    modules = list(torch_model.build_model(TOKENS, shape, _options("torch")))
    assert type(modules[0]) is nn.Embedding and type(modules[1].rnn) is nn.LSTM
