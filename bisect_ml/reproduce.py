"""Re-run catalogue scenarios and check each verdict against its ``[expect]``.

A scenario takes part when its ``[expect]`` table names a verdict. Under
``fast=True`` only scenarios whose ``[reproduce]`` table sets ``fast = true``
run, at the reduced budget that table declares (``seeds``, ``epochs``), which
the scenario's author measured to give the same verdict.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bisect_ml.scenario import bundled_scenarios, load_pair

if TYPE_CHECKING:
    from bisect_ml.lab import Progress
    from bisect_ml.scenario import Pair
    from bisect_ml.verdict import Verdict

__all__ = ["CaseResult", "check_expectations", "reproduce"]

_STATUS = {"causes": "explained", "no_gap": "no_gap", "residual": "residual"}


@dataclass(frozen=True)
class CaseResult:
    """One catalogue case: what was expected, what the bisection found."""

    name: str
    expected: tuple[str, ...]
    verdict: Verdict
    problems: tuple[str, ...]
    seconds: float
    fast: bool

    @property
    def passed(self) -> bool:
        return not self.problems


def check_expectations(pair: Pair, verdict: Verdict) -> list[str]:
    """Every way ``verdict`` departs from ``pair.expect`` (empty: it passes)."""
    expect = pair.expect
    problems = []
    wanted = _STATUS[expect["verdict"]]
    if verdict.status.value != wanted:
        problems.append(f"verdict {verdict.status.value!r}, expected {wanted!r}")
    groups = {
        "causes": {c.factor for c in verdict.found},
        "offsetting": {c.factor for c in verdict.offsetting},
    }
    for key, found in groups.items():
        expected = set(expect.get(key, ()))
        if found != expected:
            problems.append(f"{key} {sorted(found)}, expected {sorted(expected)}")
    ruled_out = {c.factor for c in verdict.ruled_out}
    missing = set(expect.get("ruled_out", ())) - ruled_out
    if missing:
        problems.append(f"not ruled out: {sorted(missing)}")
    return problems


def _fast_pair(pair: Pair) -> Pair | None:
    budget = dict(getattr(pair, "reproduce", {}) or {})
    if not budget.get("fast"):
        return None
    spec = pair.spec
    if budget.get("epochs"):
        spec = dataclasses.replace(
            spec, train=dataclasses.replace(spec.train, epochs=int(budget["epochs"]))
        )
    search = dict(pair.search)
    if budget.get("seeds"):
        search["seeds"] = int(budget["seeds"])
    return dataclasses.replace(pair, spec=spec, search=search)


def catalogue(names: Sequence[str] = ()) -> dict[str, Path]:
    """The bundled scenarios with an expected verdict, or the ``names`` given."""
    bundled = bundled_scenarios()
    if names:
        return {
            name: Path(name) if name not in bundled else bundled[name] for name in names
        }
    return {
        name: path
        for name, path in sorted(bundled.items())
        if load_pair(path).expect.get("verdict")
    }


def reproduce(
    names: Sequence[str] = (),
    *,
    fast: bool = False,
    store: str | Path | None = None,
    jobs: int = 1,
    progress: Callable[[Progress], None] | None = None,
    on_case: Callable[[CaseResult], None] | None = None,
) -> list[CaseResult]:
    """Run the catalogue (or ``names``) and check each case's expectations."""
    from bisect_ml import api

    results = []
    for name, path in catalogue(names).items():
        pair = load_pair(path)
        if not pair.expect.get("verdict"):
            continue
        if fast:
            reduced = _fast_pair(pair)
            if reduced is None:
                continue
            pair = reduced
        start = time.perf_counter()
        verdict = api.bisect(pair, store=store, jobs=jobs, progress=progress)
        result = CaseResult(
            name=name,
            expected=tuple(pair.expect.get("causes", ())) or (pair.expect["verdict"],),
            verdict=verdict,
            problems=tuple(check_expectations(pair, verdict)),
            seconds=time.perf_counter() - start,
            fast=fast,
        )
        results.append(result)
        if on_case is not None:
            on_case(result)
    return results


def table(results: Sequence[CaseResult]) -> str:
    """The reproduce table as Markdown."""
    lines = [
        "| case | expected causes | found causes (share [95% CI]) | trials | "
        "time s | result |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        v = r.verdict
        found = (
            ", ".join(
                f"`{c.factor}` {c.share.estimate:.0%} [{c.share.low:.0%}, "
                f"{c.share.high:.0%}]"
                for c in v.found
            )
            or v.status.value
        )
        lines.append(
            f"| {r.name} | {', '.join(r.expected)} | {found} | "
            f"{v.trials_run + v.trials_cached} | {r.seconds:.0f} | "
            f"{'pass' if r.passed else 'FAIL: ' + '; '.join(r.problems)} |"
        )
    return "\n".join(lines)
