"""OFAT on the simulated backend: planted truths are found, noise is not."""

from __future__ import annotations

from pathlib import Path

import pytest

from bisect_ml import api
from bisect_ml.lab import Lab, Store
from bisect_ml.scenario import parse_pair
from bisect_ml.strategies import get_strategy
from bisect_ml.verdict import Status, StopReason
from tests._helpers import simulated_doc

KERNEL = {"init.dense.kernel": "kaiming_uniform_sqrt5"}
PLACEMENT = {"optimizer.epsilon_placement": "corrected"}


def _run(doc: dict, tmp_path: Path, **options: object):
    pair = parse_pair(doc)
    return api.bisect(pair, store=tmp_path / "s.sqlite", **options)  # type: ignore[arg-type]


def test_finds_two_planted_causes_and_rules_out_the_rest(tmp_path: Path) -> None:
    doc = simulated_doc(
        [{"when": KERNEL, "shift": 0.04}, {"when": PLACEMENT, "shift": 0.02}]
    )
    v = _run(doc, tmp_path)
    assert v.status is Status.EXPLAINED and v.stop_reason is StopReason.DECIDED
    assert [c.factor for c in v.found] == [
        "init.dense.kernel",
        "optimizer.epsilon_placement",
    ]
    kernel = v.found[0]
    # The truth: 0.04 of a 0.06 gap.
    assert kernel.share.low <= 2 / 3 <= kernel.share.high
    assert {c.factor for c in v.ruled_out} == {
        "init.dense.bias",
        "preprocess.scale",
        "optimizer.epsilon",
        "train.shuffle",
    }
    assert v.closure is not None and v.closure.status == "equivalent"


def test_a_a_pair_reports_no_gap(tmp_path: Path) -> None:
    doc = simulated_doc([{"when": {"optimizer.epsilon": 1e-8}, "shift": 0.0}])
    v = _run(doc, tmp_path)
    assert v.status is Status.NO_GAP and v.stop_reason is StopReason.NO_GAP
    assert v.status.exit_code == 4
    assert v.trials_run == 20  # only the two sides were measured


def test_pure_interaction_is_a_residual_of_single_swaps(tmp_path: Path) -> None:
    both = {**KERNEL, **PLACEMENT}
    v = _run(simulated_doc([{"when": both, "shift": 0.05}]), tmp_path)
    # Each factor alone moves the keras side all the way; the torch side not at all.
    assert v.closure is not None
    assert v.closure.share.low <= 1 <= v.closure.share.high


def test_second_run_trains_nothing(tmp_path: Path) -> None:
    doc = simulated_doc([{"when": KERNEL, "shift": 0.04}])
    first = _run(doc, tmp_path)
    second = _run(doc, tmp_path)
    assert first.trials_run > 0 and second.trials_run == 0
    assert second.trials_cached == first.trials_run + first.trials_cached
    assert [c.factor for c in second.found] == [c.factor for c in first.found]


def test_budget_stops_with_a_reason(tmp_path: Path) -> None:
    doc = simulated_doc([{"when": KERNEL, "shift": 0.04}])
    v = _run(doc, tmp_path, max_trials=30)
    assert v.stop_reason is StopReason.BUDGET_EXHAUSTED
    assert v.status is Status.RESIDUAL
    assert any("budget" in n for n in v.notes)


def test_strategy_never_requests_a_measured_arm_twice(tmp_path: Path) -> None:
    pair = parse_pair(simulated_doc([{"when": KERNEL, "shift": 0.04}]))
    search = get_strategy("ofat", seeds=5)
    with Lab(pair, Store(tmp_path / "s.sqlite")) as lab:
        search.run(lab)
        # sides + 2 per candidate + 2 closure arms, 5 seeds each, nothing twice.
        arms = 2 + 2 * len(pair.differing()) + 2
        assert search.requested == arms * 5
        assert lab.trained + lab.cached <= search.requested


def test_diverged_trials_are_outcomes(tmp_path: Path) -> None:
    doc = simulated_doc([{"when": KERNEL, "shift": 0.05}], diverge_probability=0.1)
    v = _run(doc, tmp_path, seeds=12)
    assert sum(a.diverged for a in v.arms) > 0
    assert "init.dense.kernel" in [c.factor for c in v.found]


def test_unknown_strategy_is_bad_input(tmp_path: Path) -> None:
    from bisect_ml._errors import ScenarioError

    with pytest.raises(ScenarioError, match="`strategy` must be one of 'ofat'"):
        _run(simulated_doc([]), tmp_path, strategy="magic")


def test_a_factor_pushing_the_other_way_is_offsetting_not_ruled_out(
    tmp_path: Path,
) -> None:
    # torch's kernel makes it worse (+0.06), but torch's preprocessing makes it
    # better (-0.03): the gap is 0.03 and preprocessing hides half of the rest.
    doc = simulated_doc(
        [
            {"when": KERNEL, "shift": 0.06},
            {"when": {"preprocess.scale": "symmetric"}, "shift": -0.03},
        ]
    )
    v = _run(doc, tmp_path)
    assert [c.factor for c in v.found] == ["init.dense.kernel"]
    assert [c.factor for c in v.offsetting] == ["preprocess.scale"]
    assert v.offsetting[0].share.high < 0
    assert "preprocess.scale" not in {c.factor for c in v.ruled_out}
    assert v.closure is not None and v.closure.status == "equivalent"
