"""Screening: a two-level Plackett-Burman design over the swap mask."""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
from scipy import stats

from bisect_ml.stats import holm
from bisect_ml.strategies._base import Strategy
from bisect_ml.strategies._search import Probes, group_test, settle

__all__ = ["Design", "Screen", "hadamard", "plackett_burman"]

logger = logging.getLogger(__name__)


def _is_prime(q: int) -> bool:
    return q >= 2 and all(q % d for d in range(2, int(q**0.5) + 1))


def _jacobsthal(q: int) -> np.ndarray:
    squares = {(i * i) % q for i in range(1, q)}
    chi = np.array([0] + [1 if i in squares else -1 for i in range(1, q)])
    idx = (np.arange(q)[None, :] - np.arange(q)[:, None]) % q
    return chi[idx]


def _paley_1(q: int) -> np.ndarray:
    # q prime, q = 3 (mod 4): a skew Hadamard matrix of order q + 1.
    s = np.zeros((q + 1, q + 1), dtype=int)
    s[0, 1:], s[1:, 0], s[1:, 1:] = 1, -1, _jacobsthal(q)
    return s + np.eye(q + 1, dtype=int)


def _paley_2(q: int) -> np.ndarray:
    # q prime, q = 1 (mod 4): a symmetric conference matrix, doubled.
    c = np.zeros((q + 1, q + 1), dtype=int)
    c[0, 1:], c[1:, 0], c[1:, 1:] = 1, 1, _jacobsthal(q)
    zero = np.array([[1, -1], [-1, -1]])
    one = np.array([[1, 1], [1, -1]])
    return np.block([[zero if v == 0 else v * one for v in row] for row in c])


