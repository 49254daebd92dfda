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
        (
            ["bisect", "sim-two-causes", "--strategy", "magic"],
            "`--strategy` must be one",
        ),
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


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["bisect", "seed-init", "--seeds", "2"],
            "bisect-ml: error: bisect: Invalid value for '--seeds': "
            "{range} (see bisect-ml bisect --help)",
        ),
        (
            ["factors", "a", "b"],
            "bisect-ml: error: factors: Got unexpected extra argument(s) (b) "
            "(see bisect-ml factors --help)",
        ),
        (
            ["nosuchcommand"],
            "bisect-ml: error: No such command 'nosuchcommand'. (see bisect-ml --help)",
        ),
        (
            ["store", "prune", "--older-than", "soon"],
            "bisect-ml: error: store prune: Invalid value for --older-than: must "
            "be a duration like 30d, 12h, 90m or 45s, got 'soon' "
            "(see bisect-ml store prune --help)",
        ),
        (
            ["bisect", "sim-two-causes", "--no-such-flag"],
            "bisect-ml: error: bisect: No such option: --no-such-flag "
            "(see bisect-ml bisect --help)",
        ),
    ],
)
def test_flag_errors_are_one_line_exit_2(
    tmp_path: Path, args: list[str], line: str
) -> None:
    """Issue 6: a bad flag value, extra argument or unknown command is one line
    naming the command, the flag, the rule and the value; no usage box."""
    run = cli(*args, cwd=tmp_path)
    assert run.returncode == 2
    assert run.stdout == ""
    (got,) = run.stderr.splitlines()
    if "{range}" in line:
        # The wording of the range rule is Typer's own.
        head, tail = line.split("{range}")
        assert got.startswith(head) and got.endswith(tail)
        assert "3" in got[len(head) : -len(tail)]
    else:
        assert got == line
    assert not (tmp_path / "store.sqlite").exists()


def test_a_reader_that_leaves_early_gets_no_traceback(tmp_path: Path) -> None:
    """`bisect-ml factors | head -1`: stdout closes, exit 1 without a word."""
    proc = subprocess.Popen(
        [*BIN, "factors"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 1
    assert err == ""


def test_main_keeps_help_and_exit_codes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import typer

    from bisect_ml import cli as module

    def status(*argv: str) -> object:
        with pytest.raises(SystemExit) as done:
            module.main(list(argv))
        return done.value.code

    assert status("--help") == 0
    assert "Usage: bisect-ml [OPTIONS] COMMAND" in capsys.readouterr().out
    assert status() == 2  # no command: the help, as before
    shown = capsys.readouterr()
    assert "Usage: bisect-ml [OPTIONS] COMMAND" in shown.out + shown.err
    assert "error" not in shown.err
    assert status("factors", "optimizer.epsilon") == 0
    assert status("factors", "no.such.factor") == 2
    capsys.readouterr()

    # A command's return value never becomes the exit status; typer.Exit does.
    fake = typer.Typer()

    @fake.command()
    def give(code: int) -> int:
        if code >= 100:
            raise typer.Exit(code)
        return code

    @fake.command()
    def interrupt() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(module, "app", fake)
    assert status("give", "5") == 0
    assert status("give", "143") == 143
    assert status("interrupt") == 130
    assert capsys.readouterr().err.strip() == "bisect-ml: interrupted"


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
        "heavy = [m for m in ('torch', 'tensorflow', 'keras', 'scipy', 'optuna', "
        "'dask', 'distributed', 'ray') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "[]"


# -- issue 7: store commands, executor flags -----------------------------------


def test_store_info_and_prune(tmp_path: Path) -> None:
    store = tmp_path / "s.sqlite"
    assert (
        cli("bisect", "sim-two-causes", "-q", cwd=tmp_path, store=store).returncode == 0
    )
    run = cli("store", "info", "--store", str(store), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "schema     version 3" in run.stdout
    trials = int(run.stdout.split("trials")[1].split()[0])
    assert trials > 0 and f"{trials:8d}  sim-two-causes" in run.stdout

    dry = cli(
        "store",
        "prune",
        "--store",
        str(store),
        "--scenario",
        "sim-two-causes",
        "--dry-run",
        cwd=tmp_path,
    )
    assert dry.stdout.strip() == f"would remove {trials} trials from {store}"
    none = cli(
        "store", "prune", "--store", str(store), "--older-than", "30d", cwd=tmp_path
    )
    assert none.stdout.strip() == f"removed 0 trials from {store}"
    gone = cli(
        "store",
        "prune",
        "--store",
        str(store),
        "--scenario",
        "sim-two-causes",
        "--vacuum",
        cwd=tmp_path,
    )
    assert gone.stdout.strip() == f"removed {trials} trials from {store}"
    again = cli("store", "info", "--store", str(store), cwd=tmp_path)
    assert "trials     0 (0 failed)" in again.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["store", "prune"], "give at least one of --older-than"),
        (["store", "prune", "--older-than", "soon"], "must be a duration like 30d"),
        (["store", "prune", "--backend", "jax"], "must be one of"),
        (["store", "info", "--store", "missing.sqlite"], "missing.sqlite: does not"),
        (["bisect", "sim-two-causes", "--executor", "spark"], "'spark' is not one of"),
        (
            ["bisect", "sim-two-causes", "--address", "tcp://127.0.0.1:9"],
            "executor `local`: takes no address",
        ),
    ],
)
def test_bad_store_and_executor_flags_exit_2(
    tmp_path: Path, args: list[str], message: str
) -> None:
    run = cli(*args, cwd=tmp_path)
    assert run.returncode == 2
    assert message in run.stderr
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "store.sqlite").exists()


