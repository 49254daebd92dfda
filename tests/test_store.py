"""The trial store: round trip, refusal of foreign and corrupt files."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import pytest

from bisect_ml._errors import StoreError
from bisect_ml.backends import Outcome
from bisect_ml.lab import Store


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