@functools.cache
def hadamard(order: int) -> np.ndarray | None:
    """A normalised Hadamard matrix of ``order``, or ``None`` if none is built.

    Built by Sylvester doubling and Paley's two constructions (primes only):
    orders 1, 2, every multiple of 4 up to 48, and most above. Normalised: the
    first row and column are all +1. The result is checked
    (``H H^T = order I``) before it is returned.
    """
    h: np.ndarray | None = None
    if order == 1:
        h = np.ones((1, 1), dtype=int)
    elif order == 2:
        h = np.array([[1, 1], [1, -1]])
    elif order % 4 == 0:
        q = order - 1
        if _is_prime(q) and q % 4 == 3:
            h = _paley_1(q)
        elif order % 8 == 4 and _is_prime(order // 2 - 1) and (order // 2 - 1) % 4 == 1:
            h = _paley_2(order // 2 - 1)
        elif (half := hadamard(order // 2)) is not None:
            h = np.block([[half, half], [half, -half]])
    if h is None:
        return None
    h = h * h[:, :1]  # first column all +1
    h = h * h[:1, :]  # first row all +1
    if not np.array_equal(h @ h.T, order * np.eye(order, dtype=int)):
        raise AssertionError(f"the Hadamard construction of order {order} failed")
    return h


@dataclass(frozen=True)
class Design:
    """A two-level screening design over the swap mask.

    Attributes
    ----------
    factors
        The factor of each column.
    matrix
        One row per arm, one column per factor: +1 keeps the side's own value,
        -1 swaps it. Row 0 keeps every value (the side itself).
    """

    factors: tuple[str, ...]
    matrix: np.ndarray

    @property
    def runs(self) -> int:
        return int(self.matrix.shape[0])

    def swaps(self) -> list[frozenset[str]]:
        """The swap set of each run."""
        return [
            frozenset(f for f, x in zip(self.factors, row, strict=True) if x < 0)
            for row in self.matrix
        ]

    def alias_matrix(self) -> dict[tuple[str, str], np.ndarray]:
        """How each two-factor interaction biases the main-effect estimates.

        For the interaction of ``a`` and ``b``, the coefficient of each main
        effect in ``(X^T X)^-1 X^T x_a x_b`` (``X`` the design with its
        intercept): 0 means unaliased, +-1 fully aliased.
        """
        x = self.matrix
        return {
            (self.factors[i], self.factors[j]): (x.T @ (x[:, i] * x[:, j])) / self.runs
            for i, j in combinations(range(len(self.factors)), 2)
        }

    @property
    def resolution(self) -> int:
        """3 when some main effect is aliased with a two-factor interaction."""
        worst = max((np.abs(v).max() for v in self.alias_matrix().values()), default=0)
        return 3 if worst > 1e-9 else 4

    def describe(self) -> str:
        """The design, its resolution and what is aliased with what, in words."""
        aliases = self.alias_matrix()
        worst = max((float(np.abs(v).max()) for v in aliases.values()), default=0.0)
        full = sum(int((np.abs(v) > 1 - 1e-9).sum()) for v in aliases.values())
        text = (
            f"Plackett-Burman design: {self.runs} runs for {len(self.factors)} "
            f"factors, resolution {'III' if self.resolution == 3 else 'IV or more'}. "
            "Main effects are orthogonal to each other and to the mean"
        )
        if self.resolution == 3:
            kind = (
                f"{full} main-effect/interaction pairs fully aliased"
                if full
                else "only partly aliased"
            )
            text += (
                "; two-factor interactions bias main effects of other factors "
                f"(largest |coefficient| {worst:.2f}, {kind})"
            )
        return text + "."


def plackett_burman(factors: Sequence[str]) -> Design:
    """The smallest available two-level orthogonal design for ``factors``.

    Uses the first ``len(factors)`` non-constant columns of a normalised
    Hadamard matrix of the smallest built order above the number of factors,
    with the sign flipped so that row 0 keeps every value.
    """
    n = len(factors)
    order = n + 1
    while (h := hadamard(order)) is None:
        order += 1
    return Design(tuple(factors), h[:, 1 : n + 1].copy())


def main_effects(design: Design, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-factor swap effect and its p-value from per-seed contrasts.

    ``y`` is runs x seeds. At each seed, a factor's effect is the mean over the
    runs that swap it minus the mean over those that do not; as every run at a
    seed shares that seed's draws, the seed's common noise cancels. A one-sample
    t-test across seeds gives each factor's p-value. Seeds where a run diverged
    are left out.
    """
    keep = np.isfinite(y).all(axis=0)
    y = y[:, keep]
    x = design.matrix
    per_seed = -(x.T @ y) * 2 / design.runs  # swapped mean minus kept mean
    effect = per_seed.mean(axis=1)
    if per_seed.shape[1] < 2:
        return effect, np.ones(len(effect))
    with np.errstate(invalid="ignore", divide="ignore"):
        p = stats.ttest_1samp(per_seed, 0.0, axis=1).pvalue
    return effect, np.nan_to_num(p, nan=1.0)


class Screen(Strategy):
    """Screen every candidate at once with a Plackett-Burman design, then confirm.

    The torch side is run at every row of a two-level orthogonal design over the
    swap mask (``n + 1`` to ``n + 4`` runs for ``n`` candidates, row 0 being the
    side itself). Each factor's main effect is estimated from all runs at once,
    per seed, and tested across seeds with Holm's method; the factors with a
    significant effect beyond the search margin are confirmed one at a time in
    both directions. `plan` holds the design used and `Design.describe` its
    resolution and aliasing.

    Parameters
    ----------
    **options
        Those of `Strategy`.

    Notes
    -----
    The design has resolution III: main effects are orthogonal to each other,
    but a two-factor interaction biases the main effects of other factors (fully
    in the designs of 4, 8 and 16 runs, partly in the others). A pure interaction of two
    factors also shows as a main effect of each of them, since half of the runs
    that swap one swap the other. Aliased false leads cost confirmation arms, not
    wrong verdicts. When the confirmed factors fall short of the full swap on
    a side, that side is searched by group testing (`bisect`).

    Every run is measured at every seed, so the design costs about as much as
    one direction of OFAT here; its strength, one seed per run, needs per-arm
    seed counts in the base class.

    Examples
    --------
    >>> from bisect_ml.strategies.screen import plackett_burman
    >>> plackett_burman([f"f{i}" for i in range(8)]).runs
    12
    """

    name = "screen"

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.plan: Design | None = None

    def explore(self, candidates: list[str]) -> list[str]:
        probes = Probes(self, candidates)
        design = self.plan = plackett_burman(candidates)
        logger.info("%s", design.describe())
        arms = [probes.arm("torch", s) for s in design.swaps()]
        values = self.measure(arms)
        y = np.array([values[a] for a in arms])
        effect, pvalue = main_effects(design, y)
        adjusted = holm(list(pvalue))
        order = np.argsort(-np.abs(effect))
        suspects = [
            candidates[i]
            for i in order
            if adjusted[i] < self.alpha and abs(effect[i]) > probes.margin
        ]
        logger.info("screened suspects: %s", suspects)
        return settle(probes, suspects, group_test)
