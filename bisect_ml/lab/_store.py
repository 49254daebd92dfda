"""The SQLite store of trial outcomes, keyed by a content hash.

One row per finished trial, written in its own transaction the moment the
trial ends, so a killed run loses at most the trials still in flight. The file
carries an application id and a schema version; a file that is not a bisect-ml
store is refused and never written to, a store of an older schema is migrated
in one transaction, and one of a newer schema is refused.

Several processes may share one store. The file is in WAL mode (readers never
block the writer) with a busy timeout, and a process *claims* a trial before it
trains it: a row in ``claims`` with an owner and a lease it keeps renewing. A
trial claimed by a live owner is waited for, not trained again; a claim whose
owner died (its process is gone, or it stopped renewing) is taken over. If two
processes ever do train the same trial (a lease that lapsed while its owner was
frozen), the first outcome written wins and the second is dropped: duplicate
work is possible in that corner, duplicate rows never.

Each bisection is also recorded as a *run* (schema 3): its id, scenario,
command, start and end, status and strategy, and its verdict both as the JSON
report and in the lossless form `bisect-ml report` renders again. A run row is
written when the run starts and completed when it ends, so a run that was
interrupted, failed, or killed outright is still listed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import socket
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bisect_ml._errors import StoreError
from bisect_ml.backends import Outcome

__all__ = [
    "SCHEMA_VERSION",
    "RunRecord",
    "Store",
    "StoreInfo",
    "TrialRecord",
    "owner_id",
]

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 3
#: SQLite's application_id header field: "bsml".
_APP_ID = 0x6273_6D6C
#: Seconds a claim stays valid without renewal.
LEASE_SECONDS = 60.0

_SCHEMA = """
CREATE TABLE trials (
    key        TEXT PRIMARY KEY,
    backend    TEXT NOT NULL,
    arm        TEXT NOT NULL,
    seed       INTEGER NOT NULL,
    assignment TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    created    REAL NOT NULL,
    scenario   TEXT,
    versions   TEXT NOT NULL DEFAULT '{}',
    failed     INTEGER NOT NULL DEFAULT 0,
    error      TEXT,
    attempts   INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX trials_scenario ON trials (scenario);
CREATE TABLE claims (
    key     TEXT PRIMARY KEY,
    owner   TEXT NOT NULL,
    expires REAL NOT NULL
);
CREATE TABLE runs (
    id            TEXT PRIMARY KEY,
    scenario      TEXT NOT NULL,
    scenario_path TEXT,
    command       TEXT NOT NULL,
    started       REAL NOT NULL,
    finished      REAL,
    status        TEXT NOT NULL,
    strategy      TEXT NOT NULL,
    owner         TEXT NOT NULL,
    result        TEXT,
    error         TEXT,
    verdict       TEXT,
    state         TEXT
);
CREATE INDEX runs_started ON runs (started);
"""

# Schema 1 had the first seven columns of `trials` and no claims.
_MIGRATE_1_TO_2 = """
ALTER TABLE trials ADD COLUMN scenario TEXT;
ALTER TABLE trials ADD COLUMN versions TEXT NOT NULL DEFAULT '{}';
ALTER TABLE trials ADD COLUMN failed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE trials ADD COLUMN error TEXT;
ALTER TABLE trials ADD COLUMN attempts INTEGER NOT NULL DEFAULT 1;
CREATE INDEX trials_scenario ON trials (scenario);
CREATE TABLE claims (
    key     TEXT PRIMARY KEY,
    owner   TEXT NOT NULL,
    expires REAL NOT NULL
);
"""

# Schema 2 had no runs: the table is added, every trial stays as it is.
_MIGRATE_2_TO_3 = _SCHEMA[_SCHEMA.index("CREATE TABLE runs") :]
_MIGRATIONS = {1: _MIGRATE_1_TO_2, 2: _MIGRATE_2_TO_3}
#: Run statuses: `running` until the run ends (or its process is killed).
RUN_STATUSES = ("running", "finished", "interrupted", "failed")


def owner_id() -> str:
    """A claim owner: ``host:pid:token``, unique to this process and moment."""
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(4).hex()}"


def _owner_is_dead(owner: str) -> bool:
    """Whether ``owner`` is a process on this host that no longer exists."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, someone else's
        return False
    return False


@dataclass(frozen=True)
class TrialRecord:
    """A stored trial: its outcome, and whether it is a recorded failure.

    A failed trial (its worker died on every attempt) carries an outcome with a
    ``nan`` metric and ``diverged=True``, so that the statistics see it.
    """

    outcome: Outcome
    failed: bool = False
    error: str | None = None
    attempts: int = 1


@dataclass(frozen=True)
class StoreInfo:
    """What `Store.info` reports about a store file."""

    path: str
    schema_version: int
    size_bytes: int
    trials: int
    failed: int
    scenarios: dict[str, int] = field(default_factory=dict)
    backends: dict[str, int] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    oldest: float | None = None
    newest: float | None = None
    claims: int = 0
    runs: dict[str, int] = field(default_factory=dict)
    """Runs by status (empty for a store older than schema 3)."""
    recent: tuple[RunRecord, ...] = ()
    """The latest runs, newest first."""


@dataclass(frozen=True)
class RunRecord:
    """A stored run: one bisection, from its command to its verdict.

    ``status`` is ``running``, ``finished``, ``interrupted`` or ``failed``; a
    run still marked running whose process is gone reads as ``interrupted``.
    ``result`` is the verdict's status (``explained``, ``residual``,
    ``no_gap``) once finished; ``verdict`` is the JSON report and ``state``
    the lossless verdict that reports are rendered from again.
    """

    id: str
    scenario: str
    scenario_path: str | None
    command: tuple[str, ...]
    started: float
    finished: float | None
    status: str
    strategy: str
    result: str | None = None
    error: str | None = None
    verdict: str | None = None
    state: str | None = None


class Store:
    """Trial outcomes on disk; ``Store(":memory:")`` keeps them in memory.

    Parameters
    ----------
    path
        The SQLite file. It is created when missing; an existing file must be a
        bisect-ml store, and is never written to otherwise.
    readonly
        Open without writing anything, not even a migration (`info` uses this).

    Raises
    ------
    StoreError
        When the file is not a bisect-ml store, is corrupt, or has a newer
        schema than this bisect-ml reads.
    """

    def __init__(self, path: str | Path, *, readonly: bool = False) -> None:
        self.path = str(path)
        self.readonly = readonly
        self.schema_version = SCHEMA_VERSION
        memory = self.path == ":memory:"
        if not memory:
            p = Path(self.path)
            if p.exists() and not p.is_file():
                raise StoreError(self.path, "is not a regular file")
            if readonly and not p.exists():
                raise StoreError(self.path, "does not exist")
            if not readonly and not p.parent.exists():
                p.parent.mkdir(parents=True, exist_ok=True)
        try:
            if readonly:
                uri = f"{Path(self.path).resolve().as_uri()}?mode=ro"
                self._db = sqlite3.connect(uri, uri=True, timeout=30.0)
            else:
                self._db = sqlite3.connect(self.path, timeout=30.0)
            # Transactions are explicit (`_write`): one per trial or claim.
            self._db.isolation_level = None
            self._init()
        except sqlite3.DatabaseError as err:
            with contextlib.suppress(Exception):
                self._db.close()
            raise StoreError(
                self.path,
                f"is not a bisect-ml store or is corrupt ({err}); it was "
                "left untouched, give another --store path",
            ) from None
        self.claims_enabled = not memory and not readonly

    # -- opening ---------------------------------------------------------------

    def _init(self) -> None:
        db = self._db
        app_id = db.execute("PRAGMA application_id").fetchone()[0]
        tables = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if app_id == 0 and tables == 0:
            if self.readonly:
                raise StoreError(self.path, "is empty, not a bisect-ml store")
            with self._write(exclusive=True):
                # Another process may have created the schema meanwhile.
                if not db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                    db.execute(f"PRAGMA application_id = {_APP_ID}")
                    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                    for statement in _statements(_SCHEMA):
                        db.execute(statement)
        self._check()
        if not self.readonly:
            self._tune()

    def _check(self) -> None:
        db = self._db
        app_id = db.execute("PRAGMA application_id").fetchone()[0]
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if app_id != _APP_ID:
            raise StoreError(
                self.path,
                "is a SQLite file of another application; "
                "it was left untouched, give another --store path",
            )
        if version > SCHEMA_VERSION:
            raise StoreError(
                self.path,
                f"has schema version {version}, this bisect-ml reads versions "
                f"up to {SCHEMA_VERSION}: upgrade bisect-ml, or give another "
                "--store path",
            )
        if version < 1:
            raise StoreError(self.path, f"has an unknown schema version {version}")
        # A header can be intact over damaged pages; reading such a store
        # fails later, halfway through a run. One pass over its pages (a few
        # milliseconds for thousands of trials) refuses it before any write.
        problems = [row[0] for row in db.execute("PRAGMA quick_check(3)")]
        if problems != ["ok"]:
            raise StoreError(
                self.path,
                f"is corrupt ({'; '.join(problems)}); it was left untouched, "
                "give another --store path",
            )
        self.schema_version = version
        if version < SCHEMA_VERSION and not self.readonly:
            self._migrate(version)

    def _tune(self) -> None:
        if self.path != ":memory:":
            # WAL lets other processes read while one writes; it survives kill -9
            # like the default journal. Not for stores on network filesystems.
            self._db.execute("PRAGMA journal_mode = WAL")

    def _migrate(self, version: int) -> None:
        """Bring an older store to the current schema, in one transaction."""
        db = self._db
        kept = 0
        with self._write(exclusive=True):
            current = db.execute("PRAGMA user_version").fetchone()[0]
            if current != version:  # another process migrated it meanwhile
                return
            for step in range(version, SCHEMA_VERSION):
                for statement in _statements(_MIGRATIONS[step]):
                    db.execute(statement)
                if step == 1:
                    self._fill_versions(db)
            kept = db.execute("SELECT count(*) FROM trials").fetchone()[0]
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        logger.warning(
            "store %s migrated from schema version %d to %d (%d trials kept)",
            self.path,
            version,
            SCHEMA_VERSION,
            kept,
        )
        self.schema_version = SCHEMA_VERSION

    @staticmethod
    def _fill_versions(db: sqlite3.Connection) -> None:
        """Schema 2's `versions` column, read from each schema-1 outcome."""
        rows = db.execute("SELECT key, outcome FROM trials").fetchall()
        for key, outcome in rows:
            versions = json.loads(outcome).get("versions", {})
            db.execute(
                "UPDATE trials SET versions = ? WHERE key = ?",
                (json.dumps(versions, sort_keys=True), key),
            )

    @contextlib.contextmanager
    def _write(self, *, exclusive: bool = False) -> Iterator[sqlite3.Connection]:
        """One write transaction; taken at once so that readers never upgrade."""
        if self.readonly:
            raise StoreError(self.path, "was opened read-only")
        db = self._db
        db.execute("BEGIN EXCLUSIVE" if exclusive else "BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    # -- trials ----------------------------------------------------------------

    def get(self, key: str) -> Outcome | None:
        """The outcome stored under ``key``, or ``None``."""
        record = self.records([key]).get(key)
        return None if record is None else record.outcome

    def get_many(self, keys: Iterable[str]) -> dict[str, Outcome]:
        """The outcomes stored under any of ``keys``."""
        return {k: r.outcome for k, r in self.records(keys).items()}

    def records(self, keys: Iterable[str]) -> dict[str, TrialRecord]:
        """The stored trials among ``keys``, failed ones included."""
        found: dict[str, TrialRecord] = {}
        keys = list(keys)
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                "SELECT key, outcome, failed, error, attempts FROM trials "
                f"WHERE key IN ({marks})",
                chunk,
            )
            for key, outcome, failed, error, attempts in rows:
                found[key] = TrialRecord(
                    Outcome.from_dict(json.loads(outcome)),
                    bool(failed),
                    error,
                    int(attempts),
                )
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
        scenario: str | None = None,
        error: str | None = None,
        attempts: int = 1,
    ) -> bool:
        """Record one finished trial and drop its claim, in one transaction.

        A key already present is left as it is (the first outcome wins).
        ``error`` marks the trial as failed: its worker died on every one of
        ``attempts`` tries. Returns whether a row was written.
        """
        failed = error is not None
        if failed:
            outcome = Outcome(
                metric=math.nan,
                diverged=True,
                loss_curve=outcome.loss_curve,
                metric_curve=outcome.metric_curve,
                seconds=outcome.seconds,
                versions=outcome.versions,
            )
        row = (
            key,
            backend,
            arm,
            seed,
            json.dumps(dict(assignment), sort_keys=True),
            json.dumps(outcome.to_dict()),
            time.time(),
            scenario,
            json.dumps(outcome.versions, sort_keys=True),
            int(failed),
            error,
            attempts,
        )
        with self._write() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO trials VALUES "
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )
            db.execute("DELETE FROM claims WHERE key = ?", (key,))
        return cursor.rowcount == 1

    def __len__(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM trials").fetchone()[0])

    # -- claims ----------------------------------------------------------------

    def claim(
        self,
        keys: Iterable[str],
        owner: str,
        *,
        limit: int | None = None,
        lease: float = LEASE_SECONDS,
    ) -> set[str]:
        """Claim the ``keys`` that nobody stored or holds; return those claimed.

        At most ``limit`` keys are claimed, the first ones in order. A claim
        held by an owner whose process is gone, or whose lease ran out, is
        taken over. Without claims (an in-memory store) the keys not stored
        are returned.
        """
        keys = list(dict.fromkeys(keys))
        if not keys or limit == 0:
            return set()
        if not self.claims_enabled:
            stored = set(self.records(keys))
            return set([k for k in keys if k not in stored][:limit])
        now = time.time()
        mine: set[str] = set()
        with self._write() as db:
            stored = {
                k
                for (k,) in _select_in(db, "SELECT key FROM trials WHERE key IN", keys)
            }
            held = {
                k: (o, e)
                for k, o, e in _select_in(
                    db, "SELECT key, owner, expires FROM claims WHERE key IN", keys
                )
            }
            for key in keys:
                if key in stored:
                    continue
                if limit is not None and len(mine) >= limit:
                    break
                if key in held:
                    other, expires = held[key]
                    if other != owner and expires > now and not _owner_is_dead(other):
                        continue
                db.execute(
                    "INSERT OR REPLACE INTO claims VALUES (?, ?, ?)",
                    (key, owner, now + lease),
                )
                mine.add(key)
        return mine

    def renew(self, owner: str, *, lease: float = LEASE_SECONDS) -> None:
        """Extend every claim of ``owner`` by ``lease`` seconds from now."""
        if self.claims_enabled:
            with self._write() as db:
                db.execute(
                    "UPDATE claims SET expires = ? WHERE owner = ?",
                    (time.time() + lease, owner),
                )

    def release(self, owner: str, keys: Iterable[str] | None = None) -> None:
        """Drop the claims of ``owner`` (all of them, or those on ``keys``)."""
        if not self.claims_enabled:
            return
        with self._write() as db:
            if keys is None:
                db.execute("DELETE FROM claims WHERE owner = ?", (owner,))
            else:
                db.executemany(
                    "DELETE FROM claims WHERE owner = ? AND key = ?",
                    [(owner, k) for k in keys],
                )

    # -- runs ------------------------------------------------------------------

    def start_run(
        self,
        run_id: str,
        *,
        scenario: str,
        scenario_path: str | None,
        command: Iterable[str],
        strategy: str,
        owner: str | None = None,
    ) -> None:
        """Record that run ``run_id`` started (status ``running``)."""
        with self._write() as db:
            db.execute(
                "INSERT INTO runs (id, scenario, scenario_path, command, started, "
                "status, strategy, owner) VALUES (?, ?, ?, ?, ?, 'running', ?, ?)",
                (
                    run_id,
                    scenario,
                    scenario_path,
                    json.dumps(list(command)),
                    time.time(),
                    strategy,
                    owner or owner_id(),
                ),
            )

    def finish_run(
        self,
        run_id: str,
        *,
        status: str,
        result: str | None = None,
        verdict: str | None = None,
        state: str | None = None,
        error: str | None = None,
    ) -> None:
        """Record how run ``run_id`` ended, with its verdict when it has one."""
        if status not in RUN_STATUSES[1:]:
            raise ValueError(
                f"`status` must be one of {RUN_STATUSES[1:]}, got {status!r}"
            )
        with self._write() as db:
            db.execute(
                "UPDATE runs SET finished = ?, status = ?, result = ?, verdict = ?, "
                "state = ?, error = ? WHERE id = ?",
                (time.time(), status, result, verdict, state, error, run_id),
            )

    def _has_runs(self) -> bool:
        return bool(
            self._db.execute(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' "
                "AND name = 'runs'"
            ).fetchone()[0]
        )

    def runs(self, limit: int | None = None) -> list[RunRecord]:
        """The stored runs, newest first (none in a store older than schema 3)."""
        if not self._has_runs():
            return []
        rows = self._db.execute(
            f"SELECT {_RUN_COLUMNS} FROM runs ORDER BY started DESC, rowid DESC "
            "LIMIT ?",
            (-1 if limit is None else limit,),
        ).fetchall()
        return [_run_record(row) for row in rows]

    def run(self, ref: str) -> RunRecord:
        """The run whose id is ``ref`` or starts with it; ``latest`` is the newest.

        Raises
        ------
        StoreError
            When no run, or more than one, matches.
        """
        hint = "; `bisect-ml store info` lists the latest runs"
        if not self._has_runs():
            raise StoreError(
                self.path,
                f"holds no runs (schema version {self.schema_version}, runs are "
                "recorded from version 3 on): run a bisection with this store first",
            )
        if ref == "latest":
            found = self.runs(limit=1)
            if not found:
                raise StoreError(self.path, "holds no runs yet")
            return found[0]
        if not ref or not all(c in "0123456789abcdef" for c in ref):
            raise StoreError(
                self.path,
                f"a run id is hexadecimal (or `latest`), got {ref!r}" + hint,
            )
        rows = self._db.execute(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE substr(id, 1, ?) = ? "
            "ORDER BY started DESC LIMIT 3",
            (len(ref), ref),
        ).fetchall()
        if not rows:
            raise StoreError(self.path, f"has no run {ref!r}" + hint)
        if len(rows) > 1:
            ids = ", ".join(row[0] for row in rows)
            raise StoreError(
                self.path,
                f"run id prefix {ref!r} is ambiguous ({ids}); give more of it",
            )
        return _run_record(rows[0])

    # -- maintenance -----------------------------------------------------------

    def info(self) -> StoreInfo:
        """Counts by scenario, backend and library versions; age and size.

        A store of an older schema opened read-only is described as it is.
        """
        db = self._db
        old = self.schema_version < 2

        def counts(query: str) -> dict[str, int]:
            return {str(k): int(n) for k, n in db.execute(query)}

        versions: dict[str, int] = {}
        column = "outcome" if old else "versions"
        for text, n in db.execute(f"SELECT {column}, count(*) FROM trials GROUP BY 1"):
            found = json.loads(text or "{}")
            label = _versions_label(found.get("versions", {}) if old else found)
            versions[label] = versions.get(label, 0) + int(n)
        failed = "0" if old else "coalesce(sum(failed), 0)"
        total, n_failed, oldest, newest = db.execute(
            f"SELECT count(*), {failed}, min(created), max(created) FROM trials"
        ).fetchone()
        scenario = "'(unknown)'" if old else "coalesce(scenario, '(unknown)')"
        claims = 0 if old else db.execute("SELECT count(*) FROM claims").fetchone()[0]
        size = 0
        if self.path != ":memory:":
            for suffix in ("", "-wal"):
                with contextlib.suppress(OSError):
                    size += Path(self.path + suffix).stat().st_size
        runs: dict[str, int] = {}
        if self._has_runs():
            for status, owner in db.execute("SELECT status, owner FROM runs"):
                if status == "running" and _owner_is_dead(owner):
                    status = "interrupted"
                runs[status] = runs.get(status, 0) + 1
        return StoreInfo(
            path=self.path,
            schema_version=self.schema_version,
            size_bytes=size,
            trials=int(total),
            failed=int(n_failed),
            scenarios=counts(
                f"SELECT {scenario}, count(*) FROM trials GROUP BY 1 ORDER BY 2 DESC"
            ),
            backends=counts(
                "SELECT backend, count(*) FROM trials GROUP BY 1 ORDER BY 2 DESC"
            ),
            versions=versions,
            oldest=oldest,
            newest=newest,
            claims=int(claims),
            runs=runs,
            recent=tuple(self.runs(limit=5)),
        )

    def prune(
        self,
        *,
        older_than: float | None = None,
        scenario: str | None = None,
        backend: str | None = None,
        failed: bool = False,
        stale_versions: Mapping[str, Mapping[str, str]] | None = None,
        dry_run: bool = False,
        keep_scenarios: Iterable[str] = (),
    ) -> int:
        """Delete the trials that match every filter given; return how many.

        Parameters
        ----------
        older_than
            Seconds: trials stored longer ago than this.
        scenario
            Trials of the scenario with this name.
        backend
            Trials of this backend (``torch``, ``keras``, ``simulated``).
        failed
            Only trials recorded as failed (so that a re-run trains them again).
        stale_versions
            Backend name -> the library versions installed now: trials whose
            recorded versions differ (a re-run can never use them again).
        dry_run
            Count, delete nothing.
        keep_scenarios
            Never delete a trial of these scenarios (those of the runs that
            still need their trials: `unfinished_runs`).
        """
        if (
            older_than is None
            and scenario is None
            and backend is None
            and not failed
            and stale_versions is None
        ):
            raise StoreError(self.path, "prune needs at least one filter")
        where: list[str] = ["1"]
        args: list[object] = []
        if older_than is not None:
            where.append("created < ?")
            args.append(time.time() - older_than)
        if scenario is not None:
            where.append("scenario = ?")
            args.append(scenario)
        if backend is not None:
            where.append("backend = ?")
            args.append(backend)
        if failed:
            where.append("failed = 1")
        kept = sorted(set(keep_scenarios))
        if kept:
            marks = ",".join("?" * len(kept))
            where.append(f"coalesce(scenario, '') NOT IN ({marks})")
            args += kept
        rows = self._db.execute(
            f"SELECT key, backend, versions FROM trials WHERE {' AND '.join(where)}",
            args,
        ).fetchall()
        keys = [
            key
            for key, b, text in rows
            if stale_versions is None
            or json.loads(text or "{}") != dict(stale_versions.get(b, {}))
        ]
        if dry_run or not keys:
            return len(keys)
        with self._write() as db:
            db.executemany("DELETE FROM trials WHERE key = ?", [(k,) for k in keys])
        return len(keys)

    def unfinished_runs(self) -> list[RunRecord]:
        """Runs that did not finish: still running, interrupted or failed.

        Re-running such a run's command resumes it from the stored trials, so
        these are the runs that need their scenario's trials.
        """
        return [r for r in self.runs() if r.status != "finished"]

    def prune_runs(
        self,
        *,
        older_than: float | None = None,
        scenario: str | None = None,
        dry_run: bool = False,
    ) -> list[RunRecord]:
        """Delete the run records that match every filter given; return them.

        A run still running in a live process is never deleted. Deleting a
        run deletes its record and stored verdict (``bisect-ml report`` can no
        longer show it), never a trial.

        Parameters
        ----------
        older_than
            Seconds: runs started longer ago than this.
        scenario
            Runs of the scenario with this name.
        dry_run
            Find them, delete nothing.
        """
        if older_than is None and scenario is None:
            raise StoreError(self.path, "pruning runs needs --older-than or --scenario")
        cutoff = None if older_than is None else time.time() - older_than
        found = [
            r
            for r in self.runs()
            if r.status != "running"
            and (cutoff is None or r.started < cutoff)
            and (scenario is None or r.scenario == scenario)
        ]
        if not dry_run and found:
            with self._write() as db:
                db.executemany(
                    "DELETE FROM runs WHERE id = ?", [(r.id,) for r in found]
                )
        return found

    def vacuum(self) -> None:
        """Give the space of deleted rows back to the file system."""
        self._db.execute("VACUUM")

    def close(self) -> None:
        self._db.close()


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def _select_in(db: sqlite3.Connection, query: str, keys: list[str]) -> list[tuple]:
    rows: list[tuple] = []
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        marks = ",".join("?" * len(chunk))
        rows += db.execute(f"{query} ({marks})", chunk).fetchall()
    return rows


def _versions_label(versions: Mapping[str, str]) -> str:
    if not versions:
        return "(unknown)"
    return ", ".join(f"{k} {v}" for k, v in sorted(versions.items()))


_RUN_COLUMNS = (
    "id, scenario, scenario_path, command, started, finished, status, strategy, "
    "owner, result, error, verdict, state"
)


def _run_record(row: tuple) -> RunRecord:
    (run_id, scenario, path, command, started, finished, status, strategy, owner) = row[
        :9
    ]
    if status == "running" and _owner_is_dead(owner):
        status = "interrupted"  # its process was killed without a word
    return RunRecord(
        run_id,
        scenario,
        path,
        tuple(json.loads(command)),
        started,
        finished,
        status,
        strategy,
        *row[9:],
    )
