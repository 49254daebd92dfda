"""``eval.batch_norm``: BatchNorm's statistics at prediction time.

A torch model left in train mode at prediction time normalises the test
batch by its own statistics and folds them into its running ones (the
BatchNorm half of PUBLIC_CASES N06); Keras's predict never does. The torch
value ``batch`` is torch's own train-mode BatchNorm (`TrainModeBatchNorm`
only keeps the modules in train mode), checked here against a plain module
in train mode; Keras's emulation is checked against Keras's own
``training=True`` call and against torch's train-mode outputs on the same
weights, running statistics included.
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest

from bisect_ml.backends._common import ModelOptions
from bisect_ml.backends.keras_backend import _model as keras_model
from bisect_ml.backends.keras_backend._runtime import keras
from bisect_ml.factors import FRAMEWORKS, registry
from bisect_ml.lab import trial_key
from bisect_ml.scenario import LayerSpec, bundled_scenarios, load_pair, parse_pair
from bisect_ml.scenario._geometry import Shape
from tests._bad_inputs import _set, valid_doc

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from bisect_ml.backends.torch_backend import _model as torch_model  # noqa: E402

L = LayerSpec
LAYERS = (L("dense", 6, "relu"), L("batch_norm"), L("dense", 3))
SHAPE = Shape("flat", (5,))


def _inputs(seed: int = 0) -> np.ndarray:
    # Far from the running statistics' (0, 1): batch and running differ.
    rng = np.random.default_rng(seed)
    return rng.normal(2.0, 3.0, size=(64, 5)).astype(np.float32)


def _options(framework: str = "torch", **values: str) -> ModelOptions:
    return dataclasses.replace(ModelOptions.defaults(framework), **values)


# -- the factor ---------------------------------------------------------------


def test_factor_defaults_to_running_statistics_on_both_sides() -> None:
    factor = registry["eval.batch_norm"]
    assert factor.default("torch") == factor.default("keras") == "running"
    assert set(factor.choices) == {"running", "batch"}


def _pair(layers: list[dict[str, object]], torch_value: str | None) -> object:
    doc = _set(valid_doc(), "model.layers", layers)
    if torch_value is not None:
        doc = _set(doc, "sides.torch", {"eval.batch_norm": torch_value})
    return parse_pair(doc)


def test_a_candidate_only_when_set_and_the_model_has_batch_norm() -> None:
    dense = [{"type": "dense", "units": 8}, {"type": "dense", "units": 3}]
    normed = [dense[0], {"type": "batch_norm"}, dense[1]]
    assert "eval.batch_norm" in _pair(normed, "batch").differing()  # type: ignore[attr-defined]
    assert "eval.batch_norm" not in _pair(normed, None).differing()  # type: ignore[attr-defined]
    assert "eval.batch_norm" not in _pair(dense, "batch").differing()  # type: ignore[attr-defined]


def test_the_factor_at_its_default_leaves_every_trial_key_alone() -> None:
    # Stored trials of every bundled scenario keep their keys: the key of an
    # assignment without the factor equals the key with it at the default.
    checked = 0
    for name in bundled_scenarios():
        pair = load_pair(name)
        for framework in FRAMEWORKS:
            full = pair.sides[framework].assignment
            if full["eval.batch_norm"] != "running":
                continue
            before = {k: v for k, v in full.items() if k != "eval.batch_norm"}
            for backend in (framework, "simulated"):
                key = trial_key(pair.spec, full, 0, backend, framework=framework)
                old = trial_key(pair.spec, before, 0, backend, framework=framework)
                assert key == old, (name, framework, backend)
                checked += 1
    assert checked >= 40


# -- torch: the genuine train-mode module ---------------------------------------


def _torch_model(value: str) -> nn.Sequential:
    torch.manual_seed(0)
    model = torch_model.build_model(LAYERS, SHAPE, _options(eval_batch_norm=value))
    bn = model[2]
    with torch.no_grad():  # trained-looking statistics and affine weights
        bn.running_mean.uniform_(-1.0, 1.0)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.5, 0.5)
    return model


@pytest.mark.frameworks
def test_torch_batch_is_train_mode_batch_norm_under_eval() -> None:
    model = _torch_model("batch")
    genuine = nn.Sequential(*copy.deepcopy(list(model))).train()
    model.eval()
    assert isinstance(model, torch_model.TrainModeBatchNorm)
    assert model[2].training and not model[0].training
    x = torch.from_numpy(_inputs())
    with torch.no_grad():
        got, expected = model(x), genuine(x)
    assert torch.equal(got, expected)
    # The side effect torch has in train mode: the running statistics moved.
    assert torch.equal(model[2].running_mean, genuine[2].running_mean)
    assert torch.equal(model[2].running_var, genuine[2].running_var)
    assert int(model[2].num_batches_tracked) == 1
    # A check that can fail: inference mode normalises differently here.
    running = _torch_model("running").eval()
    with torch.no_grad():
        assert not torch.allclose(running(x), got, atol=1e-2)


# -- Keras: training=True for BatchNorm only ------------------------------------


@pytest.mark.frameworks
@pytest.mark.parametrize(
    ("variance", "genuine_cls", "emulated_cls"),
    [
        (
            "biased",
            keras.layers.BatchNormalization,
            keras_model.BatchNormAtInference,
        ),
        (
            "unbiased",
            keras_model.UnbiasedBatchNormalization,
            keras_model.UnbiasedBatchNormAtInference,
        ),
    ],
)
def test_keras_emulation_is_its_training_true_call(
    variance: str, genuine_cls: type, emulated_cls: type
) -> None:
    x = _inputs()
    genuine, emulated = genuine_cls(momentum=0.9), emulated_cls(momentum=0.9)
    genuine.build(x.shape)
    emulated.build(x.shape)
    expected = keras.ops.convert_to_numpy(genuine(x, training=True))
    got = keras.ops.convert_to_numpy(emulated(x, training=False))
    np.testing.assert_array_equal(got, expected)
    for mine, theirs in zip(emulated.weights, genuine.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(mine), np.asarray(theirs))
    assert not np.allclose(np.asarray(emulated.moving_mean), 0.0)
    plain = keras.ops.convert_to_numpy(genuine_cls()(x, training=False))
    assert not np.allclose(plain, got, atol=1e-2)
    options = _options("keras", eval_batch_norm="batch", bn_variance=variance)
    assert type(keras_model._batch_norm(options)) is emulated_cls


def _keras_twin(source: nn.Sequential, value: str) -> object:
    # torch's BatchNorm settings (momentum 0.1, eps 1e-5, unbiased variance).
    options = _options(eval_batch_norm=value)
    model = keras_model.build_model(LAYERS, SHAPE, options)
    weights = torch_model.get_weights(source, LAYERS, SHAPE, options)
    keras_model.set_weights(model, weights, options)
    return model


@pytest.mark.frameworks
def test_keras_emulation_matches_torch_train_mode_on_the_same_weights() -> None:
    source = _torch_model("batch")
    twin = _keras_twin(source, "batch")
    source.eval()
    bn = twin.layers[1]  # type: ignore[attr-defined]
    # Two evaluations, as two epochs' test metrics: the second one sees the
    # running statistics the first one updated (and ignores them, as torch).
    for seed in (0, 1):
        x = _inputs(seed)
        with torch.no_grad():
            expected = source(torch.from_numpy(x)).numpy()
        got = keras.ops.convert_to_numpy(twin(x, training=False))  # type: ignore[operator]
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
        running_mean = source[2].running_mean.numpy()
        running_var = source[2].running_var.numpy()
        np.testing.assert_allclose(np.asarray(bn.moving_mean), running_mean, 1e-5)
        np.testing.assert_allclose(np.asarray(bn.moving_variance), running_var, 1e-5)
    # A check that can fail: Keras in inference mode on the same weights.
    plain = _keras_twin(_torch_model("batch"), "running")
    inference = keras.ops.convert_to_numpy(plain(x, training=False))  # type: ignore[operator]
    assert not np.allclose(inference, got, atol=1e-2)


@pytest.mark.frameworks
@pytest.mark.parametrize("framework", ["torch", "keras"])
@pytest.mark.parametrize("value", ["running", "batch"])
def test_eval_batch_norm_reaches_the_model_and_spares_dropout(
    framework: str, value: str
) -> None:
    layers = (L("dense", 16, "relu"), L("batch_norm"), L("dropout", rate=0.4))
    layers += (L("dense", 2),)
    options = _options(framework, eval_batch_norm=value)
    x = _inputs()
    if framework == "torch":
        model = torch_model.build_model(layers, SHAPE, options).eval()
        with torch.no_grad():
            whole, half = model(torch.from_numpy(x)), model(torch.from_numpy(x[:32]))
            again = model(torch.from_numpy(x))
        outputs = [t.numpy() for t in (whole, half, again)]
    else:
        model = keras_model.build_model(layers, SHAPE, options)
        outputs = [
            keras.ops.convert_to_numpy(model(v, training=False)) for v in (x, x[:32], x)
        ]
    whole, half, again = outputs
    # Dropout stays off (eval.dropout's default): the same batch gives the
    # same outputs; with batch statistics a sample's output depends on the
    # batch it is evaluated in.
    np.testing.assert_array_equal(whole, again)
    same = np.allclose(whole[:32], half, atol=1e-6)
    assert same == (value == "running")
