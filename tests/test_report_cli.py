"""`bisect --html/--json/--bundle/--max-seeds` and `bisect-ml report RUN`."""

from __future__ import annotations

import json
import os
import re
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
        [*BIN, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def done(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One adaptive bisection of the bundled simulated pair, every output on."""
    folder = tmp_path_factory.mktemp("report")
    run = cli(
        "bisect",
        "sim-two-causes",
        "-q",
        "--seeds",
        "5",
        "--max-seeds",
        "15",
        "--seed-step",
        "5",
        "--html",
        "page/r.html",
        "--json",
        "r.json",
        "--bundle",
        "bundle",
        cwd=folder,
    )
    assert run.returncode == 0, run.stderr
    (folder / "stdout.md").write_text(run.stdout)
    match = re.search(r"run ([0-9a-f]{12}) stored", run.stderr)
    assert match, run.stderr
    return folder, match.group(1)


def test_html_is_self_contained(done: tuple[Path, str]) -> None:
    folder, _ = done
    page = (folder / "page/r.html").read_text()
    assert page.startswith("<!doctype html>")
    assert page.count("src='data:image/png;base64,") == 3
    assert not re.search(r"(src|href)=['\"]?(https?:)?//", page)
    assert "http://" not in page and "https://" not in page


def test_json_flag_and_max_seeds_reach_the_strategy(done: tuple[Path, str]) -> None:
    folder, _ = done
    report = json.loads((folder / "r.json").read_text())
    assert report == json.loads(
        (folder / "bisect-ml-out/sim-two-causes/report.json").read_text()
    )
    settings = report["settings"]
    assert settings["seeds_per_arm"] == 5 and settings["max_seeds"] == 15
    assert settings["looks"] == [5, 10, 15]
    assert all(d["looks"] == [5, 10, 15] for d in report["decisions"])


def test_bundle_records_seeds_and_the_command(done: tuple[Path, str]) -> None:
    folder, _ = done
    bundle = folder / "bundle"
    names = {p.name for p in bundle.iterdir()}
    assert names == {
        "scenario.toml",
        "repro.json",
        "REPRODUCE.md",
        "report.md",
        "report.json",
        "report.html",
    }
    info = json.loads((bundle / "repro.json").read_text())
    assert info["seeding"] == {
        "seeds_per_arm": 5,
        "max_seeds": 15,
        "seed_step": 5,
        "looks": [5, 10, 15],
        "first_seed": 0,
    }
    assert info["command"] == (
        "bisect-ml bisect scenario.toml --seeds 5 --strategy auto "
        "--max-seeds 15 --seed-step 5"
    )
    assert "--max-seeds 15" in info["original_command"]
    assert info["original_command"].startswith("bisect-ml bisect ")
    assert "adaptive up to 15" in (bundle / "REPRODUCE.md").read_text()

    # The recorded command, run from the bundle, gives the same verdict.
    again = cli(
        *info["command"].split()[1:], "-q", cwd=bundle, store=folder / "store.sqlite"
    )
    assert again.returncode == 0, again.stderr
    first = json.loads((bundle / "report.json").read_text())
    second = json.loads(
        (bundle / "bisect-ml-out/sim-two-causes/report.json").read_text()
    )
    assert second["causes"] == first["causes"] and second["trials"]["run"] == 0


def test_report_renders_a_stored_run_in_every_format(done: tuple[Path, str]) -> None:
    folder, run_id = done
    md = cli("report", run_id, cwd=folder)
    assert md.returncode == 0, md.stderr
    assert md.stdout == (folder / "stdout.md").read_text()

    prefix = cli("report", run_id[:4], "--format", "json", cwd=folder)
    assert prefix.returncode == 0
    assert json.loads(prefix.stdout) == json.loads((folder / "r.json").read_text())

    html = cli("report", run_id[:6], "-f", "html", "-o", "again.html", cwd=folder)
    assert html.returncode == 0, html.stderr
    assert (folder / "again.html").read_text() == (folder / "page/r.html").read_text()


def test_report_errors_are_one_line(done: tuple[Path, str], tmp_path: Path) -> None:
    folder, _ = done
    for args, message, where in (
        (("report", "0000000"), "has no run '0000000'", folder),
        (("report", "not-an-id"), "a run id is hexadecimal", folder),
        (("report", "latest"), "does not exist", tmp_path),
        (("report", "latest", "-f", "pdf"), "Invalid value", folder),
    ):
        run = cli(*args, cwd=where)
        assert run.returncode == 2, (args, run.stderr)
        assert message in run.stderr and "Traceback" not in run.stderr
        if "Invalid value" not in message:
            assert len(run.stderr.strip().splitlines()) == 1


def test_bad_seed_flags_are_refused(tmp_path: Path) -> None:
    run = cli(
        "bisect", "sim-two-causes", "--seeds", "10", "--max-seeds", "5", cwd=tmp_path
    )
    assert run.returncode == 2
    assert run.stderr.strip() == (
        "bisect-ml: error: `--max-seeds` must be at least the seeds per arm (10), got 5"
    )
    assert not (tmp_path / "store.sqlite").exists()
    # A seed step alone would fix the seeds and silently turn off auto's looks.
    run = cli("bisect", "sim-two-causes", "--seed-step", "2", cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr.strip() == (
        "bisect-ml: error: `--seed-step` only applies with --max-seeds "
        "(adaptive seeds), got 2"
    )


def test_strategy_help_lists_the_registered_strategies(tmp_path: Path) -> None:
    from bisect_ml.strategies import STRATEGIES

    run = cli("bisect", "--help", cwd=tmp_path)
    text = re.sub(r"[\s│]+", " ", run.stdout)  # rich's box, wrapped
    listed = re.search(r"Search strategy: ([a-z, ]+) \(default: the scenario's", text)
    assert listed is not None, text
    assert [s.strip() for s in listed.group(1).split(",")] == list(STRATEGIES)


def test_report_of_a_run_without_verdict(tmp_path: Path) -> None:
    from bisect_ml.lab import Store

    store = Store(tmp_path / "store.sqlite")
    store.start_run(
        "abcdef", scenario="p", scenario_path=None, command=["x"], strategy="ofat"
    )
    store.finish_run("abcdef", status="interrupted", error="KeyboardInterrupt: ")
    store.close()
    run = cli("report", "abc", cwd=tmp_path)
    assert run.returncode == 2
    assert "run abcdef (p) is interrupted: it stopped before a verdict" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def test_report_of_an_unfinished_run_is_one_line_saying_how_to_resume(
    tmp_path: Path,
) -> None:
    """Issue 6: interrupted, failed, still running, or a state this bisect-ml
    cannot read: one line, exit 2, never an empty or crashing render."""
    from bisect_ml.lab import Store

    path = tmp_path / "store.sqlite"
    store = Store(path)
    command = ["bisect-ml", "bisect", "my pair.toml", "--seeds", "5"]
    for run_id in ("aa01", "bb02", "cc03", "dd04"):
        store.start_run(
            run_id, scenario="p", scenario_path=None, command=command, strategy="ofat"
        )
    store.finish_run("aa01", status="interrupted", error="KeyboardInterrupt: ")
    store.finish_run("bb02", status="failed", error="BackendError: boom\n  at line 3")
    store.finish_run(
        "dd04", status="finished", result="explained", state='{"state": 99}'
    )
    store.close()
    resume = "re-run its command to resume from its stored trials: " + (
        "bisect-ml bisect 'my pair.toml' --seeds 5"
    )
    expected = {
        "aa01": f"run aa01 (p) is interrupted: it stopped before a verdict, so "
        f"there is no report; {resume}",
        "bb02": "run bb02 (p) is failed: it stopped before a verdict (BackendError: "
        f"boom at line 3), so there is no report; {resume}",
        "cc03": "run cc03 (p) is running: it has no verdict yet; report it once it "
        "has finished",
        "dd04": "run dd04: verdict state version 99, this bisect-ml reads 1",
    }
    for run_id, message in expected.items():
        for fmt in ("md", "json", "html"):
            run = cli("report", run_id, "-f", fmt, cwd=tmp_path)
            assert run.returncode == 2, (run_id, run.stderr)
            assert run.stdout == ""
            assert run.stderr == f"bisect-ml: error: store {path}: {message}\n"


def test_scenario_max_seeds_below_the_seeds_flag_names_the_file(
    tmp_path: Path,
) -> None:
    from bisect_ml import api
    from bisect_ml._errors import ScenarioError
    from bisect_ml.scenario import bundled_scenarios

    text = bundled_scenarios()["sim-two-causes"].read_text()
    path = tmp_path / "capped.toml"
    path.write_text(text + "\n[search]\nseeds = 5\nmax_seeds = 10\n")
    with pytest.raises(ScenarioError) as err:
        api.bisect(str(path), seeds=12, store=tmp_path / "s.sqlite")
    assert str(err.value) == (
        f"{path}: `search.max_seeds` must be at least the seeds per arm (12), got 10"
    )
    assert not (tmp_path / "s.sqlite").exists()
