"""Loss, weight-decay and clipping factors: emulations against genuine parts.

Each test runs the genuine component of one framework and the emulation of it
in the other on the same numbers (same weights and inputs, or the same
gradients), and a companion shows the frameworks' own values differing beyond
the tolerance.
"""

from __future__ import annotations

import numpy as np
import pytest

from bisect_ml.backends._common import ModelOptions
from bisect_ml.backends.keras_backend import _model as keras_model
from bisect_ml.backends.keras_backend import _optim as keras_optim
from bisect_ml.backends.keras_backend._runtime import keras, tf
from bisect_ml.backends.keras_backend._train import make_loss
from bisect_ml.factors import default_assignment
from bisect_ml.scenario import LayerSpec, TrainSpec
from bisect_ml.scenario._geometry import Shape

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from bisect_ml.backends.torch_backend import _model as torch_model  # noqa: E402
from bisect_ml.backends.torch_backend._optim import (  # noqa: E402
    KerasAdam,
    make_optimizer,
)
from bisect_ml.backends.torch_backend._train import (  # noqa: E402
    clip_gradients,
    make_objective,
)

pytestmark = pytest.mark.frameworks

SOFTMAX = TrainSpec(epochs=1, loss="cross_entropy", from_logits=False)
MSE = TrainSpec(epochs=1, loss="mse", from_logits=False, metric="mse")


def _dense_pair(units: int, activation: str, softmax_output: str, scale: float):
    """One dense layer in both frameworks with the same (scaled) weights."""
    options = ModelOptions.defaults("keras")
    options = type(options)(**{**options.__dict__, "softmax_output": softmax_output})
    layers = (LayerSpec("dense", units, activation),)
    keras.utils.set_random_seed(0)
    k = keras_model.build_model(layers, Shape("flat", (4,)), options)
    torch.manual_seed(0)
    t = torch_model.build_model(layers, Shape("flat", (4,)), options)
    dense = k.layers[0]
    kernel = keras.ops.convert_to_numpy(dense.kernel) * scale
    dense.kernel.assign(kernel)
    with torch.no_grad():
        t[0].weight.copy_(torch.from_numpy(kernel.T))
        t[0].bias.zero_()
    return k, t


def _keras_loss(model: keras.Model, loss: keras.losses.Loss, x, y) -> float:
    # evaluate() runs the compiled graph, the path fit takes.
    model.compile(loss=loss)
    return float(model.evaluate(x, y, batch_size=len(x), verbose=0))


@pytest.fixture(scope="module")
def batch() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(16, 4)).astype(np.float32), rng.integers(0, 3, 16)


@pytest.mark.parametrize("value", ["logits", "softmax_twice", "clipped_log"])
def test_softmax_output_losses_agree(value: str, batch) -> None:
    # Large weights push some probabilities below 1e-7, where clipping shows.
    x, y = batch
    k, t = _dense_pair(3, "softmax", value, scale=40.0)
    ours = _keras_loss(k, make_loss(SOFTMAX, value), x, y)
    objective = make_objective("cross_entropy", False, softmax_output=value)
    with torch.no_grad():
        theirs = float(objective(t, torch.from_numpy(x), torch.from_numpy(y)))
    assert ours == pytest.approx(theirs, rel=1e-5)


def test_softmax_output_values_give_different_losses(batch) -> None:
    x, y = batch
    losses = []
    for value in ("logits", "softmax_twice", "clipped_log"):
        k, _ = _dense_pair(3, "softmax", value, scale=40.0)
        losses.append(_keras_loss(k, make_loss(SOFTMAX, value), x, y))
    assert min(abs(a - b) for a, b in [losses[:2], losses[1:], losses[::2]]) > 0.1


def test_keras_takes_the_logits_behind_its_softmax_even_with_from_logits(
    batch,
) -> None:
    # Pins the surprising genuine behaviour "logits" stands for: Keras ignores
    # from_logits=True on a Dense(activation="softmax") output.
    x, y = batch
    k, t = _dense_pair(3, "softmax", "logits", scale=40.0)
    sparse = keras.losses.SparseCategoricalCrossentropy
    with pytest.warns(UserWarning, match="does not represent logits"):
        told_logits = _keras_loss(k, sparse(from_logits=True), x, y)
    with torch.no_grad():
        logits = t[0](torch.from_numpy(x))
    expected = float(nn.functional.cross_entropy(logits, torch.from_numpy(y)))
    assert told_logits == pytest.approx(expected, rel=1e-5)
    assert _keras_loss(k, sparse(from_logits=False), x, y) == pytest.approx(
        expected, rel=1e-5
    )


