"""Ablation: the greedy path from one side to the other, largest gain first."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from bisect_ml.strategies._base import Strategy
from bisect_ml.strategies._search import Probes, group_test, search_and_settle

__all__ = ["Ablation", "greedy_path"]

logger = logging.getLogger(__name__)


def greedy_path(
    probes: Probes, framework: str, base: Sequence[str], pool: Sequence[str]
) -> list[str]:
    """Flip one factor at a time, each time the one that gains most.

    From ``framework <- other{base}``, every factor still in the race is
    flipped alone on top of the path so far (one batch of arms, which can train
    in parallel); the largest significant move toward the other side joins the
    path. Racing: a factor whose flip is shown clean (equivalent to not
    flipping it) leaves the race for good, so each round is cheaper than the
    last. The path ends when it reaches the full swap, or when no flip moves.
    """
    current = list(base)
    path: list[str] = []
    alive = list(pool)
    while alive and not probes.reaches(framework, current):
        probes.prefetch(framework, [[*current, f] for f in alive])
        moves = {f: probes.moves(framework, current, [f]) for f in alive}
        alive = [f for f in alive if moves[f].status != "clean"]
        gains = [f for f in alive if moves[f].toward]
        if not gains:
            break
        best = max(gains, key=lambda f: moves[f].effect)
        logger.info(
            "%s: step %d flips %s (share %+.2f), %d left in the race",
            framework,
            len(path) + 1,
            best,
            moves[best].share,
            len(alive) - 1,
        )
        path.append(best)
        current.append(best)
        alive.remove(best)
    return path


class Ablation(Strategy):
    """The greedy ablation path from the torch side to the keras side.

    Each round flips every remaining candidate alone on top of the path so far
    and keeps the one that moves the torch side furthest toward keras (in the
    spirit of Fawcett and Hoos's ablation analysis). Candidates shown clean in a
    round are raced out: they are not flipped again (in the spirit of irace's
    racing). The path's factors are then confirmed one at a time in both
    directions, with Holm's method over every candidate.

    Parameters
    ----------
    **options
        Those of `Strategy`.

    Notes
    -----
    The first round costs one arm per candidate, like one direction of OFAT;
    racing makes the later ones cheap. The path orders the causes by the gain
    each adds on top of the ones before, which is what a user fixing the port
    one setting at a time will see. A factor that matters only together with
    another gains nothing alone and is raced out; when the path then falls
    short of the full swap on a side, what is missing there is found by group
    testing (`bisect`), which costs far less than a second path.

    Racing over seeds (stopping an arm's seeds once it is clearly out) awaits
    per-arm seed counts in the base class; here a candidate races out between
    rounds.

    Examples
    --------
    >>> from bisect_ml.strategies import get_strategy
    >>> get_strategy("ablation").name
    'ablation'
    """

    name = "ablation"

    def explore(self, candidates: list[str]) -> list[str]:
        probes = Probes(self, candidates)
        return search_and_settle(probes, candidates, greedy_path, group_test)
