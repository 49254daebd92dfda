"""Synthetic pairs: simulated pairs over factors of their own, not the catalogue's.

The real catalogue holds about a dozen factors, but a search strategy must be
tried on pairs that differ in 8, 16 or 32. A `SyntheticPair` is a `Pair` whose
two sides carry their own complete assignment over made-up factors
(``f00``, ``f01``, ...), so `Pair.differing` lists as many factors as asked,
while the real registry, the scenario loader and the backends stay untouched.
It trains on the simulated backend: the planted `Effect` conditions name the
synthetic factors, and the backend only ever reads ``assignment.get(name)``.

Only what a search touches is overridden (``assignment``, ``is_default``,
``differing``, ``applies``); a synthetic pair is for strategies and their
benchmark, not for reports that look factors up in the catalogue.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bisect_ml.factors import Value
from bisect_ml.scenario import (
    DataSpec,
    Effect,
    LayerSpec,
    Pair,
    Side,
    Simulation,
    Spec,
    TrainSpec,
)

__all__ = [
    "KERAS",
    "TORCH",
    "SyntheticPair",
    "SyntheticSide",
    "factor_names",
    "interaction",
    "main_effect",
    "synthetic_pair",
]

#: The value every synthetic factor takes on each side.
TORCH, KERAS = "t", "k"


@dataclass(frozen=True)
class SyntheticSide(Side):
    """A side whose ``explicit`` values are its whole assignment."""

    @property
    def assignment(self) -> dict[str, Value]:
        return dict(self.explicit)

    def is_default(self, factor: str) -> bool:
        # Each side's value is "its framework's" value of a made-up factor.
        return True


@dataclass(frozen=True)
class SyntheticPair(Pair):
    """A simulated pair over the factors its sides name."""

    def differing(self) -> list[str]:
        a = self.sides["torch"].assignment
        b = self.sides["keras"].assignment
        return [name for name in a if a[name] != b[name]]

    def applies(self, factor: str) -> bool:
        return factor in self.sides["torch"].assignment


def factor_names(n: int) -> list[str]:
    """``["f00", "f01", ...]``: ``n`` synthetic factor names in order."""
    return [f"f{i:02d}" for i in range(n)]


def main_effect(factor: str, shift: float) -> Effect:
    """``shift`` on every trial where ``factor`` takes the torch value."""
    return Effect(when=((factor, TORCH),), shift=shift)


def interaction(factors: Sequence[str], shift: float, side: str = "torch") -> Effect:
    """A pure interaction: ``shift`` only where all ``factors`` take ``side``'s value.

    With ``side="torch"`` a positive shift makes torch worse, and swapping any
    one of the factors on the torch side removes it; with ``side="keras"`` a
    negative shift makes keras better, and only swapping all of them on the
    torch side reaches it, while any one swapped on the keras side loses it.
    """
    value = TORCH if side == "torch" else KERAS
    return Effect(when=tuple((f, value) for f in factors), shift=shift)


def synthetic_pair(
    n: int,
    effects: Sequence[Effect] = (),
    *,
    shared: int = 2,
    noise: float = 0.01,
    base: float = 0.05,
    diverge_probability: float = 0.0,
    distribution: str = "normal",
    name: str = "synthetic",
) -> SyntheticPair:
    """A simulated pair differing in ``n`` synthetic factors.

    Parameters
    ----------
    n
        Factors whose values differ (``f00`` ... ``f{n-1}``).
    effects
        The planted truth; build them with `main_effect` and `interaction`.
    shared
        Further factors (``s00``, ...) on which the sides agree, so that
        `SyntheticPair.differing` has something to leave out.
    noise, base, diverge_probability, distribution
        The simulated backend's `Simulation` settings.
    """
    names = factor_names(n)
    same = {f"s{i:02d}": "same" for i in range(shared)}
    torch = {**{f: TORCH for f in names}, **same}
    keras = {**{f: KERAS for f in names}, **same}
    spec = Spec(
        data=DataSpec(dataset="digits"),
        layers=(LayerSpec(type="dense", units=10),),
        train=TrainSpec(epochs=2, loss="cross_entropy", from_logits=True),
        simulation=Simulation(
            base=base,
            noise=noise,
            distribution=distribution,
            diverge_probability=diverge_probability,
            effects=tuple(effects),
        ),
    )
    return SyntheticPair(
        name=name,
        spec=spec,
        sides={
            "torch": SyntheticSide("torch", torch),
            "keras": SyntheticSide("keras", keras),
        },
        backend="simulated",
    )