@pytest.mark.parametrize("value", ["matched", "broadcast"])
def test_mse_target_shapes_agree(value: str) -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(12, 4)).astype(np.float32)
    y = rng.normal(size=(12, 1)).astype(np.float32)
    k, t = _dense_pair(1, "linear", "logits", scale=1.0)
    ours = _keras_loss(k, make_loss(MSE, target_shape=value), x, y)
    objective = make_objective("mse", False, target_shape=value)
    with torch.no_grad():
        theirs = float(objective(t, torch.from_numpy(x), torch.from_numpy(y)))
    assert ours == pytest.approx(theirs, rel=1e-5)

    # Keras aligns an (N,) target itself: no broadcasting from its own loss.
    flat = _keras_loss(k, keras.losses.MeanSquaredError(), x, y.reshape(-1))
    matched = _keras_loss(k, make_loss(MSE), x, y)
    assert flat == pytest.approx(matched, rel=1e-6)


def test_torch_mse_broadcasts_a_flat_target() -> None:
    pred = torch.tensor([[1.0], [2.0], [3.0]])
    target = torch.tensor([1.0, 2.0, 4.0])
    with pytest.warns(UserWarning, match="different to the input size"):
        broadcast = nn.MSELoss()(pred, target)
    assert float(broadcast) == pytest.approx(
        np.mean((target.numpy() - pred.numpy()) ** 2)
    )
    assert float(nn.MSELoss()(pred, target.reshape(-1, 1))) == pytest.approx(1 / 3)
    assert float(broadcast) > 1.0


# -- weight decay ------------------------------------------------------------

LR, WD = 0.05, 0.2


