"""The default strategy: choose the search by the number of candidates."""

from __future__ import annotations

import logging
import math
from typing import Any

from bisect_ml.strategies._base import Strategy
from bisect_ml.strategies._search import (
    SCREEN_GAMMA,
    Probes,
    group_test,
    one_at_a_time,
    search_and_settle,
)

__all__ = ["Auto", "plan_looks"]

logger = logging.getLogger(__name__)

#: Up to this many candidates, each is tested alone. Group testing costs no
#: more than OFAT from two candidates up (measured on simulated pairs, 10 seeds
#: per arm, median trials for one cause: 60 vs 80 at n = 2, 70 vs 100 at n = 3).
FEW = 1

#: The first look as a fraction of the seed cap, when `Auto` plans the looks.
FIRST_LOOK = 0.4


def plan_looks(cap: int) -> tuple[int, int]:
    """First look and seed step of `Auto`'s looks for at most ``cap`` seeds.

    Three looks at about 40%, 70% and 100% of the cap, the first at no fewer
    than three seeds: ``plan_looks(10) == (4, 3)``, looks 4, 7 and 10.

    >>> plan_looks(10), plan_looks(20), plan_looks(4)
    ((4, 3), (8, 6), (3, 1))
    """
    first = min(cap, max(3, round(FIRST_LOOK * cap)))
    return first, max(1, math.ceil((cap - first) / 2))


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

    Every decision takes seeds as it needs them: ``seeds`` is the most an arm
    gets, and each decision (the gap, every screening question of the search,
    every confirmation, interaction and the closure) looks at its arms after
    about 40%, 70% and 100% of them (`plan_looks`: 4, 7 and 10 of 10) and
    stops at the first look that settles it. The screening questions spend
    their alpha evenly over the looks (`SCREEN_GAMMA`); the confirmations, the
    interactions and the closure use the base class's group-sequential
    designs (late spending), and the causes are still confirmed with Holm's
    method over every candidate.

    Parameters
    ----------
    seeds
        The seed cap: the most seeds any arm is trained at.
    max_seeds, seed_step
        Give them to choose the looks yourself, as for every strategy
        (``seeds`` is then the first look); ``max_seeds=seeds`` fixes the
        seeds.
    **options
        The other options of `Strategy` (``alpha``, ``margin``,
        ``max_trials``, ``first_seed``, ``power``, ``gamma``, ``gamma_beta``).

    Notes
    -----
    A cheap deterministic check (a few training steps showing that a swap
    changes nothing at all) would drop inert candidates before any statistics;
    the backends do not offer one yet. TODO(#5): add it when a backend can run
    a few steps deterministically.

    `auto` meets the search-efficiency goals on simulated pairs
    (`benchmarks/strategies.py`), but is not the default strategy yet:
    TODO(#5): make it the default once it has reached OFAT's verdict on the
    real seed scenarios (``benchmarks/strategies.py --reps 0 --real``).

    Examples
    --------
    >>> from bisect_ml.strategies import get_strategy
    >>> auto = get_strategy("auto", seeds=10)
    >>> auto.name, auto.looks
    ('auto', (4, 7, 10))
    >>> get_strategy("auto", seeds=10, max_seeds=10).looks
    (10,)
    """

    name = "auto"

    def __init__(
        self,
        *,
        seeds: int = 10,
        max_seeds: int | None = None,
        seed_step: int | None = None,
        **options: Any,
    ) -> None:
        if max_seeds is None and seed_step is None and seeds >= 3:
            max_seeds = seeds
            seeds, seed_step = plan_looks(seeds)
        super().__init__(
            seeds=seeds, max_seeds=max_seeds, seed_step=seed_step, **options
        )

    def explore(self, candidates: list[str]) -> list[str]:
        if len(candidates) <= FEW:
            logger.info("%d candidate: testing it alone", len(candidates))
            return one_at_a_time(self, candidates)
        logger.info("%d candidates: group testing", len(candidates))
        self.methods.append(
            "search: adaptive group testing on paired screening questions "
            "(clean: paired TOST within the margin; moves: paired t or "
            "Mann-Whitney U), each asked at the looks "
            f"{', '.join(map(str, self.looks))} until it is clean or moves, "
            "with its alpha spent over the looks (Hwang-Shih-DeCani, gamma "
            f"{SCREEN_GAMMA:g}); a question never names a cause: the suspects "
            f"are confirmed with Holm's method over all {len(candidates)} "
            "candidates"
        )
        probes = Probes(self, candidates)
        causes = search_and_settle(probes, candidates, group_test)
        asked = probes.asked
        self.notes.append(
            f"the search asked {len(asked)} screening question(s) "
            f"({sum(p.status == 'clean' for p in asked)} clean, "
            f"{sum(p.status == 'moves' for p in asked)} moving, "
            f"{sum(p.status == 'unclear' for p in asked)} unclear) on "
            f"{len({(p.framework, s) for p in asked for s in (p.swap, p.reference)})}"
            f" arms, where OFAT trains {2 * len(candidates)} single swaps"
        )
        return causes
