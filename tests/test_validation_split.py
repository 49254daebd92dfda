"""``train.validation_split`` and ``train.validation_rows`` (PUBLIC_CASES R21).

Keras's ``fit(validation_split=v)`` holds out the last rows of its arrays;
a torch port holds out a random subset with ``random_split``. Each backend
can do either: the emulations are checked here against the genuine
components, and ``data.order = "file"`` against the default split.
"""

from __future__ import annotations

import dataclasses
import importlib

import numpy as np
import pytest

from bisect_ml import api
from bisect_ml._errors import ScenarioError
from bisect_ml.factors import registry
from bisect_ml.scenario import (
    DataSpec,
    LayerSpec,
    Spec,
    TrainSpec,
    load_data,
    parse_pair,
    validation_cut,
)
from tests._bad_inputs import _set, valid_doc

#: (training rows, validation_split): floor(n * (1 - v)) on and off integers,
#: and (20, 0.8): 20 * (1 - 0.8) is 3.999... in floats, so Keras keeps 3 rows.
SPLITS = [(134, 0.2), (100, 0.2), (10, 0.3), (57, 0.1), (1348, 0.25), (3, 0.5)]
SPLITS += [(20, 0.8)]


def _wine_labels() -> np.ndarray:
    data = load_data(DataSpec(dataset="wine", order="file"))
    assert data.y_train is not None
    return data.y_train


# -- the neutral settings --------------------------------------------------


def test_file_order_keeps_the_test_rows_and_sorts_the_training_rows() -> None:
    for spec in (
        DataSpec(dataset="wine"),
        DataSpec(dataset="digits", split_seed=3, max_samples=500),
    ):
        shuffled = load_data(spec)
        in_file = load_data(dataclasses.replace(spec, order="file"))
        assert np.array_equal(shuffled.x_test, in_file.x_test)
        assert np.array_equal(shuffled.y_test, in_file.y_test)
        # The same training rows, now in the file's order.
        assert not np.array_equal(shuffled.y_train, in_file.y_train)
        rows = np.lexsort(shuffled.x_train.T)
        assert np.array_equal(
            shuffled.x_train[rows], in_file.x_train[np.lexsort(in_file.x_train.T)]
        )
    labels = _wine_labels()
    assert np.all(np.diff(labels) >= 0)  # load_wine is stored sorted by class


def test_the_new_settings_leave_existing_specs_hashing_as_before() -> None:
    plain = Spec(
        DataSpec(dataset="wine"),
        (LayerSpec("dense", 3),),
        TrainSpec(epochs=1, loss="cross_entropy", from_logits=True),
    )
    form = plain.to_dict()
    assert "order" not in form["data"] and "validation_split" not in form["train"]
    in_file = dataclasses.replace(plain, data=DataSpec(dataset="wine", order="file"))
    held = dataclasses.replace(
        plain, train=dataclasses.replace(plain.train, validation_split=0.2)
    )
    assert in_file.to_dict()["data"]["order"] == "file"
    assert held.to_dict()["train"]["validation_split"] == 0.2
    assert len({plain.key, in_file.key, held.key}) == 3


def test_validation_cut_is_keras_count_and_rejects_empty_parts() -> None:
    assert validation_cut(134, 0.0) == 134
    assert validation_cut(134, 0.2) == 107
    assert validation_cut(57, 0.1) == 51
    assert validation_cut(20, 0.8) == 3  # as Keras: 20 * (1 - 0.8) < 4 in floats
    with pytest.raises(ScenarioError, match="leaves no training rows"):
        validation_cut(4, 0.9)
    with pytest.raises(ScenarioError, match="leaves no validation rows"):
        validation_cut(134, 1e-20)


def _pair(split: float, **sides: dict) -> object:
    doc = _set(valid_doc(), "train.validation_split", split)
    for fw, values in sides.items():
        doc = _set(doc, f"sides.{fw}", values)
    return parse_pair(doc)


def test_the_factor_is_a_candidate_only_with_a_split() -> None:
    # Both sides at their framework defaults: random (torch), tail (keras).
    assert "train.validation_rows" not in _pair(0.0).differing()
    assert "train.validation_rows" in _pair(0.2).differing()
    names = [row.factor for row in api.diff(_pair(0.0), all_factors=True)]
    assert "train.validation_rows" not in names and "train.shuffle" in names
    names = [row.factor for row in api.diff(_pair(0.2))]
    assert "train.validation_rows" in names
    rows = registry["train.validation_rows"]
    assert rows.default("torch") == "random" and rows.default("keras") == "tail"


# -- the emulations against the genuine components ----------------------------


