"""The lab runs trials: from the store when it can, on an executor when not.

Every trial is a pure function of (spec, assignment, seed, backend, library
versions), named by a content hash. Before training, the lab looks the key up
in the store and claims it there, so that another process sharing the store
neither trains it again nor is kept from it when this one dies; each outcome is
committed the moment it arrives. A run killed at any point therefore resumes
with everything it finished and retrains none of it.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bisect_ml._errors import BackendError, StoreError
from bisect_ml.backends import Outcome, library_versions
from bisect_ml.factors import FRAMEWORKS, default_assignment
from bisect_ml.lab._arm import Arm
from bisect_ml.lab._executors import (
    Executor,
    InlineExecutor,
    TrialFn,
    WorkerLost,
    get_executor,
)
from bisect_ml.lab._store import LEASE_SECONDS, Store, owner_id
from bisect_ml.lab._worker import TrialError, TrialTask
from bisect_ml.scenario import content_hash

if TYPE_CHECKING:
    from bisect_ml.factors import Value
    from bisect_ml.scenario import DataSpec, Pair, Spec

__all__ = ["FailedTrial", "Lab", "Progress", "trial_key"]

logger = logging.getLogger(__name__)

#: Seconds between looks at the store for trials another process is training.
_POLL_SECONDS = 0.5


@dataclass(frozen=True)
class Progress:
    """What a progress display is told after each trial."""

    done: int
    total: int
    arm: str
    seed: int
    cached: bool
    eta_seconds: float | None


@dataclass(frozen=True)
class FailedTrial:
    """A trial recorded as failed: its worker died on every attempt."""

    arm: str
    seed: int
    error: str
    attempts: int


#: Bumped whenever a change to bisect-ml alters what an existing trial trains
#: (a fixed emulation, a new data pipeline), so that stores written before the
#: change are not read as if it had been there.
TRIAL_REVISION = 2


def trial_key(
    spec: Spec,
    assignment: dict[str, Value],
    seed: int,
    backend: str,
    *,
    framework: str | None = None,
) -> str:
    """Content hash identifying a trial: the same key means the same training.

    ``framework`` is the side the trial trains as (the backend itself for the
    real backends). Factors at that framework's own default are left out of
    the hash: they run the genuine component, which the library versions
    already pin, so adding a factor to the catalogue that only names what a
    framework always did keeps every stored trial valid. A data file named by
    ``data.path`` enters by the hash of its bytes, so that editing the file
    never reuses outcomes trained on its old content.
    """
    if framework is None and backend in FRAMEWORKS:
        framework = backend
    if framework is not None:
        defaults = _defaults(framework)
        assignment = {
            name: value
            for name, value in assignment.items()
            if name not in defaults or defaults[name] != value
        }
    identity: dict[str, Any] = {
        "spec": spec.to_dict(),
        "assignment": assignment,
        "seed": seed,
        "backend": backend,
        "framework": framework,
        "revision": TRIAL_REVISION,
        "versions": library_versions(backend),
    }
    if spec.data.path is not None and backend != "simulated":
        identity["data_file"] = _file_digest(spec.data)
    return content_hash(identity)


def arm_key(pair: Pair, arm: Arm, seed: int) -> str:
    """The trial key of ``arm`` at ``seed``: what the lab stores it under."""
    return trial_key(
        pair.spec,
        arm.assignment(pair),
        seed,
        arm.backend(pair),
        framework=arm.base,
    )


@functools.lru_cache(maxsize=2)
def _defaults(framework: str) -> dict[str, Value]:
    return default_assignment(framework)


def _file_digest(data: DataSpec) -> str | None:
    path = Path(data.path or "")
    try:
        stat = path.stat()
    except OSError:
        return None
    return _digest(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=32)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


@dataclass(frozen=True)
class _Job:
    arm: Arm
    seed: int
    key: str
    backend: str
    assignment: dict[str, Any]


class _Heartbeat(threading.Thread):
    """Renews this lab's claims in the store while it runs."""

    def __init__(self, path: str, owner: str) -> None:
        super().__init__(daemon=True, name="bisect-ml-claims")
        self.path = path
        self.owner = owner
        self.stopped = threading.Event()

    def run(self) -> None:
        store = None
        try:
            store = Store(self.path)
            while not self.stopped.wait(LEASE_SECONDS / 6):
                store.renew(self.owner)
        except (StoreError, OSError) as err:  # the main thread will see it too
            logger.warning("cannot renew trial claims: %s", err)
        finally:
            if store is not None:
                store.close()


