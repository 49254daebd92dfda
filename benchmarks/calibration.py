"""Calibration of bisect-ml's statistics on simulated pairs whose truth is known.

Every case is a simulated pair whose sides differ in 12 catalogue factors
(fewer if the catalogue has fewer that apply to a dense model), run through
the OFAT strategy on `SimulatedLab` (each framework's seed draws independent,
arms of one framework sharing theirs). Each repetition uses its own seeds, and
the planted factor and the side it hurts rotate over the repetitions. The
verdict is scored against `bisect_ml.backends.simulated.truth`.

Figures (issue #4):

- A/A: no factor matters; fraction of "no significant gap" verdicts (goal
  >= 95%);
- one cause: one factor shifts the metric by 2 noise standard deviations;
  fraction found exactly, no extra claim (cause or offsetting) and none
  missing (goal >= 95%);
- coverage of the 95% intervals of the gap and of every factor's share (goal
  93%-97%);
- pure interaction: two factors shift the metric by 2 noise sd only when both
  take one side's values; fraction where the verdict reports their pairwise
  interaction as significant and no other (goal >= 90%), and coverage of the
  interaction's interval;
- the same under heavy-tailed noise (t with 3 df) with 10% of trials diverged;
- seeds per decision and trials per verdict, adaptive against a fixed 10 seeds
  per arm, with the accuracy each reaches;
- the share interval methods (Fieller, percentile and BCa bootstrap) at ten
  seeds, on the one-cause pairs;
- A/A false gaps when peeking at 5 and 10 seeds at a nominal 0.05, against
  the group-sequential design at the same looks.

    python benchmarks/calibration.py [--reps 500] [--jobs 2] [--cases ...]

`tests/test_calibration.py` runs a small version with fewer repetitions.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# The scenario document it builds on lives with the tests, which share it.
_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from bisect_ml.backends.simulated import SimulatedLab, truth  # noqa: E402
from bisect_ml.factors import registry  # noqa: E402
from bisect_ml.scenario import Pair, parse_pair  # noqa: E402
from bisect_ml.stats import IntervalWarning, ratio_of_contrasts  # noqa: E402
from bisect_ml.strategies.ofat import OneFactorAtATime  # noqa: E402
from bisect_ml.verdict import Status, Verdict  # noqa: E402
from tests._helpers import scenario_doc  # noqa: E402

N_FACTORS = 12
NOISE = 0.01
SHIFT = 2.0  # in noise standard deviations

#: Strategy settings compared: fixed seeds, and adaptive seeds with the same
#: cap (looks at 5 and 10) and with a higher one (looks at 5, 10, 15, 20).
FIXED: dict[str, Any] = {"seeds": 10}
ADAPTIVE: dict[str, Any] = {"seeds": 5, "max_seeds": 10}
ADAPTIVE_20: dict[str, Any] = {"seeds": 5, "max_seeds": 20}
SETTINGS = {
    "fixed 10": FIXED,
    "adaptive 5,10": ADAPTIVE,
    "adaptive 5..20": ADAPTIVE_20,
}


def _alternative(name: str, keras_value: Any) -> Any | None:
    """A valid value of factor ``name`` other than ``keras_value``."""
    factor = registry[name]
    if factor.choices:
        options = [c for c in factor.choices if c != keras_value]
    elif factor.kind is bool:
        options = [not keras_value]
    elif factor.kind is int:
        options = [keras_value + 1]
    else:
        options = [keras_value * 2, (keras_value + 1) / 2, 0.001, 1.0]
    for value in options:
        if value == keras_value:
            continue
        try:
            return factor.validate(value)
        except Exception:
            continue
    return None


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in flat.items():
        head, _, tail = key.partition(".")
        out.setdefault(head, {})
        if tail:
            out[head] = {**out[head], **_nest({tail: value})}
        else:
            out[head] = value
    return out


def _doc(torch: dict[str, Any], simulation: dict[str, Any]) -> dict[str, Any]:
    # The tests' dense digits scenario, on the simulated backend.
    return scenario_doc(
        scenario={"name": "calibration", "backend": "simulated"},
        sides={"torch": _nest(torch), "keras": {}},
        simulation=simulation,
    )


def base_sides(n: int = N_FACTORS) -> dict[str, Any]:
    """Torch's explicit values making the sides differ in ``n`` factors.

    Factors whose framework defaults already differ come first; others are
    made to differ by giving torch another valid value. Surplus differences
    are removed by giving torch keras's value.
    """
    sim = {"base": 0.05, "noise": NOISE}
    torch: dict[str, Any] = {}
    for _ in range(3):  # setting a factor can make another one apply
        pair = parse_pair(_doc(torch, sim))
        keras = pair.side("keras").assignment
        for name in registry:
            if len(pair.differing()) >= n:
                break
            if pair.applies(name) and name not in pair.differing():
                value = _alternative(name, keras[name])
                if value is not None:
                    torch[name] = value
                    pair = parse_pair(_doc(torch, sim))
    pair = parse_pair(_doc(torch, sim))
    keras = pair.side("keras").assignment
    for name in pair.differing()[n:]:
        torch[name] = keras[name]
    return torch


@dataclass(frozen=True)
class Case:
    """A planted truth: ``kind`` is ``aa``, ``cause`` or ``interaction``."""

    kind: str
    distribution: str = "normal"
    diverge: float = 0.0

    @property
    def label(self) -> str:
        noise = "normal" if self.distribution == "normal" else "t3 + 10% diverged"
        return f"{self.kind} ({noise})"


def make_pair(case: Case, rep: int, torch: dict[str, Any]) -> Pair:
    """The pair of repetition ``rep``: planted factor and hurt side rotate."""
    sim: dict[str, Any] = {
        "base": 0.05,
        "noise": NOISE,
        "distribution": case.distribution,
        "diverge_probability": case.diverge,
        "effects": [],
    }
    pair = parse_pair(_doc(torch, sim))
    candidates = pair.differing()
    hurt = pair.side("torch" if rep % 2 == 0 else "keras").assignment
    m = len(candidates)
    if case.kind == "cause":
        f = candidates[(rep // 2) % m]
        sim["effects"] = [{"when": _nest({f: hurt[f]}), "shift": SHIFT * NOISE}]
    elif case.kind == "interaction":
        i = (rep // 2) % m
        # Over the repetitions, every factor meets every other one.
        f, g = candidates[i], candidates[(i + 1 + (rep // (2 * m)) % (m - 1)) % m]
        sim["effects"] = [
            {"when": _nest({f: hurt[f], g: hurt[g]}), "shift": SHIFT * NOISE}
        ]
    return parse_pair(_doc(torch, sim))


@dataclass
class Score:
    """What one verdict got right."""

    no_gap: bool
    exact: bool
    interaction_found: bool
    gap_covered: bool
    shares: int
    shares_covered: int
    interaction_covered: int
    interactions: int
    trials: int
    seeds_per_decision: float
    factor_decisions: int
    decided_early: int


def score(v: Verdict, pair: Pair) -> Score:
    """Score ``v`` against the truth of ``pair``."""
    tr = truth(pair)
    found = {c.factor for c in v.found}
    claims_ok = found == set(tr.causes) and {c.factor for c in v.offsetting} <= set(
        tr.offsetting
    )
    if not tr.causes:
        exact = v.status is Status.NO_GAP
    else:
        exact = v.status is not Status.NO_GAP and claims_ok
    significant = {frozenset(i.factors) for i in v.interactions if i.significant}
    planted = {frozenset(p) for p in tr.interactions}
    low, high = v.gap.confidence_interval()
    shares = [c for c in v.causes if c.factor in tr.shares]
    inter = [i for i in v.interactions if tuple(sorted(i.factors)) in tr.interactions]
    factor_decisions = [d for d in v.decisions if d.kind == "factor"]
    return Score(
        no_gap=v.status is Status.NO_GAP,
        exact=exact,
        interaction_found=bool(planted) and significant == planted and claims_ok,
        gap_covered=low <= tr.gap <= high,
        shares=len(shares),
        shares_covered=sum(c.share.covers(tr.shares[c.factor]) for c in shares),
        interaction_covered=sum(
            i.effect.covers(tr.interactions[tuple(sorted(i.factors))]) for i in inter
        ),
        interactions=len(inter),
        trials=v.trials_run + v.trials_cached,
        seeds_per_decision=float(
            np.mean([d.seeds for d in v.decisions if d.kind in ("gap", "factor")])
        ),
        factor_decisions=len(factor_decisions),
        decided_early=sum(d.seeds < d.looks[-1] for d in factor_decisions),
    )


def run_one(case: Case, rep: int, settings: dict[str, Any], torch: dict) -> Score:
    """Run OFAT on repetition ``rep`` of ``case`` and score the verdict."""
    pair = make_pair(case, rep, torch)
    search = OneFactorAtATime(first_seed=1000 * rep, margin=0.2, **settings)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IntervalWarning)
        verdict = search.run(SimulatedLab(pair))
    return score(verdict, pair)


def _chunk(args: tuple[Case, list[int], dict[str, Any], dict]) -> list[Score]:
    case, reps, settings, torch = args
    return [run_one(case, rep, settings, torch) for rep in reps]


def run_case(
    case: Case, reps: int, settings: dict[str, Any], jobs: int = 1
) -> list[Score]:
    """Score ``reps`` repetitions of ``case``, over ``jobs`` processes."""
    torch = base_sides()
    chunks = [list(range(i, reps, jobs)) for i in range(jobs)]
    if jobs == 1:
        return _chunk((case, chunks[0], settings, torch))
    with ProcessPoolExecutor(jobs) as pool:
        parts = pool.map(_chunk, [(case, c, settings, torch) for c in chunks])
        return [s for part in parts for s in part]


@dataclass
class Figure:
    """One row of the table: a proportion with its Wilson interval."""

    name: str
    hits: int
    total: int
    goal: tuple[float, float] | None = None
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def value(self) -> float:
        return self.hits / self.total if self.total else math.nan

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.hits, self.total)

    @property
    def met(self) -> str:
        """``yes`` inside the goal; ``within noise`` when only the 95% interval
        of the figure reaches it; ``NO`` otherwise."""
        if self.goal is None:
            return "(reported)"
        lo, hi = self.goal
        if lo <= self.value <= hi:
            return "yes"
        low, high = self.interval
        return "within noise" if high >= lo and low <= hi else "NO"


def wilson(hits: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion."""
    if not total:
        return (math.nan, math.nan)
    p = hits / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total))
    return centre - half / (1 + z * z / total), centre + half / (1 + z * z / total)


