"""The Keras backend: emulations against torch's genuine parts, Keras components
against the shared references, and a few tiny real trainings."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from scipy import stats

from bisect_ml._errors import BackendError, ScenarioError
from bisect_ml.backends import get_backend
from bisect_ml.backends._common import ModelOptions, fit_scaler, window_numpy

# Nothing above imports Keras, so TensorFlow starts with this
# package's logging and thread settings.
from bisect_ml.backends.keras_backend import (
    KerasBackend,
    _model,
    _optim,
    _preprocess,
    _train,
)
from bisect_ml.backends.keras_backend._runtime import THREADS_ENV, keras, tf, threads
from bisect_ml.backends.keras_backend._train import build_trial, fit_trial
from bisect_ml.factors import default_assignment, registry
from bisect_ml.scenario import Dataset, DataSpec, LayerSpec, Spec, TrainSpec, load_data
from bisect_ml.scenario._geometry import Shape
from tests._factor_cases import CNN, factor_case

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.frameworks

DIGITS = Spec(
    DataSpec(dataset="digits", max_samples=300),
    (LayerSpec("dense", 32, "relu"), LayerSpec("dense", 10)),
    TrainSpec(epochs=2, loss="cross_entropy", from_logits=True),
)
DIABETES = Spec(
    DataSpec(dataset="diabetes", task="regression", max_samples=200),
    (LayerSpec("dense", 16, "relu"), LayerSpec("dense", 1)),
    TrainSpec(epochs=3, loss="mse", from_logits=False, metric="mse"),
)


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_data(DIGITS.data)


def keras_assignment(**changes: object) -> dict[str, object]:
    values = default_assignment("keras")
    values.update({name.replace("__", "."): v for name, v in changes.items()})
    return values


# -- optimizer ---------------------------------------------------------------


def _adam_trajectories(rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Parameters after each step under torch Adam, the emulation and Keras Adam.

    Gradients span 1e-7..1 and epsilon is large (1e-3), the regime where
    torch's and Keras's epsilon placements part.
    """
    lr, beta_1, beta_2, eps = 0.05, 0.9, 0.999, 1e-3
    theta0 = rng.standard_normal(8).astype(np.float32)
    scales = np.logspace(-7, 0, 8)
    grads = [(rng.standard_normal(8) * scales).astype(np.float32) for _ in range(6)]

    param = torch.nn.Parameter(torch.tensor(theta0))
    genuine = torch.optim.Adam([param], lr=lr, betas=(beta_1, beta_2), eps=eps)
    torch_path = []
    for g in grads:
        param.grad = torch.tensor(g)
        genuine.step()
        torch_path.append(param.detach().numpy().copy())

    paths = []
    for cls in (_optim.TorchAdam, keras.optimizers.Adam):
        variable = keras.Variable(theta0)
        optimizer = cls(learning_rate=lr, beta_1=beta_1, beta_2=beta_2, epsilon=eps)
        path = []
        for g in grads:
            optimizer.apply_gradients([(tf.constant(g), variable)])
            path.append(keras.ops.convert_to_numpy(variable).copy())
        paths.append(np.array(path))
    return np.array(torch_path), paths[0], paths[1]


def test_torch_adam_emulation_follows_torch_adam(seed: int) -> None:
    torch_path, emulated, _ = _adam_trajectories(np.random.default_rng(seed))
    np.testing.assert_allclose(emulated, torch_path, rtol=0, atol=1e-6)


def test_genuine_keras_adam_differs_where_epsilon_placement_matters(
    seed: int,
) -> None:
    torch_path, _, genuine = _adam_trajectories(np.random.default_rng(seed))
    # Far beyond the tolerance the emulation meets, so the test above can fail.
    assert np.abs(genuine - torch_path).max() > 1e-4


@pytest.mark.parametrize(
    ("placement", "cls"),
    [("uncorrected", "Adam"), ("corrected", "TorchAdam")],
)
def test_optimizer_takes_its_hyperparameters_from_the_assignment(
    placement: str, cls: str
) -> None:
    values = keras_assignment(
        optimizer__learning_rate=0.0123,
        optimizer__beta_1=0.8,
        optimizer__beta_2=0.95,
        optimizer__epsilon=3e-5,
        optimizer__epsilon_placement=placement,
    )
    optimizer = _optim.make_optimizer(values)

    expected = keras.optimizers.Adam if cls == "Adam" else _optim.TorchAdam
    assert type(optimizer) is expected
    assert float(keras.ops.convert_to_numpy(optimizer.learning_rate)) == (
        pytest.approx(0.0123, rel=1e-6)
    )
    assert (optimizer.beta_1, optimizer.beta_2, optimizer.epsilon) == (
        0.8,
        0.95,
        3e-5,
    )


