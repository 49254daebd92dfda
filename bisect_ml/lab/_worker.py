"""What runs on a worker: one trial, and the set-up of a warm worker process.

Everything here must be importable on any worker (a local process, a Dask or a
Ray worker) and picklable by reference, so it lives in a module of its own
that imports no executor engine.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bisect_ml.backends import Outcome, get_backend

if TYPE_CHECKING:
    from bisect_ml.factors import Value
    from bisect_ml.scenario import Dataset, DataSpec, Spec

__all__ = [
    "TrialError",
    "TrialTask",
    "call",
    "init_worker",
    "journaled",
    "run_trial",
]


@dataclass(frozen=True)
class TrialTask:
    """One trial as it travels to a worker."""

    key: str
    backend: str
    spec: Spec
    assignment: dict[str, Value]
    seed: int
    #: Threads a framework may use inside the worker.
    threads: int = 1


@dataclass(frozen=True)
class TrialError:
    """A Python exception raised by a trial, sent back instead of raised.

    Returning it keeps the engines' own retry machinery for what it is for:
    a worker process that died. An exception in the code is not retried.
    """

    kind: str
    message: str
    traceback: str


@functools.lru_cache(maxsize=8)
def _data(spec: DataSpec) -> Dataset:
    from bisect_ml.scenario import load_data

    return load_data(spec)


def run_trial(task: TrialTask) -> Outcome | TrialError:
    """Train ``task`` on this worker; exceptions come back as `TrialError`."""
    os.environ.setdefault("BISECT_ML_THREADS", str(task.threads))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        data = None if task.backend == "simulated" else _data(task.spec.data)
        backend = get_backend(task.backend)
        return backend.train(task.spec, data, task.assignment, task.seed)  # type: ignore[arg-type]
    except Exception as err:
        return TrialError(
            err.__class__.__name__, str(err), "".join(traceback.format_exception(err))
        )


def init_worker(threads: int, quiet: bool, parent: int | None = None) -> None:
    """Set up a local pool worker: threads, quiet stderr, no SIGINT, no orphan.

    The parent alone handles Ctrl-C (it stops the workers); and a worker whose
    parent died, killed with ``kill -9``, exits rather than live on.
    """
    os.environ["BISECT_ML_THREADS"] = str(threads)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if quiet:
        # TensorFlow's C++ runtime writes start-up notices straight to fd 2,
        # past every Python logging setting. A worker's errors reach the parent
        # as values, so its stderr is dropped unless the user asks for it.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
    if parent is not None:
        threading.Thread(
            target=_exit_with, args=(parent,), daemon=True, name="parent-watch"
        ).start()


def _exit_with(parent: int) -> None:
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(0)


def call(fn: Callable[[TrialTask], Outcome | TrialError], task: TrialTask) -> Any:
    """``fn(task)``: lets an engine that wants a plain function run any callable."""
    return fn(task)


def journaled(
    fn: Callable[[TrialTask], Outcome | TrialError], folder: str, task: TrialTask
) -> Outcome | TrialError:
    """Run ``fn(task)`` with a note of the running trial in ``folder``.

    The note, a file named after this process, is removed when the trial ends;
    one left behind names the trial a dead worker was running.
    """
    note = os.path.join(folder, str(os.getpid()))
    try:
        with open(note, "w", encoding="utf-8") as fh:
            fh.write(task.key)
    except OSError:  # the note only helps to blame a death; train without it
        note = ""
    try:
        return fn(task)
    finally:
        if note:
            with contextlib.suppress(OSError):
                os.unlink(note)
