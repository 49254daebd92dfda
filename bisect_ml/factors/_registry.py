"""Lookup of factors by name, with did-you-mean suggestions."""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping

from bisect_ml._errors import ScenarioError
from bisect_ml.factors._catalogue import CATALOGUE
from bisect_ml.factors._factor import FRAMEWORKS, Factor, Value

__all__ = ["Registry", "default_assignment", "registry"]


class Registry(Mapping[str, Factor]):
    """Read-only mapping from dotted factor name to `Factor`."""

    def __init__(self, factors: tuple[Factor, ...]) -> None:
        self._factors = {f.name: f for f in factors}
        if len(self._factors) != len(factors):
            raise ValueError("two factors share a name")

    def __getitem__(self, name: str) -> Factor:
        try:
            return self._factors[name]
        except KeyError:
            raise ScenarioError(
                "is not a known factor" + self._suggest(name), key=name
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._factors

    def __iter__(self) -> Iterator[str]:
        return iter(self._factors)

    def __len__(self) -> int:
        return len(self._factors)

    def _suggest(self, name: str) -> str:
        close = difflib.get_close_matches(name, self._factors, n=1, cutoff=0.6)
        if close:
            return f" (did you mean `{close[0]}`?)"
        return " (`bisect-ml factors` lists them)"


registry = Registry(CATALOGUE)


def default_assignment(framework: str) -> dict[str, Value]:
    """Every factor's framework default for ``framework``."""
    if framework not in FRAMEWORKS:
        raise ScenarioError(
            f"must be one of {', '.join(FRAMEWORKS)}",
            key="framework",
            received=framework,
        )
    return {name: f.default(framework) for name, f in registry.items()}