# -- initializers ------------------------------------------------------------


def _dense_options(kernel: str, bias: str = "uniform_fan_in") -> ModelOptions:
    return dataclasses.replace(
        ModelOptions.defaults("keras"), dense_kernel=kernel, dense_bias=bias
    )


def _torch_linear(fan_in: int, fan_out: int, seed: int) -> torch.nn.Linear:
    torch.manual_seed(seed)
    return torch.nn.Linear(fan_in, fan_out)


def test_kaiming_uniform_sqrt5_matches_nn_linear_weight(seed: int) -> None:
    fan_in, fan_out = 256, 512
    keras.utils.set_random_seed(seed)
    ours = keras.ops.convert_to_numpy(
        _model.kernel_initializer("kaiming_uniform_sqrt5")((fan_in, fan_out))
    ).ravel()
    glorot = keras.ops.convert_to_numpy(
        keras.initializers.GlorotUniform()((fan_in, fan_out))
    ).ravel()
    theirs = _torch_linear(fan_in, fan_out, seed).weight.detach().numpy().ravel()

    bound = 1 / math.sqrt(fan_in)
    for sample in (ours, theirs):
        assert 0.999 * bound < np.abs(sample).max() <= bound
    assert stats.ks_2samp(ours, theirs).pvalue > 0.01
    # Keras's own default is told apart, so the check has power.
    assert stats.ks_2samp(glorot, theirs).pvalue < 1e-6


def test_uniform_fan_in_bias_matches_nn_linear_bias(seed: int) -> None:
    fan_in, fan_out = 256, 8192
    keras.utils.set_random_seed(seed)
    ours = keras.ops.convert_to_numpy(
        _model.bias_initializer("uniform_fan_in", fan_in)((fan_out,))
    )
    theirs = _torch_linear(fan_in, fan_out, seed).bias.detach().numpy()

    bound = 1 / math.sqrt(fan_in)
    for sample in (ours, theirs):
        assert 0.99 * bound < np.abs(sample).max() <= bound
    assert stats.ks_2samp(ours, theirs).pvalue > 0.01


def test_torch_init_is_built_per_layer_with_that_layers_fan_in() -> None:
    layers = (LayerSpec("dense", 64, "relu"), LayerSpec("dense", 10))
    keras.utils.set_random_seed(0)
    model = _model.build_model(
        layers, Shape("flat", (30,)), _dense_options("kaiming_uniform_sqrt5")
    )

    for dense, fan_in in zip(model.layers, (30, 64), strict=True):
        kernel, bias = dense.kernel_initializer, dense.bias_initializer
        assert isinstance(kernel, keras.initializers.VarianceScaling)
        assert (kernel.scale, kernel.mode, kernel.distribution) == (
            pytest.approx(1 / 3),
            "fan_in",
            "uniform",
        )
        assert isinstance(bias, keras.initializers.RandomUniform)
        assert bias.maxval == -bias.minval == pytest.approx(1 / math.sqrt(fan_in))
        w, b = (keras.ops.convert_to_numpy(v) for v in dense.weights)
        assert np.abs(w).max() <= 1 / math.sqrt(fan_in)
        assert 0 < np.abs(b).max() <= 1 / math.sqrt(fan_in)


@pytest.mark.parametrize(("value", "gain"), [("he_uniform", 6), ("lecun_uniform", 3)])
def test_other_kernel_values_have_their_bounds(value: str, gain: int) -> None:
    keras.utils.set_random_seed(0)
    w = keras.ops.convert_to_numpy(_model.kernel_initializer(value)((100, 400)))
    bound = math.sqrt(gain / 100)
    assert 0.999 * bound < np.abs(w).max() <= bound