def test_store_info_refuses_a_foreign_file_and_leaves_it(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"y" * 1000)
    run = cli("store", "info", "--store", str(junk), cwd=tmp_path)
    assert run.returncode == 2 and "not a bisect-ml store" in run.stderr
    assert junk.read_bytes() == b"y" * 1000


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["dask", "ray"])
def test_bisect_on_an_engine_gives_the_local_verdict(
    tmp_path: Path, executor: str
) -> None:
    pytest.importorskip(
        "distributed" if executor == "dask" else "ray",
        reason=f"the {executor} extra is not installed (bisect-ml[{executor}])",
    )
    local = cli(
        "bisect",
        "sim-two-causes",
        "-q",
        "--out",
        "a",
        cwd=tmp_path,
        store=tmp_path / "a.sqlite",
    )
    remote = cli(
        "bisect",
        "sim-two-causes",
        "-q",
        "--out",
        "b",
        "--jobs",
        "2",
        "--executor",
        executor,
        cwd=tmp_path,
        store=tmp_path / "b.sqlite",
    )
    assert local.returncode == remote.returncode == 0, remote.stderr
    reports = [
        json.loads((tmp_path / out / "sim-two-causes/report.json").read_text())
        for out in ("a", "b")
    ]
    same = [
        {k: v for k, v in r.items() if k not in ("trials", "seconds", "settings")}
        for r in reports
    ]
    assert same[0] == same[1]
    assert reports[1]["trials"]["run"] == reports[0]["trials"]["run"]


def test_an_unexpected_error_is_one_line_exit_1(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from typer.testing import CliRunner

    from bisect_ml import api
    from bisect_ml.cli import app

    def broken(*args: object, **kwargs: object) -> None:
        raise RecursionError("maximum recursion depth exceeded\nmore")

    monkeypatch.setattr(api, "diff", broken)
    result = CliRunner().invoke(app, ["diff", "sim-two-causes"])
    assert result.exit_code == 1
    assert result.stderr == (
        "bisect-ml: internal error: RecursionError: maximum recursion depth "
        "exceeded (a bug in bisect-ml; --debug shows the traceback)\n"
    )
    debug = CliRunner().invoke(app, ["diff", "sim-two-causes", "--debug"])
    assert debug.exit_code == 1 and "Traceback" in debug.stderr
