"""Read and validate scenario files (TOML) into a `Pair`.

Validation happens once, here, at the edge: every later stage may assume the
pair is well formed. Each problem is one `ScenarioError` naming the file, the
dotted key, the rule and the value received.
"""

from __future__ import annotations

import difflib
import math
import re
import sys
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from bisect_ml._errors import ScenarioError
from bisect_ml.factors import FRAMEWORKS, registry
from bisect_ml.scenario._geometry import input_layout, input_shape, layer_shapes
from bisect_ml.scenario._spec import (
    ACTIVATIONS,
    DataSpec,
    Effect,
    LayerSpec,
    Pair,
    Side,
    Simulation,
    Spec,
    TrainSpec,
)
from bisect_ml.strategies import STRATEGIES

__all__ = ["bundled_scenarios", "load_pair", "parse_pair", "resolve_scenario"]

_MISSING = object()


@dataclass(frozen=True)
class _Key:
    kind: type | tuple[type, ...]
    default: Any = _MISSING
    check: Callable[[Any], bool] | None = None
    rule: str = ""
    choices: tuple[Any, ...] = ()


def _pos(x: float) -> bool:
    return x > 0


def _nonneg(x: float) -> bool:
    return x >= 0


def _open_unit(x: float) -> bool:
    return 0 < x < 1


def _prob(x: float) -> bool:
    return 0 <= x < 1


#: A scenario name becomes a folder under --out: no separators, no leading dot.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")

_SCENARIO = {
    "name": _Key(
        str,
        _MISSING,
        lambda n: bool(_NAME.fullmatch(n)),
        "must be a plain name: letters, digits, '.', '_' or '-', starting with"
        " a letter or digit (it names the report folder)",
    ),
    "description": _Key(str, ""),
    "source": _Key(str, ""),
    "backend": _Key(str, "auto", choices=("auto", "simulated")),
}
_DATA = {
    "dataset": _Key(str, None),
    "path": _Key(str, None),
    "target": _Key(str, None),
    "task": _Key(str, None, choices=("classification", "regression")),
    "test_fraction": _Key(float, 0.25, _open_unit, "must be a float in (0, 1)"),
    "split_seed": _Key(int, 0, _nonneg, "must be a non-negative integer"),
    "window": _Key(int, None, lambda w: w >= 2, "must be an integer >= 2"),
    "max_samples": _Key(int, None, lambda n: n >= 10, "must be an integer >= 10"),
    "order": _Key(str, "shuffled", choices=("shuffled", "file")),
}
_TRAIN = {
    "epochs": _Key(int, _MISSING, _pos, "must be a positive integer"),
    "loss": _Key(str, _MISSING, choices=("cross_entropy", "mse")),
    "from_logits": _Key(bool, None),
    "optimizer": _Key(
        str, "adam", choices=("adam", "adamw", "sgd", "rmsprop", "adadelta")
    ),
    "metric": _Key(str, None, choices=("error_rate", "mse")),
    "validation_split": _Key(float, 0.0, _prob, "must be a float in [0, 1)"),
}
_UNITS = _Key(int, _MISSING, _pos, "must be a positive integer")
_ACTIVATION = _Key(str, "linear", choices=ACTIVATIONS)
_PADDING = _Key(str, "valid", choices=("valid", "same"))
_STRIDES = _Key(int, None, _pos, "must be a positive integer")
#: Per layer type, the keys a layer table may hold besides `type`.
_LAYERS: dict[str, dict[str, _Key]] = {
    "dense": {"units": _UNITS, "activation": _ACTIVATION},
    "conv2d": {
        "filters": _UNITS,
        "kernel_size": _UNITS,
        "strides": _Key(int, 1, _pos, "must be a positive integer"),
        "padding": _PADDING,
        "dilation": _Key(int, 1, _pos, "must be a positive integer"),
        "activation": _ACTIVATION,
    },
    "max_pool2d": {"pool_size": _UNITS, "strides": _STRIDES, "padding": _PADDING},
    "avg_pool2d": {"pool_size": _UNITS, "strides": _STRIDES, "padding": _PADDING},
    "flatten": {},
    "batch_norm": {},
    "layer_norm": {},
    "dropout": {"rate": _Key(float, _MISSING, _open_unit, "must be a float in (0, 1)")},
    "embedding": {"units": _UNITS},
    "lstm": {"units": _UNITS, "return_sequences": _Key(bool, False)},
    "gru": {"units": _UNITS, "return_sequences": _Key(bool, False)},
}
_SEARCH = {
    "seeds": _Key(int, 10, lambda n: n >= 3, "must be an integer >= 3"),
    "strategy": _Key(str, "auto", choices=tuple(STRATEGIES)),
    "alpha": _Key(float, 0.05, _open_unit, "must be a float in (0, 1)"),
    "margin": _Key(float, 0.2, _open_unit, "must be a float in (0, 1)"),
    "max_seeds": _Key(int, None, lambda n: n >= 3, "must be an integer >= 3"),
    "seed_step": _Key(int, None, _pos, "must be a positive integer"),
}
#: The reduced budget `bisect-ml reproduce --fast` runs a catalogue case at.
_REPRODUCE = {
    "fast": _Key(bool, False),
    "seeds": _Key(int, None, lambda n: n >= 3, "must be an integer >= 3"),
    "epochs": _Key(int, None, _pos, "must be a positive integer"),
}
_SIMULATION = {
    "base": _Key(float, 0.1),
    "noise": _Key(float, 0.01, _nonneg, "must be a non-negative float"),
    "distribution": _Key(str, "normal", choices=("normal", "t3", "bimodal")),
    "diverge_probability": _Key(float, 0.0, _prob, "must be a float in [0, 1)"),
    "effects": _Key(list, ()),
    "seconds": _Key(float, 0.0, _nonneg, "must be a non-negative float"),
}
_EXPECT = {
    "verdict": _Key(str, None, choices=("causes", "no_gap", "residual")),
    "causes": _Key(list, ()),
    "offsetting": _Key(list, ()),
    "ruled_out": _Key(list, ()),
}
_SECTIONS = (
    "scenario",
    "data",
    "model",
    "train",
    "sides",
    "search",
    "simulation",
    "expect",
    "reproduce",
)

