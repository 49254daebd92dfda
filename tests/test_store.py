"""The trial store: round trip, refusal of foreign and corrupt files, migration,
failed trials, claims shared by processes, info and prune."""

from __future__ import annotations

import json
import math
import os
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bisect_ml._errors import StoreError
from bisect_ml.backends import Outcome
from bisect_ml.lab import SCHEMA_VERSION, Store


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    outcome = Outcome(
        metric=0.25,
        loss_curve=(1.0, float("nan")),
        metric_curve=(0.5, 0.25),
        seconds=1.5,
        versions={"torch": "2.13.0"},
    )
    store.put(
        "k1", backend="torch", arm="torch", seed=0, assignment={"a": 1}, outcome=outcome
    )
    store.close()
    back = Store(tmp_path / "s.sqlite").get("k1")
    assert back is not None
    assert back.metric == 0.25 and back.metric_curve == (0.5, 0.25)
    assert math.isnan(back.loss_curve[1]) and back.versions == {"torch": "2.13.0"}


def test_diverged_outcome_round_trip(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    store.put(
        "k",
        backend="keras",
        arm="keras",
        seed=1,
        assignment={},
        outcome=Outcome(metric=float("nan"), diverged=True),
    )
    got = store.get("k")
    assert got is not None and got.diverged and math.isnan(got.metric)


def test_a_key_is_written_once(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    for metric in (0.1, 0.9):
        store.put(
            "k",
            backend="torch",
            arm="torch",
            seed=0,
            assignment={},
            outcome=Outcome(metric=metric),
        )
    assert len(store) == 1 and store.get("k").metric == 0.1  # type: ignore[union-attr]


def test_foreign_sqlite_file_is_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE x (a)")
    db.commit()
    db.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match="another application"):
        Store(path)
    assert path.read_bytes() == before


def test_corrupt_file_is_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "junk.sqlite"
    path.write_bytes(b"this is not a database at all" * 100)
    before = path.read_bytes()
    with pytest.raises(StoreError, match="not a bisect-ml store or is corrupt"):
        Store(path)
    assert path.read_bytes() == before


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    Store(path).close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 99")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="schema version 99"):
        Store(path)


def test_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="not a regular file"):
        Store(tmp_path)


# -- schema 2: migration, WAL, failed trials, claims, info and prune -----------

_V1 = """
CREATE TABLE trials (
    key TEXT PRIMARY KEY, backend TEXT NOT NULL, arm TEXT NOT NULL,
    seed INTEGER NOT NULL, assignment TEXT NOT NULL, outcome TEXT NOT NULL,
    created REAL NOT NULL
);
"""


def _v1_store(path: Path) -> None:
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA application_id = {0x62736D6C}")
    db.execute("PRAGMA user_version = 1")
    db.executescript(_V1)
    outcome = Outcome(metric=0.5, versions={"torch": "2.12.0"}).to_dict()
    db.execute(
        "INSERT INTO trials VALUES ('old', 'torch', 'torch', 0, '{}', ?, 1.0)",
        (json.dumps(outcome),),
    )
    db.commit()
    db.close()


def _put(store: Store, key: str, **kw: object) -> bool:
    args: dict = {
        "backend": "simulated",
        "arm": "torch",
        "seed": 0,
        "assignment": {},
        "outcome": Outcome(metric=0.1, versions={"numpy": "2.0"}),
    }
    args.update(kw)
    return store.put(key, **args)


def test_schema_1_store_is_migrated_and_keeps_its_trials(tmp_path: Path) -> None:
    path = tmp_path / "v1.sqlite"
    _v1_store(path)
    before = path.read_bytes()
    info = Store(path, readonly=True).info()
    assert info.schema_version == 1 and info.trials == 1
    assert info.versions == {"torch 2.12.0": 1}
    assert path.read_bytes() == before  # `store info` never migrates

    store = Store(path)
    assert store.schema_version == SCHEMA_VERSION
    assert store.get("old") is not None and store.get("old").metric == 0.5  # type: ignore[union-attr]
    info = store.info()
    assert info.versions == {"torch 2.12.0": 1} and info.scenarios == {"(unknown)": 1}
    store.close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_truncated_store_is_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    store = Store(path)
    for i in range(300):
        _put(store, f"k{i}", assignment={"pad": "x" * 500})
    store.close()
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    before = path.read_bytes()
    with pytest.raises(StoreError, match="not a bisect-ml store or is corrupt"):
        Store(path).records([f"k{i}" for i in range(300)])
    assert path.read_bytes() == before


