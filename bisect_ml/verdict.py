"""The verdict: what a search concluded, with the evidence behind every claim.

A verdict is plain frozen data; reports are rendered from it alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bisect_ml.factors import Value
    from bisect_ml.stats import Comparison, Equivalence, Noise, Ratio

__all__ = [
    "ArmResult",
    "Cause",
    "Closure",
    "Decision",
    "Interaction",
    "Power",
    "Status",
    "StopReason",
    "Verdict",
]


class Status(StrEnum):
    """The conclusion, and the CLI's exit code for it."""

    EXPLAINED = "explained"
    """Causes found, and swapping every differing factor closes the gap."""
    RESIDUAL = "residual"
    """A real gap that the found causes do not (fully) explain."""
    NO_GAP = "no_gap"
    """The sides are not distinguishable from seed noise at this budget."""
    INCONCLUSIVE = "inconclusive"
    """A real gap (or an undecided one) this budget could not attribute: no
    factor is significant and no residual is shown, or the trial budget ran
    out before a verdict. More seeds or trials are needed."""

    @property
    def exit_code(self) -> int:
        return {"explained": 0, "residual": 3, "no_gap": 4, "inconclusive": 5}[
            self.value
        ]


class StopReason(StrEnum):
    """Why the search, or one decision within it, stopped taking seeds."""

    DECIDED = "decided"
    """The search ran to its end; a decision crossed a boundary of its design."""
    NO_GAP = "no_gap"
    BUDGET_EXHAUSTED = "budget_exhausted"
    NO_CANDIDATES = "no_candidates"
    SEED_CAP = "seed_cap"
    """A decision reached its last look (the seed cap) without crossing."""


@dataclass(frozen=True)
class Decision:
    """One sequential decision: what it asked, what it found, why it stopped.

    Attributes
    ----------
    subject
        ``"gap"``, a factor, a swap set ``"{a, b}"``, an interaction
        ``"a x b"``, ``"closure"``, or a search's screening question
        ``"torch <- {a, b} on 3 swapped"``.
    kind
        ``"gap"``, ``"factor"``, ``"set"``, ``"interaction"``, ``"closure"``
        or ``"screen"``.
    outcome
        ``"effect"`` or ``"no_effect"``; for the closure ``"equivalent"``,
        ``"different"`` or ``"inconclusive"``; for a screening question
        ``"moves"``, ``"clean"`` or ``"unclear"``.
    stop
        `StopReason.DECIDED` (a boundary was crossed: an effect, or futility
        before the cap), `StopReason.SEED_CAP` or
        `StopReason.BUDGET_EXHAUSTED`.
    seeds
        Seeds per arm when it stopped; ``looks`` are those its design allowed.
    z, pvalue
        Standardised statistic at the stop (``nan`` for the closure) and the
        stagewise-ordering p-value, two-sided.
    alpha
        The two-sided level its design spends over all looks.
    arms
        Labels of the arms it measured.
    """

    subject: str
    kind: str
    outcome: str
    stop: StopReason
    seeds: int
    looks: tuple[int, ...]
    z: float
    pvalue: float
    alpha: float
    arms: tuple[str, ...] = ()


@dataclass(frozen=True)
class Power:
    """A/A calibration of the pair: its seed noise and what the seeds can see.

    Attributes
    ----------
    noise
        Seed-to-seed standard deviation of each side, with its interval.
    detectable_gap
        Smallest gap a two-sided Welch test at ``alpha`` finds with ``power``
        at the seeds the sides have (``seeds``).
    detectable_gap_at_cap
        The same at the seed cap.
    seeds_needed
        Seeds per side at which the observed gap would be detectable; ``None``
        when it is zero or beyond reach.
    paired_variance_ratio
        Median over hybrid-vs-side comparisons of ``var(paired differences) /
        (var(side) + var(hybrid))``: the variance a paired comparison keeps of
        an unpaired one (``nan`` when nothing was paired).
    detectable_share
        Median over tested factors of the smallest move of a side, as a share
        of the gap, that their paired test finds with ``power`` at the seed
        cap (``nan`` when none).
    """

    noise: dict[str, Noise]
    seeds: dict[str, int]
    alpha: float
    power: float
    gap: float
    detectable_gap: float
    detectable_gap_at_cap: float
    seeds_needed: int | None
    paired_variance_ratio: float = float("nan")
    paired_comparisons: int = 0
    detectable_share: float = float("nan")
    gap_found: bool | None = None
    """Whether the gap test decided there is a gap (``None``: not recorded).
    The power statement follows it, so it cannot disagree with the test."""

    @property
    def below_detectable(self) -> bool:
        """Whether the observed gap is smaller than the seeds can detect."""
        return abs(self.gap) < self.detectable_gap


@dataclass(frozen=True)
class Interaction:
    """Two causes that do not add up: the 2x2 interaction of their swaps.

    ``effect`` is the interaction contrast ``(tt + kk) - (tk + kt)`` of the
    two factors' values (averaged over both sides' runs) over ``|gap|``: 100%
    means a non-additivity as large as the gap. ``excess`` holds, per side,
    how much more of the gap swapping both closes than the sum of swapping
    each alone (negative: less).
    """

    factors: tuple[str, str]
    effect: Ratio
    excess: dict[str, Ratio]
    pvalue: float
    pvalue_adjusted: float
    seeds: int
    significant: bool


