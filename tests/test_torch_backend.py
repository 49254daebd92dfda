"""The PyTorch backend: its emulations of Keras against genuine Keras, its
genuine torch components, preprocessing, determinism and divergence."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

from bisect_ml._errors import BackendError, ScenarioError
from bisect_ml.backends import get_backend
from bisect_ml.backends._common import ModelOptions, fit_scaler, window_numpy
from bisect_ml.backends.torch_backend import TorchBackend, _optim
from bisect_ml.backends.torch_backend._model import KERNEL_INITS, build_model
from bisect_ml.backends.torch_backend._optim import KerasAdam, make_optimizer
from bisect_ml.backends.torch_backend._preprocess import (
    Prepared,
    normalize,
    prepare,
    scale_features,
    to_tensor,
    window_series,
)
from bisect_ml.backends.torch_backend._train import (
    evaluate,
    fit,
    make_loader,
    make_loss,
)
from bisect_ml.factors import default_assignment, registry
from bisect_ml.scenario import (
    Dataset,
    DataSpec,
    LayerSpec,
    Spec,
    TrainSpec,
    load_data,
)
from bisect_ml.scenario._geometry import Shape
from tests._factor_cases import factor_case

pytestmark = pytest.mark.frameworks

keras = pytest.importorskip("keras")


# --- Adam ------------------------------------------------------------------

LR, BETA_1, BETA_2, EPS = 0.1, 0.9, 0.999, 1e-3


@pytest.fixture(scope="module")
def adam_case() -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """Start values, gradients (tiny ones first) and Keras's trajectory."""
    rng = np.random.default_rng(0)
    start = rng.uniform(-1, 1, (3, 4)).astype(np.float32)
    sizes = [1e-6, 1e-6, 1e-5, 1.0, 1e-6, 0.1, 1e-7, 1e-6]
    grads = [(rng.standard_normal((3, 4)) * s).astype(np.float32) for s in sizes]

    variable = keras.Variable(start.copy())
    optimizer = keras.optimizers.Adam(
        learning_rate=LR, beta_1=BETA_1, beta_2=BETA_2, epsilon=EPS
    )
    trajectory = []
    for grad in grads:
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(grad), variable)])
        trajectory.append(keras.ops.convert_to_numpy(variable))
    return start, grads, trajectory


def _torch_trajectory(
    optimizer_cls: type[torch.optim.Optimizer],
    start: np.ndarray,
    grads: list[np.ndarray],
) -> list[np.ndarray]:
    param = nn.Parameter(torch.from_numpy(start.copy()))
    optimizer = optimizer_cls([param], lr=LR, betas=(BETA_1, BETA_2), eps=EPS)
    trajectory = []
    for grad in grads:
        param.grad = torch.from_numpy(grad.copy())
        optimizer.step()
        trajectory.append(param.detach().numpy().copy())
    return trajectory


def test_keras_adam_emulation_follows_genuine_keras_adam(adam_case):
    start, grads, keras_steps = adam_case
    ours = _torch_trajectory(KerasAdam, start, grads)
    for step, (mine, theirs) in enumerate(zip(ours, keras_steps, strict=True)):
        np.testing.assert_allclose(
            mine, theirs, rtol=1e-6, atol=1e-7, err_msg=f"step {step + 1}"
        )


def test_torch_adam_differs_from_keras_adam_with_large_epsilon(adam_case):
    # The regime where epsilon placement matters: tiny gradients, eps = 1e-3.
    start, grads, keras_steps = adam_case
    torch_steps = _torch_trajectory(torch.optim.Adam, start, grads)
    first_gap = np.abs(torch_steps[0] - keras_steps[0]).max()
    assert first_gap > 1e-4
    assert np.abs(torch_steps[-1] - keras_steps[-1]).max() > 1e-2


def test_corrected_placement_is_torch_adam_with_the_factor_values():
    params = [nn.Parameter(torch.zeros(2))]
    opt = make_optimizer(
        params, placement="corrected", lr=0.02, beta_1=0.8, beta_2=0.99, eps=1e-5
    )
    assert type(opt) is torch.optim.Adam
    group = opt.param_groups[0]
    assert (group["lr"], group["betas"], group["eps"]) == (0.02, (0.8, 0.99), 1e-5)
    assert group["weight_decay"] == 0 and group["amsgrad"] is False

    keras_like = make_optimizer(
        params, placement="uncorrected", lr=0.02, beta_1=0.8, beta_2=0.99, eps=1e-5
    )
    assert type(keras_like) is KerasAdam
    assert keras_like.param_groups[0]["betas"] == (0.8, 0.99)


