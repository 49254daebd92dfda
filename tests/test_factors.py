"""The catalogue's defaults, checked against the installed libraries."""

from __future__ import annotations

import inspect

import pytest

from bisect_ml._errors import ScenarioError
from bisect_ml.factors import FRAMEWORKS, default_assignment, registry


def test_every_factor_is_well_formed() -> None:
    for name, factor in registry.items():
        assert name == factor.name and name.count(".") >= 1
        assert factor.description and factor.source
        assert set(factor.how) == set(FRAMEWORKS), name
        for fw in FRAMEWORKS:
            factor.validate(factor.default(fw))


def test_unknown_factor_suggests_the_closest() -> None:
    with pytest.raises(ScenarioError, match="did you mean `optimizer.beta_2`"):
        registry["optimizer.beta2"]


def test_default_assignment_covers_the_catalogue() -> None:
    assert set(default_assignment("torch")) == set(registry)
    with pytest.raises(ScenarioError, match="`framework` must be one of"):
        default_assignment("jax")


@pytest.mark.frameworks
def test_torch_defaults_match_the_installed_torch() -> None:
    import torch
    from torch.utils.data import DataLoader

    adam = inspect.signature(torch.optim.Adam).parameters
    assert adam["lr"].default == registry["optimizer.learning_rate"].default("torch")
    assert adam["betas"].default == (
        registry["optimizer.beta_1"].default("torch"),
        registry["optimizer.beta_2"].default("torch"),
    )
    assert adam["eps"].default == registry["optimizer.epsilon"].default("torch")
    loader = inspect.signature(DataLoader).parameters
    assert loader["batch_size"].default == registry["train.batch_size"].default("torch")
    # shuffle=None means a SequentialSampler: no shuffling.
    assert loader["shuffle"].default in (None, False)
    assert registry["train.shuffle"].default("torch") == "off"
    assert isinstance(
        DataLoader(list(range(4))).sampler, torch.utils.data.SequentialSampler
    )
    # nn.Linear's own init: kaiming_uniform_(a=sqrt(5)) -> bound 1/sqrt(fan_in).
    source = inspect.getsource(torch.nn.Linear.reset_parameters)
    assert "kaiming_uniform_(self.weight, a=math.sqrt(5))" in source
    assert "init.uniform_(self.bias, -bound, bound)" in source


@pytest.mark.frameworks
def test_keras_defaults_match_the_installed_keras() -> None:
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    adam = keras.optimizers.Adam()
    assert float(adam.learning_rate) == pytest.approx(
        registry["optimizer.learning_rate"].default("keras")
    )
    assert adam.beta_1 == registry["optimizer.beta_1"].default("keras")
    assert adam.beta_2 == registry["optimizer.beta_2"].default("keras")
    assert adam.epsilon == registry["optimizer.epsilon"].default("keras")
    # Keras's update adds epsilon to the raw sqrt(v) ("epsilon hat").
    update = inspect.getsource(type(adam).update_step)
    assert "ops.add(ops.sqrt(v), self.epsilon)" in update
    dense = keras.layers.Dense(3)
    dense.build((None, 4))
    assert type(dense.kernel_initializer).__name__ == "GlorotUniform"
    assert type(dense.bias_initializer).__name__ == "Zeros"
    from keras.src.trainers.data_adapters import array_data_adapter

    source = inspect.getsource(array_data_adapter)
    assert "if steps else 32" in source
    # fit shuffles by default; that a seeded fit repeats one permutation
    # ("repeated") is pinned by a real fit in test_keras_backend.py.
    assert inspect.signature(keras.Model.fit).parameters["shuffle"].default is True
    assert registry["train.shuffle"].default("keras") == "repeated"


def _default(name: str, framework: str) -> object:
    return registry[name].default(framework)


@pytest.mark.frameworks
def test_torch_layer_defaults_match_the_installed_torch() -> None:
    import torch
    from torch import nn

    source = inspect.getsource(nn.Conv2d.reset_parameters)
    assert "init.kaiming_uniform_(self.weight, a=math.sqrt(5))" in source
    assert "init.uniform_(self.bias, -bound, bound)" in source
    assert _default("init.conv.kernel", "torch") == "kaiming_uniform_sqrt5"
    assert _default("init.conv.bias", "torch") == "uniform_fan_in"
    # padding='same' is refused with a stride: torch code pads k // 2 by hand.
    with pytest.raises(ValueError, match="not supported for strided"):
        nn.Conv2d(1, 1, 3, stride=2, padding="same")
    assert _default("layers.conv.padding_same", "torch") == "symmetric"
    pool = inspect.signature(nn.AvgPool2d).parameters
    assert pool["count_include_pad"].default is _default(
        "layers.pool.count_include_pad", "torch"
    )
    x = torch.arange(8.0).reshape(1, 2, 2, 2)
    assert nn.Flatten()(x).tolist() == [list(range(8))]  # C, then H, then W
    assert _default("layers.flatten.order", "torch") == "chw"

    bn = nn.BatchNorm1d(1)
    assert bn.momentum == _default("norm.batch.momentum", "torch")
    assert bn.eps == _default("norm.batch.epsilon", "torch")
    batch = torch.tensor([[1.0], [2.0], [4.0]])
    bn(batch)
    unbiased = 0.9 + 0.1 * batch.var(unbiased=True)
    assert bn.running_var.item() == pytest.approx(unbiased.item())
    assert _default("norm.batch.running_variance", "torch") == "unbiased"
    assert nn.LayerNorm(3).eps == _default("norm.layer.epsilon", "torch")


