"""Runs in the store (schema 3): recorded by every bisection, found by id,
prefix or `latest`, migrated in from a schema-2 store without losing a trial,
and rendered again losslessly."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bisect_ml import api
from bisect_ml._errors import StoreError
from bisect_ml.backends import Outcome
from bisect_ml.lab import SCHEMA_VERSION, Store
from bisect_ml.report import (
    to_html,
    to_json,
    to_markdown,
    verdict_from_state,
    verdict_state,
)
from bisect_ml.scenario import parse_pair
from tests._helpers import simulated_doc

_EFFECTS = [{"when": {"init.dense.kernel": "kaiming_uniform_sqrt5"}, "shift": 0.05}]

# The schema-2 layout, as bisect-ml wrote it before runs were stored.
_V2 = """
CREATE TABLE trials (
    key TEXT PRIMARY KEY, backend TEXT NOT NULL, arm TEXT NOT NULL,
    seed INTEGER NOT NULL, assignment TEXT NOT NULL, outcome TEXT NOT NULL,
    created REAL NOT NULL, scenario TEXT, versions TEXT NOT NULL DEFAULT '{}',
    failed INTEGER NOT NULL DEFAULT 0, error TEXT,
    attempts INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX trials_scenario ON trials (scenario);
CREATE TABLE claims (key TEXT PRIMARY KEY, owner TEXT NOT NULL, expires REAL NOT NULL);
"""


def _v2_store(path: Path, trials: int = 3) -> None:
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA application_id = {0x62736D6C}")
    db.execute("PRAGMA user_version = 2")
    db.executescript(_V2)
    for i in range(trials):
        outcome = Outcome(metric=0.1 * i, versions={"torch": "2.13.0"}).to_dict()
        db.execute(
            "INSERT INTO trials VALUES (?, 'torch', 'torch', ?, '{}', ?, 1.0, "
            "'old-pair', '{\"torch\": \"2.13.0\"}', ?, NULL, 1)",
            (f"k{i}", i, json.dumps(outcome), int(i == 2)),
        )
    db.commit()
    db.close()


def test_schema_2_store_is_migrated_in_place_keeping_every_trial(
    tmp_path: Path,
) -> None:
    path = tmp_path / "v2.sqlite"
    _v2_store(path)
    before = path.read_bytes()
    old = Store(path, readonly=True)
    info = old.info()
    assert info.schema_version == 2 and info.trials == 3 and info.runs == {}
    with pytest.raises(StoreError, match="holds no runs .schema version 2"):
        old.run("latest")
    old.close()
    assert path.read_bytes() == before  # reading never migrates

    store = Store(path)
    assert store.schema_version == SCHEMA_VERSION == 3
    records = store.records(["k0", "k1", "k2"])
    assert [records[k].outcome.metric for k in ("k0", "k1", "k2")] == [0.0, 0.1, 0.2]
    assert records["k2"].failed and not records["k0"].failed
    assert store.info().scenarios == {"old-pair": 3}
    assert store.runs() == []
    store.close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 3
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
    assert {"trials", "claims", "runs"} <= tables


def test_a_bisection_records_its_run_with_a_lossless_verdict(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    ids: list[str] = []
    verdict = api.bisect(
        parse_pair(simulated_doc(_EFFECTS)),
        store=path,
        seeds=5,
        command=["bisect-ml", "bisect", "x.toml"],
        on_run=ids.append,
    )
    store = Store(path, readonly=True)
    (run,) = store.runs()
    assert ids == [run.id] and len(run.id) == 12
    assert run.status == "finished" and run.result == verdict.status.value
    assert run.scenario == "t" and run.strategy == "auto"
    assert run.command == ("bisect-ml", "bisect", "x.toml")
    assert run.finished is not None and run.finished >= run.started
    assert run.verdict == to_json(verdict)
    assert run.state is not None
    again = verdict_from_state(run.state)
    # Equal field by field (== would fail on the nan z of the closure decision).
    assert verdict_state(again) == run.state == verdict_state(verdict)
    assert again.gap == verdict.gap and again.arms == verdict.arms
    assert to_markdown(again) == to_markdown(verdict)
    assert to_html(again) == to_html(verdict)
    assert store.info().runs == {"finished": 1}
    store.close()


def test_runs_are_found_by_id_prefix_or_latest(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    for run_id in ("abc111", "abc222", "def333"):
        store.start_run(
            run_id, scenario="p", scenario_path=None, command=["x"], strategy="ofat"
        )
    store.finish_run("abc111", status="finished", result="explained")
    assert store.run("abc1").id == "abc111"
    assert store.run("def").id == "def333"
    assert store.run("latest").id == "def333"
    with pytest.raises(StoreError, match="prefix 'abc' is ambiguous"):
        store.run("abc")
    with pytest.raises(StoreError, match="has no run '999'"):
        store.run("999")
    with pytest.raises(StoreError, match="hexadecimal .or `latest`., got 'zz'"):
        store.run("zz")
    with pytest.raises(ValueError, match="`status` must be one of"):
        store.finish_run("abc222", status="exploded")
    assert store.info().runs == {"finished": 1, "running": 2}
    store.close()


def test_an_interrupted_run_is_marked_and_has_no_verdict(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    pair = parse_pair(simulated_doc(_EFFECTS))

    def interrupt(progress: object) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        api.bisect(pair, store=path, seeds=3, progress=interrupt)
    (run,) = Store(path, readonly=True).runs()
    assert run.status == "interrupted" and run.state is None and run.verdict is None
    assert run.error is not None and run.error.startswith("KeyboardInterrupt")


def test_a_killed_run_reads_as_interrupted(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    Store(path).close()
    code = (
        "import sys; from bisect_ml.lab import Store; "
        "s = Store(sys.argv[1]); "
        "s.start_run('aa', scenario='p', scenario_path=None, command=['x'], "
        "strategy='ofat'); s.close()"
    )
    subprocess.run([sys.executable, "-c", code, str(path)], check=True)
    store = Store(path, readonly=True)
    assert store.run("aa").status == "interrupted"  # its process is gone
    store.close()
    mine = Store(path)
    mine.start_run(
        "bb", scenario="p", scenario_path=None, command=["x"], strategy="ofat"
    )
    assert mine.run("bb").status == "running"  # this process is alive
    mine.close()


def test_state_refuses_unknown_classes_and_versions() -> None:
    with pytest.raises(ValueError, match="cannot hold a 'Popen'"):
        verdict_from_state(
            json.dumps({"state": 1, "verdict": {"__class__": "Popen", "fields": {}}})
        )
    with pytest.raises(ValueError, match="version 99"):
        verdict_from_state(json.dumps({"state": 99, "verdict": {}}))
    with pytest.raises(ValueError, match="not a verdict state"):
        verdict_from_state("{")


@pytest.mark.filterwarnings("ignore::bisect_ml.stats.IntervalWarning")
def test_state_keeps_non_finite_numbers(tmp_path: Path) -> None:
    doc = simulated_doc(_EFFECTS, diverge_probability=0.3)
    verdict = api.bisect(parse_pair(doc), store=tmp_path / "s.sqlite", seeds=4)
    assert any(a.diverged for a in verdict.arms)
    back = verdict_from_state(verdict_state(verdict))
    assert to_markdown(back) == to_markdown(verdict)
    assert [a.diverged for a in back.arms] == [a.diverged for a in verdict.arms]


def test_store_info_cli_counts_runs(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    api.bisect(parse_pair(simulated_doc(_EFFECTS)), store=path, seeds=3)
    env = dict(os.environ, BISECT_ML_STORE=str(path))
    out = subprocess.run(
        [sys.executable, "-m", "bisect_ml.cli", "store", "info"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "runs       1 (1 finished)" in out.stdout
    assert "latest runs (bisect-ml report ID):" in out.stdout


# -- issue 6: pruning runs, and the trials a kept run needs -----------------------


def _two_runs(path: Path) -> tuple[int, int]:
    """A finished run of `done-pair` and an interrupted one of `cut-pair`;
    returns how many trials each scenario stored."""
    done = simulated_doc(_EFFECTS)
    done["scenario"]["name"] = "done-pair"
    api.bisect(parse_pair(done), store=path, seeds=3)
    cut = simulated_doc(_EFFECTS, noise=0.02)  # another spec: its own trials
    cut["scenario"]["name"] = "cut-pair"
    seen: list[object] = []

    def interrupt_late(progress: object) -> None:
        seen.append(progress)
        if len(seen) == 6:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        api.bisect(parse_pair(cut), store=path, seeds=3, progress=interrupt_late)
    store = Store(path, readonly=True)
    counts = store.info().scenarios
    store.close()
    return counts["done-pair"], counts["cut-pair"]


def _prune(path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bisect_ml.cli", "store", "prune", "--store", str(path)]
        + list(args),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_prune_keeps_the_trials_an_unfinished_run_resumes_from(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.sqlite"
    n_done, n_cut = _two_runs(path)
    assert n_done > 0 and n_cut > 0

    dry = _prune(path, "--older-than", "0s", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.strip() == f"would remove {n_done} trials from {path}"
    (kept,) = dry.stderr.splitlines()
    assert kept.startswith(f"kept {n_cut} trials that unfinished runs resume from (")
    assert kept.endswith("--include-used deletes them too")

    done = _prune(path, "--older-than", "0s")
    assert done.stdout.strip() == f"removed {n_done} trials from {path}"
    assert done.stderr.splitlines() == [kept]
    store = Store(path, readonly=True)
    assert store.info().scenarios == {"cut-pair": n_cut}
    assert [r.status for r in store.runs()] == ["interrupted", "finished"]
    store.close()

    used = _prune(path, "--scenario", "cut-pair", "--include-used", "--dry-run")
    assert used.stdout.strip() == f"would remove {n_cut} trials from {path}"
    assert used.stderr == ""


def test_prune_runs_by_age_frees_their_trials(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    n_done, n_cut = _two_runs(path)

    none = _prune(path, "--runs", "--older-than", "30d")
    assert none.returncode == 0, none.stderr
    assert none.stdout.strip() == f"removed 0 trials and 0 runs from {path}"

    only = _prune(path, "--runs", "--scenario", "done-pair")
    assert only.stdout.strip() == f"removed {n_done} trials and 1 runs from {path}"
    every = _prune(path, "--runs", "--older-than", "0s")
    assert every.stdout.strip() == f"removed {n_cut} trials and 1 runs from {path}"
    assert every.stderr == ""
    store = Store(path, readonly=True)
    assert store.runs() == [] and len(store) == 0
    store.close()


def test_prune_runs_needs_an_age_or_a_scenario(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    _two_runs(path)
    bad = _prune(path, "--runs", "--failed")
    assert bad.returncode == 2
    assert bad.stderr.strip() == (
        "bisect-ml: error: store prune: Invalid value for --runs: selects runs by "
        "--older-than or --scenario: give one of them (see bisect-ml store prune "
        "--help)"
    )
    store = Store(path)
    with pytest.raises(StoreError, match="pruning runs needs --older-than"):
        store.prune_runs()
    store.close()


def test_a_live_run_is_never_pruned(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    store.start_run(
        "aa11", scenario="p", scenario_path=None, command=["x"], strategy="ofat"
    )
    store.start_run(
        "bb22", scenario="p", scenario_path=None, command=["x"], strategy="ofat"
    )
    store.finish_run("bb22", status="failed", error="BackendError: boom")
    assert [r.id for r in store.unfinished_runs()] == ["bb22", "aa11"]
    assert [r.id for r in store.prune_runs(older_than=0, dry_run=True)] == ["bb22"]
    assert [r.id for r in store.prune_runs(scenario="p")] == ["bb22"]
    assert [r.id for r in store.runs()] == ["aa11"]
    store.close()


def test_store_info_lists_each_run_on_one_line(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    _two_runs(path)
    store = Store(path, readonly=True)
    runs = store.runs()
    store.close()
    out = subprocess.run(
        [sys.executable, "-m", "bisect_ml.cli", "store", "info", "--store", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    listed = out.stdout.split("latest runs (bisect-ml report ID):\n", 1)[1]
    lines = listed.splitlines()
    assert len(lines) == len(runs) == 2
    pattern = r"  ([0-9a-f]{12})  \d{4}-\d\d-\d\d \d\d:\d\d  (\S+)  (\w+)(, (\w+))?"
    found = [re.fullmatch(pattern, line) for line in lines]
    assert all(found), lines
    assert [(m.group(1), m.group(2), m.group(3), m.group(5)) for m in found] == [
        (r.id, r.scenario, r.status, r.result) for r in runs
    ]
    assert runs[0].status == "interrupted" and runs[1].result is not None
