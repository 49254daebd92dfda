"""The default strategy: choose the search by the number of candidates."""

from __future__ import annotations

import logging

from bisect_ml.strategies._base import Strategy
from bisect_ml.strategies._search import Probes, group_test, one_at_a_time, settle

__all__ = ["Auto"]

logger = logging.getLogger(__name__)

#: Up to this many candidates, each is tested alone. Group testing costs no
#: more than OFAT from two candidates up (measured on simulated pairs, 10 seeds
#: per arm, median trials for one cause: 60 vs 80 at n = 2, 70 vs 100 at n = 3).
FEW = 1


class Auto(Strategy):
    """The default: static diff, a search that suits the candidates, quantification.

    1. The static diff (free): the candidates are the factors whose values
       differ; the base class decides first whether there is a gap at all.
    2. A single candidate is tested alone in both directions (as OFAT does);
       with more, adaptive group testing (`bisect`) finds the causes in about
       ``k log2(n / k)`` group arms, searching again where the found factors
       fall short of the full swap (factors that matter only together).
    3. The base class quantifies the found set: shares with intervals,
       pairwise interactions of the causes and the closure check.

    Parameters
    ----------
    **options
        Those of `Strategy` (``seeds``, ``alpha``, ``margin``, ``max_trials``,
        ``first_seed``).

    Notes
    -----
    A cheap deterministic check (a few training steps showing that a swap
    changes nothing at all) would drop inert candidates before any statistics;
    the backends do not offer one yet. TODO(#5): add it when a backend can run
    a few steps deterministically.

    Examples
    --------
    >>> from bisect_ml.strategies import get_strategy
    >>> get_strategy("auto").name
    'auto'
    """

    name = "auto"

    def explore(self, candidates: list[str]) -> list[str]:
        if len(candidates) <= FEW:
            logger.info("%d candidate: testing it alone", len(candidates))
            return one_at_a_time(self, candidates)
        logger.info("%d candidates: group testing", len(candidates))
        probes = Probes(self, candidates)
        return settle(probes, group_test(probes, "torch", (), candidates), group_test)
