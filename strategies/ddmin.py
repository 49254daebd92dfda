"""Delta debugging: a 1-minimal set of factors that explains the gap."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from bisect_ml.strategies._base import Strategy
from bisect_ml.strategies._search import Probes, search_and_settle

__all__ = ["DeltaDebugging", "ddmin"]

logger = logging.getLogger(__name__)


def _chunks(items: list[str], n: int) -> list[list[str]]:
    size, extra = divmod(len(items), n)
    out, start = [], 0
    for i in range(n):
        stop = start + size + (1 if i < extra else 0)
        out.append(items[start:stop])
        start = stop
    return [c for c in out if c]


def ddmin(
    probes: Probes, framework: str, base: Sequence[str], items: Sequence[str]
) -> list[str]:
    """Zeller's ddmin over ``items``: a 1-minimal subset that reaches the full swap.

    A subset *reaches* when ``framework <- other{base + subset}`` is shown
    equivalent (paired, within the search margin) to the side's full swap
    (`Probes.reaches`). Subsets are tried first, then complements, doubling the
    granularity when neither reaches. A comparison that is not clear counts as
    "does not reach", so noise keeps factors in (costing trials and leaving a
    superset for confirmation) rather than dropping a cause.
    """
    base = list(base)

    def reaches(subset: list[str]) -> bool:
        return probes.reaches(framework, [*base, *subset])

    current, n = list(items), 2
    while len(current) >= 2:
        parts = _chunks(current, n)
        reduced = False
        for part in parts:
            if reaches(part):
                current, n, reduced = part, 2, True
                break
        if not reduced and len(parts) > 2:
            for part in parts:
                rest = [c for c in current if c not in part]
                if reaches(rest):
                    current, n, reduced = rest, max(n - 1, 2), True
                    break
        if not reduced:
            if n >= len(current):
                break
            n = min(2 * n, len(current))
    logger.info("ddmin on %s: %s", framework, current)
    return current


class DeltaDebugging(Strategy):
    """Delta debugging to a 1-minimal set of factors that explains the gap.

    Starting from every candidate swapped on the torch side (the closure arm),
    Zeller's ddmin removes subsets and complements as long as what remains
    still does what the full swap does (a paired equivalence test within a
    fraction of the gap). The result is 1-minimal: removing any one factor
    makes it fall short. Its factors are then confirmed one at a time in both
    directions, with Holm's method over every candidate.

    Parameters
    ----------
    **options
        Those of `Strategy`.

    Notes
    -----
    ddmin finds factors that matter only together: a set that needs two factors
    at once keeps both. A 1-minimal set is minimal from one side; when two
    factors each suffice on the torch side (a combination that either swap
    breaks), the keras side falls short with only one of them, and ddmin runs
    again there with the found factors swapped in, to find the other.

    It is the thorough strategy, not the cheap one: with several independent
    causes it tests many complements (up to quadratic in the candidates in the
    worst case).

    Examples
    --------
    >>> from bisect_ml.strategies import get_strategy
    >>> get_strategy("ddmin").name
    'ddmin'
    """

    name = "ddmin"

    def explore(self, candidates: list[str]) -> list[str]:
        return search_and_settle(Probes(self, candidates), candidates, ddmin)
