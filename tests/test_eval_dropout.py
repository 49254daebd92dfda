"""``eval.dropout``: dropout at prediction time, genuine and emulated.

A torch model left in train mode at prediction time drops (PUBLIC_CASES
N06); Keras's predict never does. Each backend's emulation of "on" is
checked against the genuine component it imitates (torch's ``nn.Dropout`` in
train mode, Keras's ``Dropout`` called with ``training=True``), and a model
with ``on`` is checked to give noisy predictions in both backends.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from bisect_ml.backends._common import ModelOptions
from bisect_ml.backends.keras_backend import _model as keras_model
from bisect_ml.backends.keras_backend._runtime import keras
from bisect_ml.scenario import LayerSpec
from bisect_ml.scenario._geometry import Shape

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from bisect_ml.backends.torch_backend import _model as torch_model  # noqa: E402

pytestmark = pytest.mark.frameworks

RATE = 0.4


def test_torch_emulation_is_train_mode_dropout() -> None:
    x = torch.randn(64, 50)
    genuine = nn.Dropout(RATE).train()
    torch.manual_seed(1)
    expected = genuine(x)
    emulated = torch_model.DropoutAtInference(RATE).eval()
    torch.manual_seed(1)
    assert torch.equal(emulated(x), expected)
    assert not torch.equal(nn.Dropout(RATE).eval()(x), expected)


def test_keras_emulation_is_training_true_dropout() -> None:
    x = np.random.default_rng(0).normal(size=(64, 50)).astype(np.float32)
    genuine = keras.layers.Dropout(RATE, seed=5)
    emulated = keras_model.DropoutAtInference(RATE, seed=5)
    expected = keras.ops.convert_to_numpy(genuine(x, training=True))
    got = keras.ops.convert_to_numpy(emulated(x, training=False))
    np.testing.assert_array_equal(got, expected)
    plain = keras.ops.convert_to_numpy(keras.layers.Dropout(RATE)(x, training=False))
    np.testing.assert_array_equal(plain, x)


@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_both_frameworks_drop_alike_in_law(framework: str) -> None:
    # The masks come from unrelated generators; their law is the same:
    # a fraction RATE zeroed, the rest scaled by 1 / (1 - RATE).
    ones = np.ones((200, 500), np.float32)
    if framework == "torch":
        torch.manual_seed(0)
        out = torch_model.DropoutAtInference(RATE).eval()(torch.from_numpy(ones))
        values = out.numpy()
    else:
        layer = keras_model.DropoutAtInference(RATE, seed=0)
        values = keras.ops.convert_to_numpy(layer(ones))
    zero = values == 0
    assert zero.mean() == pytest.approx(RATE, abs=0.005)
    np.testing.assert_allclose(values[~zero], 1 / (1 - RATE), rtol=1e-6)


@pytest.mark.parametrize("framework", ["torch", "keras"])
@pytest.mark.parametrize("value", ["off", "on"])
def test_eval_dropout_reaches_the_model(framework: str, value: str) -> None:
    layers = (LayerSpec("dense", 16, "relu"), LayerSpec("dropout", rate=RATE))
    layers += (LayerSpec("dense", 2),)
    shape = Shape("flat", (5,))
    options = dataclasses.replace(ModelOptions.defaults(framework), eval_dropout=value)
    x = np.random.default_rng(1).normal(size=(8, 5)).astype(np.float32)
    if framework == "torch":
        model = torch_model.build_model(layers, shape, options).eval()
        with torch.no_grad():
            first, second = (model(torch.from_numpy(x)).numpy() for _ in range(2))
    else:
        model = keras_model.build_model(layers, shape, options)
        first, second = (
            keras.ops.convert_to_numpy(model(x, training=False)) for _ in range(2)
        )
    # N06's signature: two predictions on the same input disagree.
    assert np.array_equal(first, second) == (value == "off")
