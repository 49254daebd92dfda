"""A backend that answers instantly from a declared truth, for tests and benchmarks.

A trial's metric is ``base`` plus every planted `Effect` whose conditions the
assignment meets, plus seed noise. The same (assignment, seed) always gives the
same outcome, and two arms with the same seed share their noise draw (common
random numbers), as two real trainings with the same seed share their
initial weights and data order.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

import numpy as np

from bisect_ml.backends._base import Outcome, library_versions
from bisect_ml.scenario import content_hash

if TYPE_CHECKING:
    from bisect_ml.factors import Value
    from bisect_ml.scenario import Dataset, Simulation, Spec

__all__ = ["SimulatedBackend", "true_shift"]


def true_shift(simulation: Simulation, assignment: dict[str, Value]) -> float:
    """The noise-free metric shift the truth plants for ``assignment``."""
    return sum(
        effect.shift
        for effect in simulation.effects
        if all(assignment.get(name) == value for name, value in effect.when)
    )


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

        # Noise depends on the seed only (shared by all arms), plus a small
        # arm-specific part so that arms are not perfectly correlated.
        shared = np.random.default_rng([seed, 0])
        own = np.random.default_rng(
            [seed, int(content_hash(sorted(assignment.items()))[:8], 16)]
        )
        noise = 0.8 * _draw(shared, sim.distribution) + 0.6 * _draw(
            own, sim.distribution
        )
        diverged = bool(own.random() < sim.diverge_probability)
        metric = sim.base + true_shift(sim, assignment) + sim.noise * noise

        epochs = spec.train.epochs
        curve = tuple(
            metric + (sim.base * 0.5) * math.exp(-3 * (e + 1) / epochs)
            for e in range(epochs)
        )
        return Outcome(
            metric=math.nan if diverged else float(metric),
            diverged=diverged,
            loss_curve=curve,
            metric_curve=curve,
            seconds=time.perf_counter() - start,
            versions=library_versions("simulated"),
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