#: Bundled data sets and their task; `series` ones need `data.window`.
BUNDLED = {
    "digits": "classification",
    "breast_cancer": "classification",
    "wine": "classification",
    "diabetes": "regression",
    "sunspots": "series",
}


def _unknown(key: str, allowed: Mapping[str, Any] | tuple[str, ...]) -> ScenarioError:
    name = key.rsplit(".", 1)[-1]
    close = difflib.get_close_matches(name, list(allowed), n=1, cutoff=0.6)
    hint = f" (did you mean `{close[0]}`?)" if close else ""
    return ScenarioError(
        f"is not a known key; allowed: {', '.join(allowed)}{hint}", key=key
    )


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "true or false",
        list: "an array",
        dict: "a table",
    }
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _check_value(key: str, spec: _Key, value: Any) -> Any:
    kind = spec.kind
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    wrong_bool = isinstance(value, bool) and kind is not bool
    if wrong_bool or not isinstance(value, kind):
        raise ScenarioError(f"must be {_kind_name(kind)}", key=key, received=value)
    if isinstance(value, float) and not math.isfinite(value):
        raise ScenarioError("must be finite", key=key, received=value)
    if spec.choices and value not in spec.choices:
        allowed = ", ".join(repr(c) for c in spec.choices)
        raise ScenarioError(f"must be one of {allowed}", key=key, received=value)
    if spec.check is not None and not spec.check(value):
        raise ScenarioError(spec.rule, key=key, received=value)
    return value


def _section(
    raw: Mapping[str, Any], prefix: str, schema: Mapping[str, _Key]
) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise ScenarioError("must be a table", key=prefix, received=raw)
    for key in raw:
        if key not in schema:
            raise _unknown(f"{prefix}.{key}", schema)
    out: dict[str, Any] = {}
    for key, spec in schema.items():
        if key in raw:
            out[key] = _check_value(f"{prefix}.{key}", spec, raw[key])
        elif spec.default is _MISSING:
            raise ScenarioError("is required", key=f"{prefix}.{key}")
        else:
            out[key] = spec.default
    return out


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Turn TOML's nested tables back into dotted factor names."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def _side(raw: Any, framework: str) -> Side:
    key = f"sides.{framework}"
    if not isinstance(raw, Mapping):
        raise ScenarioError("must be a table", key=key, received=raw)
    flat = _flatten(raw)
    declared = flat.pop("framework", framework)
    if declared != framework:
        raise ScenarioError(
            f"must be {framework!r} (the table's name)",
            key=f"{key}.framework",
            received=declared,
        )
    explicit = {}
    for name, value in flat.items():
        try:
            factor = registry[name]
            explicit[name] = factor.validate(value)
        except ScenarioError as err:
            raise ScenarioError(
                err.rule, key=f"{key}.{name}", received=err.received
            ) from None
    return Side(framework, explicit)


