"""Executors: where trials train. A local pool by default; Dask or Ray on request.

An executor takes `TrialTask` objects and hands back, as they finish, each
task with its result: an `Outcome`, a `TrialError` (the trial's code raised),
or `WorkerLost` (the worker process died on every attempt). Retrying a trial
whose worker died is the executor's job, bounded by ``retries``; the Dask and
Ray executors leave it to their engine, the local pool does it itself.

Executors are chosen by name; each name maps to a dotted path imported on first
use, so choosing the local pool never imports Dask or Ray.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import logging
import multiprocessing
import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor
from concurrent.futures import wait as wait_futures
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, TypeAlias

from bisect_ml._errors import BackendError, ExecutorError
from bisect_ml.lab._worker import (
    TrialError,
    TrialTask,
    init_worker,
    journaled,
    run_trial,
)

if TYPE_CHECKING:
    from bisect_ml.backends import Outcome

__all__ = [
    "EXECUTORS",
    "Executor",
    "InlineExecutor",
    "LocalExecutor",
    "Result",
    "TrialFn",
    "WorkerLost",
    "get_executor",
]

logger = logging.getLogger(__name__)

#: Executor name -> "module:class", imported on first use only.
EXECUTORS = {
    "local": "bisect_ml.lab._executors:LocalExecutor",
    "dask": "bisect_ml.lab._dask:DaskExecutor",
    "ray": "bisect_ml.lab._ray:RayExecutor",
}

#: Trials a local worker process trains before it is replaced by a fresh one.
_TRIALS_PER_WORKER = 100
#: Pool breaks in a row with no trial running before the pool is given up.
_EMPTY_BREAKS = 3


@dataclass(frozen=True)
class WorkerLost:
    """The worker running a trial died on each of ``attempts`` tries."""

    error: str
    attempts: int


Result: TypeAlias = "Outcome | TrialError | WorkerLost"
TrialFn: TypeAlias = Callable[[TrialTask], "Outcome | TrialError"]


class Executor(ABC):
    """Runs trials somewhere and reports each as it finishes.

    Parameters
    ----------
    jobs
        Trials to train at once (worker processes of a local pool or cluster).
    address
        Where the engine's scheduler runs; ``None`` starts one on this machine.
    retries
        Times a trial whose worker died is tried again before it is given up.
    quiet
        Drop what workers write to stderr.
    trial_fn
        The function a worker calls with a `TrialTask`; it must be importable
        by the workers (tests pass one that kills its worker).
    """

    name: ClassVar[str]

    def __init__(
        self,
        jobs: int = 1,
        *,
        address: str | None = None,
        retries: int = 2,
        quiet: bool = True,
        trial_fn: TrialFn | None = None,
    ) -> None:
        self.jobs = max(1, jobs)
        self.address = address
        self.retries = max(0, retries)
        self.quiet = quiet
        self.trial_fn: TrialFn = trial_fn or run_trial
        #: Threads a framework may use in one worker: this machine's cores
        #: shared by the workers on it.
        self.threads = max(1, (os.cpu_count() or 1) // self.jobs)

    @property
    def capacity(self) -> int:
        """Trials worth keeping submitted so that no worker waits."""
        return 2 * self.jobs

    @property
    @abstractmethod
    def pending(self) -> int:
        """Trials submitted and not yet handed back."""

    @abstractmethod
    def submit(self, task: TrialTask) -> None:
        """Start ``task`` as soon as a worker is free."""

    @abstractmethod
    def wait(self, timeout: float) -> list[tuple[TrialTask, Result]]:
        """Trials finished within ``timeout`` seconds (maybe none)."""

    @abstractmethod
    def close(self, *, abort: bool = False) -> None:
        """Stop the workers; ``abort`` does not wait for trials in flight."""


def get_executor(name: str, jobs: int = 1, **options: object) -> Executor:
    """Import and start the executor called ``name``.

    Raises
    ------
    ExecutorError
        For an unknown name, or an engine that is not installed.
    """
    try:
        target = EXECUTORS[name]
    except KeyError:
        raise ExecutorError(
            name, f"is not known; choose one of {', '.join(EXECUTORS)}"
        ) from None
    module, attr = target.split(":")
    cls: type[Executor] = getattr(importlib.import_module(module), attr)
    return cls(jobs, **options)  # type: ignore[arg-type]


def _notes_folder() -> str:
    """A folder for the running-trial notes of one pool.

    Folders live under one parent named after the process that made them, so
    that the folder of a run killed with ``kill -9`` is removed by the next.
    """
    parent = Path(tempfile.gettempdir()) / "bisect-ml-workers"
    try:
        parent.mkdir(exist_ok=True)
        for old in parent.iterdir():
            pid = old.name.partition("-")[0]
            if pid.isdigit() and not _alive(int(pid)):
                shutil.rmtree(old, ignore_errors=True)
        return tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=parent)
    except OSError:  # a parent of another user's
        return tempfile.mkdtemp(prefix="bisect-ml-workers-")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class InlineExecutor(Executor):
    """Trains in this process, one trial at a time (the simulated backend)."""

    name = "inline"

    def __init__(self, jobs: int = 1, **options: object) -> None:
        super().__init__(1, **options)  # type: ignore[arg-type]
        self._queue: deque[TrialTask] = deque()

    @property
    def capacity(self) -> int:
        return 1

    @property
    def pending(self) -> int:
        return len(self._queue)

    def submit(self, task: TrialTask) -> None:
        self._queue.append(task)

    def wait(self, timeout: float) -> list[tuple[TrialTask, Result]]:
        if not self._queue:
            return []
        task = self._queue.popleft()
        return [(task, self.trial_fn(task))]

    def close(self, *, abort: bool = False) -> None:
        self._queue.clear()


class LocalExecutor(Executor):
    """A pool of warm worker processes on this machine (the default).

    Each worker imports its frameworks once and trains many trials. When a
    worker dies (killed, out of memory, a crash in native code), the pool is
    rebuilt; the trials that were running then are tried again one at a time,
    alone, so that a death is pinned on the trial that caused it. A trial whose
    worker died ``retries + 1`` times, the last time while it ran alone, is
    handed back as `WorkerLost`; one that died beside others is always tried
    again alone first.
    """

    name = "local"

    def __init__(self, jobs: int = 1, **options: object) -> None:
        if options.get("address") is not None:
            raise ExecutorError("local", "takes no --address (it runs on this machine)")
        super().__init__(jobs, **options)  # type: ignore[arg-type]
        self._pool: ProcessPoolExecutor | None = None
        self._futures: dict[Future[Outcome | TrialError], TrialTask] = {}
        self._queue: deque[TrialTask] = deque()
        self._suspects: deque[TrialTask] = deque()
        self._attempts: dict[str, int] = {}
        self._empty_breaks = 0
        self._notes = _notes_folder()
        #: The pool failed to start a worker: send it nothing more, and start
        #: a new one once the trials in flight are collected.
        self._suspect_pool = False

    @property
    def pending(self) -> int:
        return len(self._futures) + len(self._queue) + len(self._suspects)

    def submit(self, task: TrialTask) -> None:
        self._queue.append(task)
        self._pump()

    def _start(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.jobs,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=init_worker,
                initargs=(self.threads, self.quiet, os.getpid()),
                # TensorFlow keeps every traced function of every model a process
                # ever built (about 5 MB a trial); recycle workers to bound it.
                max_tasks_per_child=_TRIALS_PER_WORKER,
            )
        return self._pool

    def _send(self, task: TrialTask) -> bool:
        """Submit ``task``; ``False`` when it was not sent (the pool broke, or
        is suspect, while trials are in flight: `wait` collects them first)."""
        if self._suspect_pool:
            if self._futures:
                return False
            self._drop_pool()
        fn = partial(journaled, self.trial_fn, self._notes)
        try:
            future = self._submit(fn, task)
        except BrokenProcessPool:
            if self._futures:  # `wait` collects the break from their futures
                return False
            self._recover([])  # a worker died while no trial ran: rebuild
            future = self._submit(fn, task)
        if future is None:
            return False
        self._futures[future] = task
        return True

    def _submit(
        self, fn: Callable[[TrialTask], Outcome | TrialError], task: TrialTask
    ) -> Future[Outcome | TrialError] | None:
        """Submit to the pool; None when it failed to start a worker.

        On CPython 3.11 starting a worker can fail with "bad value(s) in
        fds_to_keep" when another worker dies at that moment: the pool's
        manager thread closes descriptors that the new worker is being handed
        (seen in CI and under a stress loop, about once in 200 deaths). The
        pool is then not to be trusted: with trials in flight it is marked
        suspect (`_send` sends nothing more and starts a new pool once they
        are collected; a task the failed call had queued may still train
        there, its result unused); with none in flight it is started anew at
        once. Any other error is a bug, and raises.
        """
        try:
            return self._start().submit(fn, task)
        except ValueError as err:
            if "fds_to_keep" not in str(err):
                raise
            logger.warning("starting a worker failed (%s); starting the pool anew", err)
            if self._futures:
                self._suspect_pool = True
                return None
            self._drop_pool()
            return self._start().submit(fn, task)

    def _drop_pool(self) -> None:
        """Shut a broken pool down and collect what it left, before a new one.

        Its workers are killed first. CPython 3.11 marks a pool broken
        without its shutdown lock, so a worker this process started while
        another died can miss the pool's own terminate, wait on the call
        queue forever, and hang the shutdown that joins it (seen in CI: the
        manager thread stuck joining a worker started after the death).
        """
        pool, self._pool = self._pool, None
        self._suspect_pool = False
        if pool is not None:
            for process in list(getattr(pool, "_processes", {}).values()):
                with contextlib.suppress(Exception):
                    process.kill()
            pool.shutdown(wait=True, cancel_futures=True)
        # Objects of the old pool that still own descriptors close them now,
        # not in the middle of the next pool's start.
        gc.collect()

    def _pump(self) -> None:
        if self._suspects:
            # A suspect runs alone, so that a death is its own.
            if not self._futures:
                task = self._suspects.popleft()
                if not self._send(task):
                    self._suspects.appendleft(task)
            return
        while self._queue:
            task = self._queue.popleft()
            if not self._send(task):
                self._queue.appendleft(task)
                return

    def wait(self, timeout: float) -> list[tuple[TrialTask, Result]]:
        if not self._futures:
            self._pump()
        if not self._futures:
            return []
        done, _ = wait_futures(self._futures, timeout, return_when=FIRST_COMPLETED)
        results: list[tuple[TrialTask, Result]] = []
        broken: list[TrialTask] = []
        if any(isinstance(f.exception(), BrokenProcessPool) for f in done):
            # The pool fails every future it holds at once; collect them all.
            done, _ = wait_futures(self._futures)
        for future in done:
            task = self._futures.pop(future)
            err = future.exception()
            if err is None:
                results.append((task, future.result()))
                self._empty_breaks = 0
            elif isinstance(err, BrokenProcessPool):
                broken.append(task)
            else:  # the pool could not pickle or call the trial function
                raise BackendError(
                    task.backend, f"a worker could not run a trial: {err!r}"
                )
        if broken:
            results += self._recover(broken)
        self._pump()
        return results

    def _recover(self, broken: list[TrialTask]) -> list[tuple[TrialTask, Result]]:
        """Rebuild the pool after a worker died; retry or give up its trials."""
        running = self._running_notes()
        self._drop_pool()
        lost: list[tuple[TrialTask, Result]] = []
        if not any(t.key in running for t in broken):
            self._empty_breaks += 1
            if self._empty_breaks >= _EMPTY_BREAKS:
                raise ExecutorError(
                    "local",
                    f"worker processes died {_EMPTY_BREAKS} times in a row before "
                    "running a trial; run with --debug to see their errors",
                )
        for task in reversed(broken):
            if task.key not in running:
                self._queue.appendleft(task)
                continue
            attempts = self._attempts.get(task.key, 0) + 1
            self._attempts[task.key] = attempts
            # Only a death while it ran alone is surely the trial's own doing.
            if attempts > self.retries and running == {task.key}:
                logger.warning(
                    "trial %s: its worker died on %d attempts; recorded as failed",
                    task.key[:12],
                    attempts,
                )
                lost.append((task, WorkerLost("the worker process died", attempts)))
            else:
                logger.warning(
                    "trial %s: a worker died while running it (%d of %d tries); "
                    "trying it again alone",
                    task.key[:12],
                    attempts,
                    self.retries + 1,
                )
                self._suspects.appendleft(task)
        return lost

    def _running_notes(self) -> set[str]:
        keys = set()
        for name in os.listdir(self._notes):
            path = os.path.join(self._notes, name)
            with contextlib.suppress(OSError):
                with open(path, encoding="utf-8") as fh:
                    keys.add(fh.read().strip())
                os.unlink(path)
        return keys

    def close(self, *, abort: bool = False) -> None:
        pool, self._pool = self._pool, None
        self._futures.clear()
        self._queue.clear()
        self._suspects.clear()
        if pool is not None:
            if abort:
                # Trials in flight are lost either way: do not wait for them.
                processes = list(getattr(pool, "_processes", {}).values())
                pool.shutdown(wait=False, cancel_futures=True)
                for process in processes:
                    with contextlib.suppress(Exception):
                        process.kill()
                for process in processes:
                    with contextlib.suppress(Exception):
                        process.join(timeout=5)
            else:
                pool.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(self._notes, ignore_errors=True)