def test_store_damaged_past_its_header_is_refused_on_opening(tmp_path: Path) -> None:
    # A new user overwrote 8 KB in the middle of a store: the header still
    # read as a bisect-ml store, and the run crashed halfway (or wrote into
    # the damaged file). Opening must refuse it before anything is read or
    # written.
    path = tmp_path / "s.sqlite"
    store = Store(path)
    for i in range(300):
        _put(store, f"k{i}", assignment={"pad": "x" * 500})
    store.close()
    data = bytearray(path.read_bytes())
    middle = len(data) // 2 // 4096 * 4096
    data[middle : middle + 8192] = os.urandom(8192)
    path.write_bytes(bytes(data))
    before = path.read_bytes()
    with pytest.raises(StoreError, match="corrupt"):
        Store(path)
    assert path.read_bytes() == before


def test_failed_trial_is_stored_as_failed_and_diverged(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    assert _put(store, "f", error="the worker process died", attempts=3)
    record = store.records(["f"])["f"]
    assert record.failed and record.attempts == 3
    assert record.outcome.diverged and math.isnan(record.outcome.metric)
    assert record.error == "the worker process died"
    assert not _put(store, "f")  # the first record wins
    assert store.info().failed == 1


def test_claims_keep_a_trial_for_one_live_owner(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    a, b = Store(path), Store(path)
    assert a.claim(["k1", "k2"], "host-a:1:x") == {"k1", "k2"}
    assert b.claim(["k1", "k2", "k3"], "host-b:2:y") == {"k3"}
    _put(a, "k1")  # storing a trial drops its claim
    assert b.claim(["k1"], "host-b:2:y") == set()  # stored: nothing to claim
    a.release("host-a:1:x")
    assert b.claim(["k2"], "host-b:2:y") == {"k2"}


def test_an_expired_claim_is_taken_over(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    a, b = Store(path), Store(path)
    assert a.claim(["k"], "host-a:1:x", lease=-1.0) == {"k"}
    assert b.claim(["k"], "host-b:2:y") == {"k"}


def test_a_claim_of_a_dead_process_is_taken_over_at_once(tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    owner = f"{socket.gethostname()}:{dead}:x"
    live = f"{socket.gethostname()}:{os.getpid()}:y"
    path = tmp_path / "s.sqlite"
    a, b = Store(path), Store(path)
    assert a.claim(["dead", "live"], owner) == {"dead", "live"}
    a.release(owner, ["live"])
    assert a.claim(["live"], live) == {"live"}
    assert b.claim(["dead", "live"], "other:3:z") == {"dead"}


def test_info_counts_by_scenario_backend_and_versions(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    _put(store, "a", scenario="one")
    _put(store, "b", scenario="one", backend="torch")
    _put(store, "c", scenario="two", error="died")
    info = store.info()
    assert (info.trials, info.failed) == (3, 1)
    assert info.scenarios == {"one": 2, "two": 1}
    assert info.backends == {"simulated": 2, "torch": 1}
    assert info.versions == {"numpy 2.0": 3}
    assert info.oldest is not None and info.size_bytes > 0


def test_prune_deletes_what_matches_every_filter(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    _put(store, "a", scenario="one")
    _put(store, "b", scenario="one", error="died")
    _put(store, "c", scenario="two")
    _put(store, "d", scenario="two", outcome=Outcome(0.1, versions={"numpy": "1.0"}))
    with pytest.raises(StoreError, match="at least one filter"):
        store.prune()
    assert store.prune(scenario="one", failed=True, dry_run=True) == 1
    assert len(store) == 4
    assert store.prune(scenario="one", failed=True) == 1
    assert store.prune(stale_versions={"simulated": {"numpy": "2.0"}}) == 1
    assert store.get("d") is None and store.get("c") is not None
    assert store.prune(older_than=3600) == 0
    assert store.prune(older_than=0) == 2
    assert len(store) == 0


def test_claim_takes_at_most_limit_keys_in_order(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    assert store.claim(["a", "b", "c"], "h:1:x", limit=2) == {"a", "b"}
    assert store.claim(["a", "b", "c"], "h:2:y", limit=2) == {"c"}
    assert Store(":memory:").claim(["a", "b"], "h:1:x", limit=1) == {"a"}
