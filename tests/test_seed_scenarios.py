"""Catalogue check: each bundled scenario reaches the verdict its `[expect]` states.

Real scenarios train hundreds of models, so they are marked slow (run them with
``pytest -m slow``); the simulated one runs by default.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bisect_ml import api
from bisect_ml.scenario import bundled_scenarios, load_pair
from bisect_ml.verdict import Status

_VERDICT = {
    "causes": Status.EXPLAINED,
    "no_gap": Status.NO_GAP,
    "residual": Status.RESIDUAL,
}


def _cases() -> list[object]:
    cases = []
    for name, path in sorted(bundled_scenarios().items()):
        pair = load_pair(path)
        if not pair.expect.get("verdict"):
            continue
        marks = [] if pair.backend == "simulated" else [pytest.mark.slow]
        cases.append(pytest.param(name, marks=marks, id=name))
    return cases


@pytest.mark.parametrize("name", _cases())
def test_scenario_reaches_its_expected_verdict(name: str, tmp_path: Path) -> None:
    pair = load_pair(name)
    verdict = api.bisect(pair, store=tmp_path / "s.sqlite", jobs=2)
    expect = pair.expect
    assert verdict.status is _VERDICT[expect["verdict"]]
    found = {c.factor for c in verdict.found}
    assert found == set(expect["causes"])
    assert {c.factor for c in verdict.offsetting} == set(expect["offsetting"])
    ruled_out = {c.factor for c in verdict.ruled_out}
    assert set(expect["ruled_out"]) <= ruled_out
