"""Exceptions and warnings raised by bisect-ml.

Every error carries the context it is about (file, key, factor, trial) as
attributes, and builds its one-line message from them so that the CLI can print
it without a traceback.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "BackendError",
    "BisectError",
    "BisectWarning",
    "BudgetExhausted",
    "ExecutorError",
    "ScenarioError",
    "StoreError",
]


def _printable(text: str) -> str:
    """``text`` with control characters escaped, so a message stays one line.

    Keys and paths come from the user's file; a key such as ``"a\\nb"`` must not
    split the one-line error the CLI prints.
    """
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class BisectError(Exception):
    """Base class of every error bisect-ml raises on purpose."""


class ScenarioError(BisectError, ValueError):
    """A scenario file, or a value given for one, breaks a rule.

    Parameters
    ----------
    rule
        What is required, phrased so it reads after the key: "must be a
        positive float".
    key
        Dotted key inside the file (``train.epochs``), or ``None`` for the
        whole file.
    received
        The offending value; shown with ``repr``.
    path
        The scenario file, when there is one.
    """

    _MISSING = object()

    def __init__(
        self,
        rule: str,
        *,
        key: str | None = None,
        received: object = _MISSING,
        path: str | Path | None = None,
    ) -> None:
        self.rule = rule
        self.key = key
        self.received = received
        self.path = None if path is None else str(path)
        super().__init__(self._message())

    def _message(self) -> str:
        where = f"{_printable(self.path)}: " if self.path else ""
        subject = f"`{_printable(self.key)}` " if self.key else ""
        got = "" if self.received is self._MISSING else f", got {self.received!r}"
        return f"{where}{subject}{_printable(self.rule)}{got}"

    def at(self, path: str | Path) -> ScenarioError:
        """Return the same error located in the file ``path``."""
        return ScenarioError(self.rule, key=self.key, received=self.received, path=path)


class StoreError(BisectError):
    """The trial store cannot be opened, read or written safely."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"store {self.path}: {problem}")


class BackendError(BisectError):
    """A backend could not build or train an arm (not a diverged training)."""

    def __init__(self, backend: str, problem: str) -> None:
        self.backend = backend
        self.problem = problem
        super().__init__(f"backend `{backend}`: {problem}")


class BudgetExhausted(BisectError):
    """The strategy asked for more trials than its budget allows."""

    def __init__(self, budget: int, requested: int) -> None:
        self.budget = budget
        self.requested = requested
        super().__init__(
            f"trial budget of {budget} exhausted ({requested} more were requested)"
        )


class BisectWarning(UserWarning):
    """Something in a result deserves the user's attention."""


class ExecutorError(BisectError):
    """An executor cannot be started or reached, or cannot run trials."""

    def __init__(self, executor: str, problem: str) -> None:
        self.executor = executor
        self.problem = problem
        super().__init__(f"executor `{executor}`: {problem}")