@dataclass(frozen=True)
class ArmResult:
    """An arm's per-seed outcomes.

    A value that is not finite is a trial that diverged (its loss or metric
    became non-finite) or failed (its worker died on every attempt): it is an
    outcome, counted by `diverged`, and tested as one (see
    `bisect_ml.stats.compare`). ``failed`` counts the failed ones among them.
    """

    label: str
    base: str
    swap: tuple[str, ...]
    backend: str
    seeds: tuple[int, ...]
    values: tuple[float, ...]
    metric_curves: tuple[tuple[float, ...], ...] = ()
    loss_curves: tuple[tuple[float, ...], ...] = ()
    stop: str = ""
    """Why the arm has no more seeds: the stop reason of the decision that
    took it furthest, or ``""`` when no sequential decision measured it."""
    decided_by: str = ""
    failed: int = 0
    """Trials recorded as failed (the worker died on every attempt); each is
    also counted in `diverged`."""

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def diverged(self) -> int:
        """Trials without a finite metric: diverged, or failed."""
        return sum(not math.isfinite(v) for v in self.values)

    @property
    def mean(self) -> float:
        """Mean over the trials that finished."""
        finite = [v for v in self.values if math.isfinite(v)]
        return sum(finite) / len(finite) if finite else float("nan")


@dataclass(frozen=True)
class Cause:
    """The evidence on one differing factor.

    ``share`` is the fraction of the gap that swapping this factor alone closes,
    averaged over both directions (each side taking the other's value).
    ``pvalue`` is that of any move of either side (the smaller two-sided
    p-value of the two sides, doubled); ``pvalue_adjusted`` is after Holm
    across factors. ``seeds`` is the seeds per arm its test used, ``stop``
    why that test stopped.
    """

    factor: str
    values: dict[str, Value]
    is_default: dict[str, bool]
    share: Ratio
    share_by_side: dict[str, Ratio]
    comparisons: dict[str, Comparison]
    pvalue: float
    pvalue_adjusted: float
    role: str
    share_by_epoch: tuple[float, ...] = ()
    seeds: int = 0
    stop: str = ""

    @property
    def is_cause(self) -> bool:
        return self.role == "cause"


@dataclass(frozen=True)
class Closure:
    """Every differing factor swapped at once, against the other side."""

    share: Ratio
    interaction: Ratio
    equivalence: dict[str, Equivalence]
    difference: dict[str, Comparison]
    status: str  # "equivalent", "different", "inconclusive"
    residual_90: tuple[float, float] = (float("nan"), float("nan"))
    margin: float = 0.2

    @property
    def residual(self) -> tuple[float, float, float]:
        s = self.share
        return 1 - s.estimate, 1 - s.high, 1 - s.low


@dataclass(frozen=True)
class Verdict:
    """The conclusion of a bisection and everything it rests on."""

    pair: str
    status: Status
    stop_reason: StopReason
    strategy: str
    gap: Comparison
    gap_by_epoch: tuple[float, ...]
    candidates: tuple[str, ...]
    causes: tuple[Cause, ...]
    closure: Closure | None
    arms: tuple[ArmResult, ...]
    seeds: tuple[int, ...]
    settings: dict[str, Any]
    trials_run: int
    trials_cached: int
    wall_seconds: float
    train_seconds: float
    tests: tuple[str, ...]
    notes: tuple[str, ...] = field(default=())
    versions: dict[str, str] = field(default_factory=dict)
    interactions: tuple[Interaction, ...] = ()
    decisions: tuple[Decision, ...] = ()
    power: Power | None = None

    @property
    def found(self) -> tuple[Cause, ...]:
        """The causes, largest share first."""
        return tuple(
            sorted(
                (c for c in self.causes if c.is_cause), key=lambda c: -c.share.estimate
            )
        )

    @property
    def offsetting(self) -> tuple[Cause, ...]:
        """Factors that significantly push the sides apart the other way."""
        return tuple(c for c in self.causes if c.role == "offsetting")

    @property
    def ruled_out(self) -> tuple[Cause, ...]:
        """Factors shown negligible: their share's interval lies inside
        +-margin of the gap (equivalence, as the closure uses)."""
        return tuple(c for c in self.causes if c.role == "ruled_out")

    @property
    def inconclusive(self) -> tuple[Cause, ...]:
        """Factors neither significant nor shown negligible at this budget."""
        return tuple(c for c in self.causes if c.role == "inconclusive")

    @property
    def stop_summary(self) -> str:
        """Why the search stopped, true of every decision it took.

        ``"decided"`` only when every decision crossed a boundary; otherwise
        which decisions stopped at the seed cap or at the trial budget.
        """
        if self.stop_reason is not StopReason.DECIDED:
            return _STOP_TEXT.get(self.stop_reason.value, self.stop_reason.value)
        open_: dict[StopReason, list[str]] = {}
        for d in self.decisions:
            if d.stop is not StopReason.DECIDED:
                open_.setdefault(d.stop, []).append(d.subject)
        if not open_:
            return "decided (every decision crossed a boundary)"
        parts = [
            f"{_STOP_TEXT.get(stop.value, stop.value)} ({', '.join(subjects)})"
            for stop, subjects in open_.items()
        ]
        return "search finished, but not every decision was decided: " + "; ".join(
            parts
        )


_STOP_TEXT = {
    "decided": "decided",
    "no_gap": "no gap",
    "budget_exhausted": "trial budget exhausted",
    "no_candidates": "no candidates",
    "seed_cap": "seed cap",
}