def _gradients(seed: int = 0) -> tuple[np.ndarray, list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    start = rng.normal(size=6).astype(np.float32)
    scales = np.array([1e-3, 1e-2, 0.1, 1.0, 1e-4, 0.5])
    grads = [(rng.normal(size=6) * scales).astype(np.float32) for _ in range(8)]
    return start, grads


def _torch_path(optimizer_factory) -> np.ndarray:
    start, grads = _gradients()
    param = nn.Parameter(torch.from_numpy(start.copy()))
    optimizer = optimizer_factory([param])
    path = []
    for g in grads:
        param.grad = torch.from_numpy(g.copy())
        optimizer.step()
        path.append(param.detach().numpy().copy())
    return np.array(path)


def _keras_path(optimizer: keras.optimizers.Optimizer) -> np.ndarray:
    start, grads = _gradients()
    variable = keras.Variable(start.copy())
    path = []
    for g in grads:
        optimizer.apply_gradients([(tf.constant(g), variable)])
        path.append(keras.ops.convert_to_numpy(variable).copy())
    return np.array(path)


def _torch_optimizer(placement: str, mode: str, adamw: bool = False):
    def factory(params):
        return make_optimizer(
            params,
            placement=placement,
            lr=LR,
            beta_1=0.9,
            beta_2=0.999,
            eps=1e-7,
            weight_decay=WD,
            decay_mode=mode,
            adamw=adamw,
        )

    return factory


def _keras_optimizer(placement: str, mode: str, optimizer: str = "adam"):
    values = default_assignment("keras") | {
        "optimizer.learning_rate": LR,
        "optimizer.epsilon": 1e-7,
        "optimizer.epsilon_placement": placement,
        "optimizer.weight_decay": WD,
        "optimizer.weight_decay_mode": mode,
        "optimizer.adamw.weight_decay": WD,
    }
    return keras_optim.make_optimizer(values, optimizer)


#: (placement, mode): which side is genuine. torch's Adam(weight_decay) is
#: corrected + l2; Keras's Adam(weight_decay) is uncorrected + decoupled;
#: torch's own decoupled Adam is corrected + decoupled. Uncorrected + l2 exists
#: in neither framework: both sides emulate it, and must agree.
DECAY_CASES = [
    ("corrected", "l2"),
    ("uncorrected", "decoupled"),
    ("corrected", "decoupled"),
    ("uncorrected", "l2"),
]


@pytest.mark.parametrize(("placement", "mode"), DECAY_CASES)
def test_adam_weight_decay_agrees_across_frameworks(placement: str, mode: str) -> None:
    ours = _keras_path(_keras_optimizer(placement, mode))
    theirs = _torch_path(_torch_optimizer(placement, mode))
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("placement", ["corrected", "uncorrected"])
def test_adamw_agrees_across_frameworks(placement: str) -> None:
    ours = _keras_path(_keras_optimizer(placement, "decoupled", "adamw"))
    theirs = _torch_path(_torch_optimizer(placement, "decoupled", adamw=True))
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_genuine_optimizers_for_each_frameworks_values() -> None:
    assert type(_keras_optimizer("uncorrected", "decoupled")) is keras.optimizers.Adam
    assert type(_keras_optimizer("uncorrected", "decoupled", "adamw")) is (
        keras.optimizers.AdamW
    )
    params = [nn.Parameter(torch.zeros(2))]
    adam = _torch_optimizer("corrected", "l2")(params)
    assert type(adam) is torch.optim.Adam
    assert adam.param_groups[0]["weight_decay"] == WD
    assert adam.param_groups[0]["decoupled_weight_decay"] is False
    adamw = _torch_optimizer("corrected", "decoupled", adamw=True)(params)
    assert type(adamw) is torch.optim.AdamW
    assert isinstance(_torch_optimizer("uncorrected", "l2")(params), KerasAdam)


def test_l2_and_decoupled_decay_part_ways() -> None:
    l2 = _torch_path(_torch_optimizer("corrected", "l2"))
    decoupled = _torch_path(_torch_optimizer("corrected", "decoupled"))
    assert np.abs(l2 - decoupled).max() > 1e-2


# -- clipping ----------------------------------------------------------------

GRADS = [np.array([3.0, 4.0], np.float32), np.array([0.3, 0.4], np.float32)]


def _torch_clipped(scope: str, norm: float) -> list[np.ndarray]:
    params = [nn.Parameter(torch.zeros(2)) for _ in GRADS]
    for param, grad in zip(params, GRADS, strict=True):
        param.grad = torch.from_numpy(grad.copy())
    clip_gradients(params, norm, scope)
    return [p.grad.numpy() for p in params]


def _keras_clipped(scope: str, norm: float) -> list[np.ndarray]:
    # One SGD step with learning rate 1 moves each variable by minus its
    # clipped gradient: Keras's own clipping, observed from outside.
    key = "clipnorm" if scope == "per_variable" else "global_clipnorm"
    optimizer = keras.optimizers.SGD(learning_rate=1.0, **{key: norm})
    variables = [keras.Variable(np.zeros(2, np.float32)) for _ in GRADS]
    optimizer.apply_gradients(
        [(tf.constant(g), v) for g, v in zip(GRADS, variables, strict=True)]
    )
    return [-keras.ops.convert_to_numpy(v) for v in variables]


@pytest.mark.parametrize("scope", ["global", "per_variable"])
@pytest.mark.parametrize("norm", [1.0, 0.45, 10.0])
def test_clipping_scopes_agree_across_frameworks(scope: str, norm: float) -> None:
    # torch's clip_grad_norm_ divides by the norm + 1e-6; Keras does not.
    for ours, theirs in zip(
        _keras_clipped(scope, norm), _torch_clipped(scope, norm), strict=True
    ):
        np.testing.assert_allclose(ours, theirs, rtol=2e-6, atol=1e-7)


def test_clipping_scopes_differ() -> None:
    per_variable = _torch_clipped("per_variable", 1.0)
    global_ = _torch_clipped("global", 1.0)
    np.testing.assert_allclose(per_variable[1], GRADS[1])
    assert np.abs(per_variable[1] - global_[1]).max() > 0.2
    np.testing.assert_allclose(global_[0], [0.597, 0.796], atol=1e-3)


def test_keras_optimizer_takes_the_clipping_factors() -> None:
    values = default_assignment("keras") | {"train.clip_norm": 0.5}
    assert keras_optim.make_optimizer(values).clipnorm == 0.5
    values |= {"train.clip_scope": "global"}
    optimizer = keras_optim.make_optimizer(values)
    assert optimizer.global_clipnorm == 0.5 and optimizer.clipnorm is None
    assert keras_optim.make_optimizer(default_assignment("keras")).clipnorm is None
