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