def test_keras_defaults_are_dense_own_glorot_uniform_and_zeros() -> None:
    layers = (LayerSpec("dense", 64, "relu"), LayerSpec("dense", 10))
    keras.utils.set_random_seed(3)
    model = _model.build_model(
        layers, Shape("flat", (30,)), _dense_options("glorot_uniform", "zeros")
    )
    keras.utils.set_random_seed(3)
    plain = keras.Sequential(
        [keras.Input((30,)), keras.layers.Dense(64, "relu"), keras.layers.Dense(10)]
    )

    for dense, reference in zip(model.layers, plain.layers, strict=True):
        assert type(dense.kernel_initializer) is keras.initializers.GlorotUniform
        assert type(dense.bias_initializer) is keras.initializers.Zeros
        for ours, theirs in zip(dense.weights, reference.weights, strict=True):
            np.testing.assert_array_equal(
                keras.ops.convert_to_numpy(ours), keras.ops.convert_to_numpy(theirs)
            )


# -- preprocessing -----------------------------------------------------------


@pytest.mark.parametrize("value", ["unit", "symmetric"])
def test_rescaling_on_images_equals_fit_scaler(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(0)
    x_train = rng.integers(0, 256, size=(50, 64)).astype(np.uint8)
    x_train[0, :2] = (0, 255)
    x_test = rng.integers(0, 256, size=(20, 64)).astype(np.uint8)
    used = []
    genuine = keras.layers.Rescaling

    def spy(*args: object, **kwargs: object) -> object:
        used.append((args, kwargs))
        return genuine(*args, **kwargs)

    monkeypatch.setattr(keras.layers, "Rescaling", spy)
    ours = _preprocess.scale_features(value, x_train, x_test)

    affine = fit_scaler(value, x_train)
    assert used, "uint8 images must go through keras.layers.Rescaling"
    for got, x in zip(ours, (x_train, x_test), strict=True):
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, affine.apply(x), rtol=0, atol=2.5e-7)


@pytest.mark.parametrize("value", ["standardize", "raw", "unit"])
def test_other_scaling_is_fit_scalers_affine_fitted_on_train(value: str) -> None:
    rng = np.random.default_rng(1)
    x_train, x_test = rng.normal(5, 3, (40, 4)), rng.normal(5, 3, (10, 4))
    got_train, got_test = _preprocess.scale_features(value, x_train, x_test)
    affine = fit_scaler(value, x_train)
    np.testing.assert_array_equal(got_train, affine.apply(x_train))
    np.testing.assert_array_equal(got_test, affine.apply(x_test))


@pytest.mark.parametrize("value", ["next", "last", "skip", "start"])
@pytest.mark.parametrize("window", [1, 3, 7])
def test_keras_windows_equal_window_numpy(value: str, window: int) -> None:
    series = np.random.default_rng(window).normal(size=30).astype(np.float32)
    inputs, targets = _preprocess.cut_windows(series, window, value)
    ref_inputs, ref_targets = window_numpy(series, window, value)
    assert inputs.shape == ref_inputs.shape == (len(ref_targets), window)
    np.testing.assert_array_equal(inputs, ref_inputs)
    np.testing.assert_array_equal(targets, ref_targets)


def test_mse_metric_is_in_original_units_over_training_variance() -> None:
    prepared = _preprocess.Prepared(
        x_train=np.zeros((3, 1), np.float32),
        y_train=np.zeros((3, 1), np.float32),
        x_test=np.zeros((2, 1), np.float32),
        y_test=np.array([10.0, 20.0]),
        decode=lambda z: np.asarray(z, np.float64).reshape(-1) * 4.0 + 10.0,
        target_variance=8.0,
    )
    output = np.array([[0.5], [2.0]], np.float32)  # decodes to 12 and 18
    assert _preprocess.metric_value("mse", output, prepared) == pytest.approx(0.5)
    output[1, 0] = np.inf
    assert math.isnan(_preprocess.metric_value("mse", output, prepared))


# -- whole trainings ---------------------------------------------------------


