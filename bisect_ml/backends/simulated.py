"""A backend that answers instantly from a declared truth, for tests and benchmarks.

A trial's metric is ``base`` plus every planted `Effect` whose conditions the
assignment meets, plus seed noise. The same (assignment, seed) always gives the
same outcome, and two arms with the same seed share most of their noise draw
(common random numbers), as two real trainings with the same seed share their
initial weights and data order.

The truth is known, so a verdict can be scored: `truth` gives the true gap,
causes, shares and interactions of a simulated pair, and `SimulatedLab`
measures arms in memory with each framework's seed draws kept apart, as they
are in real trainings (`SimulatedBackend` cannot: a backend is not told which
framework an arm trains in, so through the `Lab` every arm shares the seed
draw, and an unpaired test between the sides is conservative there).
"""

from __future__ import annotations

import functools
import itertools
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from bisect_ml.backends._base import Outcome, library_versions
from bisect_ml.scenario import content_hash

if TYPE_CHECKING:
    from bisect_ml.factors import Value
    from bisect_ml.lab import Arm
    from bisect_ml.scenario import Dataset, Pair, Simulation, Spec

__all__ = [
    "SimulatedBackend",
    "SimulatedLab",
    "Truth",
    "simulate",
    "true_shift",
    "truth",
]

#: Weights of the shared (per seed) and own (per arm and seed) noise draws:
#: 0.8**2 + 0.6**2 = 1, so the metric's noise has standard deviation
#: ``Simulation.noise`` times that of the distribution.
_SHARED, _OWN = 0.8, 0.6
_STREAM = {None: 0, "torch": 1, "keras": 2}


def true_shift(simulation: Simulation, assignment: dict[str, Value]) -> float:
    """The noise-free metric shift the truth plants for ``assignment``."""
    return sum(
        effect.shift
        for effect in simulation.effects
        if all(assignment.get(name) == value for name, value in effect.when)
    )


def simulate(
    simulation: Simulation,
    assignment: dict[str, Value],
    seed: int,
    *,
    epochs: int = 1,
    framework: str | None = None,
) -> Outcome:
    """One simulated trial.

    Parameters
    ----------
    simulation
        The declared truth.
    assignment
        The complete factor assignment of the arm.
    seed
        The trial's seed.
    epochs
        Length of the metric curve.
    framework
        The framework the arm trains in. Arms of one framework at one seed
        share the seed draw; with ``None`` every arm at the seed shares it.
    """
    # Noise depends on the seed (shared by the arms of a framework), plus an
    # arm-specific part so that arms are not perfectly correlated.
    stream = _STREAM[framework]
    shared = np.random.default_rng([seed, stream])
    # TODO(#4): the key hashes the whole assignment, so a factor added to the
    # catalogue redraws every simulated outcome (a store's old simulated trials
    # then disagree with fresh ones); hash only the factors away from the
    # framework's default, as `trial_key` does, in one release that redraws once.
    key = _arm_key(tuple(sorted(assignment.items())))
    own = np.random.default_rng([seed, key] if stream == 0 else [seed, key, stream])
    draw = _SHARED * _draw(shared, simulation.distribution) + _OWN * _draw(
        own, simulation.distribution
    )
    diverged = bool(own.random() < simulation.diverge_probability)
    metric = (
        simulation.base + true_shift(simulation, assignment) + simulation.noise * draw
    )
    curve = tuple(
        metric + (simulation.base * 0.5) * math.exp(-3 * (e + 1) / epochs)
        for e in range(epochs)
    )
    return Outcome(
        metric=math.nan if diverged else float(metric),
        diverged=diverged,
        loss_curve=curve,
        metric_curve=curve,
        versions=dict(_versions()),
    )


@functools.lru_cache(maxsize=4096)
def _arm_key(items: tuple[tuple[str, Value], ...]) -> int:
    return int(content_hash(list(items))[:8], 16)


@functools.lru_cache(maxsize=1)
def _versions() -> dict[str, str]:
    return library_versions("simulated")


class SimulatedBackend:
    """Backend for scenarios with ``scenario.backend = "simulated"``."""

    name = "simulated"

    def train(
        self, spec: Spec, data: Dataset | None, assignment: dict[str, Value], seed: int
    ) -> Outcome:
        sim = spec.simulation
        if sim is None:
            raise ValueError("the simulated backend needs a [simulation] table")
        start = time.perf_counter()
        if sim.seconds:
            time.sleep(sim.seconds)
        # TODO(#4): the backend protocol does not say which framework an arm
        # trains in, so every arm at a seed shares one draw here, and the two
        # sides' draws are not independent as real frameworks' are (the
        # unpaired gap test is conservative). `SimulatedLab` passes it.
        out = simulate(sim, assignment, seed, epochs=spec.train.epochs)
        return Outcome(
            metric=out.metric,
            diverged=out.diverged,
            loss_curve=out.loss_curve,
            metric_curve=out.metric_curve,
            seconds=time.perf_counter() - start,
            versions=dict(out.versions),
        )


def _draw(rng: np.random.Generator, distribution: str) -> float:
    if distribution == "normal":
        return float(rng.standard_normal())
    if distribution == "t3":
        # Scaled to unit variance: Var(t3) = 3.
        return float(rng.standard_t(3) / math.sqrt(3))
    if distribution == "bimodal":
        # Mostly normal, sometimes a failed training far above.
        fail = rng.random() < 0.1
        return float(rng.standard_normal() * 0.5 + (4.0 if fail else 0.0))
    raise ValueError(f"unknown noise distribution {distribution!r}")


#: Standard deviation of each distribution's draw.
_DRAW_SD = {"normal": 1.0, "t3": 1.0, "bimodal": math.sqrt(0.25 + 16 * 0.09)}


