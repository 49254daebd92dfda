"""Lookup of factors by name, with did-you-mean suggestions."""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping

from bisect_ml._errors import ScenarioError
from bisect_ml.factors._catalogue import CATALOGUE
from bisect_ml.factors._explain import EXPLANATIONS, Explanation
from bisect_ml.factors._factor import FRAMEWORKS, Factor, Value

__all__ = ["Registry", "default_assignment", "explanation", "registry"]


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

    def areas(self) -> dict[str, list[Factor]]:
        """The factors grouped by area, areas and factors in catalogue order."""
        groups: dict[str, list[Factor]] = {}
        for factor in self._factors.values():
            groups.setdefault(factor.area, []).append(factor)
        return groups

    def with_prefix(self, prefix: str) -> list[Factor]:
        """The factors under a dotted prefix: ``optimizer``, ``init.recurrent``."""
        head = prefix.rstrip(".") + "."
        return [f for n, f in self._factors.items() if n.startswith(head)]

    def closest(self, name: str, n: int = 3) -> list[str]:
        """Up to ``n`` factor names or areas that look like ``name``."""
        words = list(self._factors) + list(self.areas())
        close = difflib.get_close_matches(name, words, n=n, cutoff=0.5)
        if close:
            return close
        # A misspelt last part: compare it with each name's last part.
        tail = name.rsplit(".", 1)[-1]
        scored = sorted(
            (
                difflib.SequenceMatcher(None, tail, w.rsplit(".", 1)[-1]).ratio(),
                w,
            )
            for w in self._factors
        )[::-1]
        return [w for score, w in scored[:n] if score >= 0.6]

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


def explanation(name: str) -> Explanation:
    """What differs in factor ``name``, why it matters, and the public reports.

    Raises `ScenarioError` for an unknown factor, and `LookupError` for a
    registered factor whose entry in ``_explain.py`` is missing.
    """
    factor = registry[name]
    try:
        return EXPLANATIONS[factor.name]
    except KeyError:
        raise LookupError(
            f"factor `{name}` has no entry in bisect_ml/factors/_explain.py"
        ) from None
