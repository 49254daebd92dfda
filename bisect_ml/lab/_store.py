"""The SQLite store of trial outcomes, keyed by a content hash.

One row per finished trial, written in its own transaction the moment the
trial ends, so a killed run loses at most the trials still in flight. The file
carries an application id and a schema version; a file that is not a bisect-ml
store is refused and never written to.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from bisect_ml._errors import StoreError
from bisect_ml.backends import Outcome

__all__ = ["SCHEMA_VERSION", "Store"]

SCHEMA_VERSION = 1
#: SQLite's application_id header field: "bsml".
_APP_ID = 0x6273_6D6C

_SCHEMA = """
CREATE TABLE trials (
    key        TEXT PRIMARY KEY,
    backend    TEXT NOT NULL,
    arm        TEXT NOT NULL,
    seed       INTEGER NOT NULL,
    assignment TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    created    REAL NOT NULL
);
"""


class Store:
    """Trial outcomes on disk; ``Store(":memory:")`` keeps them in memory."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            p = Path(self.path)
            if p.exists() and not p.is_file():
                raise StoreError(self.path, "is not a regular file")
            if p.parent and not p.parent.exists():
                p.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, timeout=30.0)
            self._init()
        except sqlite3.DatabaseError as err:
            raise StoreError(
                self.path,
                f"is not a bisect-ml store or is corrupt ({err}); it was "
                "left untouched, give another --store path",
            ) from None

    def _init(self) -> None:
        db = self._db
        app_id = db.execute("PRAGMA application_id").fetchone()[0]
        version = db.execute("PRAGMA user_version").fetchone()[0]
        tables = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if app_id == 0 and tables == 0:
            with db:
                db.execute(f"PRAGMA application_id = {_APP_ID}")
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                db.executescript(_SCHEMA)
            return
        if app_id != _APP_ID:
            raise StoreError(
                self.path,
                "is a SQLite file of another application; "
                "it was left untouched, give another --store path",
            )
        if version != SCHEMA_VERSION:
            raise StoreError(
                self.path,
                f"has schema version {version}, this "
                f"bisect-ml reads version {SCHEMA_VERSION}",
            )

    def get(self, key: str) -> Outcome | None:
        row = self._db.execute(
            "SELECT outcome FROM trials WHERE key = ?", (key,)
        ).fetchone()
        return None if row is None else Outcome.from_dict(json.loads(row[0]))

    def get_many(self, keys: Iterable[str]) -> dict[str, Outcome]:
        found = {}
        for key in keys:
            outcome = self.get(key)
            if outcome is not None:
                found[key] = outcome
        return found

    def put(
        self,
        key: str,
        *,
        backend: str,
        arm: str,
        seed: int,
        assignment: Mapping[str, object],
        outcome: Outcome,
    ) -> None:
        """Record one finished trial; a key already present is left as it is."""
        with self._db:
            self._db.execute(
                "INSERT OR IGNORE INTO trials VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    backend,
                    arm,
                    seed,
                    json.dumps(dict(assignment), sort_keys=True),
                    json.dumps(outcome.to_dict()),
                    time.time(),
                ),
            )

    def __len__(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM trials").fetchone()[0])

    def close(self) -> None:
        self._db.close()
