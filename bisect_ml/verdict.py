"""The verdict: what a search concluded, with the evidence behind every claim.

A verdict is plain frozen data; reports are rendered from it alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bisect_ml.factors import Value
    from bisect_ml.stats import Comparison, Equivalence, Ratio

__all__ = ["ArmResult", "Cause", "Closure", "Status", "StopReason", "Verdict"]


class Status(StrEnum):
    """The conclusion, and the CLI's exit code for it."""

    EXPLAINED = "explained"
    """Causes found, and swapping every differing factor closes the gap."""
    RESIDUAL = "residual"
    """A real gap that the found causes do not (fully) explain."""
    NO_GAP = "no_gap"
    """The sides are not distinguishable from seed noise at this budget."""

    @property
    def exit_code(self) -> int:
        return {"explained": 0, "residual": 3, "no_gap": 4}[self.value]


class StopReason(StrEnum):
    """Why the search stopped."""

    DECIDED = "decided"
    NO_GAP = "no_gap"
    BUDGET_EXHAUSTED = "budget_exhausted"
    NO_CANDIDATES = "no_candidates"


@dataclass(frozen=True)
class ArmResult:
    """An arm's per-seed outcomes."""

    label: str
    base: str
    swap: tuple[str, ...]
    backend: str
    seeds: tuple[int, ...]
    values: tuple[float, ...]
    metric_curves: tuple[tuple[float, ...], ...] = ()
    loss_curves: tuple[tuple[float, ...], ...] = ()

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def diverged(self) -> int:
        return sum(v != v for v in self.values)

    @property
    def mean(self) -> float:
        finite = [v for v in self.values if v == v]
        return sum(finite) / len(finite) if finite else float("nan")


@dataclass(frozen=True)
class Cause:
    """The evidence on one differing factor.

    ``share`` is the fraction of the gap that swapping this factor alone closes,
    averaged over both directions (each side taking the other's value).
    ``pvalue`` is the smaller one-sided p-value of a move toward the other side,
    doubled for the two directions; ``pvalue_adjusted`` is after Holm across
    factors.
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
    versions: dict[str, dict[str, str]] = field(default_factory=dict)

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
        return tuple(c for c in self.causes if c.role == "ruled_out")
