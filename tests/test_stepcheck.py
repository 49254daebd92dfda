"""The step-by-step closure check that `auto` and `diff --steps` run.

The check itself trains real models in a fresh process; here its pieces are
checked where they can fail: the comparison of two loss curves, where it does
not apply, the worker's directions in this process (closing, and parting when
a factor is left unswapped), and the CLI's exit codes.
"""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from bisect_ml.backends._steps import batch_ranges
from bisect_ml.factors import default_assignment
from bisect_ml.lab._stepcheck import (
    TOLERANCE,
    StepCheck,
    StepDirection,
    _directions,
    step_check,
)
from bisect_ml.scenario import (
    DataSpec,
    LayerSpec,
    Spec,
    TrainSpec,
    load_pair,
    parse_pair,
)
from tests._helpers import simulated_doc


def test_a_direction_closes_within_the_tolerance_and_names_where_it_parts() -> None:
    ref = (2.0, 1.5, 1.0, 0.5)
    close = StepDirection("torch", (2.0, 1.5 * (1 + TOLERANCE / 2), 1.0, 0.5), ref)
    assert close.closes and close.first_apart is None
    assert close.worst == pytest.approx(TOLERANCE / 2)
    assert "tracks keras for 4 steps" in close.summary()
    apart = StepDirection("keras", (2.0, 1.5, 1.1, 0.5), ref)
    assert not apart.closes and apart.first_apart == 3
    assert apart.reference == "torch"
    assert "keras <- torch{all} parts from torch at step 3 of 4" in apart.summary()
    # A loss that is not finite on one side only is a difference.
    nan = StepDirection("torch", (2.0, math.nan, 1.0, 0.5), ref)
    assert nan.first_apart == 2 and nan.worst == math.inf


def test_the_check_closes_only_when_every_direction_does() -> None:
    ok = StepDirection("torch", (1.0,), (1.0,))
    bad = StepDirection("keras", (1.0,), (2.0,))
    assert StepCheck(True, "", (ok, ok)).closes is True
    assert StepCheck(True, "", (ok, bad)).closes is False
    assert "expect a residual" in StepCheck(True, "", (ok, bad)).summary()
    assert StepCheck(False, "why").closes is None


def test_it_does_not_apply_to_the_simulated_backend_or_to_dropout() -> None:
    sim = step_check(parse_pair(simulated_doc([])))
    assert not sim.applies and "simulated" in sim.reason
    doc = simulated_doc([])
    del doc["simulation"]
    doc["scenario"]["backend"] = "auto"
    doc["model"]["layers"].insert(1, {"type": "dropout", "rate": 0.2})
    dropped = step_check(parse_pair(doc))
    assert not dropped.applies and "dropout" in dropped.reason
    assert dropped.summary().startswith("step-by-step closure check: not run")


def test_batches_are_cut_in_order_epoch_after_epoch() -> None:
    assert batch_ranges(5, 2, 4) == [(0, 2), (2, 4), (4, 5), (0, 2)]
    assert batch_ranges(5, 2, 3, drop_last=True) == [(0, 2), (2, 4), (0, 2)]
    assert batch_ranges(1, 2, 2, drop_last=True) == []


_SPEC = Spec(
    DataSpec(dataset="digits", max_samples=300),
    (LayerSpec("dense", 16, "relu"), LayerSpec("dense", 10)),
    TrainSpec(epochs=1, loss="cross_entropy", from_logits=True),
)


def _sides() -> dict[str, dict]:
    shared = {"train.batch_size": 32, "train.shuffle": "off"}
    return {fw: default_assignment(fw) | shared for fw in ("torch", "keras")}


@pytest.mark.frameworks
def test_every_factor_swapped_closes_in_both_directions() -> None:
    runs = _directions(_SPEC, _sides(), seed=0, steps=12)
    assert not isinstance(runs, str), runs
    directions = [StepDirection(h, tuple(a), tuple(b)) for h, a, b in runs]
    assert [d.hybrid for d in directions] == ["torch", "keras"]
    assert all(d.closes for d in directions), [d.summary() for d in directions]
    # The losses move: the check compares training, not a constant.
    assert directions[0].reference_losses[-1] < directions[0].reference_losses[0]


@pytest.mark.frameworks
def test_a_factor_left_unswapped_parts_the_curves() -> None:
    # Both hybrids keep an epsilon neither side has: the first loss (before
    # any update) still agrees, the next ones do not.
    runs = _directions(
        _SPEC, _sides(), seed=0, steps=12, kept={"optimizer.epsilon": 0.1}
    )
    assert not isinstance(runs, str), runs
    for hybrid, a, b in runs:
        direction = StepDirection(hybrid, tuple(a), tuple(b))
        assert direction.first_apart == 2, direction.summary()


@pytest.mark.frameworks
def test_diff_steps_prints_the_check_and_exits_by_it() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bisect_ml.cli", "diff", "--steps", "seed-preprocess"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert "torch <- keras{all} tracks keras for 30 steps" in out.stdout
    assert "covers every difference of this pair" in out.stdout


def test_diff_steps_on_a_simulated_pair_says_it_did_not_run() -> None:
    pair = load_pair("sim-two-causes")
    check = step_check(pair)
    assert check.closes is None and "not run" in check.summary()