def _data(raw: Any) -> DataSpec:
    d = _section(raw, "data", _DATA)
    if (d["dataset"] is None) == (d["path"] is None):
        raise ScenarioError(
            "needs exactly one of `dataset` (bundled) or `path` (a .npz or .csv)",
            key="data",
        )
    if d["dataset"] is not None:
        if d["dataset"] not in BUNDLED:
            raise ScenarioError(
                f"must be one of {', '.join(repr(b) for b in BUNDLED)}",
                key="data.dataset",
                received=d["dataset"],
            )
        task = BUNDLED[d["dataset"]]
        if task == "series":
            if d["window"] is None:
                raise ScenarioError(
                    "is required for a time series data set", key="data.window"
                )
            task = "regression"
            if d["order"] != "shuffled":
                raise ScenarioError(
                    "only applies to samples, not to a time series (a series "
                    "is always split and kept in time order)",
                    key="data.order",
                    received=d["order"],
                )
        if d["task"] is not None and d["task"] != task:
            raise ScenarioError(
                f"must be {task!r} for data set {d['dataset']!r}",
                key="data.task",
                received=d["task"],
            )
        d["task"] = task
    elif d["task"] is None:
        raise ScenarioError("is required with `data.path`", key="data.task")
    return DataSpec(**d)


def _layer(raw: Any, i: int) -> LayerSpec:
    key = f"model.layers[{i}]"
    if not isinstance(raw, Mapping):
        raise ScenarioError("must be a table", key=key, received=raw)
    if "type" not in raw:
        raise ScenarioError("is required", key=f"{key}.type")
    kind = _check_value(f"{key}.type", _Key(str, choices=tuple(_LAYERS)), raw["type"])
    fields = _section({k: v for k, v in raw.items() if k != "type"}, key, _LAYERS[kind])
    layer = LayerSpec(kind, **fields)
    if layer.padding == "same":
        size_key = "kernel_size" if kind == "conv2d" else "pool_size"
        if getattr(layer, size_key) % 2 == 0:
            raise ScenarioError(
                "must be odd with padding 'same' (an even window has no "
                "symmetric padding to compare with TensorFlow's)",
                key=f"{key}.{size_key}",
                received=getattr(layer, size_key),
            )
    if kind == "conv2d" and layer.dilation != 1 and layer.strides != 1:
        raise ScenarioError(
            "must be 1 when `strides` is above 1 (TensorFlow supports no "
            "strided dilated convolution)",
            key=f"{key}.dilation",
            received=layer.dilation,
        )
    return layer


def _layers(raw: Any, data: DataSpec) -> tuple[LayerSpec, ...]:
    if not isinstance(raw, Mapping):
        raise ScenarioError("must be a table", key="model", received=raw)
    for key in raw:
        if key != "layers":
            raise _unknown(f"model.{key}", ("layers",))
    layers = raw.get("layers")
    if not isinstance(layers, list) or not layers:
        raise ScenarioError(
            "must be a non-empty array of tables", key="model.layers", received=layers
        )
    specs = tuple(_layer(layer, i) for i, layer in enumerate(layers))
    last = len(specs) - 1
    if specs[last].type != "dense":
        raise ScenarioError(
            "must be 'dense' (the output layer)",
            key=f"model.layers[{last}].type",
            received=specs[last].type,
        )
    shape = input_shape(
        input_layout(specs), dataset=data.dataset, n_features=1, window=data.window
    )
    layer_shapes(specs, shape)
    return specs


