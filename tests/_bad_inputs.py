"""A catalogue of malformed scenarios, shared by the tests and the benchmark.

Each `BadInput` is a scenario file (and the data files it names) that breaks
one rule; ``expect`` is what its one-line error must mention (the key, usually).
The catalogue is built from a valid document by systematic mutations: unknown
sections and keys, missing ones, wrong types, out-of-range values, bad factor
values, and broken data files. Everything is data: no code is executed to
build or read any of it.
"""

from __future__ import annotations

import copy
import json
import math
import pickle
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bisect_ml.factors import registry
from tests._helpers import scenario_doc

#: Where a data file of the case goes; replaced by the case's folder.
HERE = "@HERE@"

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass
class BadInput:
    """One malformed scenario."""

    name: str
    #: The scenario file's text, or raw bytes; ``None`` for no file at all.
    scenario: str | bytes | None
    expect: str
    #: File name -> content written beside the scenario: text, bytes, or a
    #: function of the folder giving bytes; a name ending in / is a folder.
    files: dict[str, str | bytes | Callable[[Path], bytes]] = field(
        default_factory=dict
    )
    #: Make the scenario path a directory instead of a file.
    directory: bool = False

    def write(self, folder: Path) -> Path:
        """Write the case into ``folder``; return the scenario path."""
        folder.mkdir(parents=True, exist_ok=True)
        for name, content in self.files.items():
            target = folder / name
            if callable(content):
                target.write_bytes(content(folder))
            elif isinstance(content, bytes):
                target.write_bytes(content)
            elif name.endswith("/"):
                target.mkdir(exist_ok=True)
            else:
                target.write_text(content.replace(HERE, str(folder)))
        path = folder / "case.toml"
        if self.directory:
            path.mkdir(exist_ok=True)
        elif isinstance(self.scenario, bytes):
            path.write_bytes(self.scenario)
        elif self.scenario is not None:
            path.write_text(self.scenario.replace(HERE, str(folder)), "utf-8")
        return path


# -- TOML -----------------------------------------------------------------------


def _key(k: str) -> str:
    return k if _BARE.match(k) else json.dumps(k)


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"no TOML for {v!r}")


def toml(doc: dict[str, Any]) -> str:
    """A TOML text for ``doc``: top-level tables as sections, the rest inline."""
    lines = [
        f"{_key(k)} = {_value(v)}" for k, v in doc.items() if not isinstance(v, dict)
    ]
    for k, v in doc.items():
        if isinstance(v, dict):
            lines.append(f"\n[{_key(k)}]")
            lines += [f"{_key(sk)} = {_value(sv)}" for sk, sv in v.items()]
    return "\n".join(lines) + "\n"


# -- the valid starting point ------------------------------------------------------


def valid_doc() -> dict[str, Any]:
    """A valid real-backend scenario (digits, a small dense network).

    The tests' common scenario (`scenario_doc`), with every optional key of
    ``scenario``, ``data`` and ``search`` set, so that each can be broken.
    """
    return scenario_doc(
        scenario={"name": "case", "description": "d", "source": "s"},
        data={"dataset": "digits", "test_fraction": 0.25, "split_seed": 0},
        search={"seeds": 5, "strategy": "ofat", "alpha": 0.05, "margin": 0.2},
    )


def _csv_doc(path: str, target: str = "label", **data: Any) -> dict[str, Any]:
    doc = valid_doc()
    doc["data"] = {"path": f"{HERE}/{path}", "target": target, "task": "classification"}
    doc["data"].update(data)
    doc["model"]["layers"][-1]["units"] = 2
    return doc