def figures(case: Case, scores: list[Score]) -> list[Figure]:
    """The figures a case contributes to the table."""
    n = len(scores)
    out = []
    cost = {
        "trials/verdict": float(np.mean([s.trials for s in scores])),
        "seeds/decision": float(np.mean([s.seeds_per_decision for s in scores])),
    }
    if case.kind == "aa":
        out.append(
            Figure(
                "no significant gap",
                sum(s.no_gap for s in scores),
                n,
                (0.95, 1.0),
                cost,
            )
        )
    elif case.kind == "cause":
        out.append(
            Figure("found exactly", sum(s.exact for s in scores), n, (0.95, 1.0), cost)
        )
    else:
        out.append(
            Figure(
                "interaction found",
                sum(s.interaction_found for s in scores),
                n,
                (0.90, 1.0),
                cost,
            )
        )
        out.append(
            Figure(
                "interaction CI coverage",
                sum(s.interaction_covered for s in scores),
                sum(s.interactions for s in scores),
                (0.93, 0.97),
            )
        )
    out.append(
        Figure("gap CI coverage", sum(s.gap_covered for s in scores), n, (0.93, 0.97))
    )
    if case.kind != "aa":
        out.append(
            Figure(
                "share CI coverage",
                sum(s.shares_covered for s in scores),
                sum(s.shares for s in scores),
                (0.93, 0.97),
            )
        )
    return out


