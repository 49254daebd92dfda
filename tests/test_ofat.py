"""OFAT on the simulated backend: planted truths are found, noise is not."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bisect_ml import api
from bisect_ml.backends.simulated import SimulatedBackend, SimulatedLab, truth
from bisect_ml.lab import Arm, Lab, Store
from bisect_ml.report import to_json, to_markdown, verdict_dict
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
    assert v.status is Status.INCONCLUSIVE and v.status.exit_code == 5
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

    with pytest.raises(ScenarioError, match="`--strategy` must be one of ofat"):
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
    # Twenty seeds: at ten, the 90% interval of the residual share is about
    # +-0.12 wide against the 0.2 margin, so equivalence is shown only most of
    # the time.
    v = _run(doc, tmp_path, seeds=20)
    assert [c.factor for c in v.found] == ["init.dense.kernel"]
    assert [c.factor for c in v.offsetting] == ["preprocess.scale"]
    assert v.offsetting[0].share.high < 0
    assert "preprocess.scale" not in {c.factor for c in v.ruled_out}
    assert v.closure is not None and v.closure.status == "equivalent"


# -- adaptive seeds, stop reasons, truth, power (issue #4) --------------------


def _lab_run(doc: dict, **options: object):
    """Run OFAT on `SimulatedLab` (frameworks' seed draws kept apart)."""
    pair = parse_pair(doc)
    search = get_strategy("ofat", **options)
    return pair, search, search.run(SimulatedLab(pair))


def test_adaptive_seeds_stop_each_decision_with_a_reason() -> None:
    doc = simulated_doc([{"when": KERNEL, "shift": 0.04}])
    pair, search, v = _lab_run(doc, seeds=5, max_seeds=15)
    assert search.looks == (5, 10, 15)
    assert [c.factor for c in v.found] == ["init.dense.kernel"]
    factor = {d.subject: d for d in v.decisions if d.kind == "factor"}
    assert set(factor) == set(pair.differing())
    # The planted cause crosses the efficacy boundary; a null factor stops
    # for futility at a look or reaches the cap without crossing. Which nulls
    # reach the cap depends on the simulated draws, which a factor added to
    # the catalogue redraws (TODO(#4) in simulated.py), so only the reasons
    # are checked: one per decision, matching its seeds.
    assert factor["init.dense.kernel"].outcome == "effect"
    assert factor["init.dense.kernel"].stop is StopReason.DECIDED
    for d in factor.values():
        assert d.stop in (StopReason.DECIDED, StopReason.SEED_CAP), d.subject
        if d.stop is StopReason.SEED_CAP:
            assert d.seeds == 15 and d.outcome == "no_effect", d.subject
    assert any(d.seeds < 15 for d in factor.values())
    assert any(
        d.outcome == "no_effect" and d.stop is StopReason.DECIDED
        for d in factor.values()
    )
    # Arms carry the seeds their decision took and why it stopped.
    arms = {a.label: a for a in v.arms}
    hybrid = arms["torch <- keras{init.dense.bias}"]
    assert hybrid.n == factor["init.dense.bias"].seeds
    assert hybrid.stop == "decided" and hybrid.decided_by == "init.dense.bias"
    assert v.settings["looks"] == [5, 10, 15]


def test_adaptive_seeds_cost_less_than_the_cap_at_the_same_answer() -> None:
    doc = simulated_doc([{"when": KERNEL, "shift": 0.04}])
    _, fixed, v_fixed = _lab_run(doc, seeds=10)
    _, adaptive, v_adaptive = _lab_run(doc, seeds=5, max_seeds=10)
    assert [c.factor for c in v_adaptive.found] == [c.factor for c in v_fixed.found]
    assert adaptive.requested < 0.8 * fixed.requested


def test_measure_and_metric_stay_at_the_first_look() -> None:
    """Other strategies pair `measure` results: their lengths never diverge."""
    pair = parse_pair(simulated_doc([{"when": KERNEL, "shift": 0.04}]))
    search = get_strategy("ofat", seeds=5, max_seeds=15)
    search.run(SimulatedLab(pair))
    side = search.side("torch")
    assert len(search.values(side)) > 5
    group = Arm("torch", frozenset(pair.differing()[:3]))
    values = search.measure([side, group])
    assert len(values[side]) == len(values[group]) == 5
    assert len(search.metric(side)) == 5


def test_a_capped_decision_says_so() -> None:
    # No gap: the gap decision stops early only for a gap, so "no gap" is
    # concluded at the cap, every time. (A small planted effect reaches the
    # cap only on some seed draws, and the draws change with the catalogue.)
    _, _, v = _lab_run(simulated_doc([]), seeds=4, max_seeds=8)
    capped = [d for d in v.decisions if d.stop is StopReason.SEED_CAP]
    assert [d.subject for d in capped] == ["gap"] and capped[0].seeds == 8
    assert any("reached the seed cap of 8" in n for n in v.notes)


def test_budget_during_added_seeds_is_recorded() -> None:
    doc = simulated_doc([{"when": KERNEL, "shift": 0.04}], noise=0.02)
    _, search, v = _lab_run(doc, seeds=5, max_seeds=20, max_trials=120)
    assert v.stop_reason is StopReason.BUDGET_EXHAUSTED
    assert search.requested <= 120
    assert any(d.stop is StopReason.BUDGET_EXHAUSTED for d in v.decisions)


def test_bad_seed_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="`max_seeds` must be at least `seeds`"):
        get_strategy("ofat", seeds=10, max_seeds=5)
    with pytest.raises(ValueError, match="`power` must be in"):
        get_strategy("ofat", power=0.3)


