"""Issue 7: every malformed scenario gets one clear line, exit 2, and no store.

The catalogue (`tests._bad_inputs`) holds a few hundred scenarios that each
break one rule; Hypothesis adds random mutations and random bytes. A bad input
must give a `ScenarioError` naming the file and the key, one line, exit code 2,
no traceback unless ``--debug``, and leave no store behind. Scenario and data
files are data: nothing in them is executed or unpickled.
"""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from bisect_ml import api
from bisect_ml._errors import ScenarioError
from bisect_ml.cli import app
from tests._bad_inputs import BadInput, _csv_doc, _set, catalogue, toml, valid_doc

CASES = catalogue()


def test_the_catalogue_tries_at_least_200_bad_inputs() -> None:
    assert len(CASES) >= 200
    assert len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_bad_input_is_one_line_naming_file_and_key(
    tmp_path: Path, case: BadInput
) -> None:
    path = case.write(tmp_path)
    with pytest.raises(ScenarioError) as info:
        api.prepare(str(path))
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    assert case.expect in message
    assert not (tmp_path / "PWNED").exists()


runner = CliRunner()


@pytest.mark.parametrize("case", CASES[::7], ids=[c.name for c in CASES[::7]])
def test_cli_bad_input_exit_2_no_traceback_no_store(
    tmp_path: Path, case: BadInput
) -> None:
    path = case.write(tmp_path / "case")
    store = tmp_path / "store.sqlite"
    result = runner.invoke(
        app, ["bisect", str(path), "--store", str(store), "-q"], catch_exceptions=True
    )
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"bisect-ml: error: {path}: ")
    assert "Traceback" not in result.stderr
    assert not store.exists()