def test_backend_hands_the_optimizer_factors_to_the_optimizer(monkeypatch):
    seen = {}

    def spy(params, **kwargs):
        seen.update(kwargs)
        return make_optimizer(params, **kwargs)

    # The backend builds its optimizer through _optim.build_optimizer.
    monkeypatch.setattr(_optim, "make_optimizer", spy)
    spec, data = _digits(epochs=1)
    assignment = default_assignment("torch") | {
        "optimizer.learning_rate": 0.003,
        "optimizer.beta_1": 0.85,
        "optimizer.beta_2": 0.95,
        "optimizer.epsilon": 1e-6,
        "optimizer.epsilon_placement": "uncorrected",
        "optimizer.weight_decay": 0.02,
        "optimizer.weight_decay_mode": "decoupled",
        "train.batch_size": 64,
    }
    TorchBackend().train(spec, data, assignment, seed=0)
    assert seen == {
        "placement": "uncorrected",
        "lr": 0.003,
        "beta_1": 0.85,
        "beta_2": 0.95,
        "eps": 1e-6,
        "weight_decay": 0.02,
        "decay_mode": "decoupled",
        "adamw": False,
    }


# --- Initialisation ----------------------------------------------------------


def _dense_options(kernel: str, bias: str = "uniform_fan_in") -> ModelOptions:
    return dataclasses.replace(
        ModelOptions.defaults("torch"), dense_kernel=kernel, dense_bias=bias
    )


FAN_IN, FAN_OUT = 400, 300


@pytest.mark.parametrize(
    ("scheme", "keras_name", "limit"),
    [
        ("glorot_uniform", "GlorotUniform", math.sqrt(6 / (FAN_IN + FAN_OUT))),
        ("he_uniform", "HeUniform", math.sqrt(6 / FAN_IN)),
        ("lecun_uniform", "LecunUniform", math.sqrt(3 / FAN_IN)),
    ],
)
def test_kernel_emulation_draws_like_the_keras_initializer(scheme, keras_name, limit):
    torch.manual_seed(0)
    model = build_model(
        (LayerSpec("dense", FAN_OUT, "relu"),),
        Shape("flat", (FAN_IN,)),
        _dense_options(scheme, "zeros"),
    )
    ours = model[0].weight.detach().numpy().ravel()
    initializer = getattr(keras.initializers, keras_name)(seed=1)
    theirs = np.array(initializer(shape=(FAN_IN, FAN_OUT))).ravel()

    for sample in (ours, theirs):
        assert limit * 0.999 < np.abs(sample).max() <= limit * (1 + 1e-6)
    assert stats.ks_2samp(ours, theirs).pvalue > 0.01
    assert not model[0].bias.detach().any()


def test_ks_check_tells_the_schemes_apart():
    # Guards the test above: the KS test sees glorot vs he at this size.
    torch.manual_seed(0)
    weights = {}
    for scheme in ("glorot_uniform", "he_uniform"):
        weight = torch.empty(FAN_OUT, FAN_IN)
        KERNEL_INITS[scheme](weight)
        weights[scheme] = weight.numpy().ravel()
    assert stats.ks_2samp(*weights.values()).pvalue < 1e-6


def test_default_kernel_and_bias_are_nn_linear_own_init():
    layers = (LayerSpec("dense", 16, "tanh"), LayerSpec("dense", 3, "softmax"))
    torch.manual_seed(7)
    flat = Shape("flat", (5,))
    model = build_model(layers, flat, _dense_options("kaiming_uniform_sqrt5"))
    torch.manual_seed(7)
    reference = [nn.Linear(5, 16), nn.Linear(16, 3)]

    linears = [m for m in model if isinstance(m, nn.Linear)]
    for mine, genuine in zip(linears, reference, strict=True):
        assert torch.equal(mine.weight, genuine.weight)
        assert torch.equal(mine.bias, genuine.bias)
        bound = 1 / math.sqrt(genuine.in_features)
        assert mine.weight.abs().max() <= bound and mine.bias.abs().max() <= bound
    assert isinstance(model[1], nn.Tanh) and isinstance(model[3], nn.Softmax)

    # zeros_ draws nothing: the kernel stays nn.Linear's own.
    torch.manual_seed(7)
    zero_bias = build_model(
        layers, flat, _dense_options("kaiming_uniform_sqrt5", "zeros")
    )
    assert torch.equal(zero_bias[0].weight, reference[0].weight)
    assert not zero_bias[0].bias.any()


