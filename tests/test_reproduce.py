"""`bisect-ml reproduce`: the catalogue check, its fast budgets, its table and
exit codes; and the loader's `[reproduce]` table and `search.max_seeds`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bisect_ml._errors import ScenarioError
from bisect_ml.reproduce import catalogue, fast_pair, reproduce, table
from bisect_ml.scenario import load_pair, parse_pair
from tests._helpers import simulated_doc

BIN = [sys.executable, "-m", "bisect_ml.cli"]

_CASE = """
[scenario]
name = "{name}"
backend = "simulated"

[data]
dataset = "digits"

[model]
layers = [{{ type = "dense", units = 10, activation = "linear" }}]

[train]
epochs = 6
loss = "cross_entropy"
from_logits = true

[sides.torch]
train.batch_size = 32

[sides.keras]

[simulation]
base = 0.05
noise = 0.01
effects = [
  {{ when = {{ "init.dense.kernel" = "kaiming_uniform_sqrt5" }}, shift = 0.05 }},
]

[expect]
verdict = "causes"
causes = [{causes}]

{reproduce}
"""


def _case(
    folder: Path,
    name: str,
    causes: str = '"init.dense.kernel"',
    reproduce: str = "[reproduce]\nfast = true\nseeds = 4\nepochs = 3",
) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(_CASE.format(name=name, causes=causes, reproduce=reproduce))
    return path


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, BISECT_ML_STORE=str(cwd / "store.sqlite"))
    return subprocess.run(
        [*BIN, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_fast_runs_at_the_declared_budget_and_passes(tmp_path: Path) -> None:
    good = _case(tmp_path, "good")
    run = cli("reproduce", str(good), "--fast", "-q", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "| case | seeds x epochs | expected causes |" in run.stdout
    row = run.stdout.splitlines()[2]
    assert row.startswith(f"| {good} | 4 x 3 | init.dense.kernel | ")
    assert "`init.dense.kernel` " in row and row.endswith("| pass |")
    assert "1 of 1 cases pass" in run.stderr

    # The run is in the store, at the fast budget: at most 4 seeds an arm
    # (auto, the default strategy, looks at 3 and 4), 3 epochs.
    stored = cli("report", "latest", "-f", "json", cwd=tmp_path)
    report = json.loads(stored.stdout)
    assert report["settings"]["looks"] == [3, 4]
    assert report["settings"]["epochs"] == 3


def test_a_departing_verdict_fails_with_exit_3(tmp_path: Path) -> None:
    good = _case(tmp_path, "good")
    wrong = _case(tmp_path, "wrong", causes='"preprocess.scale"')
    run = cli("reproduce", str(good), str(wrong), "--fast", "-q", cwd=tmp_path)
    assert run.returncode == 3, run.stderr
    lines = run.stdout.splitlines()
    assert lines[2].endswith("| pass |")
    assert (
        "FAIL: causes ['init.dense.kernel'], expected ['preprocess.scale']"
        in (lines[3])
    )
    assert "1 of 2 cases pass" in run.stderr


def test_bad_names_exit_2_before_anything_trains(tmp_path: Path) -> None:
    run = cli("reproduce", "no-such-case", cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr.startswith("bisect-ml: error: no-such-case: ")
    assert "Traceback" not in run.stderr and len(run.stderr.splitlines()) == 1
    assert not (tmp_path / "store.sqlite").exists()

    slow = _case(tmp_path, "slow", reproduce="")
    run = cli("reproduce", str(slow), "--fast", cwd=tmp_path)
    assert run.returncode == 2
    assert f"{slow}: `reproduce.fast` is not true" in run.stderr

    bare = tmp_path / "bare.toml"
    text = _CASE.format(name="bare", causes="", reproduce="")
    bare.write_text(text.replace('verdict = "causes"\ncauses = []\n', ""))
    run = cli("reproduce", str(bare), cwd=tmp_path)
    assert run.returncode == 2
    assert "`expect.verdict` is required" in run.stderr


def test_catalogue_fast_selection_comes_from_the_scenario_files() -> None:
    everything = catalogue()
    fast = catalogue(fast=True)
    assert set(fast) <= set(everything)
    for name, pair in everything.items():
        declared = pair.reproduce["fast"]
        assert (name in fast) == declared


def test_fast_pair_replaces_seeds_and_epochs_and_changes_trial_keys(
    tmp_path: Path,
) -> None:
    from bisect_ml.lab import trial_key

    pair = load_pair(_case(tmp_path, "good"))
    fast = fast_pair(pair)
    assert fast is not None
    assert fast.search["seeds"] == 4 and fast.spec.train.epochs == 3
    assert pair.search["seeds"] == 10 and pair.spec.train.epochs == 6
    torch = dict(pair.side("torch").assignment)
    assert trial_key(pair.spec, torch, 0, "simulated") != trial_key(
        fast.spec, torch, 0, "simulated"
    )
    assert fast_pair(load_pair(_case(tmp_path, "slow", reproduce=""))) is None


def test_reproduce_api_and_table(tmp_path: Path) -> None:
    seen = []
    results = reproduce(
        [str(_case(tmp_path, "good"))],
        fast=True,
        store=tmp_path / "s.sqlite",
        on_case=seen.append,
    )
    assert seen == results and results[0].passed and results[0].seeds == 4
    text = table(results)
    assert text.count("\n") == 2 and "| pass |" in text


# -- the loader: [reproduce] and search.max_seeds -----------------------------


def _doc(**tables: object) -> dict:
    doc = simulated_doc([])
    doc["expect"] = {"verdict": "no_gap"}
    doc.update(tables)
    return doc


@pytest.mark.parametrize(
    ("tables", "message"),
    [
        (
            {"reproduce": {"fast": "yes"}},
            "`reproduce.fast` must be true or false, got 'yes'",
        ),
        (
            {"reproduce": {"fast": True, "seeds": 2}},
            "`reproduce.seeds` must be an integer >= 3, got 2",
        ),
        (
            {"reproduce": {"fast": True, "epochs": 0}},
            "`reproduce.epochs` must be a positive integer, got 0",
        ),
        (
            {"reproduce": {"fast": True, "epochs": 9}},
            r"`reproduce.epochs` must be at most `train.epochs` \(2\).*got 9",
        ),
        (
            {"reproduce": {"seeds": 5}},
            "`reproduce.seeds` only applies with `reproduce.fast = true`, got 5",
        ),
        (
            {"reproduce": {"fast": True, "sedes": 5}},
            "`reproduce.sedes` is not a known key.*did you mean `seeds`",
        ),
        ({"reproduce": []}, "`reproduce` must be a table"),
        (
            {"search": {"seeds": 10, "max_seeds": 5}},
            r"`search.max_seeds` must be at least `search.seeds` \(10\), got 5",
        ),
        (
            {"search": {"max_seeds": 2}},
            "`search.max_seeds` must be an integer >= 3, got 2",
        ),
        (
            {"search": {"seed_step": 5}},
            "`search.seed_step` only applies with `search.max_seeds`",
        ),
    ],
)
def test_loader_rules(tables: dict, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        parse_pair(_doc(**tables), "case.toml")


def test_reproduce_needs_an_expected_verdict() -> None:
    doc = _doc(reproduce={"fast": True})
    del doc["expect"]
    with pytest.raises(ScenarioError, match="`reproduce` only applies to a catalogue"):
        parse_pair(doc, "case.toml")


def test_loader_keeps_max_seeds_and_the_budget() -> None:
    pair = parse_pair(
        _doc(
            search={"seeds": 5, "max_seeds": 15, "seed_step": 5},
            reproduce={"fast": True, "seeds": 3, "epochs": 1},
        )
    )
    assert pair.search["max_seeds"] == 15 and pair.search["seed_step"] == 5
    assert pair.reproduce == {"fast": True, "seeds": 3, "epochs": 1}
    assert "reproduce" not in pair.expect
    plain = parse_pair(_doc())
    assert "max_seeds" not in plain.search
    assert plain.reproduce == {"fast": False, "seeds": None, "epochs": None}


def test_issue_6_reproduce_budget_leaves_trial_keys_and_stored_trials_alone(
    tmp_path: Path,
) -> None:
    """`Pair.reproduce` (and `[expect]`) never enter a trial's identity: the
    trials a fast case stored are found again by the plain pair at the same
    seeds and epochs, written without either table."""
    from bisect_ml import api
    from bisect_ml.lab import trial_key

    case = parse_pair(
        _doc(
            simulation={"base": 0.05, "noise": 0.01},
            reproduce={"fast": True, "seeds": 3, "epochs": 1},
        )
    )
    fast = fast_pair(case)
    assert fast is not None
    plain_doc = _doc(train={**_doc()["train"], "epochs": 1}, search={"seeds": 3})
    del plain_doc["expect"]
    plain = parse_pair(plain_doc)
    assert plain.reproduce == {"fast": False, "seeds": None, "epochs": None}
    torch = dict(plain.side("torch").assignment)
    assert trial_key(plain.spec, torch, 0, "simulated") == trial_key(
        fast.spec, torch, 0, "simulated"
    )

    store = tmp_path / "s.sqlite"
    first = api.bisect(fast, store=store)
    assert first.trials_run > 0
    again = api.bisect(plain, store=store)
    assert again.trials_run == 0
    assert again.trials_cached == first.trials_run + first.trials_cached
