"""Trial functions that make their worker die, for the executor tests.

They must be importable by worker processes (local, Dask, Ray), so they live
in a module of their own. Which trials die, and how often, is decided by files
in a folder, so the decision holds across processes and restarts.
"""

from __future__ import annotations

import dataclasses
import os
import signal
from pathlib import Path

from bisect_ml.backends import Outcome
from bisect_ml.lab import TrialError, TrialTask, run_trial


def die(
    folder: str, keys: tuple[str, ...], times: int, task: TrialTask
) -> Outcome | TrialError:
    """Kill this worker on the first ``times`` tries of the trials ``keys``.

    Every try is noted in ``folder`` as a line of ``<key>.tries``.
    """
    if task.key in keys:
        note = Path(folder) / f"{task.key}.tries"
        tries = len(note.read_text().splitlines()) if note.exists() else 0
        with note.open("a") as fh:
            fh.write(f"{os.getpid()}\n")
        if tries < times:
            os.kill(os.getpid(), signal.SIGKILL)
    return run_trial(task)


def tries(folder: str | Path) -> dict[str, int]:
    """Key -> how many times a dying trial was started."""
    return {
        p.name.removesuffix(".tries"): len(p.read_text().splitlines())
        for p in Path(folder).glob("*.tries")
    }


def raise_error(task: TrialTask) -> Outcome | TrialError:
    """A trial whose code raises (not retried: a bug, not a lost worker)."""
    if task.seed == 1:
        # A simulated trial without its [simulation] table: the backend raises.
        task = dataclasses.replace(
            task, spec=dataclasses.replace(task.spec, simulation=None)
        )
    return run_trial(task)