def _train(raw: Any, data: DataSpec, layers: tuple[LayerSpec, ...]) -> TrainSpec:
    t = _section(raw, "train", _TRAIN)
    last = layers[-1].activation
    if t["loss"] == "cross_entropy":
        if data.task != "classification":
            raise ScenarioError(
                "must be 'mse' for a regression task",
                key="train.loss",
                received=t["loss"],
            )
        if t["from_logits"] is None:
            raise ScenarioError(
                "is required with cross-entropy: say whether the last layer gives "
                "logits (true) or probabilities (false)",
                key="train.from_logits",
            )
        wanted = "linear" if t["from_logits"] else "softmax"
        if last != wanted:
            raise ScenarioError(
                f"must be {wanted!r} when train.from_logits = "
                f"{str(t['from_logits']).lower()}",
                key=f"model.layers[{len(layers) - 1}].activation",
                received=last,
            )
    else:
        if t["from_logits"] is not None:
            raise ScenarioError(
                "only applies to cross-entropy", key="train.from_logits"
            )
        t["from_logits"] = False
    metric = "error_rate" if data.task == "classification" else "mse"
    if t["metric"] is None:
        t["metric"] = metric
    elif t["metric"] != metric:
        raise ScenarioError(
            f"must be {metric!r} for a {data.task} task",
            key="train.metric",
            received=t["metric"],
        )
    return TrainSpec(**t)


def _simulation(raw: Any) -> Simulation:
    s = _section(raw, "simulation", _SIMULATION)
    effects = []
    for i, item in enumerate(s.pop("effects")):
        key = f"simulation.effects[{i}]"
        if not isinstance(item, Mapping) or set(item) != {"when", "shift"}:
            raise ScenarioError(
                "must be a table with exactly `when` and `shift`",
                key=key,
                received=item,
            )
        when = item["when"]
        if not isinstance(when, Mapping) or not when:
            raise ScenarioError(
                "must be a non-empty table of factor values",
                key=f"{key}.when",
                received=when,
            )
        conditions = []
        for name, value in _flatten(when).items():
            try:
                conditions.append((name, registry[name].validate(value)))
            except ScenarioError as err:
                raise ScenarioError(
                    err.rule, key=f"{key}.when.{name}", received=err.received
                ) from None
        shift = _check_value(f"{key}.shift", _Key(float), item["shift"])
        effects.append(Effect(tuple(sorted(conditions)), shift))
    return Simulation(effects=tuple(effects), **s)


def _search(raw: Any) -> dict[str, Any]:
    s = _section(raw, "search", _SEARCH)
    for key in ("max_seeds", "seed_step"):
        if s[key] is None:
            del s[key]  # unset: the strategy's own default
    if s.get("max_seeds") is not None and s["max_seeds"] < s["seeds"]:
        raise ScenarioError(
            f"must be at least `search.seeds` ({s['seeds']})",
            key="search.max_seeds",
            received=s["max_seeds"],
        )
    if "seed_step" in s and "max_seeds" not in s:
        raise ScenarioError(
            "only applies with `search.max_seeds` (adaptive seeds)",
            key="search.seed_step",
            received=s["seed_step"],
        )
    return s


def _expect(raw: Any) -> dict[str, Any]:
    """The ``[expect]`` table."""
    expect = _section(raw, "expect", _EXPECT)
    for key in ("causes", "offsetting", "ruled_out"):
        for i, name in enumerate(expect[key]):
            if not isinstance(name, str) or name not in registry:
                raise ScenarioError(
                    "must name a known factor",
                    key=f"expect.{key}[{i}]",
                    received=name,
                )
    return expect


def _reproduce(raw: Any, expect: Mapping[str, Any], train: TrainSpec) -> dict[str, Any]:
    """The ``[reproduce]`` budget (`Pair.reproduce`): all keys, defaults filled."""
    budget = _section({} if raw is None else raw, "reproduce", _REPRODUCE)
    if raw is not None and expect["verdict"] is None:
        raise ScenarioError(
            "only applies to a catalogue case: set `expect.verdict` too",
            key="reproduce",
        )
    if not budget["fast"]:
        for key in ("seeds", "epochs"):
            if budget[key] is not None:
                raise ScenarioError(
                    "only applies with `reproduce.fast = true`",
                    key=f"reproduce.{key}",
                    received=budget[key],
                )
    if budget["epochs"] is not None and budget["epochs"] > train.epochs:
        raise ScenarioError(
            f"must be at most `train.epochs` ({train.epochs}): a fast budget is "
            "a reduced one",
            key="reproduce.epochs",
            received=budget["epochs"],
        )
    return budget


