"""The neutral description of a pair: data, model, training, and the two sides.

Everything here is plain frozen data that serialises to canonical JSON, so a
trial's identity is a hash of it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from bisect_ml.factors import FRAMEWORKS, Value, registry

__all__ = [
    "ACTIVATIONS",
    "DataSpec",
    "Effect",
    "LayerSpec",
    "Pair",
    "Side",
    "Simulation",
    "Spec",
    "TrainSpec",
    "canonical_json",
    "content_hash",
]

ACTIVATIONS = ("relu", "tanh", "sigmoid", "linear", "softmax")


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no spaces: equal data gives equal text."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def content_hash(obj: Any) -> str:
    """Hex SHA-256 of the canonical JSON of ``obj``."""
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()


@dataclass(frozen=True)
class DataSpec:
    """Where the data comes from and how it is split.

    ``order`` says in which order the training rows reach the backends:
    ``"shuffled"`` (the split's random order) or ``"file"`` (the order of the
    data file, as a script that never shuffles its arrays passes them on);
    the test rows are the same random draw either way.
    """

    dataset: str | None = None
    path: str | None = None
    target: str | None = None
    task: str = "classification"
    test_fraction: float = 0.25
    split_seed: int = 0
    window: int | None = None
    max_samples: int | None = None
    order: str = "shuffled"


@dataclass(frozen=True)
class LayerSpec:
    """One layer of the neutral model.

    Only the fields of the layer's type are set; the others stay ``None`` and
    are left out of the canonical form, so a dense layer hashes as it did
    before the other types existed.

    Parameters
    ----------
    type
        One of `LAYER_TYPES`.
    units
        Width of a ``dense``, ``lstm`` or ``gru`` layer; the vector size of an
        ``embedding``.
    activation
        Of a ``dense`` or ``conv2d`` layer, one of `ACTIVATIONS`.
    filters, kernel_size, strides, padding, dilation
        Of a ``conv2d`` layer (square kernels; ``padding`` is ``"valid"`` or
        ``"same"`` with Keras's meaning: ``ceil(size / stride)`` outputs).
    pool_size
        Of ``max_pool2d`` and ``avg_pool2d``, which also take ``strides``
        (default: the pool size) and ``padding``.
    rate
        The drop probability of a ``dropout`` layer.
    return_sequences
        Whether an ``lstm`` or ``gru`` layer returns every step (to feed
        another recurrent layer) or only the last.
    """

    type: str
    units: int | None = None
    activation: str = "linear"
    filters: int | None = None
    kernel_size: int | None = None
    strides: int | None = None
    padding: str | None = None
    dilation: int | None = None
    pool_size: int | None = None
    rate: float | None = None
    return_sequences: bool | None = None

    @property
    def stride(self) -> int:
        """The step of a window layer: ``strides``, else 1 (conv) or the pool."""
        if self.strides is not None:
            return self.strides
        return 1 if self.type == "conv2d" else int(self.pool_size or 1)

    def to_dict(self) -> dict[str, Any]:
        """The set fields only: the canonical form of this layer."""
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class TrainSpec:
    """The training settings both sides share.

    ``validation_split`` is the fraction of the training rows held out and
    not trained on (0: none); which rows is the factor
    ``train.validation_rows``.
    """

    epochs: int
    loss: str
    from_logits: bool
    optimizer: str = "adam"
    metric: str = "error_rate"
    validation_split: float = 0.0


@dataclass(frozen=True)
class Effect:
    """A planted shift of the metric for the simulated backend.

    The shift applies to a trial whose assignment has every factor in ``when``
    at the given value; one condition is a main effect, two or more an
    interaction.
    """

    when: tuple[tuple[str, Value], ...]
    shift: float


@dataclass(frozen=True)
class Simulation:
    """The declared truth the simulated backend answers from."""

    base: float = 0.1
    noise: float = 0.01
    distribution: str = "normal"
    diverge_probability: float = 0.0
    effects: tuple[Effect, ...] = ()
    seconds: float = 0.0


#: (section, key, default) of the spec settings added after trials were stored.
_LATER_DEFAULTS: tuple[tuple[str, str, Any], ...] = (
    ("data", "order", "shuffled"),
    ("train", "validation_split", 0.0),
)


@dataclass(frozen=True)
class Spec:
    """The neutral description both sides implement."""

    data: DataSpec
    layers: tuple[LayerSpec, ...]
    train: TrainSpec
    simulation: Simulation | None = None

    def to_dict(self) -> dict[str, Any]:
        """The canonical form; settings added later are left out at their default.

        A spec that does not use ``data.order`` or ``train.validation_split``
        hashes as it did before they existed, so stored trials stay valid.
        """
        out = asdict(self)
        out["layers"] = [layer.to_dict() for layer in self.layers]
        for section, key, default in _LATER_DEFAULTS:
            if out[section][key] == default:
                del out[section][key]
        return out

    @property
    def key(self) -> str:
        return content_hash(self.to_dict())


@dataclass(frozen=True)
class Side:
    """One run of the pair: a framework and its complete factor assignment.

    ``explicit`` holds the factors the user set; every other factor takes the
    framework default.
    """

    framework: str
    explicit: Mapping[str, Value] = field(default_factory=dict)

    @property
    def assignment(self) -> dict[str, Value]:
        values = {name: f.default(self.framework) for name, f in registry.items()}
        values.update(self.explicit)
        return values

    def is_default(self, factor: str) -> bool:
        """Whether ``factor`` takes the framework default on this side."""
        return self.assignment[factor] == registry[factor].default(self.framework)


@dataclass(frozen=True)
class Pair:
    """The diverging pair: a spec and its two sides.

    ``expect`` is what a catalogue case was measured to give (its
    ``[expect]`` table) and ``reproduce`` the reduced budget `bisect-ml
    reproduce --fast` runs it at (``fast``, ``seeds``, ``epochs``; empty
    without a ``[reproduce]`` table). Neither enters a trial's identity,
    which hashes the spec and the assignment alone.
    """

    name: str
    spec: Spec
    sides: Mapping[str, Side]
    description: str = ""
    source: str = ""
    backend: str = "auto"
    expect: Mapping[str, Any] = field(default_factory=dict)
    search: Mapping[str, Any] = field(default_factory=dict)
    path: str | None = None
    reproduce: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if tuple(self.sides) != FRAMEWORKS:
            raise ValueError(
                f"a pair needs sides {FRAMEWORKS}, got {tuple(self.sides)}"
            )

    def side(self, framework: str) -> Side:
        return self.sides[framework]

    def other(self, framework: str) -> str:
        return next(fw for fw in FRAMEWORKS if fw != framework)

    def differing(self) -> list[str]:
        """Factor names whose values differ between the sides, catalogue order."""
        a = self.sides["torch"].assignment
        b = self.sides["keras"].assignment
        return [name for name in registry if a[name] != b[name] and self.applies(name)]

    def applies(self, factor: str) -> bool:
        """Whether ``factor`` can matter for this pair at all (its `Factor.scope`)."""
        return registry[factor].applies(self)
