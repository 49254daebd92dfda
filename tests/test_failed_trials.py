"""Issue #4: failed and diverged trials are outcomes, counted per arm, tested.

A trial diverges when its loss or metric becomes non-finite, and fails when its
worker dies on every attempt; both leave a non-finite value that every test
sees (the two-part tests of `bisect_ml.stats.compare`, Fisher's test beside
the closure's equivalence), that each arm counts, and that the report shows.
A Python exception in a trial is a crash instead (exit 1), tested in
tests/test_executors.py.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pytest

from bisect_ml.backends import Outcome
from bisect_ml.backends.simulated import SimulatedLab
from bisect_ml.lab import Arm, Lab, Store, arm_key
from bisect_ml.report import to_markdown
from bisect_ml.scenario import Pair, load_pair, parse_pair
from bisect_ml.stats import (
    compare,
    contrast,
    divergence_pvalue,
    equivalence,
    ratio_of_contrasts,
)
from bisect_ml.stats._tests import UNPAIRED_TWO_PART
from bisect_ml.strategies import get_strategy
from bisect_ml.verdict import ArmResult, Status
from tests import _faults
from tests._helpers import simulated_doc

KERNEL = {"init.dense.kernel": "kaiming_uniform_sqrt5"}
PLACEMENT = {"optimizer.epsilon_placement": "corrected"}


# -- the statistics: a non-finite value is a divergence, never a number ----------


def test_an_infinite_value_is_a_diverged_trial_not_a_number() -> None:
    a = [0.10, 0.11, 0.09, 0.10, 0.12, 0.10]
    b = [0.20, 0.21, math.inf, 0.19, 0.20, 0.22]
    c = compare(a, b, paired=False)
    assert c.diverged == (0, 1) and c.test == UNPAIRED_TWO_PART
    assert c.effect == pytest.approx(np.mean([0.2, 0.21, 0.19, 0.2, 0.22]) - np.mean(a))
    paired = compare(a, b, paired=True)
    assert paired.diverged == (0, 1) and math.isfinite(paired.effect)

    arms = {"x": a, "y": b}
    assert math.isfinite(contrast(arms, {"x": 1, "y": -1}).estimate)
    share = ratio_of_contrasts(arms, {"y": 1}, {"y": 1, "x": -1})
    assert math.isfinite(share.estimate)

    arm = ArmResult("y", "torch", (), "simulated", tuple(range(6)), tuple(b))
    assert arm.diverged == 1 and abs(arm.mean - 0.204) < 1e-9


def test_divergence_enters_the_two_part_test() -> None:
    # Same finished values; one arm diverges on 7 of 10 seeds.
    a = [0.1] * 10
    b = [math.nan] * 7 + [0.1] * 3
    assert compare(a, b, paired=False).pvalue < 0.05
    assert compare(a, b, paired=True).pvalue < 0.05
    assert divergence_pvalue(a, b) < 0.01
    assert divergence_pvalue(a, a) == 1.0


def test_equivalence_reports_the_divergence_counts() -> None:
    rng = np.random.default_rng(1)
    a = rng.normal(0.1, 0.01, 12)
    b = rng.normal(0.1, 0.01, 12)
    b[:6] = np.nan
    e = equivalence(a, b, margin=0.05)
    assert e.diverged == (0, 6) and e.n == (12, 6)
    assert e.pvalue < 0.05  # the finished trials alone look equivalent
    assert e.pvalue_diverged < 0.05  # the divergence rates do not


# -- failed trials through the real lab, on the simulated backend ----------------


@pytest.fixture(scope="module")
def pair() -> Pair:
    return load_pair("sim-two-causes")


def test_a_failed_trial_is_counted_in_its_arm_and_the_report(
    tmp_path: Path, pair: Pair
) -> None:
    victim = Arm("torch")
    key = arm_key(pair, victim, 1)
    fn = functools.partial(_faults.die, str(tmp_path), (key,), 99)
    strategy = get_strategy("ofat", seeds=6, alpha=0.05, margin=0.2)
    with Lab(pair, Store(":memory:"), jobs=2, retries=0, trial_fn=fn) as lab:
        verdict = strategy.run(lab)

    arms = {a.label: a for a in verdict.arms}
    torch = arms["torch"]
    assert (torch.failed, torch.diverged, torch.n) == (1, 1, 6)
    assert math.isnan(torch.values[1])
    assert all(a.failed == 0 for label, a in arms.items() if label != "torch")
    # It entered the gap test as a diverged trial, not dropped.
    assert verdict.gap.diverged == (0, 1) and verdict.gap.n == (6, 6)
    assert verdict.gap.test == UNPAIRED_TWO_PART
    assert any("1 trial(s) failed" in n for n in verdict.notes)

    report = to_markdown(verdict)
    assert "| diverged | of them failed |" in report
    row = next(line for line in report.splitlines() if line.startswith("| torch |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[4:6] == ["1", "1"]


def test_diverged_trials_are_counted_and_tested_never_dropped() -> None:
    doc = simulated_doc(
        [{"when": KERNEL, "shift": 0.04}, {"when": PLACEMENT, "shift": 0.02}],
        diverge_probability=0.15,
    )
    pair = parse_pair(doc)
    verdict = get_strategy("ofat", seeds=10).run(SimulatedLab(pair))
    assert all(a.n == 10 for a in verdict.arms)
    assert sum(a.diverged for a in verdict.arms) > 0
    assert all(a.diverged == sum(v != v for v in a.values) for a in verdict.arms)
    assert all(a.failed == 0 for a in verdict.arms)
    sides = {a.label: a for a in verdict.arms}
    assert verdict.gap.diverged == (sides["keras"].diverged, sides["torch"].diverged)


class _DivergingLab(SimulatedLab):
    """A simulated lab where chosen arms diverge on chosen seeds."""

    def __init__(self, pair: Pair, diverge: dict[str, set[int]]) -> None:
        super().__init__(pair)
        self.diverge = diverge

    def measure(
        self, arms: Iterable[Arm], seeds: Iterable[int]
    ) -> dict[Arm, list[Outcome]]:
        seeds = list(seeds)
        out = super().measure(arms, seeds)
        for arm, outcomes in out.items():
            bad = self.diverge.get(arm.label(self.pair), set())
            out[arm] = [
                Outcome(math.nan, diverged=True) if s in bad else o
                for s, o in zip(seeds, outcomes, strict=True)
            ]
        return out


def _two_causes() -> Pair:
    return parse_pair(
        simulated_doc(
            [{"when": KERNEL, "shift": 0.04}, {"when": PLACEMENT, "shift": 0.02}]
        )
    )


def test_a_null_factor_whose_hybrid_always_diverges_is_not_ruled_out() -> None:
    pair = _two_causes()
    hybrid = "torch <- keras{optimizer.epsilon}"
    plain = get_strategy("ofat", seeds=12).run(SimulatedLab(pair))
    assert "optimizer.epsilon" in {c.factor for c in plain.ruled_out}

    # Swapping it makes the torch side diverge on every seed: the exact test
    # of who diverged (McNemar) carries the decision, Holm included.
    lab = _DivergingLab(pair, {hybrid: set(range(12))})
    verdict = get_strategy("ofat", seeds=12).run(lab)
    epsilon = next(c for c in verdict.causes if c.factor == "optimizer.epsilon")
    assert epsilon.comparisons["torch"].diverged == (0, 12)
    assert epsilon.pvalue_adjusted < 0.05 and epsilon.role != "ruled_out"


def test_closure_arms_that_diverge_are_not_equivalent() -> None:
    pair = _two_causes()
    plain = get_strategy("ofat", seeds=10).run(SimulatedLab(pair))
    assert plain.status is Status.EXPLAINED
    assert plain.closure is not None and plain.closure.status == "equivalent"

    lab = _DivergingLab(pair, {"torch <- keras{all}": set(range(7))})
    verdict = get_strategy("ofat", seeds=10).run(lab)
    assert verdict.closure is not None
    assert verdict.closure.equivalence["torch"].diverged == (0, 7)
    assert verdict.closure.status == "different"
    assert verdict.status is Status.RESIDUAL
    assert any("diverge at other rates" in n for n in verdict.notes)
