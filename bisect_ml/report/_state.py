"""A lossless text form of a `Verdict`, so that a stored run renders again.

The JSON report (`to_json`) is for machines reading results; it leaves out
what only the renderers need (per-seed training curves, the raw values behind
each comparison). This form keeps every field: `verdict_from_state` gives back
a verdict equal to the one encoded, and every report renders from it exactly
as it did when the run finished.

Dataclasses and enums are tagged with their class name and rebuilt only from
the classes listed in `_CLASSES`, so a state read from a store can never make
bisect-ml construct anything else. Tuples are tagged too (the verdict holds
tuples, its ``settings`` lists). Non-finite floats are written as JSON's
``NaN`` and ``Infinity`` extensions, which Python's `json` reads back.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from typing import Any

from bisect_ml.stats import Comparison, Equivalence, Noise, Ratio
from bisect_ml.verdict import (
    ArmResult,
    Cause,
    Closure,
    Decision,
    Interaction,
    Power,
    Status,
    StopReason,
    Verdict,
)

__all__ = ["STATE_VERSION", "verdict_from_state", "verdict_state"]

#: Bumped when a renderer needs something an older state lacks.
STATE_VERSION = 1

_CLASSES: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        ArmResult,
        Cause,
        Closure,
        Comparison,
        Decision,
        Equivalence,
        Interaction,
        Noise,
        Power,
        Ratio,
        Status,
        StopReason,
        Verdict,
    )
}


def _encode(obj: Any) -> Any:
    if isinstance(obj, enum.Enum):
        return {"__enum__": type(obj).__name__, "value": obj.value}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        fields = {
            f.name: _encode(getattr(obj, f.name))
            for f in dataclasses.fields(obj)
            if f.init
        }
        return {"__class__": type(obj).__name__, "fields": fields}
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(x) for x in obj]}
    if isinstance(obj, list):
        return [_encode(x) for x in obj]
    if isinstance(obj, dict):
        if not all(isinstance(k, str) for k in obj):
            raise TypeError(f"only string keys can be stored, got {list(obj)!r}")
        return {k: _encode(v) for k, v in obj.items()}
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    raise TypeError(f"cannot store a {type(obj).__name__} in a verdict state")


def _decode(obj: Any) -> Any:
    if isinstance(obj, list):
        return [_decode(x) for x in obj]
    if not isinstance(obj, dict):
        return obj
    if "__tuple__" in obj:
        return tuple(_decode(x) for x in obj["__tuple__"])
    if "__enum__" in obj:
        return _known(obj["__enum__"])(obj["value"])
    if "__class__" in obj:
        cls = _known(obj["__class__"])
        return cls(**{k: _decode(v) for k, v in obj["fields"].items()})
    return {k: _decode(v) for k, v in obj.items()}


def _known(name: str) -> type:
    try:
        return _CLASSES[name]
    except KeyError:
        raise ValueError(f"a verdict state cannot hold a {name!r}") from None


def verdict_state(v: Verdict) -> str:
    """Encode ``v`` losslessly as JSON text (see the module docstring)."""
    return json.dumps({"state": STATE_VERSION, "verdict": _encode(v)})


def verdict_from_state(text: str) -> Verdict:
    """The `Verdict` encoded by `verdict_state`.

    Raises
    ------
    ValueError
        When ``text`` is not a verdict state this bisect-ml can read.
    """
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"not a verdict state: {err}") from None
    if not isinstance(doc, dict) or doc.get("state") != STATE_VERSION:
        found = doc.get("state") if isinstance(doc, dict) else None
        raise ValueError(
            f"verdict state version {found!r}, this bisect-ml reads {STATE_VERSION}"
        )
    try:
        verdict = _decode(doc["verdict"])
    except (KeyError, TypeError) as err:
        raise ValueError(f"not a verdict state: {err}") from None
    if not isinstance(verdict, Verdict):
        raise ValueError("not a verdict state: it holds no verdict")
    return verdict