def test_real_process_bad_input_and_debug_traceback(tmp_path: Path) -> None:
    case = next(c for c in CASES if c.name == "wrong-type-train.epochs='2'")
    path = case.write(tmp_path)
    store = tmp_path / "s.sqlite"
    base = [sys.executable, "-m", "bisect_ml.cli", "bisect", str(path)]
    run = subprocess.run(
        [*base, "--store", str(store)], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 2
    assert run.stderr == (
        f"bisect-ml: error: {path}: `train.epochs` must be an integer, got '2'\n"
    )
    debug = subprocess.run(
        [*base, "--store", str(store), "--debug"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert debug.returncode == 2 and "Traceback" in debug.stderr
    assert not store.exists()


# -- Hypothesis: random mutations and random bytes ------------------------------

_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
)
_VALUES = st.recursive(
    _LEAVES.filter(lambda v: v is not None),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(min_size=1, max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            found += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            found += _paths(v, (*prefix, i))
    return found


@st.composite
def mutated_docs(draw: st.DrawFn) -> dict[str, Any]:
    doc = copy.deepcopy(valid_doc())
    doc["scenario"]["backend"] = "simulated"  # valid ones never load data
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(doc)))
        *parents, last = path
        node = doc
        for p in parents:
            node = node[p]
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "delete":
            del node[last]
        elif action == "add" and isinstance(node, dict):
            node[draw(st.text(min_size=1, max_size=10))] = draw(_VALUES)
        else:
            node[last] = draw(_VALUES)
        if not _paths(doc):
            break
    return doc


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(doc=mutated_docs())
def test_any_mutation_is_valid_or_one_clear_line(tmp_path: Path, doc: dict) -> None:
    path = tmp_path / "m.toml"
    path.write_text(toml(doc), encoding="utf-8")
    try:
        api.prepare(str(path))
    except ScenarioError as err:
        message = str(err)
        assert message.startswith(f"{path}: ") and "\n" not in message


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(blob=st.binary(max_size=400) | st.text(max_size=200).map(str.encode))
def test_any_bytes_are_a_scenario_or_one_clear_line(
    tmp_path: Path, blob: bytes
) -> None:
    path = tmp_path / "b.toml"
    path.write_bytes(blob)
    with pytest.raises(ScenarioError) as info:
        api.prepare(str(path))
    assert str(info.value).startswith(f"{path}: ")


# -- data rules: values, feature columns, classes ---------------------------------


def _rows(make: Any) -> str:
    return "a,b,label\n" + "\n".join(make(i) for i in range(40))


@pytest.mark.parametrize(
    ("csv", "units", "rule"),
    [
        (
            _rows(lambda i: f"{'nan' if i == 3 else i},{i},{i % 2}"),
            2,
            "must hold only finite feature values (1 are not; the first, in data "
            "row 4, is nan)",
        ),
        (
            _rows(lambda i: f"{'inf' if i == 3 else i},{i},{i % 2}"),
            2,
            "must hold only finite feature values (1 are not; the first, in data "
            "row 4, is inf)",
        ),
        (
            "label\n" + "\n".join(str(i % 2) for i in range(40)),
            2,
            "must hold at least one feature column besides the target",
        ),
        (
            _rows(lambda i: f"{i},{i},0"),
            1,
            "must hold at least two classes for classification (every label is 0)",
        ),
    ],
    ids=["nan", "inf", "no-features", "one-class"],
)
def test_data_rules_name_file_key_rule_and_value(
    tmp_path: Path, csv: str, units: int, rule: str
) -> None:
    doc = _set(_csv_doc("d.csv"), "model.layers.1.units", units)
    path = BadInput("rule", toml(doc), "data", {"d.csv": csv}).write(tmp_path)
    with pytest.raises(ScenarioError) as info:
        api.prepare(str(path))
    assert str(info.value) == (
        f"{path}: `data.path` {rule}, got {str(tmp_path / 'd.csv')!r}"
    )


def _npz_bytes(**arrays: Any) -> bytes:
    import io

    import numpy as np

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def test_npz_data_rules(tmp_path: Path) -> None:
    import numpy as np

    x = np.arange(80.0).reshape(40, 2)
    y = np.arange(40) % 2
    cases = {
        "regression target": (
            _npz_bytes(x=x, y=np.where(y == 1, np.inf, 0.5)),
            "regression",
            "must hold only finite target values (20 are not; the first, in data "
            "row 2, is inf)",
        ),
        "no features": (
            _npz_bytes(x=np.zeros((40, 0)), y=y),
            "classification",
            "must hold at least one feature column besides the target",
        ),
        "strings": (
            _npz_bytes(x=np.array([["a", "b"]] * 40), y=y),
            "classification",
            "must hold numbers in `x` (integer, float or bool), not dtype <U1",
        ),
        "truncated": (
            _npz_bytes(x=x, y=y)[:300],
            "classification",
            "cannot be read as .npz (BadZipFile: File is not a zip file)",
        ),
    }
    for i, (name, (blob, task, rule)) in enumerate(cases.items()):
        folder = tmp_path / str(i)
        doc = _set(_csv_doc("d.npz"), "data.task", task)
        if task == "regression":
            doc = _set(doc, "model.layers.1.units", 1)
            doc["train"] = {"epochs": 2, "loss": "mse"}
        path = BadInput(name, toml(doc), "data", {"d.npz": blob}).write(folder)
        with pytest.raises(ScenarioError) as info:
            api.prepare(str(path))
        assert str(info.value) == (
            f"{path}: `data.path` {rule}, got {str(folder / 'd.npz')!r}"
        ), name


def test_deep_nesting_is_one_line_naming_the_rule(tmp_path: Path) -> None:
    path = tmp_path / "deep.toml"
    path.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ScenarioError, match="must not nest arrays or tables") as info:
        api.prepare(str(path))
    assert str(info.value).startswith(f"{path}: ") and "\n" not in str(info.value)
    # Deep, but within the parser's reach: the checks after it must not
    # recurse into it either.
    path.write_text(
        toml(valid_doc())
        + "\n[simulation]\nx = "
        + "{ a = " * 400
        + "1"
        + " }" * 400
        + "\n"
    )
    with pytest.raises(ScenarioError) as info:
        api.prepare(str(path))
    assert str(info.value).startswith(f"{path}: ")


def test_scenario_code_is_never_run_and_nothing_is_unpickled() -> None:
    # Loading a scenario reads TOML, CSV and .npz without pickle; no module of
    # the package evaluates text or unpickles what a user file holds.
    root = Path(api.__file__).parent
    risky = re.compile(
        r"(?<![\w.])(eval|exec)\(|pickle\.loads?\(|allow_pickle\s*=\s*True|"
        r"torch\.load\((?![^)]*weights_only\s*=\s*True)"
    )
    hits = [
        f"{p.relative_to(root)}: {line.strip()}"
        for p in root.rglob("*.py")
        for line in p.read_text().splitlines()
        if risky.search(line)
    ]
    assert hits == []


# -- flags, paths and stores: clean failures, nothing stored is lost ---------------


def _trials(store: Path) -> int:
    import sqlite3

    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        return int(db.execute("SELECT count(*) FROM trials").fetchone()[0])


def test_bad_stores_and_report_folders_fail_cleanly_keeping_the_store(
    tmp_path: Path,
) -> None:
    store = tmp_path / "store.sqlite"
    first = runner.invoke(
        app,
        [
            "bisect",
            "sim-two-causes",
            "--store",
            str(store),
            "-q",
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert first.exit_code == 0, first.stderr
    kept = _trials(store)
    assert kept > 0

    (tmp_path / "folder").mkdir()
    afile = tmp_path / "afile"
    afile.write_text("x")
    for bad, rule in [
        (tmp_path / "folder", "is not a regular file"),
        (afile / "s.sqlite", "unable to open database file"),
    ]:
        result = runner.invoke(
            app, ["bisect", "sim-two-causes", "--store", str(bad), "-q"]
        )
        assert result.exit_code == 2, (bad, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"bisect-ml: error: store {bad}")
        assert rule in lines[0] and "Traceback" not in result.stderr

    # A report folder that cannot be made: exit 2 after the search, with every
    # trial still in the store.
    result = runner.invoke(
        app,
        ["bisect", "sim-two-causes", "--store", str(store), "-q", "--out", str(afile)],
    )
    assert result.exit_code == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("bisect-ml: error: cannot write the report")
    assert str(afile) in last
    assert _trials(store) == kept and afile.read_text() == "x"


def test_a_scenario_path_that_is_a_directory(tmp_path: Path) -> None:
    folder = tmp_path / "scenario.toml"
    folder.mkdir()
    store = ["--store", str(tmp_path / "s")]
    for args in (["diff", str(folder)], ["bisect", str(folder), "-q", *store]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2
        assert result.stderr == (
            f"bisect-ml: error: {folder}: does not exist or is not a file\n"
        )
    assert not (tmp_path / "s").exists()
