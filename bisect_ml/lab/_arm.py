"""Arms: a side, or a side with a swap set taken from the other side."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bisect_ml.factors import Value
    from bisect_ml.scenario import Pair

__all__ = ["Arm"]


@dataclass(frozen=True, order=True)
class Arm:
    """A configuration evaluated over seeds.

    ``base`` names the side the arm starts from (and so the framework it trains
    in); ``swap`` is the set of factors taken from the other side.
    """

    base: str
    swap: frozenset[str] = frozenset()

    @property
    def is_side(self) -> bool:
        return not self.swap

    def label(self, pair: Pair | None = None) -> str:
        """``torch`` or ``torch <- keras{optimizer.epsilon}``."""
        if not self.swap:
            return self.base
        other = "keras" if self.base == "torch" else "torch"
        if pair is not None and set(self.swap) == set(pair.differing()):
            return f"{self.base} <- {other}{{all}}"
        return f"{self.base} <- {other}{{{', '.join(sorted(self.swap))}}}"

    def assignment(self, pair: Pair) -> dict[str, Value]:
        """The complete factor assignment this arm trains with."""
        values = pair.side(self.base).assignment
        donor = pair.side(pair.other(self.base)).assignment
        for name in self.swap:
            values[name] = donor[name]
        return values

    def backend(self, pair: Pair) -> str:
        """The backend that trains this arm: its base side's framework."""
        return "simulated" if pair.backend == "simulated" else self.base