def interval_methods(reps: int) -> list[Figure]:
    """Coverage of the share interval by method, one-cause pairs, ten seeds."""
    torch = base_sides()
    counts = {m: [0, 0] for m in ("fieller", "percentile", "bca")}
    case = Case("cause")
    for rep in range(reps):
        pair = make_pair(case, rep, torch)
        lab = SimulatedLab(pair)
        tr = truth(pair)
        seeds = range(1000 * rep, 1000 * rep + 10)
        from bisect_ml.lab import Arm

        for f in pair.differing():
            arms = {
                "T": Arm("torch"),
                "K": Arm("keras"),
                "t": Arm("torch", frozenset({f})),
                "k": Arm("keras", frozenset({f})),
            }
            got = lab.measure(arms.values(), seeds)
            values = {key: [o.metric for o in got[a]] for key, a in arms.items()}
            for method, count in counts.items():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", IntervalWarning)
                    r = ratio_of_contrasts(
                        values,
                        {"T": 1, "t": -1, "k": 1, "K": -1},
                        {"T": 2, "K": -2},
                        method=method,
                    )
                count[0] += r.covers(tr.shares[f])
                count[1] += 1
    return [
        Figure(f"share CI coverage, {m}", hit, tot, (0.93, 0.97))
        for m, (hit, tot) in counts.items()
    ]