def parse_pair(doc: Mapping[str, Any], path: str | None = None) -> Pair:
    """Validate a parsed scenario document and build its `Pair`.

    Raises
    ------
    ScenarioError
        On the first problem found, located in ``path`` when given.
    """
    try:
        return _parse(doc, path)
    except ScenarioError as err:
        raise err.at(path) if path else err from None


def _parse(doc: Mapping[str, Any], path: str | None) -> Pair:
    for key in doc:
        if key not in _SECTIONS:
            raise _unknown(key, _SECTIONS)
    for key in ("scenario", "data", "model", "train", "sides"):
        if key not in doc:
            raise ScenarioError("is a required section", key=key)
    meta = _section(doc["scenario"], "scenario", _SCENARIO)
    data = _data(doc["data"])
    layers = _layers(doc["model"], data)
    train = _train(doc["train"], data, layers)

    sides_raw = doc["sides"]
    if not isinstance(sides_raw, Mapping):
        raise ScenarioError("must be a table", key="sides", received=sides_raw)
    for key in sides_raw:
        if key not in FRAMEWORKS:
            raise _unknown(f"sides.{key}", FRAMEWORKS)
    for fw in FRAMEWORKS:
        if fw not in sides_raw:
            raise ScenarioError("is a required table", key=f"sides.{fw}")
    sides = {fw: _side(sides_raw[fw], fw) for fw in FRAMEWORKS}
    for fw, side in sides.items():
        if data.window is None and "preprocess.window" in side.explicit:
            raise ScenarioError(
                "only applies to time series (set `data.window`)",
                key=f"sides.{fw}.preprocess.window",
            )

    simulation = None
    if meta["backend"] == "simulated":
        simulation = _simulation(doc.get("simulation", {}))
    elif "simulation" in doc:
        raise ScenarioError(
            "only applies with scenario.backend = 'simulated'", key="simulation"
        )
    search = _search(doc.get("search", {}))
    expect = _expect(doc.get("expect", {}))
    reproduce = _reproduce(doc.get("reproduce"), expect, train)

    spec = Spec(data=data, layers=layers, train=train, simulation=simulation)
    return Pair(
        name=meta["name"],
        spec=spec,
        sides=sides,
        description=meta["description"],
        source=meta["source"],
        backend=meta["backend"],
        expect=expect,
        search=search,
        path=path,
        reproduce=reproduce,
    )


def bundled_scenarios() -> dict[str, Path]:
    """Names and paths of the scenario files shipped with the package."""
    root = resources.files("bisect_ml.scenarios")
    return {
        Path(str(entry)).stem: Path(str(entry))
        for entry in root.iterdir()
        if entry.name.endswith(".toml")
    }


def resolve_scenario(ref: str | Path) -> Path:
    """A path to an existing file, or the name of a bundled scenario."""
    path = Path(ref)
    if path.suffix == ".toml" or path.exists() or "/" in str(ref):
        if not path.is_file():
            raise ScenarioError(
                "does not exist or is not a file", key=None, path=str(ref)
            )
        return path
    bundled = bundled_scenarios()
    if str(ref) in bundled:
        return bundled[str(ref)]
    close = difflib.get_close_matches(str(ref), list(bundled), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ScenarioError(
        f"is neither a file nor a bundled scenario (bundled: "
        f"{', '.join(sorted(bundled))}){hint}",
        path=str(ref),
    )


def load_pair(ref: str | Path) -> Pair:
    """Load the scenario ``ref`` (a path or a bundled name) as a `Pair`."""
    path = resolve_scenario(ref)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ScenarioError(
            f"cannot be read ({err.__class__.__name__}: {err})", path=path
        ) from None
    try:
        doc = tomllib.loads(text)
        return parse_pair(doc, str(path))
    except tomllib.TOMLDecodeError as err:
        raise ScenarioError(f"is not valid TOML: {err}", path=path) from None
    except RecursionError:
        # tomllib (and the checks after it) recurse once per level of nested
        # arrays and tables; no scenario needs more than a handful.
        raise ScenarioError(
            "must not nest arrays or tables this deeply (Python's recursion "
            f"limit of {sys.getrecursionlimit()} was reached reading it)",
            path=path,
        ) from None