@pytest.mark.parametrize("shuffle", ["repeated", "every_epoch"])
def test_same_seed_same_outcome_and_other_seed_differs(
    digits: Dataset, seed: int, shuffle: str
):
    backend = get_backend("keras")
    assignment = keras_assignment(train__shuffle=shuffle)
    first = backend.train(DIGITS, digits, assignment, seed)
    other = backend.train(DIGITS, digits, assignment, seed + 1)
    again = backend.train(DIGITS, digits, assignment, seed)

    assert isinstance(backend, KerasBackend) and backend.name == "keras"
    assert not first.diverged and len(first.metric_curve) == 2
    assert 0.0 <= first.metric <= 1.0 and first.metric == first.metric_curve[-1]
    assert (first.metric, first.loss_curve, first.metric_curve) == (
        again.metric,
        again.loss_curve,
        again.metric_curve,
    )
    assert first.loss_curve != other.loss_curve
    assert first.versions["keras"] == keras.__version__


def test_one_call_per_epoch_trains_exactly_like_a_plain_fit(digits: Dataset):
    # Justifies steps_per_execution and steps_per_epoch: every update is the same.
    assignment = keras_assignment(
        train__batch_size=16, optimizer__epsilon_placement="corrected"
    )
    trials = [
        build_trial(DIGITS, digits, assignment, 0, one_call_per_epoch=one)
        for one in (False, True)
    ]
    assert all(type(t.model.optimizer) is _optim.TorchAdam for t in trials)
    outcomes = [fit_trial(trial) for trial in trials]
    assert outcomes[0].loss_curve == outcomes[1].loss_curve
    assert outcomes[0].metric_curve == outcomes[1].metric_curve


def test_series_windows_reach_the_model() -> None:
    spec = Spec(
        DataSpec(dataset="sunspots", task="regression", window=6),
        (LayerSpec("dense", 8, "tanh"), LayerSpec("dense", 1)),
        TrainSpec(epochs=2, loss="mse", from_logits=False, metric="mse"),
    )
    data = load_data(spec.data)
    assignment = keras_assignment(preprocess__window="skip")
    trial = build_trial(spec, data, assignment, 0)
    outcome = fit_trial(trial)

    n = len(data.x_train) - 6 - 1
    assert trial.prepared.x_train.shape == (n, 6)
    assert trial.prepared.y_train.shape == (n, 1)
    assert not outcome.diverged and math.isfinite(outcome.metric)


def test_huge_learning_rate_diverges_without_raising() -> None:
    data = load_data(DIABETES.data)
    assignment = keras_assignment(optimizer__learning_rate=1e30)
    outcome = KerasBackend().train(DIABETES, data, assignment, 0)

    assert outcome.diverged
    assert math.isnan(outcome.metric)
    assert 1 <= len(outcome.loss_curve) <= DIABETES.train.epochs
    assert not math.isfinite(outcome.loss_curve[-1])


# -- data order --------------------------------------------------------------

N_SAMPLES, EPOCHS = 12, 3
ORDER = Spec(
    DataSpec(dataset="digits"),
    (LayerSpec("dense", 2),),
    TrainSpec(epochs=EPOCHS, loss="cross_entropy", from_logits=True),
)


class _Record(keras.layers.Layer):
    """Passes its input on; in training, reports each batch's first feature.

    The report runs in a ``tf.py_function``, so the trial keeps its compiled
    train step and its whole-epoch calls.
    """

    def __init__(self, report: Callable[[list[int]], None]) -> None:
        super().__init__()
        self._report = report

    def call(self, x: Any, training: bool | None = None) -> Any:
        if not training:
            return x

        def record(batch: Any) -> Any:
            self._report(batch.numpy()[:, 0].astype(int).tolist())
            return batch

        out = tf.py_function(record, [x], x.dtype)
        out.set_shape(x.shape)
        return out

    def compute_output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return shape


def _split(seen: list[int]) -> list[list[int]]:
    assert len(seen) == EPOCHS * N_SAMPLES
    return [seen[k * N_SAMPLES : (k + 1) * N_SAMPLES] for k in range(EPOCHS)]


def _epoch_orders(
    monkeypatch: pytest.MonkeyPatch, shuffle: str, seed: int, drop_last: bool = False
) -> list[list[int]]:
    """The backend's batch order in each epoch, on samples whose feature is
    their index, with the model build_trial makes swapped for a recorder."""
    seen: list[int] = []

    def recording_model(layers: object, shape: Shape, *_: object) -> Any:
        return keras.Sequential(
            [keras.Input(shape.dims), _Record(seen.extend), keras.layers.Dense(2)]
        )

    monkeypatch.setattr(_train, "build_model", recording_model)
    x = np.arange(N_SAMPLES, dtype=np.float64)[:, None]
    y = np.zeros(N_SAMPLES, np.int64)
    data = Dataset(x, y, x, y, task="classification", n_classes=2)
    assignment = keras_assignment(
        train__shuffle=shuffle,
        train__batch_size=5,
        train__drop_last=drop_last,
        preprocess__scale="raw",
    )
    fit_trial(build_trial(ORDER, data, assignment, seed))
    if drop_last:
        per_epoch = N_SAMPLES - N_SAMPLES % 5
        assert len(seen) == EPOCHS * per_epoch
        return [seen[k * per_epoch : (k + 1) * per_epoch] for k in range(EPOCHS)]
    return _split(seen)