def naive_peeking(reps: int) -> list[Figure]:
    """A/A false gaps when peeking at 5 and 10 seeds at a nominal 0.05.

    What adaptive seeds must not do: stop at the first look whose Welch
    p-value is below 0.05. Beside it, the group-sequential design bisect-ml
    uses on the same data.
    """
    from bisect_ml.lab import Arm
    from bisect_ml.stats import compare, group_sequential, z_from_p

    torch = base_sides()
    pair = make_pair(Case("aa"), 0, torch)
    lab = SimulatedLab(pair)
    design = group_sequential((5, 10), 0.025, gamma=-4.0, gamma_beta=1.0)
    naive = guarded = 0
    for rep in range(reps):
        got = lab.measure(
            [Arm("torch"), Arm("keras")], range(1000 * rep, 1000 * rep + 10)
        )
        t, k = ([o.metric for o in got[Arm(fw)]] for fw in ("torch", "keras"))
        p = [compare(k[:n], t[:n], paired=False).pvalue for n in (5, 10)]
        naive += min(p) < 0.05
        guarded += any(
            design.decide(look, z_from_p(pv / 2)) == "reject"
            for look, pv in enumerate(p)
        )
    return [
        Figure("false gaps, naive peeking at 5 and 10", naive, reps, None),
        Figure("false gaps, group-sequential at 5 and 10", guarded, reps, (0.0, 0.05)),
    ]


CASES = {
    "aa": Case("aa"),
    "cause": Case("cause"),
    "interaction": Case("interaction"),
    "aa-heavy": Case("aa", "t3", 0.1),
    "cause-heavy": Case("cause", "t3", 0.1),
    "interaction-heavy": Case("interaction", "t3", 0.1),
}


def _row(label: str, setting: str, reps: int, fig: Figure, seconds: float) -> str:
    lo, hi = fig.interval
    goal = "" if fig.goal is None else f"{fig.goal[0]:.0%}-{fig.goal[1]:.0%}"
    cost = " ".join(f"{v:.1f}" for v in fig.extra.values()) if fig.extra else ""
    return (
        f"| {label} | {setting} | {fig.name} | {fig.value:.1%} "
        f"[{lo:.1%}, {hi:.1%}] | {fig.hits}/{fig.total} | {goal} | {fig.met} | "
        f"{cost} | {seconds:.0f} |"
    )


def main(argv: Iterable[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=500)
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--cases", nargs="*", default=list(CASES))
    parser.add_argument("--settings", nargs="*", default=list(SETTINGS))
    parser.add_argument("--interval-reps", type=int, default=500)
    parser.add_argument("--peeking-reps", type=int, default=5000)
    args = parser.parse_args(argv)

    torch = base_sides()
    n = len(parse_pair(_doc(torch, {"base": 0.05})).differing())
    print(
        f"calibration: {n} differing factors, planted shifts {SHIFT:g} noise sd, "
        f"{args.reps} repetitions per row, OFAT, alpha 0.05, margin 0.2"
    )
    print()
    print(
        "| case | seeds | figure | measured [95% CI] | count | goal | met | "
        "trials/verdict seeds/decision | seconds |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    report: Callable[[str], None] = print
    total = time.perf_counter()
    for name in args.cases:
        case = CASES[name]
        for setting in args.settings:
            start = time.perf_counter()
            scores = run_case(case, args.reps, SETTINGS[setting], args.jobs)
            seconds = time.perf_counter() - start
            for fig in figures(case, scores):
                report(_row(case.label, setting, args.reps, fig, seconds))
            sys.stdout.flush()
    extras: list[tuple[int, Callable[[int], list[Figure]], str, str]] = [
        (args.peeking_reps, naive_peeking, "aa (normal)", "looks 5, 10"),
        (args.interval_reps, interval_methods, "cause (normal)", "fixed 10"),
    ]
    for reps, compute, label, setting in extras:
        if not reps:
            continue
        start = time.perf_counter()
        for fig in compute(reps):
            report(_row(label, setting, reps, fig, time.perf_counter() - start))
    print()
    print(f"total wall time {time.perf_counter() - total:.0f} s")


if __name__ == "__main__":
    main()