@pytest.mark.frameworks
def test_torch_training_defaults_match_the_installed_torch() -> None:
    import torch
    from torch import nn

    adam = inspect.signature(torch.optim.Adam).parameters
    assert adam["weight_decay"].default == _default("optimizer.weight_decay", "torch")
    assert adam["decoupled_weight_decay"].default is False  # an L2 gradient term
    assert _default("optimizer.weight_decay_mode", "torch") == "l2"
    adamw = inspect.signature(torch.optim.AdamW).parameters
    assert adamw["weight_decay"].default == _default(
        "optimizer.adamw.weight_decay", "torch"
    )
    # clip_grad_norm_ measures all the parameters' gradients together.
    params = [nn.Parameter(torch.zeros(2)) for _ in range(2)]
    params[0].grad, params[1].grad = torch.tensor([3.0, 4.0]), torch.tensor([0.0, 0.0])
    assert float(nn.utils.clip_grad_norm_(params, 100.0)) == pytest.approx(5.0)
    assert _default("train.clip_scope", "torch") == "global"
    assert _default("train.clip_norm", "torch") == 0.0

    # CrossEntropyLoss takes its input as logits, probabilities included.
    probs = torch.tensor([[0.7, 0.2, 0.1]])
    target = torch.tensor([0])
    twice = nn.functional.cross_entropy(probs.log_softmax(1), target)
    assert float(nn.CrossEntropyLoss()(probs, target)) == pytest.approx(float(twice))
    assert _default("loss.softmax_output", "torch") == "softmax_twice"
    assert _default("loss.target_shape", "torch") == "matched"


@pytest.mark.frameworks
def test_keras_layer_defaults_match_the_installed_keras() -> None:
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np

    conv = keras.layers.Conv2D(2, 3)
    conv.build((None, 5, 5, 1))
    assert type(conv.kernel_initializer).__name__ == "GlorotUniform"
    assert type(conv.bias_initializer).__name__ == "Zeros"
    assert _default("init.conv.kernel", "keras") == "glorot_uniform"
    assert _default("init.conv.bias", "keras") == "zeros"

    # 'same' with stride 2 on an even input: the extra pixel goes after.
    x = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    pooled = keras.layers.MaxPooling2D(3, 2, padding="same")(x)
    assert keras.ops.convert_to_numpy(pooled)[0, :, :, 0].tolist() == [
        [10.0, 11.0],
        [14.0, 15.0],
    ]
    assert _default("layers.pool.padding_same", "keras") == "asymmetric"
    assert _default("layers.conv.padding_same", "keras") == "asymmetric"
    # The corner window of 'same' averaging holds 4 real values and 5 padded.
    averaged = keras.layers.AveragePooling2D(3, 1, padding="same")(np.ones_like(x))
    assert keras.ops.convert_to_numpy(averaged)[0, 0, 0, 0] == 1.0
    assert _default("layers.pool.count_include_pad", "keras") is False
    image = np.arange(8, dtype=np.float32).reshape(1, 2, 2, 2)
    flat = keras.ops.convert_to_numpy(keras.layers.Flatten()(image))
    assert flat.tolist() == [list(range(8))]  # H, then W, then C
    assert _default("layers.flatten.order", "keras") == "hwc"

    bn = keras.layers.BatchNormalization()
    assert 1 - bn.momentum == pytest.approx(_default("norm.batch.momentum", "keras"))
    assert bn.epsilon == _default("norm.batch.epsilon", "keras")
    batch = np.array([[1.0], [2.0], [4.0]], np.float32)
    bn(batch, training=True)
    biased = 0.99 + 0.01 * batch.var()
    moving = float(keras.ops.convert_to_numpy(bn.moving_variance)[0])
    assert moving == pytest.approx(float(biased), rel=1e-6)
    assert _default("norm.batch.running_variance", "keras") == "biased"
    ln = keras.layers.LayerNormalization()
    assert ln.epsilon == _default("norm.layer.epsilon", "keras")


@pytest.mark.frameworks
def test_keras_training_defaults_match_the_installed_keras() -> None:
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np
    from keras.src.optimizers import base_optimizer

    assert keras.optimizers.Adam().weight_decay is None
    assert _default("optimizer.weight_decay", "keras") == 0.0
    decay = inspect.getsource(base_optimizer.BaseOptimizer._apply_weight_decay)
    assert "variable - variable * wd * lr" in decay
    assert _default("optimizer.weight_decay_mode", "keras") == "decoupled"
    assert keras.optimizers.AdamW().weight_decay == _default(
        "optimizer.adamw.weight_decay", "keras"
    )
    clip = inspect.getsource(base_optimizer.BaseOptimizer._clip_gradients)
    assert "self._clip_by_norm(g) if g is not None else g for g in grads" in clip
    assert _default("train.clip_scope", "keras") == "per_variable"

    loss = keras.losses.SparseCategoricalCrossentropy()
    assert loss.from_logits is False
    from keras.src.backend.tensorflow import nn as tf_nn

    assert "output._keras_logits" in inspect.getsource(tf_nn._get_logits)
    assert _default("loss.softmax_output", "keras") == "logits"
    # An (N,) target against (N, 1) predictions is aligned, not broadcast.
    mse = keras.losses.MeanSquaredError()
    pred = np.array([[1.0], [2.0], [3.0]], np.float32)
    flat = float(mse(np.array([1.0, 2.0, 4.0], np.float32), pred))
    assert flat == pytest.approx(1 / 3)
    assert _default("loss.target_shape", "keras") == "matched"
