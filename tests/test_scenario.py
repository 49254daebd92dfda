"""Scenario validation: every rule gives one clear ScenarioError naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from bisect_ml import api
from bisect_ml._errors import ScenarioError
from bisect_ml.scenario import bundled_scenarios, load_data, load_pair, parse_pair
from bisect_ml.scenario._spec import DataSpec
from tests._helpers import scenario_doc


def test_valid_document_builds_a_pair_with_framework_defaults() -> None:
    pair = parse_pair(scenario_doc())
    assert pair.side("torch").assignment["optimizer.epsilon"] == 1e-8
    assert pair.side("keras").assignment["optimizer.epsilon"] == 1e-7
    assert "optimizer.epsilon" in pair.differing()
    assert "preprocess.window" not in pair.differing()


def test_nested_tables_become_dotted_factor_names() -> None:
    doc = scenario_doc(sides={"torch": {"optimizer": {"epsilon": 1e-7}}, "keras": {}})
    pair = parse_pair(doc)
    assert pair.side("torch").explicit == {"optimizer.epsilon": 1e-7}
    assert "optimizer.epsilon" not in pair.differing()


BAD = [
    ({"extra": {}}, "`extra` is not a known key"),
    ({"scenario": {"name": "t", "nmae": 1}}, "`scenario.nmae` is not a known key"),
    ({"scenario": {}}, "`scenario.name` is required"),
    ({"data": {"dataset": "mnist"}}, "`data.dataset` must be one of"),
    ({"data": {}}, "needs exactly one of `dataset`"),
    (
        {"data": {"dataset": "digits", "test_fraction": 1.5}},
        r"`data.test_fraction` must be a float in \(0, 1\), got 1.5",
    ),
    (
        {"data": {"dataset": "digits", "split_seed": "0"}},
        "`data.split_seed` must be an integer, got '0'",
    ),
    ({"data": {"dataset": "sunspots"}}, "`data.window` is required"),
    ({"data": {"dataset": "digits", "task": "regression"}}, "`data.task` must be"),
    ({"model": {"layers": []}}, "`model.layers` must be a non-empty array"),
    (
        {"model": {"layers": [{"type": "conv9", "units": 3}]}},
        r"`model.layers\[0\].type` must be one of",
    ),
    (
        {"model": {"layers": [{"type": "dense", "units": 0}]}},
        r"`model.layers\[0\].units` must be a positive integer, got 0",
    ),
    (
        {"model": {"layers": [{"type": "dense", "units": 10, "activation": "gelu"}]}},
        r"`model.layers\[0\].activation` must be one of",
    ),
    ({"train": {"epochs": 0, "loss": "mse"}}, "`train.epochs` must be a positive"),
    (
        {"train": {"epochs": 1, "loss": "cross_entropy"}},
        "`train.from_logits` is required",
    ),
    (
        {"train": {"epochs": 1, "loss": "cross_entropy", "from_logits": False}},
        r"`model.layers\[1\].activation` must be 'softmax'",
    ),
    ({"train": {"epochs": 1, "loss": "hinge"}}, "`train.loss` must be one of"),
    ({"train": {"epochs": True, "loss": "mse"}}, "`train.epochs` must be an integer"),
    ({"sides": {"torch": {}}}, "`sides.keras` is a required table"),
    ({"sides": {"torch": {}, "keras": {}, "jax": {}}}, "`sides.jax` is not a known"),
    (
        {"sides": {"torch": {"optimizer": {"epsilom": 1e-7}}, "keras": {}}},
        "did you mean `optimizer.epsilon`",
    ),
    (
        {"sides": {"torch": {"optimizer": {"epsilon": -1e-7}}, "keras": {}}},
        "`sides.torch.optimizer.epsilon` must be a positive float, got -1e-07",
    ),
    (
        {"sides": {"torch": {"optimizer": {"beta_2": 1.0}}, "keras": {}}},
        r"must be a float in \[0, 1\)",
    ),
    (
        # The v1 boolean; the factor now names the order across epochs.
        {"sides": {"torch": {"train": {"shuffle": True}}, "keras": {}}},
        "`sides.torch.train.shuffle` must be one of 'off', 'every_epoch', "
        "'repeated', 'batches', got True",
    ),
    (
        {
            "sides": {
                "torch": {"init": {"dense": {"kernel": "orthogonal"}}},
                "keras": {},
            }
        },
        "`sides.torch.init.dense.kernel` must be one of",
    ),
    (
        {"sides": {"torch": {"preprocess": {"window": "next"}}, "keras": {}}},
        "only applies to time series",
    ),
    (
        {"sides": {"torch": {"framework": "keras"}, "keras": {}}},
        "`sides.torch.framework` must be 'torch'",
    ),
    ({"search": {"seeds": 2}}, "`search.seeds` must be an integer >= 3"),
    ({"expect": {"causes": ["nope"]}}, r"`expect.causes\[0\]` must name a known"),
    ({"simulation": {}}, "only applies with scenario.backend = 'simulated'"),
]


@pytest.mark.parametrize(("override", "message"), BAD)
def test_each_rule_names_the_key(override: dict, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        parse_pair(scenario_doc(**override), "case.toml")


def test_error_is_one_line_with_the_file() -> None:
    with pytest.raises(ScenarioError) as info:
        parse_pair(scenario_doc(train={"epochs": -1, "loss": "mse"}), "x/case.toml")
    text = str(info.value)
    assert "\n" not in text
    assert text.startswith("x/case.toml: `train.epochs`")


def test_model_output_must_match_the_data(tmp_path: Path) -> None:
    doc = scenario_doc()
    doc["model"]["layers"][-1]["units"] = 3
    with pytest.raises(ScenarioError, match=r"units` must be 10 \(the data has 10"):
        api.prepare(parse_pair(doc))


def test_missing_and_bad_files(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="does not exist"):
        load_pair(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[scenario\nname=1")
    with pytest.raises(ScenarioError, match="is not valid TOML"):
        load_pair(bad)
    with pytest.raises(ScenarioError, match="did you mean 'sim-two-causes'"):
        load_pair("sim-two-cause")


def test_user_data_files(tmp_path: Path) -> None:
    import numpy as np

    csv = tmp_path / "d.csv"
    csv.write_text("a,b,label\n" + "\n".join(f"{i},{i * 2},{i % 2}" for i in range(40)))
    spec = DataSpec(path=str(csv), target="label", task="classification")
    data = load_data(spec)
    assert data.n_classes == 2 and data.x_train.shape[1] == 2
    with pytest.raises(ScenarioError, match="`data.target` must name a column"):
        load_data(DataSpec(path=str(csv), target="nope", task="classification"))
    npz = tmp_path / "d.npz"
    np.savez(npz, x=np.zeros((20, 3)), z=np.zeros(20))
    with pytest.raises(ScenarioError, match="holding arrays `x` and `y`"):
        load_data(DataSpec(path=str(npz), task="regression"))


def test_split_is_fixed_by_the_split_seed() -> None:
    a = load_data(DataSpec(dataset="digits", split_seed=3))
    b = load_data(DataSpec(dataset="digits", split_seed=3))
    c = load_data(DataSpec(dataset="digits", split_seed=4))
    assert (a.x_test == b.x_test).all()
    assert not (a.x_test == c.x_test).all()
    assert a.x_train.dtype.name == "uint8" and a.x_train.max() == 255


def test_every_bundled_scenario_loads_and_validates() -> None:
    bundled = bundled_scenarios()
    assert "sim-two-causes" in bundled
    for path in bundled.values():
        api.prepare(load_pair(path))