@pytest.mark.frameworks
@pytest.mark.parametrize(("n", "fraction"), SPLITS)
def test_torch_tail_keeps_the_rows_keras_train_validation_split_keeps(
    n: int, fraction: float
) -> None:
    from bisect_ml.backends.keras_backend._runtime import keras
    from bisect_ml.backends.torch_backend._train import training_rows

    # The function fit(validation_split=...) calls (Keras imported first, by
    # the backend's runtime module, which sets its environment).
    array_slicing = importlib.import_module(
        "keras.src.trainers.data_adapters.array_slicing"
    )
    assert keras.backend.backend() == "tensorflow"
    x = np.arange(n)
    (kept, _), (held, _) = array_slicing.train_validation_split(
        (x, x), validation_split=fraction
    )
    assert len(held) > 0
    assert training_rows(n, fraction, "tail", seed=5) == list(np.asarray(kept))
    assert training_rows(n, 0.0, "tail", seed=5) is None


@pytest.mark.frameworks
@pytest.mark.parametrize(("n", "fraction"), SPLITS)
@pytest.mark.parametrize("seed", [0, 1, 17])
def test_keras_random_keeps_the_rows_torch_random_split_keeps(
    n: int, fraction: float, seed: int
) -> None:
    import torch
    from torch.utils.data import random_split

    from bisect_ml.backends.keras_backend._train import held_out
    from bisect_ml.backends.torch_backend._train import training_rows

    keep = validation_cut(n, fraction)
    genuine, _ = random_split(
        list(range(n)), [keep, n - keep], generator=torch.Generator().manual_seed(seed)
    )
    expected = [genuine[i] for i in range(len(genuine))]
    x = np.arange(n) * 10
    y = np.arange(n) % 3
    x_kept, y_kept = held_out(x, y, fraction, "random", seed)
    assert list(x_kept // 10) == expected and list(y_kept) == [i % 3 for i in expected]
    assert training_rows(n, fraction, "random", seed) == expected
    # Keras's own tail, through the same function.
    x_tail, _ = held_out(x, y, fraction, "tail", seed)
    assert list(x_tail // 10) == list(range(keep))


@pytest.mark.frameworks
def test_tail_and_random_keep_different_classes_of_sorted_data() -> None:
    from bisect_ml.backends.keras_backend._train import held_out
    from bisect_ml.backends.torch_backend._train import training_rows

    labels = _wine_labels()
    n = len(labels)
    tail = labels[training_rows(n, 0.2, "tail", seed=0)]
    x_tail, y_tail = held_out(labels, labels, 0.2, "tail", seed=0)
    assert np.array_equal(y_tail, tail)
    # The held-out tail is all class 2: 5 of its 32 training rows stay.
    assert list(np.bincount(tail, minlength=3)) == [51, 51, 5]
    for seed in range(5):
        rows = training_rows(n, 0.2, "random", seed)
        assert rows is not None and len(rows) == len(tail)
        assert np.bincount(labels[rows], minlength=3)[2] >= 20
    firsts = {tuple(training_rows(n, 0.2, "random", s) or ()) for s in range(5)}
    assert len(firsts) == 5  # a fresh subset at each seed


@pytest.mark.frameworks
@pytest.mark.parametrize("shuffle", [False, True])
def test_keras_fit_with_validation_split_trains_on_the_kept_rows(
    shuffle: bool,
) -> None:
    # fit(validation_split) splits before it shuffles: in one full batch, the
    # step taken is the one on exactly the rows held_out keeps.
    from bisect_ml.backends.keras_backend._runtime import keras
    from bisect_ml.backends.keras_backend._train import held_out

    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 4)).astype("float32")
    y = np.repeat(np.arange(3), 10)  # sorted by class, as load_wine
    weights = []
    for fit_x, fit_y, split in [
        (x, y, 0.2),
        (*held_out(x, y, 0.2, "tail", seed=0), 0.0),
        (*held_out(x, y, 0.2, "random", seed=0), 0.0),
    ]:
        keras.utils.set_random_seed(1)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
        model.compile(
            optimizer=keras.optimizers.SGD(0.5),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        model.fit(
            fit_x,
            fit_y,
            batch_size=30,
            epochs=2,
            shuffle=shuffle,
            validation_split=split,
            verbose=0,
        )
        weights.append(model.get_weights()[0])
    assert np.allclose(weights[0], weights[1], atol=1e-6)
    assert not np.allclose(weights[0], weights[2], atol=1e-3)


@pytest.mark.frameworks
@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_backends_train_with_either_split(framework: str) -> None:
    from bisect_ml.backends import get_backend

    doc = valid_doc()
    doc = _set(doc, "data", {"dataset": "wine", "order": "file"})
    doc = _set(doc, "model.layers", [{"type": "dense", "units": 3}])
    doc = _set(doc, "train.epochs", 2)
    doc = _set(doc, "train.validation_split", 0.2)
    pair = parse_pair(doc)
    data = load_data(pair.spec.data)
    backend = get_backend(framework)
    for rows in ("tail", "random"):
        assignment = pair.side(framework).assignment | {
            "train.validation_rows": rows,
            "preprocess.scale": "standardize",
            "train.batch_size": 16,
        }
        outcome = backend.train(pair.spec, data, assignment, seed=0)
        assert not outcome.diverged and len(outcome.metric_curve) == 2
