"""The `Factor` type: one named setting on which the two sides may differ."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bisect_ml._errors import ScenarioError

__all__ = ["FRAMEWORKS", "Factor", "Value"]

Value = str | int | float | bool

#: The frameworks a side can be written in, in the order reports list them.
FRAMEWORKS: tuple[str, ...] = ("torch", "keras")


@dataclass(frozen=True)
class Factor:
    """A setting that can differ between the sides of a pair.

    Parameters
    ----------
    name
        Dotted name, area first: ``optimizer.epsilon``.
    description
        One line saying what the setting controls.
    defaults
        The value each framework uses when the user does not set it,
        ``{"torch": ..., "keras": ...}``, read from the installed sources.
    kind
        Python type of a value: ``str``, ``int``, ``float`` or ``bool``.
    choices
        The allowed values for a ``str`` factor, each with a one-line meaning.
    rule
        For numeric factors: a predicate and the rule it checks, phrased to
        follow the key ("must be a positive float").
    source
        Where the defaults were read (file and lines of the framework source).
    how
        Per framework, how a backend applies the values: what runs genuinely
        and what is an emulation of the other framework.
    scope
        When the factor can matter at all: a predicate on the `Pair` and the
        phrase it checks ("models with a conv2d layer padded 'same'"). A
        factor without one applies to every pair. A factor that does not
        apply is never a candidate, whatever its two values.
    why
        Why the difference matters in practice, and where it was reported.
    """

    name: str
    description: str
    defaults: Mapping[str, Value]
    kind: type
    choices: Mapping[str, str] = field(default_factory=dict)
    rule: tuple[Callable[[Value], bool], str] | None = None
    source: str = ""
    how: Mapping[str, str] = field(default_factory=dict)
    scope: tuple[Callable[[Any], bool], str] | None = None
    why: str = ""

    def __post_init__(self) -> None:
        missing = [fw for fw in FRAMEWORKS if fw not in self.defaults]
        if missing:
            raise ValueError(f"factor {self.name!r} has no default for {missing}")
        for value in self.defaults.values():
            self.validate(value)

    @property
    def area(self) -> str:
        """The first part of the dotted name (``init``, ``optimizer``...)."""
        return self.name.split(".", 1)[0]

    def applies(self, pair: Any) -> bool:
        """Whether this factor can change anything for ``pair`` (a `Pair`)."""
        return self.scope is None or bool(self.scope[0](pair))

    def default(self, framework: str) -> Value:
        """The value ``framework`` uses when the user leaves this unset."""
        return self.defaults[framework]

    def allowed(self) -> str:
        """Human description of the allowed values."""
        if self.choices:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.rule is not None:
            return self.rule[1].removeprefix("must be ")
        return self._article()

    def validate(self, value: object) -> Value:
        """Return ``value`` coerced to the factor's kind, or raise `ScenarioError`.

        An ``int`` is accepted where a ``float`` is expected; a ``bool`` is never
        taken for a number.
        """
        if (
            self.kind is float
            and isinstance(value, int)
            and not isinstance(value, bool)
        ):
            value = float(value)
        if self.kind is not bool and isinstance(value, bool):
            raise ScenarioError(
                f"must be {self._article()}", key=self.name, received=value
            )
        if not isinstance(value, self.kind):
            raise ScenarioError(
                f"must be {self._article()}", key=self.name, received=value
            )
        if self.choices and value not in self.choices:
            raise ScenarioError(
                f"must be {self.allowed()}", key=self.name, received=value
            )
        if self.kind is float and not math.isfinite(float(value)):  # type: ignore[arg-type]
            raise ScenarioError("must be finite", key=self.name, received=value)
        if self.rule is not None and not self.rule[0](value):  # type: ignore[arg-type]
            raise ScenarioError(self.rule[1], key=self.name, received=value)
        return value  # type: ignore[return-value]

    def _article(self) -> str:
        if self.choices:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        return {
            str: "a string",
            int: "an integer",
            float: "a float",
            bool: "true or false",
        }[self.kind]
