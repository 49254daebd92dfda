"""`bisect-ml diff` warns about known traps it sees without training."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bisect_ml import api
from bisect_ml._errors import ScenarioError
from bisect_ml.cli import app
from tests._bad_inputs import _set, toml, valid_doc

runner = CliRunner()

DENSE_BN = [
    {"type": "dense", "units": 16, "activation": "relu"},
    {"type": "batch_norm"},
    {"type": "dense", "units": 10, "activation": "linear"},
]


def _write(tmp_path: Path, doc: dict[str, Any], name: str = "pair.toml") -> Path:
    path = tmp_path / name
    path.write_text(toml(doc), encoding="utf-8")
    return path


def _doc(**sides: dict[str, Any]) -> dict[str, Any]:
    """A digits pair whose sides set ``sides`` (batch 32 unless given)."""
    doc = valid_doc()
    for fw in ("torch", "keras"):
        doc["sides"][fw] = {"train": {"batch_size": 32}} | sides.get(fw, {})
    return doc


def _regression(**sides: dict[str, Any]) -> dict[str, Any]:
    doc = _set(_doc(**sides), "data.dataset", "diabetes")
    doc["model"]["layers"][-1] = {"type": "dense", "units": 1}
    doc["train"] = {"epochs": 2, "loss": "mse"}
    return doc


def _codes(path: Path) -> list[tuple[str, str]]:
    return [(t.code, t.key) for t in api.diff(str(path)).traps]


def test_a_clean_pair_has_no_trap_and_diff_prints_no_warning(tmp_path: Path) -> None:
    path = _write(tmp_path, _doc())
    assert _codes(path) == []
    result = runner.invoke(app, ["diff", str(path)])
    assert result.exit_code == 0 and result.stderr == ""


def test_mse_target_broadcast(tmp_path: Path) -> None:
    doc = _regression(torch={"loss": {"target_shape": "broadcast"}})
    path = _write(tmp_path, doc)
    assert _codes(path) == [("mse-broadcast", "sides.torch.loss.target_shape")]

    result = runner.invoke(app, ["diff", str(path)])
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [
        f"bisect-ml: warning: {path}: [mse-broadcast] "
        "`sides.torch.loss.target_shape`: an (N, 1) prediction against an (N,) "
        "target makes mean squared error compare every prediction with every "
        "target of the batch (nn.MSELoss only warns), so the model learns to "
        "predict the batch mean; give the target shape (N, 1)"
    ]
    # The table still goes to stdout, the warnings do not.
    assert "loss.target_shape" in result.stdout and "warning" not in result.stdout
    assert _codes(_write(tmp_path, _regression(), "ok.toml")) == []


def test_softmax_before_cross_entropy(tmp_path: Path) -> None:
    doc = _set(_doc(), "train.from_logits", False)
    doc["model"]["layers"][-1]["activation"] = "softmax"
    path = _write(tmp_path, doc)
    traps = api.diff(str(path)).traps
    assert [(t.code, t.side) for t in traps] == [("softmax-twice", "torch")]
    assert "torch's default" in traps[0].message
    # A logits model has no softmax to apply twice.
    assert _codes(_write(tmp_path, _doc(), "logits.toml")) == []


def test_bundled_softmax_twice_scenario_is_flagged() -> None:
    assert [t.code for t in api.diff("softmax-twice").traps] == ["softmax-twice"]


@pytest.mark.parametrize(
    ("fw", "value", "says"),
    [
        (
            "torch",
            0.99,
            "is 0.99 in torch's convention (the weight of the NEW batch), which is "
            "BatchNorm(momentum=0.99): each update keeps 1% of the running mean "
            "and variance and takes 99% from the latest batch",
        ),
        (
            "keras",
            0.95,
            "which is BatchNormalization(momentum=0.05): each update keeps 5% of "
            "the running mean and variance",
        ),
    ],
)
def test_batch_norm_momentum_in_the_other_convention(
    tmp_path: Path, fw: str, value: float, says: str
) -> None:
    doc = _doc(**{fw: {"norm": {"batch": {"momentum": value}}}})
    doc["model"]["layers"] = DENSE_BN
    path = _write(tmp_path, doc)
    traps = api.diff(str(path)).traps
    assert [(t.code, t.key) for t in traps] == [
        ("bn-momentum-convention", f"sides.{fw}.norm.batch.momentum")
    ]
    assert says in traps[0].message
    fix = "0.01" if value == 0.99 else "0.05"
    assert traps[0].message.endswith(f"write {fix}")


def test_batch_norm_momentum_defaults_and_models_without_batch_norm(
    tmp_path: Path,
) -> None:
    doc = _doc()
    doc["model"]["layers"] = DENSE_BN
    assert _codes(_write(tmp_path, doc)) == []
    # Without a batch_norm layer the factor does not apply, so no warning.
    no_bn = _doc(torch={"norm": {"batch": {"momentum": 0.99}}})
    assert _codes(_write(tmp_path, no_bn, "no-bn.toml")) == []


def test_torch_batch_size_left_at_dataloader_default(tmp_path: Path) -> None:
    doc = _doc()
    doc["sides"]["torch"] = {}
    path = _write(tmp_path, doc)
    traps = api.diff(str(path)).traps
    assert [(t.code, t.key) for t in traps] == [
        ("torch-batch-size-1", "sides.torch.train.batch_size")
    ]
    assert "against 32 on the keras side" in traps[0].message
    # Set explicitly to 1, it is the user's choice, not a forgotten default.
    doc["sides"]["torch"] = {"train": {"batch_size": 1}}
    assert _codes(_write(tmp_path, doc, "set.toml")) == []


# -- BatchNorm and a training batch of one sample: an error before training ------

# digits: 1797 samples, 449 for testing, 1348 for training; 1348 = 3 * 449 + 1.


def test_batch_norm_with_a_last_batch_of_one_sample_is_refused(tmp_path: Path) -> None:
    doc = _doc(torch={"train": {"batch_size": 3}})
    doc["model"]["layers"] = DENSE_BN
    path = _write(tmp_path, doc)
    with pytest.raises(ScenarioError) as info:
        api.prepare(str(path))
    assert str(info.value) == (
        f"{path}: `sides.torch.train.batch_size` must not give model.layers[1] "
        "(batch_norm, one value per channel and sample) a training batch of one "
        "sample: with 1348 training samples in batches of 3, the last batch "
        "holds 1, which torch's BatchNorm refuses in training; set another "
        "batch size, or train.drop_last = true on both sides, got 3"
    )
    result = runner.invoke(app, ["diff", str(path)])
    assert result.exit_code == 2 and len(result.stderr.splitlines()) == 1

    # Dropping the last batch on both sides removes it.
    for fw in ("torch", "keras"):
        doc["sides"][fw].setdefault("train", {})["drop_last"] = True
    api.prepare(str(_write(tmp_path, doc, "dropped.toml")))


def test_batch_norm_with_batches_of_one_sample_everywhere(tmp_path: Path) -> None:
    doc = _doc()
    doc["sides"]["torch"] = {}  # DataLoader's default: one sample per batch
    doc["model"]["layers"] = DENSE_BN
    with pytest.raises(ScenarioError, match="every batch holds 1") as info:
        api.prepare(str(_write(tmp_path, doc)))
    assert info.value.key == "sides.torch.train.batch_size"


def test_batch_norm_on_feature_maps_takes_a_batch_of_one(tmp_path: Path) -> None:
    # An 8x8 map gives 64 values per channel even for one sample: torch accepts
    # it, so the rule does not apply.
    doc = _doc(torch={"train": {"batch_size": 3}})
    doc["model"]["layers"] = [
        {"type": "conv2d", "filters": 4, "kernel_size": 3, "padding": "same"},
        {"type": "batch_norm"},
        {"type": "flatten"},
        {"type": "dense", "units": 10, "activation": "linear"},
    ]
    api.prepare(str(_write(tmp_path, doc)))


def test_the_rule_matches_what_torch_does() -> None:
    torch = pytest.importorskip("torch")
    layer = torch.nn.BatchNorm1d(4).train()
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        layer(torch.zeros(1, 4))
    maps = torch.nn.BatchNorm2d(4).train()
    assert maps(torch.randn(1, 4, 8, 8)).shape == (1, 4, 8, 8)


def test_every_bundled_scenario_passes_prepare_and_diff() -> None:
    from bisect_ml.scenario import bundled_scenarios

    for name in sorted(bundled_scenarios()):
        api.diff(name)