class Lab:
    """Schedules trials of a pair's arms and keeps every outcome in the store.

    Parameters
    ----------
    pair
        The pair whose arms are measured.
    store
        Where outcomes are looked up before training and written after.
    jobs
        Trials trained at once. Real backends always train in worker
        processes; the simulated backend trains in this process when ``jobs``
        is 1 and the executor is the local one.
    executor
        ``"local"`` (a pool of warm worker processes), ``"dask"`` or ``"ray"``,
        or an `Executor` instance.
    address
        Scheduler address for Dask or Ray; ``None`` starts one locally.
    retries
        Times a trial whose worker died is tried again; after that it is
        recorded as failed (like a diverged trial) and the search goes on.
    progress
        Called after every trial, trained or taken from the store.
    quiet_workers
        Drop what workers write to stderr (TensorFlow's start-up notices).
    trial_fn
        What a worker calls to train a `TrialTask`; for tests that make
        workers die. It must be importable by the workers.

    Notes
    -----
    Leave the lab with `close` (or a ``with`` block). On an exception, a
    ``with`` block stops the workers at once and releases the claims, so a
    re-run, or another process, takes over the unfinished trials.
    """

    def __init__(
        self,
        pair: Pair,
        store: Store,
        *,
        jobs: int = 1,
        executor: str | Executor = "local",
        address: str | None = None,
        retries: int = 2,
        progress: Callable[[Progress], None] | None = None,
        quiet_workers: bool = True,
        trial_fn: TrialFn | None = None,
    ) -> None:
        self.pair = pair
        self.store = store
        self.jobs = max(1, jobs)
        self.executor_name = executor if isinstance(executor, str) else executor.name
        self.address = address
        self.retries = retries
        self.progress = progress
        self.quiet_workers = quiet_workers
        self.trial_fn = trial_fn
        self.trained = 0
        self.cached = 0
        self.train_seconds = 0.0
        #: Trials recorded as failed, this run's and stored ones.
        self.failed: list[FailedTrial] = []
        self._executor = executor if not isinstance(executor, str) else None
        self._owner = owner_id()
        self._heartbeat: _Heartbeat | None = None
        self._memo: dict[tuple[Arm, int], Outcome] = {}

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        self.close(abort=kind is not None)

    def close(self, *, abort: bool = False) -> None:
        """Stop the workers and drop this lab's claims in the store.

        ``abort`` stops the workers without waiting for trials in flight.
        """
        executor, self._executor = self._executor, None
        try:
            if executor is not None:
                executor.close(abort=abort)
        finally:
            if self._heartbeat is not None:
                self._heartbeat.stopped.set()
                self._heartbeat = None
            try:
                self.store.release(self._owner)
            except StoreError as err:
                logger.warning("cannot release trial claims: %s", err)

    # -- measuring -------------------------------------------------------------

    def measure(
        self, arms: Iterable[Arm], seeds: Iterable[int]
    ) -> dict[Arm, list[Outcome]]:
        """Outcomes of every arm at every seed, training only what is missing."""
        arms, seeds = list(dict.fromkeys(arms)), list(seeds)
        requests = [(arm, seed) for arm in arms for seed in seeds]
        missing = [r for r in requests if r not in self._memo]
        if missing:
            self._run(missing)
        return {arm: [self._memo[(arm, s)] for s in seeds] for arm in arms}

    def _run(self, requests: list[tuple[Arm, int]]) -> None:
        pair = self.pair
        by_key: dict[str, list[_Job]] = {}
        for arm, seed in requests:
            backend = arm.backend(pair)
            assignment = arm.assignment(pair)
            key = arm_key(pair, arm, seed)
            by_key.setdefault(key, []).append(_Job(arm, seed, key, backend, assignment))
        run = _Run(self, by_key, total=len(requests))
        run.take_stored()
        if run.waiting:
            logger.info(
                "training %d trials (%d from the store)",
                len(run.waiting),
                len(by_key) - len(run.waiting),
            )
            run.train()

    def _executor_for(self, backend: str) -> Executor:
        if self._executor is None:
            options: dict[str, Any] = {
                "address": self.address,
                "retries": self.retries,
                "quiet": self.quiet_workers,
                "trial_fn": self.trial_fn,
            }
            inline = (
                self.executor_name == "local"
                and self.jobs == 1
                and backend == "simulated"
            )
            if inline:
                self._executor = InlineExecutor(1, **options)
            else:
                self._executor = get_executor(self.executor_name, self.jobs, **options)
        return self._executor

    def _start_heartbeat(self) -> None:
        if self._heartbeat is None and self.store.claims_enabled:
            self._heartbeat = _Heartbeat(self.store.path, self._owner)
            self._heartbeat.start()

    def _report(
        self, done: int, total: int, job: _Job, cached: bool, eta: float | None
    ) -> None:
        if self.progress is not None:
            self.progress(
                Progress(done, total, job.arm.label(self.pair), job.seed, cached, eta)
            )


