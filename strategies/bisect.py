"""Adaptive group testing: swap half of the candidates, recurse where it matters."""

from __future__ import annotations

from bisect_ml.strategies._base import Strategy
from bisect_ml.strategies._search import Probes, group_test, search_and_settle

__all__ = ["Bisect"]


class Bisect(Strategy):
    """Find the causes by splitting the candidates in halves.

    Starting from the torch side with every candidate swapped (the closure arm,
    which the verdict needs anyway), a group that moves the side is split in
    two, and one arm is measured: the first half swapped on top of what is
    already swapped. The second half is then judged on top of the first,
    against the parent's arm, which is measured already, so each split costs
    one arm. A half is dropped only when a paired equivalence test shows it
    *clean* (it moves the side by less than a fraction of the gap), never
    because a difference test failed. The single factors reached are
    confirmed as OFAT confirms a cause, with Holm's method over every
    candidate.

    Parameters
    ----------
    **options
        Those of `Strategy`.

    Notes
    -----
    About ``k log2(n / k)`` group arms for ``k`` causes among ``n``
    candidates, plus both singles of each cause.

    Judging the second half on top of the first hides a factor that matters
    only while a factor of the first half is unswapped (two factors that both
    have to keep the torch side's values for torch to be worse). So the found
    factors are checked on both sides: where they do less than swapping every
    candidate, that side is searched again, with the found factors swapped in
    every arm (`settle`).

    A group holding a cause and a factor that offsets it by the same amount
    looks clean and is dropped: group testing assumes that effects in one group
    do not cancel. Candidates are split in catalogue order.

    Examples
    --------
    >>> from bisect_ml.strategies import get_strategy
    >>> get_strategy("bisect", seeds=10).name
    'bisect'
    """

    name = "bisect"

    def explore(self, candidates: list[str]) -> list[str]:
        return search_and_settle(Probes(self, candidates), candidates, group_test)
