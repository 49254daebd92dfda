"""Group-sequential designs: when adding seeds may stop, with the error kept.

A decision looks at its data after ``looks[0]``, ``looks[1]``, ... seeds per
arm. At look ``k`` it rejects the null when the standardised statistic ``z``
reaches the efficacy boundary ``c_k``, accepts it (stops for futility) when
``z`` falls below ``b_k``, and otherwise takes more seeds. The boundaries come
from spending functions (Lan and DeMets): ``alpha(t)`` of the type I error and
``beta(t)`` of the type II error are used up by information fraction
``t = n / n_max``, so the chance of a false rejection over all looks is
``alpha`` whatever path the data take. Futility is *non-binding*: the efficacy
boundaries are computed as if it never stopped a decision, so stopping for
futility can only lower the type I error.

Every probability is computed by the recursive numerical integration of
Armitage, McPherson and Rowe over the joint normal law of the ``z`` values
(increments independent, ``corr(z_j, z_k) = sqrt(n_j / n_k)``). A test whose
statistic is not normal (a t-test at five seeds, a rank test) enters through
its nominal p-value: ``z = Phi^-1(1 - p)``, the usual way of running t-tests
in a group-sequential design.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize, special, stats

__all__ = ["GroupSequential", "group_sequential", "spent", "z_from_p"]

#: Grid points per look of the numerical integration (odd, for Simpson).
_GRID = 401
#: Half-width of a grid in standard deviations where no boundary cuts it.
_TAIL = 9.0


def spent(t: float, total: float, gamma: float) -> float:
    """Hwang-Shih-DeCani spending function: error spent by information ``t``.

    ``gamma = 1`` spends early, like Pocock's boundaries; ``gamma = -4``
    spends late, like O'Brien and Fleming's; ``gamma = 0`` spends evenly.
    """
    t = min(max(t, 0.0), 1.0)
    if gamma == 0:
        return total * t
    return total * (1 - math.exp(-gamma * t)) / (1 - math.exp(-gamma))


def z_from_p(p: float) -> float:
    """The standard normal quantile with upper tail ``p`` (finite at 0 and 1)."""
    p = min(max(p, 1e-300), 1 - 1e-16)
    return float(-special.ndtri(p))


def _simpson(n: int, h: float) -> np.ndarray:
    w = np.ones(n)
    w[1:-1:2], w[2:-1:2] = 4.0, 2.0
    return w * h / 3


class _Path:
    """Sub-density of the score ``S_k = z_k sqrt(t_k)`` over its continuation."""

    def __init__(self, grid: np.ndarray, density: np.ndarray, t: float) -> None:
        self.grid, self.density, self.t = grid, density, t
        h = grid[1] - grid[0] if len(grid) > 1 else 1.0
        self.mass = density * _simpson(len(grid), h)

    def upper(self, z: float, t: float, drift: float) -> float:
        """P(reach this look, then z at information ``t`` >= ``z``)."""
        dt = t - self.t
        x = (z * math.sqrt(t) - self.grid - drift * dt) / math.sqrt(dt)
        return float(self.mass @ special.ndtr(-x))

    def lower(self, z: float, t: float, drift: float) -> float:
        dt = t - self.t
        x = (z * math.sqrt(t) - self.grid - drift * dt) / math.sqrt(dt)
        return float(self.mass @ special.ndtr(x))

    def step(self, low: float, high: float, t: float, drift: float) -> _Path:
        """The sub-density at information ``t`` of paths continuing there."""
        grid = _span(low, high, t, drift)
        dt = t - self.t
        x = (grid[:, None] - self.grid[None, :] - drift * dt) / math.sqrt(dt)
        density = (np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi * dt)) @ self.mass
        return _Path(grid, density, t)


def _span(low: float, high: float, t: float, drift: float) -> np.ndarray:
    sd = math.sqrt(t)
    lo = max(low * sd, drift * t - _TAIL * sd) if math.isfinite(low) else None
    hi = min(high * sd, drift * t + _TAIL * sd) if math.isfinite(high) else None
    lo = drift * t - _TAIL * sd if lo is None else lo
    hi = drift * t + _TAIL * sd if hi is None else hi
    if hi <= lo:
        hi = lo + 1e-12
    return np.linspace(lo, hi, _GRID)


def _first(low: float, high: float, t: float, drift: float) -> _Path:
    grid = _span(low, high, t, drift)
    density = stats.norm.pdf(grid, loc=drift * t, scale=math.sqrt(t))
    return _Path(grid, density, t)


@dataclass(frozen=True)
class GroupSequential:
    """A one-sided group-sequential design over seeds per arm.

    Build it with `group_sequential`. A two-sided decision uses a design at
    half its alpha on ``|z|``.

    Attributes
    ----------
    looks
        Seeds per arm at each look; the last is the cap.
    alpha, power
        One-sided type I error over all looks, and the power at ``drift``.
    efficacy, futility
        Boundaries on the ``z`` scale; the last futility boundary equals the
        last efficacy boundary, so the final look always decides.
    drift
        Expected ``z`` at the cap under the alternative the design is powered
        for: the minimum detectable effect at the cap is ``drift`` standard
        errors (of the estimate at the cap).
    gamma, gamma_beta
        Hwang-Shih-DeCani parameters of the alpha and beta spending.
    """

    looks: tuple[int, ...]
    alpha: float
    power: float
    efficacy: tuple[float, ...]
    futility: tuple[float, ...]
    drift: float
    gamma: float
    gamma_beta: float
    _null: tuple[_Path, ...] = field(repr=False, compare=False, default=())

    @property
    def cap(self) -> int:
        return self.looks[-1]

    def fraction(self, look: int) -> float:
        return self.looks[look] / self.cap

    def decide(self, look: int, z: float) -> str:
        """``"reject"``, ``"accept"`` (futility) or ``"continue"`` at ``look``."""
        if z >= self.efficacy[look]:
            return "reject"
        if z < self.futility[look] or look == len(self.looks) - 1:
            return "accept"
        return "continue"

    def nominal(self, look: int) -> float:
        """The nominal one-sided p-value that rejects at ``look``."""
        return float(special.ndtr(-self.efficacy[look]))

    def confidence_level(self, look: int) -> float:
        """Two-sided level of the repeated confidence interval at ``look``.

        With a design at ``alpha``, intervals at these levels cover the truth
        at every look at once with probability at least ``1 - 2 alpha``.
        """
        return 1 - 2 * self.nominal(look)

    def pvalue(self, look: int, z: float) -> float:
        """Stagewise-ordering p-value of stopping at ``look`` with ``z``.

        The chance under the null of rejecting at an earlier look, plus that
        of reaching ``look`` and seeing ``z`` or more there. Futility is
        ignored (non-binding), which can only make the p-value larger.
        """
        t = self.fraction(look)
        if look == 0:
            return float(special.ndtr(-z))
        before = spent(self.fraction(look - 1), self.alpha, self.gamma)
        return min(1.0, before + self._null[look - 1].upper(z, t, 0.0))


@functools.lru_cache(maxsize=256)
def group_sequential(
    looks: tuple[int, ...],
    alpha: float,
    *,
    power: float = 0.9,
    gamma: float = -2.0,
    gamma_beta: float = -2.0,
) -> GroupSequential:
    """The one-sided design with efficacy and non-binding futility boundaries.

    Parameters
    ----------
    looks
        Increasing seeds per arm at each look; one look is a fixed design.
    alpha
        One-sided type I error over all looks.
    power
        Power at the design alternative; it sets the futility boundaries
        (beta spending) and the minimum detectable effect.
    gamma, gamma_beta
        Hwang-Shih-DeCani parameters of the alpha and beta spending.

    Examples
    --------
    >>> d = group_sequential((5, 10, 15, 20), 0.025)
    >>> d.decide(0, 2.5)  # nominal 0.006 at five seeds is not enough yet
    'continue'

    A fixed design has the textbook values: z = 1.96 at one-sided 0.025.

    >>> round(group_sequential((10,), 0.025).efficacy[0], 2)
    1.96
    """
    if not looks or any(b <= a for a, b in zip(looks, looks[1:], strict=False)):
        raise ValueError(f"`looks` must be increasing seed counts, got {looks!r}")
    if not 0 < alpha < 0.5 or not 0.5 < power < 1:
        raise ValueError(f"need 0 < alpha < 0.5 < power < 1, got {alpha}, {power}")
    t = [n / looks[-1] for n in looks]
    beta = 1 - power

    # Efficacy under the null, futility ignored.
    efficacy = [z_from_p(spent(t[0], alpha, gamma))]
    null = [_first(-math.inf, efficacy[0], t[0], 0.0)]
    for k in range(1, len(t)):
        target = spent(t[k], alpha, gamma) - spent(t[k - 1], alpha, gamma)
        path = null[-1]
        c = optimize.brentq(
            lambda z, p=path, tk=t[k], a=target: p.upper(z, tk, 0.0) - a,
            -10.0,
            40.0,
        )
        efficacy.append(float(c))
        null.append(path.step(-math.inf, c, t[k], 0.0))

    def futility(drift: float) -> tuple[list[float], float]:
        """Boundaries spending beta under ``drift``, and the total beta used."""
        bounds: list[float] = []
        path: _Path | None = None
        used = 0.0
        for k, tk in enumerate(t):
            c = efficacy[k]
            if k == len(t) - 1:
                last = (
                    float(stats.norm.cdf(c - drift * math.sqrt(tk)))
                    if path is None
                    else path.lower(c, tk, drift)
                )
                bounds.append(c)
                return bounds, used + last
            target = spent(tk, beta, gamma_beta) - spent(t[k - 1], beta, gamma_beta)
            if k == 0:
                target = spent(tk, beta, gamma_beta)

            def below(z: float, p: _Path | None = path, tk: float = tk) -> float:
                if p is None:
                    return float(stats.norm.cdf(z - drift * math.sqrt(tk)))
                return p.lower(z, tk, drift)

            b = (
                c
                if below(c) <= target
                else optimize.brentq(lambda z, a=target: below(z) - a, -40.0, c)
            )
            bounds.append(float(b))
            used += below(b)
            path = (
                _first(b, c, tk, drift) if path is None else path.step(b, c, tk, drift)
            )
        raise AssertionError("unreachable")

    z_a, z_b = z_from_p(alpha), z_from_p(beta)
    drift = optimize.brentq(lambda d: futility(d)[1] - beta, 0.0, 3 * (z_a + z_b) + 10)
    bounds, _ = futility(drift)
    return GroupSequential(
        looks=tuple(looks),
        alpha=alpha,
        power=power,
        efficacy=tuple(efficacy),
        futility=tuple(bounds),
        drift=float(drift),
        gamma=gamma,
        gamma_beta=gamma_beta,
        _null=tuple(null),
    )
