"""Verdicts at small budgets claim no more than their evidence (issue #4).

"Ruled out" only by equivalence, `inconclusive` (exit 5) for a real gap the
budget could not attribute or a budget that ran out, a stop reason true of
every decision, and a power statement that follows the gap test.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bisect_ml import api
from bisect_ml._errors import BudgetExhausted
from bisect_ml.backends.simulated import SimulatedLab
from bisect_ml.cli import app
from bisect_ml.report import to_markdown, verdict_dict
from bisect_ml.report._markdown import power_lines
from bisect_ml.scenario import load_pair, parse_pair
from bisect_ml.stats import Noise
from bisect_ml.strategies import get_strategy
from bisect_ml.verdict import Power, Status, StopReason, Verdict
from tests._helpers import simulated_doc

KERNEL = {"init.dense.kernel": "kaiming_uniform_sqrt5"}
PLACEMENT = {"optimizer.epsilon_placement": "corrected"}


def _ofat(doc: dict, **options: object) -> Verdict:
    pair = parse_pair(doc)
    return get_strategy("ofat", **options).run(SimulatedLab(pair))


#: (shift, seeds) small budgets, tried in order by `_small_budget_kernel`.
SMALL_BUDGETS = [(0.03, 3), (0.02, 5), (0.025, 3), (0.02, 3), (0.015, 5)]


def _small_budget_kernel() -> tuple[Verdict, float, int]:
    # As seed-init at --seeds 3: a real gap, one true cause whose paired test
    # is not significant at a few seeds, its share's interval wide. Whether a
    # budget shows this depends on the simulated draws, which hash the whole
    # assignment (a new factor in the catalogue redraws them): take the
    # first small budget where the gap is found and its cause is not.
    for shift, seeds in SMALL_BUDGETS:
        doc = simulated_doc([{"when": KERNEL, "shift": shift}], noise=0.01)
        v = _ofat(doc, seeds=seeds)
        if v.gap.pvalue < 0.05 and not v.found:
            return v, shift, seeds
    raise AssertionError("every small budget found the cause or missed the gap")


def _check_roles(v: Verdict) -> None:
    margin = v.settings["margin"]
    for c in v.ruled_out:
        assert -margin < c.share.low and c.share.high < margin, c.factor
    for c in v.inconclusive:
        assert not (-margin < c.share.low and c.share.high < margin), c.factor
        assert c.pvalue_adjusted >= 0.05 or c.factor not in {f.factor for f in v.found}


def test_a_wide_share_is_inconclusive_not_ruled_out() -> None:
    v, _, _ = _small_budget_kernel()
    assert v.gap.pvalue < 0.05
    kernel = next(c for c in v.causes if c.factor == "init.dense.kernel")
    assert kernel.role == "inconclusive" and kernel.pvalue_adjusted >= 0.05
    assert kernel.share.high > v.settings["margin"]
    assert "init.dense.kernel" not in {c.factor for c in v.ruled_out}
    _check_roles(v)
    text = to_markdown(v)
    assert "## Inconclusive at this budget" in text
    assert "no significant move either way" not in text
    assert [c["factor"] for c in verdict_dict(v)["inconclusive"]] == [
        c.factor for c in v.inconclusive
    ]


def test_a_narrow_share_is_ruled_out_as_negligible() -> None:
    doc = simulated_doc(
        [{"when": KERNEL, "shift": 0.04}, {"when": PLACEMENT, "shift": 0.02}]
    )
    v = _ofat(doc, seeds=10)
    assert v.status is Status.EXPLAINED
    assert "train.shuffle" in {c.factor for c in v.ruled_out}
    _check_roles(v)
    margin = f"{v.settings['margin']:.0%}"
    heading = f"## Ruled out (negligible: the share's interval lies inside +-{margin}"
    assert heading in to_markdown(v)


def test_an_unattributed_real_gap_is_inconclusive_not_a_residual() -> None:
    v, shift, seeds = _small_budget_kernel()
    assert not v.found
    assert v.closure is not None and v.closure.status != "different"
    assert v.status is Status.INCONCLUSIVE and v.status.exit_code == 5
    text = to_markdown(v)
    assert "NOT fully explained" not in text
    assert "status `inconclusive`, exit code 5" in text
    (note,) = [n for n in v.notes if n.startswith("inconclusive")]
    # The power machinery names the seeds; at that many the cause is found.
    need = int(note.split("about ")[1].split(" seeds")[0])
    assert need > seeds and "`init.dense.kernel`" in note
    doc = simulated_doc([{"when": KERNEL, "shift": shift}], noise=0.01)
    again = _ofat(doc, seeds=need)
    assert {c.factor for c in again.found} == {"init.dense.kernel"}


@pytest.mark.parametrize("max_trials", [5, 100])
def test_an_exhausted_budget_is_inconclusive(max_trials: int, tmp_path: Path) -> None:
    pair = load_pair("sim-two-causes")
    v = api.bisect(pair, store=tmp_path / "s.sqlite", max_trials=max_trials)
    assert v.status is Status.INCONCLUSIVE and v.status.exit_code == 5
    assert v.stop_reason is StopReason.BUDGET_EXHAUSTED
    assert v.stop_summary == "trial budget exhausted"
    assert v.trials_run + v.trials_cached <= max_trials
    # What was measured is reported: the sides, at the seeds it afforded.
    assert {a.label for a in v.arms} >= {"torch", "keras"}
    assert all(a.n >= 2 for a in v.arms)
    text = to_markdown(v)
    assert "stopped because: **trial budget exhausted**" in text
    assert "NOT fully explained" not in text


def test_the_cli_exits_5_when_the_budget_runs_out(tmp_path: Path) -> None:
    store, out = str(tmp_path / "s.sqlite"), str(tmp_path / "out")
    argv = ["bisect", "sim-two-causes", "--max-trials", "5", "-q"]
    result = CliRunner().invoke(app, [*argv, "--store", store, "--out", out])
    assert result.exit_code == 5, result.stderr
    assert "status `inconclusive`, exit code 5" in result.stdout


def test_a_budget_below_two_seeds_a_side_is_refused() -> None:
    pair = parse_pair(simulated_doc([{"when": KERNEL, "shift": 0.04}]))
    with pytest.raises(BudgetExhausted):
        get_strategy("ofat", max_trials=3).run(SimulatedLab(pair))


def test_the_stop_reason_names_the_decisions_at_the_cap() -> None:
    doc = simulated_doc(
        [{"when": KERNEL, "shift": 0.04}, {"when": PLACEMENT, "shift": 0.02}]
    )
    v = _ofat(doc, seeds=10)
    capped = [d.subject for d in v.decisions if d.stop is StopReason.SEED_CAP]
    assert v.stop_reason is StopReason.DECIDED and capped
    assert v.stop_summary.startswith("search finished, but not every decision")
    assert all(subject in v.stop_summary for subject in capped)
    text = to_markdown(v)
    assert "stopped because: **decided**" not in text
    assert verdict_dict(v)["stop_summary"] == v.stop_summary


def test_the_stop_reason_is_decided_when_every_decision_was() -> None:
    v = _ofat(simulated_doc([{"when": KERNEL, "shift": 0.04}]), seeds=10)
    undecided = [d for d in v.decisions if d.stop is not StopReason.DECIDED]
    if undecided:
        assert "decided (every" not in v.stop_summary
    else:
        assert v.stop_summary == "decided (every decision crossed a boundary)"


def _power(gap_found: bool | None) -> Power:
    sd = Noise(sd=0.01, low=0.007, high=0.02, n=4)
    return Power(
        noise={"torch": sd, "keras": sd},
        seeds={"torch": 4, "keras": 4},
        alpha=0.05,
        power=0.9,
        gap=0.019,
        detectable_gap=0.021,
        detectable_gap_at_cap=0.021,
        seeds_needed=5,
        gap_found=gap_found,
    )


def test_the_power_statement_follows_the_gap_test() -> None:
    found = "\n".join(power_lines(_power(True), "error"))
    assert "not distinguishable from seed noise" not in found
    assert "yet the gap test found it" in found and "about 5 seeds" in found
    missed = "\n".join(power_lines(_power(False), "error"))
    assert "not distinguishable from seed noise" in missed


def test_a_found_gap_below_the_detectable_one_is_not_called_noise() -> None:
    # Whether a found gap lands below the detectable one depends on the
    # simulated draws, which hash the whole assignment (a new factor in the
    # catalogue redraws them): take the first small budget where it does.
    budgets = [(0.02, 4), (0.015, 3), (0.015, 5), (0.02, 3), (0.01, 4), (0.01, 5)]
    for shift, seeds in budgets:
        doc = simulated_doc([{"when": KERNEL, "shift": shift}], noise=0.01)
        v = _ofat(doc, seeds=seeds)
        assert v.power is not None
        if v.power.below_detectable and v.power.gap_found:
            break
    assert v.power.below_detectable and v.power.gap_found
    assert v.gap.pvalue < 0.05
    text = to_markdown(v)
    assert "not distinguishable from seed noise" not in text
    assert "## Noise and power\n" in text and "A/A" not in text
    assert verdict_dict(v)["power"]["gap_found"] is True
    assert math.isfinite(v.power.gap)