# --- Preprocessing -----------------------------------------------------------


def test_to_tensor_scales_uint8_only():
    image = np.array([[0, 51, 255]], dtype=np.uint8)
    out = to_tensor(image)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, torch.tensor([[0.0, 0.2, 1.0]]))

    floats = np.array([[0.0, 2.5, 300.0]])
    passed = to_tensor(floats)
    assert passed.dtype == torch.float32
    torch.testing.assert_close(passed, torch.tensor([[0.0, 2.5, 300.0]]))
    assert to_tensor(torch.tensor([255], dtype=torch.uint8)).item() == 1.0


def test_normalize_is_per_channel_affine_and_not_in_place():
    x = torch.tensor([[0.0, 0.5, 1.0]])
    torch.testing.assert_close(
        normalize(x, (0.5,), (0.5,)), torch.tensor([[-1.0, 0.0, 1.0]])
    )
    per_feature = normalize(x, [0.0, 0.5, 1.0], [1.0, 0.25, 2.0])
    torch.testing.assert_close(per_feature, torch.tensor([[0.0, 0.0, 0.0]]))
    assert torch.equal(x, torch.tensor([[0.0, 0.5, 1.0]]))

    with pytest.raises(TypeError, match="float tensor"):
        normalize(torch.tensor([1, 2]), (0.5,), (0.5,))
    with pytest.raises(ValueError, match="std evaluated to zero"):
        normalize(x, (0.5,), (0.0,))


@pytest.mark.parametrize("value", ["symmetric", "unit", "standardize", "raw"])
@pytest.mark.parametrize("image", [True, False])
def test_scaling_gives_the_reference_numbers(value, image):
    rng = np.random.default_rng(3)
    if image:
        x = rng.integers(0, 256, (40, 6)).astype(np.uint8)
        x[:, 0] = 9  # a constant pixel, as in digits
    else:
        x = rng.normal(5.0, 3.0, (40, 6))
    train, test = x[:30], x[30:]

    ours_train, ours_test = scale_features(value, train, test)
    affine = fit_scaler(value, train)
    for ours, raw in ((ours_train, train), (ours_test, test)):
        assert ours.dtype == torch.float32
        np.testing.assert_allclose(
            ours.numpy(), affine.apply(raw), rtol=1e-5, atol=1e-6
        )


@pytest.mark.parametrize("value", ["next", "last", "skip", "start"])
def test_unfold_windows_equal_the_reference(value):
    series = np.random.default_rng(1).normal(size=23)
    for window in (2, 5):
        inputs, targets = window_series(torch.from_numpy(series), window, value)
        ref_inputs, ref_targets = window_numpy(series, window, value)
        np.testing.assert_array_equal(inputs.numpy(), ref_inputs)
        np.testing.assert_array_equal(targets.numpy(), ref_targets)


def test_windowing_a_too_short_series_raises():
    with pytest.raises(ValueError, match="no window of 4"):
        window_series(torch.arange(4.0), 4, "next")


# --- Whole trials ------------------------------------------------------------


def _digits(epochs: int = 2) -> tuple[Spec, Dataset]:
    spec = Spec(
        DataSpec(dataset="digits", max_samples=300),
        (LayerSpec("dense", 32, "relu"), LayerSpec("dense", 10, "linear")),
        TrainSpec(epochs=epochs, loss="cross_entropy", from_logits=True),
    )
    return spec, load_data(spec.data)


def _sunspots(epochs: int = 2) -> tuple[Spec, Dataset]:
    spec = Spec(
        DataSpec(dataset="sunspots", window=6, max_samples=120),
        (LayerSpec("dense", 8, "tanh"), LayerSpec("dense", 1, "linear")),
        TrainSpec(epochs=epochs, loss="mse", from_logits=False, metric="mse"),
    )
    return spec, load_data(spec.data)


def _same(a, b) -> bool:
    return (a.metric, a.loss_curve, a.metric_curve, a.diverged) == (
        b.metric,
        b.loss_curve,
        b.metric_curve,
        b.diverged,
    )