def test_pure_interaction_names_both_causes_and_their_interaction() -> None:
    both = {**KERNEL, **PLACEMENT}
    pair, _, v = _lab_run(simulated_doc([{"when": both, "shift": 0.04}]), seeds=10)
    t = truth(pair)
    assert set(t.causes) == {c.factor for c in v.found}
    (inter,) = v.interactions
    assert inter.significant
    assert set(inter.factors) == {"init.dense.kernel", "optimizer.epsilon_placement"}
    assert inter.effect.covers(t.interactions[tuple(sorted(inter.factors))])
    # Both directions averaged, the closure's interaction cannot see it.
    assert v.closure is not None and v.closure.interaction.covers(0.0)


def test_truth_of_a_simulated_pair() -> None:
    doc = simulated_doc(
        [
            {"when": KERNEL, "shift": 0.04},
            {"when": {"preprocess.scale": "symmetric"}, "shift": -0.01},
            {"when": {**KERNEL, **PLACEMENT}, "shift": 0.02},
        ]
    )
    t = truth(parse_pair(doc))
    assert t.gap == pytest.approx(0.05)
    assert t.causes == {"init.dense.kernel", "optimizer.epsilon_placement"}
    assert t.offsetting == {"preprocess.scale"}
    # The kernel swap closes 0.06 on torch (its own 0.04 and the pair's 0.02)
    # and 0.04 on keras: 1.0 of the gap on average.
    assert t.shares["init.dense.kernel"] == pytest.approx(1.0)
    assert t.share_by_side["torch"]["init.dense.kernel"] == pytest.approx(1.2)
    key = ("init.dense.kernel", "optimizer.epsilon_placement")
    assert t.interactions == {key: pytest.approx(0.4)}
    assert t.closure_share == pytest.approx(1.0)
    assert t.noise_sd == pytest.approx(0.01)


def test_frameworks_draw_apart_in_the_lab_and_together_in_the_backend() -> None:
    """CRN within a framework; two frameworks share no draw (`SimulatedLab`)."""
    pair = parse_pair(simulated_doc([], noise=1.0))
    lab = SimulatedLab(pair)
    seeds = range(400)
    arms = [Arm("torch"), Arm("torch", frozenset({"optimizer.epsilon"})), Arm("keras")]
    got = lab.measure(arms, seeds)
    t, h, k = (np.array([o.metric for o in got[a]]) for a in arms)
    assert np.corrcoef(t, h)[0, 1] == pytest.approx(0.64, abs=0.08)
    assert abs(np.corrcoef(t, k)[0, 1]) < 0.15
    # Through the Lab the backend is not told the framework: one draw per seed.
    spec = pair.spec
    a, b = pair.side("torch").assignment, pair.side("keras").assignment
    backend = SimulatedBackend()
    same = [
        backend.train(spec, None, a, s).metric - backend.train(spec, None, b, s).metric
        for s in seeds
    ]
    assert np.std(same) == pytest.approx(0.6 * np.sqrt(2), rel=0.15)


def test_no_gap_report_says_what_the_seeds_could_see(tmp_path: Path) -> None:
    doc = simulated_doc([{"when": KERNEL, "shift": 0.004}])
    _, _, v = _lab_run(doc, seeds=5)
    assert v.status is Status.NO_GAP and v.power is not None
    assert v.power.below_detectable
    assert v.power.seeds_needed is not None and v.power.seeds_needed > 5
    assert any("not distinguishable from seed noise" in n for n in v.notes)
    text = to_markdown(v)
    assert "## Noise and power\n" in text
    assert f"about {v.power.seeds_needed} seeds per side" in text
    data = verdict_dict(v)
    assert data["power"]["below_detectable"] is True
    assert data["decisions"][0]["subject"] == "gap"


def test_report_names_the_corrections_and_every_decision() -> None:
    doc = simulated_doc([{"when": KERNEL, "shift": 0.04}])
    _, _, v = _lab_run(doc, seeds=5, max_seeds=10)
    text = to_markdown(v)
    assert "Holm across the 6 factors" in text
    assert "group-sequential design with looks at 5, 10" in text
    assert "| factor: `init.dense.kernel` | effect |" in text
    data = verdict_dict(v)
    assert data["causes"][0]["share"]["method"] == "fieller"
    assert {a["stop"] for a in data["arms"]} <= {"decided", "seed_cap"}
    assert json.loads(to_json(v))["power"]["paired_variance_ratio"] < 0.6
