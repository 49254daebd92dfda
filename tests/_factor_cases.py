"""For every factor: a small spec where it applies, and a value to switch to.

Both backend test files train each case twice (the side's assignment, then
with the factor switched) and check that the training changed: a factor that
applies to a spec but changes nothing would be a silent no-op in a backend.
"""

from __future__ import annotations

from bisect_ml.factors import FRAMEWORKS, Value, default_assignment, registry
from bisect_ml.scenario import (
    DataSpec,
    LayerSpec,
    Pair,
    Side,
    Spec,
    TrainSpec,
)

L = LayerSpec

SERIES = Spec(
    DataSpec(dataset="sunspots", window=6, max_samples=120),
    (L("dense", 8, "tanh"), L("dense", 1)),
    TrainSpec(epochs=2, loss="mse", from_logits=False, metric="mse"),
)
ADAMW = Spec(
    SERIES.data,
    SERIES.layers,
    TrainSpec(epochs=2, loss="mse", from_logits=False, optimizer="adamw", metric="mse"),
)
#: The optimizers beyond Adam, each on the SERIES model.
OPTIMIZERS = {
    name: Spec(
        SERIES.data,
        SERIES.layers,
        TrainSpec(
            epochs=2, loss="mse", from_logits=False, optimizer=name, metric="mse"
        ),
    )
    for name in ("sgd", "rmsprop", "adadelta")
}
#: Every layer factor applies here: strided 'same' windows on an even input,
#: a padded average, a multi-channel flatten, both norms, a softmax output.
CNN = Spec(
    DataSpec(dataset="digits", max_samples=300),
    (
        L("conv2d", filters=4, kernel_size=3, strides=2, padding="same"),
        L("batch_norm"),
        L("max_pool2d", pool_size=3, strides=2, padding="same"),
        L("avg_pool2d", pool_size=3, strides=1, padding="same"),
        L("flatten"),
        L("layer_norm"),
        L("dense", 10, "softmax"),
    ),
    TrainSpec(epochs=2, loss="cross_entropy", from_logits=False),
)

#: A dense BatchNorm with a continuous test metric (the running statistics
#: reach only the test metric; an error rate may not move).
BN_SERIES = Spec(
    SERIES.data,
    (L("dense", 8), L("batch_norm"), L("dense", 8, "tanh"), L("dense", 1)),
    SERIES.train,
)

#: Sunspot windows read as sequences of one feature.
LSTM = Spec(SERIES.data, (L("lstm", 8), L("dense", 1)), SERIES.train)
TOKENS = Spec(
    DataSpec(dataset="digits", max_samples=300),
    (L("embedding", 4), L("flatten"), L("dense", 10)),
    TrainSpec(epochs=2, loss="cross_entropy", from_logits=True),
)
GRU = Spec(SERIES.data, (L("gru", 8), L("dense", 1)), SERIES.train)
DROPOUT = Spec(
    SERIES.data,
    (L("dense", 8, "tanh"), L("dropout", rate=0.3), L("dense", 1)),
    SERIES.train,
)
#: Class-sorted wine rows in file order, a fifth held out: the validation
#: split's rows matter (the tail is all of one class).
HOLDOUT = Spec(
    DataSpec(dataset="wine", order="file"),
    (L("dense", 8, "tanh"), L("dense", 3)),
    TrainSpec(epochs=2, loss="cross_entropy", from_logits=True, validation_split=0.2),
)

_NUMBERS: dict[str, Value] = {
    "optimizer.learning_rate": 3e-3,
    "optimizer.beta_1": 0.8,
    "optimizer.beta_2": 0.99,
    "optimizer.epsilon": 1e-4,
    "optimizer.weight_decay": 0.1,
    "optimizer.adamw.weight_decay": 0.3,
    "train.batch_size": 16,
    "train.clip_norm": 0.05,
    "norm.batch.momentum": 0.5,
    "norm.batch.epsilon": 0.1,
    "norm.layer.epsilon": 0.1,
    "optimizer.sgd.learning_rate": 0.05,
    "optimizer.sgd.momentum": 0.9,
    "optimizer.rmsprop.learning_rate": 3e-3,
    "optimizer.rmsprop.rho": 0.5,
    "optimizer.rmsprop.epsilon": 1e-2,
    "optimizer.rmsprop.momentum": 0.9,
    "optimizer.adadelta.learning_rate": 0.1,
    "optimizer.adadelta.rho": 0.5,
    "optimizer.adadelta.epsilon": 1e-3,
}
#: What the base assignment needs for the factor to matter at all.
_ENABLERS: dict[str, dict[str, Value]] = {
    "optimizer.weight_decay_mode": {"optimizer.weight_decay": 0.1},
    "train.clip_scope": {"train.clip_norm": 0.05},
    "optimizer.sgd.nesterov": {"optimizer.sgd.momentum": 0.9},
    # Small batches, where n/(n-1) is large; 83 windows leave no batch of one.
    "norm.batch.running_variance": {"train.batch_size": 5},
}


def _spec_for(name: str) -> Spec:
    if name == "optimizer.adamw.weight_decay":
        return ADAMW
    if name.split(".")[1] in OPTIMIZERS:
        return OPTIMIZERS[name.split(".")[1]]
    if name in ("norm.batch.running_variance", "norm.batch.momentum"):
        return BN_SERIES
    if name == "eval.batch_norm":  # a continuous metric, as the two above
        return BN_SERIES
    if name.startswith("init.recurrent") or name == "layers.lstm.bias":
        return LSTM
    if name == "layers.gru.reset_after":
        return GRU
    if name == "eval.dropout":
        return DROPOUT
    if name == "train.validation_rows":
        return HOLDOUT
    if name in ("init.embedding", "optimizer.sparse_moments"):
        return TOKENS
    area = name.split(".", 1)[0]
    if area in ("layers", "norm") or name.startswith("init.conv"):
        return CNN
    if name in ("loss.softmax_output", "preprocess.scale"):
        return CNN
    return SERIES


def factor_case(
    name: str, framework: str
) -> tuple[Spec, dict[str, Value], dict[str, Value]]:
    """(spec, base assignment, switched assignment) for factor ``name``.

    Raises `AssertionError` when the factor does not apply to the spec or
    the two assignments do not differ in it: the case would test nothing.
    """
    factor = registry[name]
    spec = _spec_for(name)
    base = default_assignment(framework) | {"train.batch_size": 32}
    base |= _ENABLERS.get(name, {})
    if name in _NUMBERS:
        other = _NUMBERS[name]
    elif factor.kind is bool:
        other = not base[name]
    else:
        other = next(c for c in factor.choices if c != base[name])
    switched = base | {name: other}

    sides = {fw: Side(fw, base if fw == framework else switched) for fw in FRAMEWORKS}
    pair = Pair("case", spec, sides)
    assert name in pair.differing(), f"{name} does not apply to its case"
    return spec, base, switched