@pytest.mark.parametrize("shuffle", ["every_epoch", "repeated"])
def test_same_seed_same_outcome_other_seed_differs(seed, shuffle):
    spec, data = _digits()
    assignment = default_assignment("torch") | {
        "train.batch_size": 16,
        "train.shuffle": shuffle,
    }
    backend = get_backend("torch")
    first = backend.train(spec, data, assignment, seed)
    torch.rand(5)  # the global RNG state before a trial must not matter
    again = backend.train(spec, data, assignment, seed)
    other = backend.train(spec, data, assignment, seed + 1)

    assert backend.name == "torch"
    assert _same(first, again)
    assert first.loss_curve != other.loss_curve
    assert len(first.loss_curve) == len(first.metric_curve) == 2
    assert first.metric == first.metric_curve[-1] and 0 <= first.metric <= 1
    assert first.versions["torch"].startswith("2.") and first.seconds > 0


def test_losses_are_the_torch_modules_and_probabilities_are_clipped():
    logits = torch.tensor([[2.0, -1.0, 0.5], [0.0, 30.0, -30.0]])
    target = torch.tensor([0, 2])
    assert isinstance(make_loss("cross_entropy", True), nn.CrossEntropyLoss)
    assert isinstance(make_loss("mse", False), nn.MSELoss)

    from_probs = make_loss("cross_entropy", False)(logits.softmax(dim=1), target)
    # The second sample's target probability (~1e-26) is clipped to 1e-7.
    expected = (F.cross_entropy(logits[:1], target[:1]) - math.log(1e-7)) / 2
    torch.testing.assert_close(from_probs, expected)


def test_probability_output_trains():
    spec, data = _digits()
    spec = Spec(
        spec.data,
        (spec.layers[0], LayerSpec("dense", 10, "softmax")),
        TrainSpec(epochs=3, loss="cross_entropy", from_logits=False),
    )
    assignment = default_assignment("keras") | {"optimizer.learning_rate": 0.01}
    outcome = TorchBackend().train(spec, data, assignment, seed=0)
    assert not outcome.diverged and outcome.metric < 0.5
    assert outcome.loss_curve[-1] < outcome.loss_curve[0]


def test_huge_learning_rate_diverges_without_raising():
    spec = Spec(
        DataSpec(dataset="diabetes", task="regression"),
        (LayerSpec("dense", 16, "relu"), LayerSpec("dense", 1, "linear")),
        TrainSpec(epochs=3, loss="mse", from_logits=False, metric="mse"),
    )
    assignment = default_assignment("torch") | {
        "optimizer.learning_rate": 1e12,
        "train.batch_size": 32,
    }
    outcome = TorchBackend().train(spec, load_data(spec.data), assignment, seed=0)
    assert outcome.diverged
    assert math.isnan(outcome.metric)
    assert len(outcome.loss_curve) < 3


def _constant_model(value: float) -> nn.Module:
    model = nn.Linear(6, 1)
    nn.init.zeros_(model.weight)
    nn.init.constant_(model.bias, value)
    return model


@pytest.mark.parametrize("scale", ["symmetric", "standardize"])
def test_tabular_mse_is_in_target_units_over_training_variance(scale):
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(50, 6)), rng.normal(100.0, 20.0, 50)
    data = prepare(
        x[:40],
        y[:40],
        x[40:],
        y[40:],
        task="regression",
        series=False,
        scale=scale,
        window=None,
        window_value="next",
    )
    assert data.y_train.shape == (40, 1) and data.y_test.shape == (10, 1)
    np.testing.assert_allclose(data.y_train.numpy().mean(), 0, atol=1e-5)

    # Outputting 1.0 (one training std above the mean) in standardized units.
    guess = y[:40].mean() + y[:40].std()
    expected = np.mean((guess - y[40:]) ** 2) / np.var(y[:40])
    assert evaluate(_constant_model(1.0), data) == pytest.approx(expected, rel=1e-5)


def test_series_mse_undoes_the_input_scaling():
    series = np.random.default_rng(6).gamma(2.0, 30.0, 80)
    train, test = series[:60], series[60:]
    data = prepare(
        train,
        None,
        test,
        None,
        task="regression",
        series=True,
        scale="symmetric",
        window=6,
        window_value="next",
    )
    affine = fit_scaler("symmetric", train)
    _, y_fit = window_numpy(train, 6, "next")
    _, y_eval = window_numpy(test, 6, "next")
    assert data.x_test.shape == (len(y_eval), 6)

    guess = affine.invert(np.float32(0.25))
    expected = np.mean((guess - y_eval) ** 2) / np.var(y_fit)
    assert evaluate(_constant_model(0.25), data) == pytest.approx(expected, rel=1e-5)


# --- Data order --------------------------------------------------------------

