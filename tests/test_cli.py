"""The command line: exit codes, reports, one-line errors without tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BIN = [sys.executable, "-m", "bisect_ml.cli"]


def cli(
    *args: str, cwd: Path, store: Path | None = None
) -> subprocess.CompletedProcess:
    env = dict(os.environ, BISECT_ML_STORE=str(store or cwd / "store.sqlite"))
    return subprocess.run(
        [*BIN, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_bisect_bundled_simulated_scenario(tmp_path: Path) -> None:
    run = cli("bisect", "sim-two-causes", "--out", "out", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "the gap is explained" in run.stdout
    report = json.loads((tmp_path / "out/sim-two-causes/report.json").read_text())
    assert report["schema"] == 1 and report["status"] == "explained"
    assert [c["factor"] for c in report["causes"]] == [
        "init.dense.kernel",
        "optimizer.epsilon_placement",
    ]
    assert report["gap"]["ci"][0] < report["gap"]["estimate"] < report["gap"]["ci"][1]
    assert report["trials"]["run"] > 0
    assert (tmp_path / "out/sim-two-causes/report.md").read_text() == run.stdout[:-1]

    again = cli("bisect", "sim-two-causes", "--out", "out", "-q", cwd=tmp_path)
    assert again.returncode == 0
    second = json.loads((tmp_path / "out/sim-two-causes/report.json").read_text())
    assert second["trials"]["run"] == 0


def test_no_gap_exit_code(tmp_path: Path) -> None:
    scenario = tmp_path / "aa.toml"
    scenario.write_text("""
[scenario]
name = "aa"
backend = "simulated"
[data]
dataset = "wine"
[model]
layers = [{type = "dense", units = 3}]
[train]
epochs = 3
loss = "cross_entropy"
from_logits = true
[sides.torch]
[sides.keras]
[simulation]
base = 0.1
""")
    run = cli("bisect", str(scenario), "-q", cwd=tmp_path)
    assert run.returncode == 4, run.stderr
    assert "no significant gap" in run.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bisect", "nope.toml"], "nope.toml: does not exist"),
        (["bisect", "no-such-case"], "is neither a file nor a bundled scenario"),
        (["bisect", "sim-two-causes", "--strategy", "magic"], "`strategy` must be one"),
        (
            ["diff", "bad.toml"],
            "bad.toml: `train.epochs` must be a positive integer, got -3",
        ),
    ],
)
def test_bad_input_is_one_line_exit_2(
    tmp_path: Path, args: list[str], message: str
) -> None:
    (tmp_path / "bad.toml").write_text("""
[scenario]
name = "bad"
[data]
dataset = "digits"
[model]
layers = [{type = "dense", units = 10}]
[train]
epochs = -3
loss = "mse"
[sides.torch]
[sides.keras]
""")
    run = cli(*args, cwd=tmp_path)
    assert run.returncode == 2
    assert message in run.stderr
    assert "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def test_bad_flag_is_exit_2(tmp_path: Path) -> None:
    run = cli("bisect", "sim-two-causes", "--seeds", "1", cwd=tmp_path)
    assert run.returncode == 2 and "Traceback" not in run.stderr


def test_corrupt_store_is_refused_and_kept(tmp_path: Path) -> None:
    store = tmp_path / "junk.sqlite"
    store.write_bytes(b"x" * 4096)
    run = cli("bisect", "sim-two-causes", cwd=tmp_path, store=store)
    assert run.returncode == 2 and "not a bisect-ml store" in run.stderr
    assert store.read_bytes() == b"x" * 4096


def test_diff_and_factors(tmp_path: Path) -> None:
    run = cli("diff", "sim-two-causes", cwd=tmp_path)
    assert run.returncode == 0
    assert (
        "`optimizer.epsilon` | `1e-08` (default) | `1e-07` (default) | yes"
        in run.stdout
    )
    assert "train.batch_size` | `32` (set) | `32` (default) | no" not in run.stdout
    run = cli("factors", cwd=tmp_path)
    assert run.returncode == 0 and "optimizer.epsilon_placement" in run.stdout


def test_help_imports_no_framework() -> None:
    code = (
        "import sys, bisect_ml, bisect_ml.cli, bisect_ml.api; "
        "heavy = [m for m in ('torch', 'tensorflow', 'keras', 'scipy', 'optuna') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "[]"
