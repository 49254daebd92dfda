"""Re-run catalogue scenarios and check each verdict against its ``[expect]``.

A scenario takes part when its ``[expect]`` table names a verdict. Under
``fast=True`` only scenarios whose ``[reproduce]`` table sets ``fast = true``
run, at the reduced budget that table declares (``seeds``, ``epochs``), which
the scenario's author measured to give the same verdict. Fewer epochs change
the neutral spec, so a fast run's trials are stored apart from a full run's.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bisect_ml._errors import BackendError, ScenarioError
from bisect_ml.scenario import bundled_scenarios, load_pair

if TYPE_CHECKING:
    from bisect_ml.lab import Progress
    from bisect_ml.scenario import Pair
    from bisect_ml.verdict import Verdict

__all__ = [
    "CaseResult",
    "catalogue",
    "check_expectations",
    "fast_pair",
    "reproduce",
    "table",
]

_STATUS = {"causes": "explained", "no_gap": "no_gap", "residual": "residual"}


@dataclass(frozen=True)
class CaseResult:
    """One catalogue case: what was expected, what the bisection found.

    ``verdict`` is ``None`` when a trial crashed (``error`` says how); such a
    case fails.
    """

    name: str
    expected: tuple[str, ...]
    verdict: Verdict | None
    problems: tuple[str, ...]
    seconds: float
    fast: bool
    seeds: int = 0
    epochs: int = 0
    error: str | None = None

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
    # `[expect] ruled_out` records "no significant move either way", as the
    # catalogue's measurements saw it: a factor shown negligible (ruled out)
    # or one this budget cannot decide (inconclusive) both keep it; naming it
    # a cause or offsetting does not.
    quiet = {c.factor for c in (*verdict.ruled_out, *verdict.inconclusive)}
    missing = set(expect.get("ruled_out", ())) - quiet
    if missing:
        problems.append(f"not ruled out: {sorted(missing)}")
    return problems


def fast_pair(pair: Pair) -> Pair | None:
    """``pair`` at its ``[reproduce]`` fast budget, or ``None`` without one."""
    budget = pair.reproduce
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
        cap = search.get("max_seeds")
        if cap is not None and cap < search["seeds"]:
            search.pop("max_seeds")
            search.pop("seed_step", None)
    return dataclasses.replace(pair, spec=spec, search=search)


def catalogue(names: Sequence[str] = (), *, fast: bool = False) -> dict[str, Pair]:
    """The cases to run: every bundled scenario with an expected verdict (and,
    under ``fast``, a fast budget), or the ``names`` given, each loaded.

    Raises
    ------
    ScenarioError
        For a name that is neither a bundled scenario nor a file, a case
        without ``expect.verdict``, or (under ``fast``) without a fast budget:
        before anything trains.
    """
    bundled = bundled_scenarios()
    if not names:
        pairs = {name: load_pair(path) for name, path in sorted(bundled.items())}
        return {
            name: pair
            for name, pair in pairs.items()
            if pair.expect.get("verdict") and (not fast or pair.reproduce.get("fast"))
        }
    cases = {}
    for name in dict.fromkeys(names):
        pair = load_pair(name)
        if not pair.expect.get("verdict"):
            raise ScenarioError(
                "is required: a reproduce case states the verdict it expects",
                key="expect.verdict",
                path=pair.path or name,
            )
        if fast and not pair.reproduce.get("fast"):
            raise ScenarioError(
                "is not true: this case has no fast budget; run it without --fast",
                key="reproduce.fast",
                path=pair.path or name,
            )
        cases[name] = pair
    return cases


def reproduce(
    names: Sequence[str] = (),
    *,
    fast: bool = False,
    store: str | Path | None = None,
    jobs: int = 1,
    progress: Callable[[Progress], None] | None = None,
    on_case: Callable[[CaseResult], None] | None = None,
) -> list[CaseResult]:
    """Run the catalogue (or ``names``) and check each case's expectations.

    Parameters
    ----------
    names
        Bundled scenario names or scenario files; empty for every bundled
        scenario whose ``[expect]`` names a verdict.
    fast
        Run only the cases with ``[reproduce] fast = true``, at that budget.
    store, jobs, progress
        As for `bisect_ml.api.bisect`; each case is recorded as a run.
    on_case
        Called with each case's result as soon as it is known.

    Returns
    -------
    list of CaseResult
        In the order run. A case whose trial crashed (`BackendError`) fails
        with the error and the others still run.
    """
    from bisect_ml import api

    cases = catalogue(names, fast=fast)
    results = []
    for name, pair in cases.items():
        if fast:
            pair = fast_pair(pair) or pair
        expected = tuple(pair.expect.get("causes", ())) or (pair.expect["verdict"],)
        command = ["bisect-ml", "reproduce", *(["--fast"] if fast else []), name]
        start = time.perf_counter()
        verdict: Verdict | None = None
        error = None
        try:
            verdict = api.bisect(
                pair, store=store, jobs=jobs, progress=progress, command=command
            )
            problems = tuple(check_expectations(pair, verdict))
        except BackendError as err:
            error = str(err)
            problems = (f"crashed: {err}",)
        result = CaseResult(
            name=name,
            expected=expected,
            verdict=verdict,
            problems=problems,
            seconds=time.perf_counter() - start,
            fast=fast,
            seeds=int(pair.search["seeds"]),
            epochs=pair.spec.train.epochs,
            error=error,
        )
        results.append(result)
        if on_case is not None:
            on_case(result)
    return results


def table(results: Sequence[CaseResult]) -> str:
    """The reproduce table as Markdown."""
    lines = [
        "| case | seeds x epochs | expected causes | found causes (share [95% CI]) "
        "| trials | time s | result |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        v = r.verdict
        if v is None:
            found, trials = "-", "-"
        else:
            found = (
                ", ".join(
                    f"`{c.factor}` {_pct(c.share.estimate)} [{_pct(c.share.low)}, "
                    f"{_pct(c.share.high)}]"
                    for c in v.found
                )
                or v.status.value
            )
            trials = str(v.trials_run + v.trials_cached)
        lines.append(
            f"| {r.name} | {r.seeds} x {r.epochs} | {', '.join(r.expected)} | "
            f"{found} | {trials} | {r.seconds:.0f} | "
            f"{'pass' if r.passed else 'FAIL: ' + '; '.join(r.problems)} |"
        )
    return "\n".join(lines)


def _pct(x: float) -> str:
    return f"{x:.0%}" if math.isfinite(x) else "n/a"