N_SAMPLES, EPOCHS = 12, 3


class _OrderRecorder(nn.Module):
    """A linear model that records the sample indices of its training batches."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(1, 2)
        self.seen: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.seen += x[:, 0].long().tolist()
        return self.linear(x)


def _epoch_orders(shuffle: str, seed: int) -> list[list[int]]:
    # Each sample's only feature is its own index.
    x = torch.arange(N_SAMPLES, dtype=torch.float32).unsqueeze(1)
    data = Prepared(x, torch.zeros(N_SAMPLES, dtype=torch.long), x, x[:, 0].long())
    model = _OrderRecorder()
    fit(
        model,
        torch.optim.SGD(model.parameters(), lr=0.0),
        nn.CrossEntropyLoss(),
        data,
        epochs=EPOCHS,
        batch_size=5,
        shuffle=shuffle,
        seed=seed,
    )
    seen = model.seen
    assert len(seen) == EPOCHS * N_SAMPLES
    return [seen[k * N_SAMPLES : (k + 1) * N_SAMPLES] for k in range(EPOCHS)]


def test_shuffle_values_give_their_batch_orders(seed):
    sequential = list(range(N_SAMPLES))
    values = ("off", "every_epoch", "repeated")
    orders = {value: _epoch_orders(value, seed) for value in values}

    assert orders["off"] == [sequential] * EPOCHS
    fresh = orders["every_epoch"]
    assert all(sorted(order) == sequential for order in fresh)
    assert fresh[0] != fresh[1] and fresh[1] != fresh[2] and fresh[0] != fresh[2]
    repeated = orders["repeated"]
    assert sorted(repeated[0]) == sequential and repeated[0] != sequential
    assert repeated == [repeated[0]] * EPOCHS

    for value, seen in orders.items():
        assert _epoch_orders(value, seed) == seen, value
    assert _epoch_orders("every_epoch", seed + 1) != fresh
    assert _epoch_orders("repeated", seed + 1) != repeated


def test_every_epoch_is_dataloader_shuffle_and_off_its_default(seed):
    dataset = TensorDataset(torch.arange(N_SAMPLES))
    for value, genuine in (
        ("off", DataLoader(dataset, batch_size=5)),
        (
            "every_epoch",
            DataLoader(
                dataset,
                batch_size=5,
                shuffle=True,
                generator=torch.Generator().manual_seed(seed),
            ),
        ),
    ):
        ours = make_loader(dataset, batch_size=5, shuffle=value, seed=seed)
        assert type(ours.sampler) is type(genuine.sampler)
        for _ in range(EPOCHS):
            mine = [b[0].tolist() for b in ours]
            assert mine == [b[0].tolist() for b in genuine], value

    for value in ("off", "every_epoch", "repeated"):
        ours = make_loader(
            dataset, batch_size=5, shuffle=value, seed=seed, drop_last=True
        )
        assert ours.drop_last and [len(b[0]) for b in ours] == [5, 5]

    with pytest.raises(ValueError, match="unknown train.shuffle 'sometimes'"):
        make_loader(dataset, batch_size=5, shuffle="sometimes", seed=seed)


# --- The assignment ----------------------------------------------------------


@pytest.mark.parametrize("factor", list(registry))
def test_every_factor_changes_the_training(factor):
    spec, base, switched = factor_case(factor, "torch")
    data = load_data(spec.data)
    backend = TorchBackend()
    before = backend.train(spec, data, base, seed=0)
    after = backend.train(spec, data, switched, seed=0)
    assert not before.diverged and not after.diverged
    # BatchNorm's running statistics reach only the test metric.
    curves = (before.loss_curve, before.metric_curve)
    assert curves != (after.loss_curve, after.metric_curve)


def test_assignment_must_hold_exactly_the_registry_factors():
    spec, data = _digits(epochs=1)
    backend = TorchBackend()
    complete = default_assignment("torch")

    missing = {k: v for k, v in complete.items() if k != "train.shuffle"}
    with pytest.raises(BackendError, match=r"lacks `train\.shuffle`"):
        backend.train(spec, data, missing, seed=0)
    with pytest.raises(BackendError, match=r"unknown `optimizer\.momentum`"):
        backend.train(spec, data, complete | {"optimizer.momentum": 0.9}, seed=0)
    with pytest.raises(ScenarioError, match=r"`init\.dense\.kernel` must be one of"):
        backend.train(
            spec, data, complete | {"init.dense.kernel": "orthogonal"}, seed=0
        )