class _Run:
    """One call of `Lab.measure`: take from the store, claim, train, commit."""

    def __init__(self, lab: Lab, by_key: dict[str, list[_Job]], total: int) -> None:
        self.lab = lab
        self.by_key = by_key
        self.total = total
        self.done = 0
        self.trained = 0
        self.started = time.perf_counter()
        #: Keys neither stored nor trained yet, in request order.
        self.waiting: dict[str, None] = dict.fromkeys(by_key)
        self.in_flight: set[str] = set()

    def take_stored(self) -> None:
        """Fill in every waiting trial the store now holds."""
        keys = [k for k in self.waiting if k not in self.in_flight]
        for key, record in self.lab.store.records(keys).items():
            self._fill(
                key,
                record.outcome,
                cached=True,
                error=record.error,
                attempts=record.attempts,
            )

    def train(self) -> None:
        lab = self.lab
        first = self.by_key[next(iter(self.waiting))][0]
        executor = lab._executor_for(first.backend)
        last_look = time.monotonic()
        while self.waiting:
            room = executor.capacity - len(self.in_flight)
            free = [k for k in self.waiting if k not in self.in_flight]
            if room > 0 and free:
                claimed = lab.store.claim(free, lab._owner, limit=room)
                if claimed:
                    lab._start_heartbeat()
                for key in [k for k in free if k in claimed]:
                    self.in_flight.add(key)
                    executor.submit(self._task(key, executor))
            if self.in_flight:
                for task, result in executor.wait(_POLL_SECONDS):
                    self._commit(task, result)
            else:
                # Everything left is being trained by another process.
                time.sleep(_POLL_SECONDS)
            if time.monotonic() - last_look >= _POLL_SECONDS:
                last_look = time.monotonic()
                self.take_stored()

    def _task(self, key: str, executor: Executor) -> TrialTask:
        job = self.by_key[key][0]
        return TrialTask(
            key,
            job.backend,
            self.lab.pair.spec,
            job.assignment,
            job.seed,
            executor.threads,
        )

    def _commit(
        self, task: TrialTask, result: Outcome | TrialError | WorkerLost
    ) -> None:
        lab = self.lab
        job = self.by_key[task.key][0]
        label = job.arm.label(lab.pair)
        if isinstance(result, TrialError):
            logger.debug(
                "trial %s failed in its worker:\n%s", task.key, result.traceback
            )
            raise BackendError(
                job.backend,
                f"trial {label} seed {job.seed} failed: "
                f"{result.kind}: {result.message}",
            )
        error = result.error if isinstance(result, WorkerLost) else None
        attempts = result.attempts if isinstance(result, WorkerLost) else 1
        outcome = Outcome(math.nan, diverged=True) if error else result
        assert isinstance(outcome, Outcome)
        written = lab.store.put(
            task.key,
            backend=job.backend,
            arm=label,
            seed=job.seed,
            assignment=job.assignment,
            outcome=outcome,
            scenario=lab.pair.name,
            error=error,
            attempts=attempts,
        )
        self.in_flight.discard(task.key)
        if not written:
            # Another process stored it first (its lease had lapsed): use its
            # outcome so that every process sees the same data.
            logger.debug("trial %s was stored by another process", task.key)
            record = lab.store.records([task.key])[task.key]
            outcome, error, attempts = record.outcome, record.error, record.attempts
        else:
            logger.debug("trial %s stored (%s seed %d)", task.key, label, job.seed)
            if error is not None:
                logger.warning(
                    "trial %s seed %d recorded as failed after %d attempts (%s); "
                    "it counts as a diverged trial (`bisect-ml store prune "
                    "--failed` lets a re-run train it again)",
                    label,
                    job.seed,
                    attempts,
                    error,
                )
        self.trained += 1
        lab.trained += 1
        lab.train_seconds += outcome.seconds
        self._fill(task.key, outcome, cached=False, error=error, attempts=attempts)

    def _fill(
        self,
        key: str,
        outcome: Outcome,
        *,
        cached: bool,
        error: str | None,
        attempts: int,
    ) -> None:
        lab = self.lab
        self.waiting.pop(key, None)
        for job in self.by_key[key]:
            lab._memo[(job.arm, job.seed)] = outcome
            if error is not None:
                lab.failed.append(
                    FailedTrial(job.arm.label(lab.pair), job.seed, error, attempts)
                )
            if cached:
                lab.cached += 1
            self.done += 1
            eta = None
            if not cached and self.trained:
                elapsed = time.perf_counter() - self.started
                eta = elapsed / self.trained * (self.total - self.done)
            lab._report(self.done, self.total, job, cached, eta)