@dataclass(frozen=True)
class Truth:
    """What a simulated pair's verdict should say, from its declared effects.

    Attributes
    ----------
    gap
        True mean torch minus mean keras.
    shares
        Per differing factor, the share of the gap its swap closes averaged
        over both directions (what `Cause.share` estimates).
    share_by_side
        ``{"torch": {factor: share}, "keras": {...}}``: what each side's swap
        alone closes (what `Cause.share_by_side` estimates).
    causes
        Factors whose swap moves at least one side toward the other.
    offsetting
        Factors that move a side away from the other and neither toward it.
    closure_share
        The share swapping every differing factor closes: 1 in a simulation,
        whose only differences are the catalogued factors.
    interactions
        Per pair of differing factors with a nonzero 2x2 interaction, its
        contrast ``(tt + kk) - (tk + kt)`` (other factors at either side's
        values, averaged) over ``|gap|`` (what `Interaction.effect`
        estimates).
    noise_sd
        Seed-to-seed standard deviation of an arm's metric.
    """

    gap: float
    shares: dict[str, float]
    share_by_side: dict[str, dict[str, float]]
    causes: frozenset[str]
    offsetting: frozenset[str]
    closure_share: float
    interactions: dict[tuple[str, str], float]
    noise_sd: float


def truth(pair: Pair) -> Truth:
    """The true verdict of a simulated ``pair``, to score a verdict against.

    Examples
    --------
    >>> from bisect_ml.scenario import load_pair
    >>> t = truth(load_pair("sim-two-causes"))
    >>> sorted(t.causes), round(t.shares["init.dense.kernel"], 3)
    (['init.dense.kernel', 'optimizer.epsilon_placement'], 0.667)
    """
    sim = pair.spec.simulation
    if sim is None:
        raise ValueError(f"pair {pair.name!r} is not simulated")
    assign = {fw: pair.side(fw).assignment for fw in ("torch", "keras")}
    candidates = pair.differing()

    def mean(fw: str, swap: Iterable[str] = ()) -> float:
        values = dict(assign[fw])
        other = assign["keras" if fw == "torch" else "torch"]
        for f in swap:
            values[f] = other[f]
        return true_shift(sim, values)

    t, k = mean("torch"), mean("keras")
    gap = t - k
    sign = math.copysign(1.0, gap) if gap else 0.0
    shares: dict[str, float] = {}
    by_side: dict[str, dict[str, float]] = {"torch": {}, "keras": {}}
    causes: set[str] = set()
    offsetting: set[str] = set()
    tol = 1e-12
    for f in candidates:
        move_t = t - mean("torch", [f])
        move_k = mean("keras", [f]) - k
        if gap:
            shares[f] = (move_t + move_k) / (2 * gap)
            by_side["torch"][f] = move_t / gap
            by_side["keras"][f] = move_k / gap
        moves = (sign * move_t, sign * move_k)
        if max(moves) > tol:
            causes.add(f)
        elif min(moves) < -tol:
            offsetting.add(f)

    interactions = {}
    for f, g in itertools.combinations(candidates, 2):
        c_t = t - mean("torch", [f]) - mean("torch", [g]) + mean("torch", [f, g])
        c_k = mean("keras", [f, g]) - mean("keras", [f]) - mean("keras", [g]) + k
        contrast = (c_t + c_k) / 2
        if abs(contrast) > tol and gap:
            interactions[(f, g)] = contrast / abs(gap)
    closure = 0.0
    if gap:
        closure = (
            (t - mean("torch", candidates)) + (mean("keras", candidates) - k)
        ) / (2 * gap)
    return Truth(
        gap=gap,
        shares=shares,
        share_by_side=by_side,
        causes=frozenset(causes),
        offsetting=frozenset(offsetting),
        closure_share=closure,
        interactions=interactions,
        noise_sd=sim.noise * _DRAW_SD[sim.distribution],
    )


class SimulatedLab:
    """An in-memory lab for a simulated pair, each framework's draws kept apart.

    It answers `Strategy.run` like `bisect_ml.lab.Lab` does, without a store,
    and passes each arm's framework to `simulate`: arms of one framework share
    the seed draw, arms of two frameworks do not, as with real trainings. The
    calibration benchmark and the strategy tests use it.

    Parameters
    ----------
    pair
        A pair with ``scenario.backend = "simulated"``.
    """

    jobs = 1

    def __init__(self, pair: Pair) -> None:
        if pair.spec.simulation is None:
            raise ValueError(f"pair {pair.name!r} is not simulated")
        self.pair = pair
        self.trained = 0
        self.cached = 0
        self.train_seconds = 0.0
        self._memo: dict[tuple[Arm, int], Outcome] = {}
        self._assignments: dict[Arm, dict[str, Value]] = {}

    def measure(
        self, arms: Iterable[Arm], seeds: Iterable[int]
    ) -> dict[Arm, list[Outcome]]:
        """Outcomes of every arm at every seed, simulating only what is missing."""
        sim = self.pair.spec.simulation
        assert sim is not None
        epochs = self.pair.spec.train.epochs
        seeds = list(seeds)
        out = {}
        for arm in dict.fromkeys(arms):
            if arm not in self._assignments:
                self._assignments[arm] = arm.assignment(self.pair)
            assignment = self._assignments[arm]
            outcomes = []
            for seed in seeds:
                if (arm, seed) in self._memo:
                    self.cached += 1
                else:
                    self.trained += 1
                    self._memo[(arm, seed)] = simulate(
                        sim, assignment, seed, epochs=epochs, framework=arm.base
                    )
                outcomes.append(self._memo[(arm, seed)])
            out[arm] = outcomes
        return out
