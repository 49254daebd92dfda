"""SGD, RMSprop and Adadelta: defaults against the installed libraries, and
each emulation against the genuine optimizer it imitates.

Every comparison runs both frameworks from the same start on the same
gradients for several steps; a companion shows the frameworks' own values
taking different steps, so agreement is not vacuous.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from bisect_ml._errors import ScenarioError
from bisect_ml.factors import default_assignment, registry
from bisect_ml.scenario import parse_pair
from tests._helpers import scenario_doc

NEW_OPTIMIZERS = ("sgd", "rmsprop", "adadelta")


def _default(name: str, framework: str) -> object:
    return registry[name].default(framework)


# -- scopes and the loader (no frameworks needed) ------------------------------


def _pair(optimizer: str, torch: dict | None = None, keras: dict | None = None):
    doc = scenario_doc(sides={"torch": torch or {}, "keras": keras or {}})
    doc["train"]["optimizer"] = optimizer
    return parse_pair(doc)


@pytest.mark.parametrize("optimizer", ["adam", "adamw", *NEW_OPTIMIZERS])
def test_optimizer_factors_are_candidates_only_for_their_optimizer(
    optimizer: str,
) -> None:
    differing = _pair(optimizer).differing()
    optimizer_factors = {n for n in differing if n.startswith("optimizer.")}
    own = {
        "adam": {"optimizer.epsilon", "optimizer.epsilon_placement"},
        "adamw": {
            "optimizer.epsilon",
            "optimizer.epsilon_placement",
            "optimizer.adamw.weight_decay",
        },
        "sgd": {"optimizer.sgd.learning_rate"},
        "rmsprop": {
            "optimizer.rmsprop.learning_rate",
            "optimizer.rmsprop.rho",
            "optimizer.rmsprop.epsilon",
            "optimizer.rmsprop.epsilon_placement",
        },
        "adadelta": {
            "optimizer.adadelta.learning_rate",
            "optimizer.adadelta.rho",
            "optimizer.adadelta.epsilon",
        },
    }[optimizer]
    assert optimizer_factors == own


def test_nesterov_is_a_candidate_only_with_momentum() -> None:
    flip = {"optimizer": {"sgd": {"nesterov": True}}}
    assert "optimizer.sgd.nesterov" not in _pair("sgd", torch=flip).differing()
    momentum = {"optimizer": {"sgd": {"nesterov": True, "momentum": 0.9}}}
    assert "optimizer.sgd.nesterov" in _pair("sgd", torch=momentum).differing()


def test_loader_rejects_an_unknown_optimizer() -> None:
    with pytest.raises(ScenarioError) as err:
        _pair("lamb")
    message = str(err.value)
    assert "`train.optimizer` must be one of" in message
    assert "'adadelta'" in message and "got 'lamb'" in message


@pytest.mark.parametrize(
    ("key", "value", "rule"),
    [
        ("rmsprop.rho", 1.0, r"must be a float in \[0, 1\), got 1.0"),
        ("rmsprop.epsilon_placement", "under", "must be one of 'outside', 'inside'"),
        ("sgd.learning_rate", -0.1, "must be a positive float, got -0.1"),
        ("adadelta.epsilon", 0.0, "must be a positive float, got 0.0"),
        ("sgd.nesterov", 1, "must be true or false, got 1"),
    ],
)
def test_loader_rejects_bad_optimizer_values(key: str, value, rule: str) -> None:
    area, name = key.split(".")
    with pytest.raises(ScenarioError, match=rf"`sides.torch.optimizer.{key}` {rule}"):
        _pair(area, torch={"optimizer": {area: {name: value}}})


# -- defaults against the installed libraries ----------------------------------


@pytest.mark.frameworks
def test_torch_optimizer_defaults_match_the_installed_torch() -> None:
    import torch

    sgd = inspect.signature(torch.optim.SGD).parameters
    assert sgd["lr"].default == _default("optimizer.sgd.learning_rate", "torch")
    assert sgd["momentum"].default == _default("optimizer.sgd.momentum", "torch")
    assert sgd["nesterov"].default is _default("optimizer.sgd.nesterov", "torch")
    rms = inspect.signature(torch.optim.RMSprop).parameters
    assert rms["lr"].default == _default("optimizer.rmsprop.learning_rate", "torch")
    assert rms["alpha"].default == _default("optimizer.rmsprop.rho", "torch")
    assert rms["eps"].default == _default("optimizer.rmsprop.epsilon", "torch")
    assert rms["momentum"].default == _default("optimizer.rmsprop.momentum", "torch")
    assert rms["centered"].default is _default("optimizer.rmsprop.centered", "torch")
    from torch.optim import rmsprop

    source = inspect.getsource(rmsprop._single_tensor_rmsprop)
    assert "avg = square_avg.sqrt()" in source and "avg.add_(eps)" in source
    assert _default("optimizer.rmsprop.epsilon_placement", "torch") == "outside"
    delta = inspect.signature(torch.optim.Adadelta).parameters
    assert delta["lr"].default == _default("optimizer.adadelta.learning_rate", "torch")
    assert delta["rho"].default == _default("optimizer.adadelta.rho", "torch")
    assert delta["eps"].default == _default("optimizer.adadelta.epsilon", "torch")


@pytest.mark.frameworks
def test_keras_optimizer_defaults_match_the_installed_keras() -> None:
    from bisect_ml.backends.keras_backend._runtime import keras

    sgd = keras.optimizers.SGD()
    assert float(sgd.learning_rate) == pytest.approx(
        _default("optimizer.sgd.learning_rate", "keras")
    )
    assert sgd.momentum == _default("optimizer.sgd.momentum", "keras")
    assert sgd.nesterov is _default("optimizer.sgd.nesterov", "keras")
    rms = keras.optimizers.RMSprop()
    assert float(rms.learning_rate) == pytest.approx(
        _default("optimizer.rmsprop.learning_rate", "keras")
    )
    assert rms.rho == _default("optimizer.rmsprop.rho", "keras")
    assert rms.epsilon == _default("optimizer.rmsprop.epsilon", "keras")
    assert rms.momentum == _default("optimizer.rmsprop.momentum", "keras")
    assert rms.centered is _default("optimizer.rmsprop.centered", "keras")
    update = inspect.getsource(keras.optimizers.RMSprop.update_step)
    assert "ops.add(velocity, self.epsilon)" in update
    assert _default("optimizer.rmsprop.epsilon_placement", "keras") == "inside"
    delta = keras.optimizers.Adadelta()
    assert float(delta.learning_rate) == pytest.approx(
        _default("optimizer.adadelta.learning_rate", "keras")
    )
    assert delta.rho == _default("optimizer.adadelta.rho", "keras")
    assert delta.epsilon == _default("optimizer.adadelta.epsilon", "keras")


# -- emulations against genuine optimizers --------------------------------------


def _gradients(steps: int = 10) -> tuple[np.ndarray, list[np.ndarray]]:
    # Mixed scales: tiny gradients are where the epsilon placements part.
    rng = np.random.default_rng(0)
    start = rng.normal(size=6).astype(np.float32)
    scales = np.array([1e-4, 1e-3, 1e-2, 0.1, 1.0, 3.0])
    grads = [(rng.normal(size=6) * scales).astype(np.float32) for _ in range(steps)]
    return start, grads


def _torch_path(optimizer: str, values: dict, lr_at=None) -> np.ndarray:
    import torch

    from bisect_ml.backends.torch_backend._optim import build_optimizer

    start, grads = _gradients()
    param = torch.nn.Parameter(torch.from_numpy(start.copy()))
    opt = build_optimizer([param], optimizer, values)
    path = []
    for step, g in enumerate(grads):
        if lr_at is not None:
            for group in opt.param_groups:
                group["lr"] = lr_at(step)
        param.grad = torch.from_numpy(g.copy())
        opt.step()
        path.append(param.detach().numpy().copy())
    return np.array(path)


def _keras_path(optimizer: str, values: dict, lr_at=None) -> np.ndarray:
    from bisect_ml.backends.keras_backend import _optim as keras_optim
    from bisect_ml.backends.keras_backend._runtime import keras, tf

    start, grads = _gradients()
    variable = keras.Variable(start.copy())
    opt = keras_optim.make_optimizer(values, optimizer)
    path = []
    for step, g in enumerate(grads):
        if lr_at is not None:
            opt.learning_rate = lr_at(step)
        opt.apply_gradients([(tf.constant(g), variable)])
        path.append(keras.ops.convert_to_numpy(variable).copy())
    return np.array(path)


def _values(framework: str = "keras", **factors: object) -> dict:
    return default_assignment(framework) | {
        f"optimizer.{k.replace('__', '.')}": v for k, v in factors.items()
    }


RMSPROP_CASES = [
    pytest.param(
        placement, centered, momentum, id=f"{placement}-c{centered}-m{momentum}"
    )
    for placement in ("outside", "inside")
    for centered in (False, True)
    for momentum in (0.0, 0.9)
]


@pytest.mark.frameworks
@pytest.mark.parametrize(("placement", "centered", "momentum"), RMSPROP_CASES)
def test_rmsprop_agrees_across_frameworks(
    placement: str, centered: bool, momentum: float
) -> None:
    # A large epsilon, as in the Inception/EfficientNet recipes of R03.
    values = _values(
        rmsprop__learning_rate=1e-2,
        rmsprop__rho=0.9,
        rmsprop__epsilon=1e-3,
        rmsprop__epsilon_placement=placement,
        rmsprop__centered=centered,
        rmsprop__momentum=momentum,
    )
    ours = _keras_path("rmsprop", values)
    theirs = _torch_path("rmsprop", values)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.frameworks
def test_genuine_rmsprop_for_each_frameworks_placement() -> None:
    import torch

    from bisect_ml.backends.keras_backend import _optim as keras_optim
    from bisect_ml.backends.keras_backend._runtime import keras
    from bisect_ml.backends.torch_backend._optim import KerasRMSprop, build_optimizer

    param = [torch.nn.Parameter(torch.zeros(2))]
    torch_values = default_assignment("torch")
    assert type(build_optimizer(param, "rmsprop", torch_values)) is torch.optim.RMSprop
    keras_values = default_assignment("keras")
    assert isinstance(build_optimizer(param, "rmsprop", keras_values), KerasRMSprop)
    genuine = keras_optim.make_optimizer(keras_values, "rmsprop")
    assert type(genuine) is keras.optimizers.RMSprop
    emulated = keras_optim.make_optimizer(torch_values, "rmsprop")
    assert isinstance(emulated, keras_optim.TorchRMSprop)
    for name in ("sgd", "adadelta"):
        assert type(build_optimizer(param, name, keras_values)).__module__.startswith(
            "torch.optim"
        )
        kind = type(keras_optim.make_optimizer(torch_values, name))
        assert kind is getattr(keras.optimizers, {"sgd": "SGD"}.get(name, "Adadelta"))


@pytest.mark.frameworks
def test_rmsprop_placements_part_ways_on_small_gradients() -> None:
    import torch

    from bisect_ml.backends.torch_backend._optim import build_optimizer

    def first_step(placement: str) -> np.ndarray:
        param = torch.nn.Parameter(torch.zeros(2))
        values = _values(
            rmsprop__epsilon=1e-3,
            rmsprop__learning_rate=1e-2,
            rmsprop__rho=0.9,
            rmsprop__epsilon_placement=placement,
        )
        opt = build_optimizer([param], "rmsprop", values)
        param.grad = torch.tensor([1e-4, 3.0])
        opt.step()
        return -param.detach().numpy()

    inside, outside = first_step("inside"), first_step("outside")
    # v = 0.1 g^2. Gradient 1e-4: torch divides by sqrt(v) + 1e-3, Keras by
    # sqrt(v + 1e-3), about 0.03: torch's step is about 30 times larger.
    assert outside[0] == pytest.approx(1e-2 * 1e-4 / (np.sqrt(1e-9) + 1e-3), rel=1e-4)
    assert inside[0] == pytest.approx(1e-2 * 1e-4 / np.sqrt(1e-9 + 1e-3), rel=1e-4)
    assert outside[0] > 25 * inside[0]
    # Gradient 3: the epsilon barely matters either way.
    assert outside[1] == pytest.approx(inside[1], rel=2e-3)


@pytest.mark.frameworks
@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_momentum_forms_agree_at_a_constant_learning_rate(nesterov: bool) -> None:
    values = _values(sgd__learning_rate=0.05, sgd__momentum=0.9, sgd__nesterov=nesterov)
    np.testing.assert_allclose(
        _keras_path("sgd", values), _torch_path("sgd", values), rtol=1e-5, atol=1e-6
    )


@pytest.mark.frameworks
def test_sgd_momentum_forms_part_ways_when_the_learning_rate_changes() -> None:
    # Keras keeps lr inside its velocity, torch multiplies the buffer by the
    # current lr: a decay applies at once in torch, gradually in Keras.
    values = _values(sgd__learning_rate=0.05, sgd__momentum=0.9)

    def decay(step: int) -> float:
        return 0.05 if step < 5 else 0.005

    keras_path = _keras_path("sgd", values, decay)
    torch_path = _torch_path("sgd", values, decay)
    np.testing.assert_allclose(keras_path[:5], torch_path[:5], rtol=1e-5, atol=1e-6)
    assert np.abs(keras_path[-1] - torch_path[-1]).max() > 1e-2


@pytest.mark.frameworks
@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_adadelta_agrees_across_frameworks(framework: str) -> None:
    values = default_assignment(framework)
    np.testing.assert_allclose(
        _keras_path("adadelta", values),
        _torch_path("adadelta", values),
        rtol=1e-5,
        atol=1e-7,
    )


@pytest.mark.frameworks
def test_default_adadelta_first_steps_differ_by_three_orders() -> None:
    # N08: |first step| ~ lr * sqrt(eps) / sqrt(1 - rho) where g^2 >> eps.
    import torch

    from bisect_ml.backends.keras_backend import _optim as keras_optim
    from bisect_ml.backends.keras_backend._runtime import keras, tf
    from bisect_ml.backends.torch_backend._optim import build_optimizer

    grad = np.array([0.5, -3.0], np.float32)
    param = torch.nn.Parameter(torch.zeros(2))
    opt = build_optimizer([param], "adadelta", default_assignment("torch"))
    param.grad = torch.from_numpy(grad.copy())
    opt.step()
    torch_step = param.detach().numpy()
    variable = keras.Variable(np.zeros(2, np.float32))
    genuine = keras_optim.make_optimizer(default_assignment("keras"), "adadelta")
    genuine.apply_gradients([(tf.constant(grad), variable)])
    keras_step = keras.ops.convert_to_numpy(variable)

    expected_torch = -np.sign(grad) * 1.0 * np.sqrt(1e-6 / (1 - 0.9))
    expected_keras = -np.sign(grad) * 1e-3 * np.sqrt(1e-7 / (1 - 0.95))
    np.testing.assert_allclose(torch_step, expected_torch, rtol=1e-4)
    np.testing.assert_allclose(keras_step, expected_keras, rtol=1e-4)
    assert np.all((torch_step / keras_step > 2000) & (torch_step / keras_step < 2500))


@pytest.mark.frameworks
@pytest.mark.parametrize("optimizer", NEW_OPTIMIZERS)
@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_backends_train_with_each_side_of_each_optimizer(
    optimizer: str, framework: str
) -> None:
    from bisect_ml.backends import get_backend
    from bisect_ml.scenario import DataSpec, LayerSpec, Spec, TrainSpec, load_data

    spec = Spec(
        DataSpec(dataset="digits", max_samples=200),
        (LayerSpec("dense", 16, "relu"), LayerSpec("dense", 10)),
        TrainSpec(
            epochs=2, loss="cross_entropy", from_logits=True, optimizer=optimizer
        ),
    )
    data = load_data(spec.data)
    backend = get_backend(framework)
    outcomes = []
    for side in ("torch", "keras"):
        values = default_assignment(side) | {"train.batch_size": 16}
        outcomes.append(backend.train(spec, data, values, seed=0))
    assert all(not o.diverged and len(o.metric_curve) == 2 for o in outcomes)
    # Each side's defaults give the optimizer different constants.
    assert outcomes[0].loss_curve != outcomes[1].loss_curve


# -- optimizer.sparse_moments: an embedding's gradient in Adam's second moment --

#: Two rows of tokens from a vocabulary of 4; token 1 repeats within the
#: batch, token 3 never appears.
_TOKENS = np.array([[1, 1, 2, 1], [0, 2, 1, 0]])
_VOCAB, _DIM = 4, 3


def _output_weights(steps: int = 6) -> list[np.ndarray]:
    # dL/d(output) per occurrence: mixed signs, so a repeated token's
    # per-occurrence squares and the square of their sum differ.
    rng = np.random.default_rng(1)
    return [
        rng.normal(size=(*_TOKENS.shape, _DIM)).astype(np.float32) for _ in range(steps)
    ]


def _start_table() -> np.ndarray:
    return np.random.default_rng(2).normal(size=(_VOCAB, _DIM)).astype(np.float32)


def _torch_embedding_path(optimizer: str, values: dict) -> np.ndarray:
    import torch

    from bisect_ml.backends.torch_backend._optim import build_optimizer

    model = torch.nn.Sequential(torch.nn.Embedding(_VOCAB, _DIM))
    with torch.no_grad():
        model[0].weight.copy_(torch.from_numpy(_start_table()))
    opt = build_optimizer(model.parameters(), optimizer, values, model=model)
    tokens = torch.from_numpy(_TOKENS)
    path = []
    for weights in _output_weights():
        opt.zero_grad()
        (model(tokens) * torch.from_numpy(weights)).sum().backward()
        opt.step()
        path.append(model[0].weight.detach().numpy().copy())
    return np.array(path)


def _keras_embedding_path(optimizer: str, values: dict) -> np.ndarray:
    from bisect_ml.backends.keras_backend import _optim as keras_optim
    from bisect_ml.backends.keras_backend._runtime import keras, tf

    layer = keras.layers.Embedding(_VOCAB, _DIM)
    layer.build(_TOKENS.shape)
    layer.embeddings.assign(_start_table())
    opt = keras_optim.make_optimizer(values, optimizer)
    path = []
    for weights in _output_weights():
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(_TOKENS) * weights)
        (gradient,) = tape.gradient(loss, layer.trainable_variables)
        assert isinstance(gradient, tf.IndexedSlices)  # Keras's own, sparse
        opt.apply_gradients([(gradient, layer.embeddings)])
        path.append(keras.ops.convert_to_numpy(layer.embeddings).copy())
    return np.array(path)


def _embedding_values(framework: str, **factors: object) -> dict:
    return _values(framework, learning_rate=0.1, **factors)


@pytest.mark.frameworks
def test_torch_embedding_gradient_is_dense_and_summed() -> None:
    # The torch default, "summed": nn.Embedding's weight.grad is one dense
    # row per token, its occurrences already added, so Adam squares the sum.
    import torch

    embedding = torch.nn.Embedding(_VOCAB, _DIM)
    weights = _output_weights(1)[0]
    (embedding(torch.from_numpy(_TOKENS)) * torch.from_numpy(weights)).sum().backward()
    grad = embedding.weight.grad
    assert grad is not None and grad.layout == torch.strided
    summed = np.zeros((_VOCAB, _DIM), np.float32)
    np.add.at(summed, _TOKENS.reshape(-1), weights.reshape(-1, _DIM))
    np.testing.assert_allclose(grad.numpy(), summed, rtol=1e-6)
    assert _default("optimizer.sparse_moments", "torch") == "summed"
    assert _default("optimizer.sparse_moments", "keras") == "per_occurrence"


#: Each case: the values of both runs, as (framework whose defaults, factor
#: overrides). The torch run emulates whatever is not torch's own, the Keras
#: run whatever is not Keras's.
SPARSE_CASES = [
    # torch's OccurrenceAdam (Keras's update) against Keras's genuine Adam.
    pytest.param("adam", "keras", {}, id="adam-keras-values"),
    pytest.param("adamw", "keras", {}, id="adamw-keras-values"),
    # Keras's summed_moments(TorchAdam) against torch's genuine Adam.
    pytest.param("adam", "torch", {}, id="adam-torch-values"),
    pytest.param("adamw", "torch", {}, id="adamw-torch-values"),
    # torch's OccurrenceAdam written out with torch's own placement, against
    # Keras's TorchAdam on its genuine sparse gradient.
    pytest.param(
        "adam",
        "keras",
        {"epsilon_placement": "corrected"},
        id="adam-per-occurrence-corrected",
    ),
    # Keras's Adam on a densified gradient against torch's KerasAdam.
    pytest.param(
        "adam", "torch", {"epsilon_placement": "uncorrected"}, id="adam-summed-keras"
    ),
]


@pytest.mark.frameworks
@pytest.mark.parametrize(("optimizer", "framework", "factors"), SPARSE_CASES)
def test_sparse_moments_agree_across_frameworks(
    optimizer: str, framework: str, factors: dict
) -> None:
    values = _embedding_values(framework, **factors)
    torch_path = _torch_embedding_path(optimizer, values)
    keras_path = _keras_embedding_path(optimizer, values)
    np.testing.assert_allclose(torch_path, keras_path, rtol=1e-5, atol=1e-6)


@pytest.mark.frameworks
@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_sparse_moments_values_take_different_steps(framework: str) -> None:
    # Companion: in each framework the two values part on token 1 (four
    # occurrences a batch) and agree on token 3, which never appears.
    run = _torch_embedding_path if framework == "torch" else _keras_embedding_path
    summed = run("adam", _embedding_values(framework, sparse_moments="summed"))
    per_occurrence = run(
        "adam", _embedding_values(framework, sparse_moments="per_occurrence")
    )
    assert np.abs(summed[:, 1] - per_occurrence[:, 1]).max() > 1e-3
    np.testing.assert_array_equal(summed[:, 3], per_occurrence[:, 3])


@pytest.mark.frameworks
def test_occurrence_adam_without_an_embedding_is_torch_adam() -> None:
    # The written-out torch update of OccurrenceAdam(corrected=True) on an
    # ordinary parameter, against torch.optim.Adam itself.
    import torch

    from bisect_ml.backends.torch_backend._optim import OccurrenceAdam

    start, grads = _gradients()
    paths = []
    for kind in ("mine", "torch"):
        param = torch.nn.Parameter(torch.from_numpy(start.copy()))
        opt = (
            OccurrenceAdam([param], lr=0.01, eps=1e-8, corrected=True)
            if kind == "mine"
            else torch.optim.Adam([param], lr=0.01, eps=1e-8)
        )
        path = []
        for g in grads:
            param.grad = torch.from_numpy(g.copy())
            opt.step()
            path.append(param.detach().numpy().copy())
        paths.append(np.array(path))
    np.testing.assert_allclose(paths[0], paths[1], rtol=1e-6, atol=1e-7)