def test_drop_last_cuts_each_epoch_to_whole_batches(
    monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    # fit has no drop_last: the emulation orders the arrays itself, then cuts.
    cut = N_SAMPLES - N_SAMPLES % 5
    off = _epoch_orders(monkeypatch, "off", seed, drop_last=True)
    assert off == [list(range(cut))] * EPOCHS
    drawn = _train.epoch_orders(seed, N_SAMPLES)
    fresh = [next(drawn)[:cut].tolist() for _ in range(EPOCHS)]
    assert _epoch_orders(monkeypatch, "every_epoch", seed, drop_last=True) == fresh
    repeated = _epoch_orders(monkeypatch, "repeated", seed, drop_last=True)
    assert repeated == [fresh[0]] * EPOCHS


def test_shuffle_values_give_their_batch_orders(
    monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    sequential = list(range(N_SAMPLES))
    values = ("off", "every_epoch", "repeated")
    orders = {value: _epoch_orders(monkeypatch, value, seed) for value in values}

    assert orders["off"] == [sequential] * EPOCHS
    fresh = orders["every_epoch"]
    drawn = _train.epoch_orders(seed, N_SAMPLES)
    assert fresh == [next(drawn).tolist() for _ in range(EPOCHS)]
    assert fresh[0] != fresh[1] and fresh[1] != fresh[2] and fresh[0] != fresh[2]
    repeated = orders["repeated"]
    assert sorted(repeated[0]) == sequential and repeated[0] != sequential
    assert repeated == [repeated[0]] * EPOCHS

    for value, seen in orders.items():
        assert _epoch_orders(monkeypatch, value, seed) == seen, value
    assert _epoch_orders(monkeypatch, "every_epoch", seed + 1) != fresh
    assert _epoch_orders(monkeypatch, "repeated", seed + 1) != repeated


def _plain_fit_orders(seed: int | None) -> list[list[int]]:
    """Batch orders of a plain ``fit(shuffle=True)``, with or without a seed."""
    seen: list[int] = []
    if seed is None:
        tf.random.set_seed(None)
    else:
        keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [keras.Input((1,)), _Record(seen.extend), keras.layers.Dense(2)]
    )
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    x = np.arange(N_SAMPLES, dtype=np.float32)[:, None]
    y = np.zeros(N_SAMPLES, np.int64)
    model.fit(x, y, batch_size=5, epochs=EPOCHS, shuffle=True, verbose=0)
    return _split(seen)


def test_seeded_keras_fit_shuffle_repeats_one_permutation(seed: int) -> None:
    # Pins the genuine path of train.shuffle = "repeated" in Keras 3.15.1.
    # Keras master seeds a stateless shuffle with the epoch number instead;
    # when this fails, the catalogue entry and both backends must follow.
    sequential = list(range(N_SAMPLES))
    seeded = _plain_fit_orders(seed)
    assert sorted(seeded[0]) == sequential and seeded[0] != sequential
    assert seeded == [seeded[0]] * EPOCHS
    assert _plain_fit_orders(seed) == seeded

    # Without a global seed the same call reshuffles, so the check has power.
    try:
        unseeded = _plain_fit_orders(None)
    finally:
        keras.utils.set_random_seed(seed)
    assert all(sorted(order) == sequential for order in unseeded)
    assert unseeded[0] != unseeded[1] and unseeded[1] != unseeded[2]


def test_reshuffled_epochs_train_like_one_fit_when_left_in_order(
    digits: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Justifies the every_epoch emulation: one fit per epoch changes no update.
    def in_order(seed: int, n: int) -> Iterator[np.ndarray]:
        while True:
            yield np.arange(n)

    monkeypatch.setattr(_train, "epoch_orders", in_order)
    outcomes = [
        KerasBackend().train(DIGITS, digits, keras_assignment(train__shuffle=value), 0)
        for value in ("off", "every_epoch")
    ]
    assert outcomes[0].loss_curve == outcomes[1].loss_curve
    assert outcomes[0].metric_curve == outcomes[1].metric_curve


# -- every factor ------------------------------------------------------------


def test_build_trial_applies_every_factor_of_a_torch_assignment() -> None:
    # The wiring from assignment to Keras parts, without training: under torch's
    # values every layer, the loss and the optimizer are the emulations.
    spec = CNN
    values = default_assignment("torch") | {
        "train.batch_size": 32,
        "optimizer.weight_decay": 0.1,
        "train.clip_norm": 1.0,
    }
    trial = build_trial(spec, load_data(spec.data), values, 0)
    layers = trial.model.layers
    assert [type(layer).__name__ for layer in layers] == [
        "ZeroPadding2D",
        "Conv2D",
        "UnbiasedBatchNormalization",
        "PaddedPool2D",
        "PaddedPool2D",
        "Permute",
        "Flatten",
        "LayerNormalization",
        "Dense",
        "OpaqueSoftmax",
    ]
    assert layers[1].padding == "valid" and layers[0].padding == ((1, 1), (1, 1))
    assert isinstance(layers[1].kernel_initializer, keras.initializers.VarianceScaling)
    assert isinstance(layers[1].bias_initializer, keras.initializers.RandomUniform)
    assert layers[2].momentum == pytest.approx(0.9) and layers[2].epsilon == 1e-5
    assert layers[3].pads == ((1, 1), (1, 1)) and layers[4].count_include_pad
    assert layers[7].epsilon == 1e-5
    assert trial.model.loss.from_logits is True  # softmax twice
    optimizer = trial.model.optimizer
    assert type(optimizer) is _optim.TorchL2Adam and optimizer.l2 == 0.1
    assert optimizer.global_clipnorm == 1.0 and optimizer.weight_decay is None
    assert trial.prepared.x_train.shape[1:] == (8, 8, 1)


# Each Keras training costs a second or two (mostly tracing): run with -m slow.
@pytest.mark.slow
@pytest.mark.parametrize("factor", list(registry))
def test_every_factor_changes_the_training(factor: str) -> None:
    spec, base, switched = factor_case(factor, "keras")
    data = load_data(spec.data)
    before = KerasBackend().train(spec, data, base, seed=0)
    after = KerasBackend().train(spec, data, switched, seed=0)
    assert not before.diverged and not after.diverged
    # BatchNorm's running statistics reach only the test metric.
    curves = (before.loss_curve, before.metric_curve)
    assert curves != (after.loss_curve, after.metric_curve)


# -- argument checks ---------------------------------------------------------


def test_missing_factor_is_named(digits: Dataset) -> None:
    assignment = default_assignment("keras")
    del assignment["optimizer.beta_1"]
    with pytest.raises(ScenarioError, match=r"lacks a value for `optimizer.beta_1`"):
        KerasBackend().train(DIGITS, digits, assignment, 0)


def test_unknown_factor_suggests_the_close_name(digits: Dataset) -> None:
    assignment = default_assignment("keras") | {"optimizer.beta1": 0.9}
    with pytest.raises(ScenarioError, match=r"did you mean `optimizer.beta_1`"):
        KerasBackend().train(DIGITS, digits, assignment, 0)


def test_bad_value_and_bad_seed_are_rejected(digits: Dataset) -> None:
    with pytest.raises(ScenarioError, match=r"`optimizer.epsilon` must be a posit"):
        KerasBackend().train(
            DIGITS, digits, keras_assignment(optimizer__epsilon=-1e-7), 0
        )
    with pytest.raises(BackendError, match=r"`seed` must be an integer"):
        KerasBackend().train(DIGITS, digits, default_assignment("keras"), -1)


def test_thread_count_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(THREADS_ENV, raising=False)
    assert threads() == 1
    monkeypatch.setenv(THREADS_ENV, "3")
    assert threads() == 3
    monkeypatch.setenv(THREADS_ENV, "many")
    with pytest.raises(BackendError, match=r"`BISECT_ML_THREADS` must be a positi"):
        threads()