def _set(doc: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    *parents, last = dotted.split(".")
    node = doc
    for p in parents:
        node = node[int(p)] if isinstance(node, list) else node.setdefault(p, {})
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return doc


def _drop(doc: dict[str, Any], dotted: str) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    *parents, last = dotted.split(".")
    node = doc
    for p in parents:
        node = node[int(p)] if isinstance(node, list) else node[p]
    del node[last]
    return doc


def _where(dotted: str) -> str:
    """How the loader names a dotted path: ``model.layers[0].units``."""
    return re.sub(r"\.(\d+)", r"[\1]", dotted)


# Keys of the valid document with values of a wrong type for each.
_WRONG_TYPES: dict[str, list[Any]] = {
    "scenario.name": [3, True, ["a"], {"a": 1}],
    "scenario.description": [1.5, False],
    "data.dataset": [7, ["digits"]],
    "data.test_fraction": ["0.2", True, [0.2]],
    "data.split_seed": ["0", 1.5, True, {"a": 1}],
    "model.layers.0.units": ["16", 16.5, True],
    "model.layers.0.activation": [1, ["relu"]],
    "model.layers.0.type": [0, False],
    "train.epochs": ["2", 2.5, False, [2]],
    "train.loss": [1, True],
    "train.from_logits": ["true", 1, 0.0],
    "search.seeds": ["5", 5.5, True],
    "search.alpha": ["0.05", False, [0.05]],
    "search.margin": ["x", True],
    "search.strategy": [3, ["ofat"]],
    "data.order": [1, True, ["file"]],
    "train.validation_split": ["0.2", True, [0.2]],
}

# Keys of the valid document with values of the right type but out of range.
_OUT_OF_RANGE: dict[str, list[Any]] = {
    "data.test_fraction": [0.0, 1.0, 1.5, -0.1, math.nan, math.inf],
    "data.split_seed": [-1],
    "data.max_samples": [0, 9, -5],
    "data.dataset": ["mnist", "", "../digits"],
    "model.layers.0.units": [0, -3],
    "model.layers.0.activation": ["gelu", "RELU", ""],
    "model.layers.0.type": ["conv9", ""],
    "train.epochs": [0, -1],
    "train.loss": ["hinge", ""],
    "train.metric": ["accuracy", "mse"],
    "train.optimizer": ["lbfgs", "Adam"],
    "search.seeds": [2, 0, -10],
    "search.alpha": [0.0, 1.0, 2.0, math.nan],
    "search.margin": [0.0, 1.0, -0.5],
    "data.order": ["random", "File", ""],
    # 1e-20: 1 - v rounds to 1, so no row would be held out (Keras raises).
    "train.validation_split": [1.0, 1.5, -0.1, math.nan, 0.99999, 1e-20],
}

_REQUIRED = [
    "scenario",
    "data",
    "model",
    "train",
    "sides",
    "scenario.name",
    "train.epochs",
    "train.loss",
    "sides.torch",
    "sides.keras",
    "model.layers",
    "model.layers.0.units",
    "model.layers.0.type",
]


def _factor_cases() -> list[tuple[str, Any, str]]:
    """(factor, bad value, expected fragment) for every factor of the catalogue."""
    cases: list[tuple[str, Any, str]] = []
    for f in registry.values():
        wrong: list[Any]
        if f.kind is bool:
            wrong = ["yes", 1, [True]]
        elif f.kind is int:
            wrong = ["8", 2.5, True, 0, -1]
        elif f.kind is float:
            wrong = ["0.1", True, math.nan, math.inf, -1.0, [0.1]]
        else:
            wrong = ["no-such-value", 1, True, ["x"]]
        cases += [(f.name, value, f.name) for value in wrong]
    return cases


def _npz(**arrays: Any) -> bytes:
    import io

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


class _Payload:
    """Unpickling this would run code: create a marker file."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        return (Path.touch, (Path(self.marker),))


def pickle_npz(marker: str) -> bytes:
    """An .npz whose `x` is a pickled object that would touch ``marker``."""
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        header = np.lib.format
        arr = io.BytesIO()
        header.write_array(
            arr, np.array([_Payload(marker)], dtype=object), allow_pickle=True
        )
        z.writestr("x.npy", arr.getvalue())
        z.writestr("y.npy", _npy(np.zeros(1)))
    return buf.getvalue()


def _npy(a: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    np.lib.format.write_array(buf, a)
    return buf.getvalue()


def _data_cases() -> list[BadInput]:
    good_rows = "a,b,label\n" + "\n".join(f"{i},{i * 2},{i % 2}" for i in range(40))
    cases = [
        BadInput("data-missing-file", toml(_csv_doc("nope.csv")), "data.path"),
        BadInput(
            "data-is-a-directory",
            toml(_csv_doc("dir.csv")),
            "data.path",
            {"dir.csv/": ""},
        ),
        BadInput(
            "data-wrong-suffix", toml(_csv_doc("d.json")), "data.path", {"d.json": "{}"}
        ),
        BadInput("data-empty-csv", toml(_csv_doc("d.csv")), "data.path", {"d.csv": ""}),
        BadInput(
            "data-header-only",
            toml(_csv_doc("d.csv")),
            "data.path",
            {"d.csv": "a,b,label\n"},
        ),
        BadInput(
            "data-not-numbers",
            toml(_csv_doc("d.csv")),
            "data.path",
            {"d.csv": good_rows + "\nx,y,1\n"},
        ),
        BadInput(
            "data-ragged-rows",
            toml(_csv_doc("d.csv")),
            "data.path",
            {"d.csv": good_rows + "\n1,2\n"},
        ),
        BadInput(
            "data-not-utf8",
            toml(_csv_doc("d.csv")),
            "data.path",
            {"d.csv": b"a,b,label\n\xff\xfe,1,0\n"},
        ),
        BadInput(
            "data-no-target-column",
            toml(_csv_doc("d.csv", target="y")),
            "data.target",
            {"d.csv": good_rows},
        ),
        BadInput(
            "data-too-few-rows",
            toml(_csv_doc("d.csv")),
            "data",
            {"d.csv": "a,label\n1,0\n2,1\n"},
        ),
        BadInput(
            "data-fractional-labels",
            toml(_csv_doc("d.csv")),
            "data.path",
            {"d.csv": good_rows.replace(",1\n", ",0.5\n")},
        ),
        BadInput(
            "data-npz-without-x-y",
            toml(_csv_doc("d.npz")),
            "data.path",
            {"d.npz": _npz(a=np.zeros((20, 2)), b=np.zeros(20))},
        ),
        BadInput(
            "data-npz-lengths-differ",
            toml(_csv_doc("d.npz")),
            "data.path",
            {"d.npz": _npz(x=np.zeros((20, 2)), y=np.zeros(19))},
        ),
        BadInput(
            "data-npz-3d",
            toml(_csv_doc("d.npz")),
            "data.path",
            {"d.npz": _npz(x=np.zeros((20, 2, 2)), y=np.zeros(20))},
        ),
        BadInput(
            "data-npz-garbage",
            toml(_csv_doc("d.npz")),
            "data.path",
            {"d.npz": b"PK\x03\x04 not really a zip file" * 10},
        ),
        BadInput(
            "data-npz-pickled-object",
            toml(_csv_doc("d.npz")),
            "data.path",
            {"d.npz": lambda folder: pickle_npz(str(folder / "PWNED"))},
        ),
        BadInput(
            "data-both-dataset-and-path",
            toml(_set(_csv_doc("d.csv"), "data.dataset", "digits")),
            "data",
            {"d.csv": good_rows},
        ),
        BadInput(
            "data-path-without-task",
            toml(_drop(_csv_doc("d.csv"), "data.task")),
            "data.task",
            {"d.csv": good_rows},
        ),
        BadInput(
            "data-csv-without-target",
            toml(_drop(_csv_doc("d.csv"), "data.target")),
            "data.target",
            {"d.csv": good_rows},
        ),
        BadInput(
            "data-output-units-mismatch",
            toml(_set(_csv_doc("d.csv"), "model.layers.1.units", 3)),
            "model.layers[1].units",
            {"d.csv": good_rows},
        ),
    ]
    return cases


def _file_cases() -> list[BadInput]:
    text = toml(valid_doc())
    return [
        BadInput("file-missing", None, "does not exist"),
        BadInput(
            "file-is-a-directory",
            None,
            "does not exist or is not a file",
            directory=True,
        ),
        BadInput("file-empty", "", "is a required section"),
        BadInput("file-not-utf8", b"\xff\xfe\x00[scenario]\n", "cannot be read"),
        BadInput("file-binary", bytes(range(256)) * 4, "cannot be read"),
        BadInput("file-bad-toml", "[scenario\nname = 1", "is not valid TOML"),
        BadInput(
            "file-duplicate-key",
            text + "\n[scenario]\nname = 'x'\n",
            "is not valid TOML",
        ),
        BadInput("file-unclosed-string", 'name = "x\n', "is not valid TOML"),
        BadInput(
            "file-deep-nesting", "x = " + "[" * 5000 + "]" * 5000 + "\n", "case.toml"
        ),
        BadInput(
            "file-python-code",
            "import os\nos.system('touch PWNED')\n",
            "is not valid TOML",
        ),
        BadInput("file-pickle", pickle.dumps({"scenario": {"name": "x"}}), "case.toml"),
    ]


def catalogue() -> list[BadInput]:
    """Every malformed scenario, in a fixed order; more than 200 of them."""
    base = valid_doc()
    cases: list[BadInput] = []
    cases += _file_cases()

    # Unknown sections and keys, with typos the loader should see through.
    for section in ("extra", "scenarios", "sidez", "modle"):
        cases.append(
            BadInput(
                f"unknown-section-{section}",
                toml(base | {section: {"a": 1}}),
                f"`{section}`",
            )
        )
    for section in ("scenario", "data", "train", "search"):
        for key in ("nmae", "epochz", "unknown_key"):
            doc = _set(base, f"{section}.{key}", 1)
            cases.append(
                BadInput(
                    f"unknown-key-{section}.{key}", toml(doc), f"`{section}.{key}`"
                )
            )
    cases.append(
        BadInput(
            "unknown-layer-key",
            toml(_set(base, "model.layers.0.unit", 3)),
            "model.layers[0].unit",
        )
    )
    cases.append(
        BadInput(
            "unknown-model-key", toml(_set(base, "model.depth", 3)), "`model.depth`"
        )
    )
    cases.append(
        BadInput("unknown-side", toml(_set(base, "sides.jax", {})), "`sides.jax`")
    )
    for factor in ("optimizer.epsilom", "init.dense.kernal", "nothing.at.all"):
        cases.append(
            BadInput(
                f"unknown-factor-{factor}",
                toml(_set(base, "sides.torch", _set({}, factor, 1))),
                f"sides.torch.{factor}",
            )
        )

    # Missing required sections and keys.
    for dotted in _REQUIRED:
        cases.append(
            BadInput(
                f"missing-{dotted}", toml(_drop(base, dotted)), f"`{_where(dotted)}`"
            )
        )

    # A section that is not a table.
    for section in ("scenario", "data", "model", "train", "sides", "search"):
        doc = copy.deepcopy(base)
        doc[section] = 3
        cases.append(BadInput(f"not-a-table-{section}", toml(doc), f"`{section}`"))

    # Wrong types and out-of-range values of every key.
    for table in (_WRONG_TYPES, _OUT_OF_RANGE):
        kind = "wrong-type" if table is _WRONG_TYPES else "out-of-range"
        for dotted, values in table.items():
            for value in values:
                cases.append(
                    BadInput(
                        f"{kind}-{dotted}={value!r}",
                        toml(_set(base, dotted, value)),
                        f"`{_where(dotted)}`",
                    )
                )

    # Every factor of the catalogue with values it cannot take, on both sides.
    for i, (factor, value, where) in enumerate(_factor_cases()):
        fw = ("torch", "keras")[i % 2]
        cases.append(
            BadInput(
                f"factor-{fw}.{factor}={value!r}",
                toml(_set(base, f"sides.{fw}", _set({}, factor, value))),
                f"`sides.{fw}.{where}`",
            )
        )

    # Semantics that only hold together.
    semantics = [
        (
            "loss-vs-task",
            _set(_set(base, "data.dataset", "diabetes"), "model.layers.1.units", 1),
            "train.loss",
        ),
        (
            "from-logits-vs-activation",
            _set(base, "train.from_logits", False),
            "model.layers[1].activation",
        ),
        (
            "from-logits-with-mse",
            _set(
                _set(_set(base, "data.dataset", "diabetes"), "train.loss", "mse"),
                "model.layers.1.units",
                1,
            ),
            "train.from_logits",
        ),
        ("task-vs-dataset", _set(base, "data.task", "regression"), "data.task"),
        (
            "series-without-window",
            _set(base, "data.dataset", "sunspots"),
            "data.window",
        ),
        (
            "window-on-tabular",
            _set(base, "sides.torch", {"preprocess": {"window": "last"}}),
            "preprocess.window",
        ),
        (
            "output-units-vs-classes",
            _set(base, "model.layers.1.units", 3),
            "model.layers[1].units",
        ),
        (
            "framework-mismatch",
            _set(base, "sides.torch", {"framework": "keras"}),
            "sides.torch.framework",
        ),
        (
            "expect-unknown-cause",
            base | {"expect": {"causes": ["nope"]}},
            "expect.causes[0]",
        ),
        (
            "simulation-without-simulated-backend",
            base | {"simulation": {}},
            "simulation",
        ),
        ("empty-layers", _set(base, "model.layers", []), "model.layers"),
        ("layer-not-a-table", _set(base, "model.layers", [3]), "model.layers[0]"),
    ]
    for name, doc, where in semantics:
        cases.append(BadInput(f"semantics-{name}", toml(doc), where))

    simulated = _set(base, "scenario.backend", "simulated")
    for name, sim, where in [
        ("effect-not-a-table", {"effects": [3]}, "simulation.effects[0]"),
        (
            "effect-extra-key",
            {"effects": [{"when": {"a": 1}, "shift": 1, "x": 2}]},
            "simulation.effects[0]",
        ),
        (
            "effect-unknown-factor",
            {"effects": [{"when": {"nope": 1}, "shift": 1}]},
            "simulation.effects[0].when.nope",
        ),
        (
            "effect-empty-when",
            {"effects": [{"when": {}, "shift": 1}]},
            "simulation.effects[0].when",
        ),
        (
            "effect-shift-string",
            {"effects": [{"when": {"optimizer": {"epsilon": 1e-7}}, "shift": "big"}]},
            "simulation.effects[0].shift",
        ),
        ("noise-negative", {"noise": -1.0}, "simulation.noise"),
        ("seconds-negative", {"seconds": -1.0}, "simulation.seconds"),
        (
            "diverge-probability-one",
            {"diverge_probability": 1.0},
            "simulation.diverge_probability",
        ),
        ("distribution-unknown", {"distribution": "cauchy"}, "simulation.distribution"),
        ("backend-unknown", None, "scenario.backend"),
    ]:
        doc = (
            simulated | {"simulation": sim}
            if sim is not None
            else _set(base, "scenario.backend", "jax")
        )
        cases.append(BadInput(f"simulation-{name}", toml(doc), where))

    cases += _data_cases()
    return cases
