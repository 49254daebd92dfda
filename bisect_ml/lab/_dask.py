"""Trials on Dask distributed: a scheduler at an address, or a LocalCluster.

Install with ``pip install 'bisect-ml[dask]'``; this module is imported only
when ``--executor dask`` is chosen. Every worker needs bisect-ml and the
frameworks of the pair installed, and must be able to read the scenario's data
file when it names one. The store stays with the client: workers only train.

A worker that dies is Dask's to handle: the scheduler moves its trials to other
workers and gives a trial up (``KilledWorker``) once workers died under it more
than ``distributed.scheduler.allowed-failures`` times. A LocalCluster started
here sets that to ``retries``; a scheduler at an address keeps its own setting.
"""

from __future__ import annotations

import logging
import os
import queue
import uuid
from typing import TYPE_CHECKING, Any

from bisect_ml._errors import ExecutorError
from bisect_ml.lab._executors import Executor, Result, WorkerLost
from bisect_ml.lab._worker import TrialTask

try:
    import dask
    import distributed
except ImportError as err:  # pragma: no cover - depends on the environment
    raise ExecutorError(
        "dask",
        f"needs Dask distributed ({err.name} is not installed): "
        "pip install 'bisect-ml[dask]'",
    ) from None

if TYPE_CHECKING:
    from bisect_ml.backends import Outcome
    from bisect_ml.lab._worker import TrialError

__all__ = ["DaskExecutor"]

logger = logging.getLogger(__name__)


class _Setup(distributed.WorkerPlugin):
    """Runs on every worker, also one the nanny restarts: threads, quiet."""

    name = "bisect-ml-setup"

    def __init__(self, threads: int, quiet: bool) -> None:
        self.threads = threads
        self.quiet = quiet

    def setup(self, worker: Any) -> None:
        os.environ.setdefault("BISECT_ML_THREADS", str(self.threads))
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        if self.quiet:
            # As in the local pool: TensorFlow's notices go straight to fd 2.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
            os.close(devnull)


class DaskExecutor(Executor):
    """Runs trials as Dask tasks (see the module docstring)."""

    name = "dask"

    def __init__(self, jobs: int = 1, **options: Any) -> None:
        super().__init__(jobs, **options)
        self._cluster: distributed.LocalCluster | None = None
        self._futures: dict[distributed.Future, TrialTask] = {}
        self._done: queue.Queue[distributed.Future] = queue.Queue()
        # Dask sets its loggers to INFO; keep the client's stderr to warnings
        # (a restarted worker) unless the user asked for --debug.
        self._log = logging.getLogger("distributed")
        self._log_level = self._log.level
        if self.quiet:
            self._log.setLevel(logging.WARNING)
        try:
            if self.address is None:
                # One trial per worker thread at a time: a worker that dies
                # then takes the blame for its own trial only.
                with dask.config.set(
                    {
                        "distributed.scheduler.allowed-failures": self.retries,
                        "distributed.scheduler.worker-saturation": 1.0,
                    }
                ):
                    self._cluster = distributed.LocalCluster(
                        n_workers=self.jobs,
                        threads_per_worker=1,
                        processes=True,
                        host="127.0.0.1",
                        dashboard_address=None,
                        worker_dashboard_address=None,
                        silence_logs=logging.ERROR if self.quiet else logging.WARNING,
                    )
                self._client = distributed.Client(self._cluster, set_as_default=False)
            else:
                self._client = distributed.Client(
                    self.address, timeout="20s", set_as_default=False
                )
        except (OSError, TimeoutError, ValueError) as err:
            self._shutdown()
            where = self.address or "a LocalCluster"
            raise ExecutorError(
                "dask", f"cannot connect to {where}: {err.__class__.__name__}: {err}"
            ) from None
        workers = self._client.scheduler_info().get("workers", {})
        # A cluster of our own shares this machine's cores; a remote worker
        # keeps its own BISECT_ML_THREADS, else trains on one thread.
        local = self._cluster is not None
        threads = self.threads if local else 1
        self.threads = threads
        self._client.register_plugin(_Setup(threads, self.quiet and local))
        self._slots = sum(int(w.get("nthreads", 1)) for w in workers.values())
        logger.info("dask: %d workers, %d threads", len(workers), self._slots)

    @property
    def capacity(self) -> int:
        return 2 * max(self.jobs, self._slots)

    @property
    def pending(self) -> int:
        return len(self._futures)

    def submit(self, task: TrialTask) -> None:
        future = self._client.submit(
            self.trial_fn,
            task,
            key=f"bisect-ml-trial-{task.key[:16]}-{uuid.uuid4().hex[:8]}",
            pure=False,
        )
        self._futures[future] = task
        future.add_done_callback(self._done.put)

    def wait(self, timeout: float) -> list[tuple[TrialTask, Result]]:
        if not self._futures:
            return []
        try:
            finished = [self._done.get(timeout=timeout)]
        except queue.Empty:
            return []
        while True:
            try:
                finished.append(self._done.get_nowait())
            except queue.Empty:
                break
        results: list[tuple[TrialTask, Result]] = []
        for future in finished:
            if future not in self._futures:
                continue
            if future.status in ("lost", "pending"):
                # Its result died with a worker before we fetched it: Dask
                # computes it again, and calls back when it has.
                future.add_done_callback(self._done.put)
                continue
            task = self._futures.pop(future)
            results.append((task, self._result(future, task)))
        return results

    def _result(self, future: distributed.Future, task: TrialTask) -> Result:
        if future.status == "finished":
            value: Outcome | TrialError = future.result()
            return value
        err = future.exception() if future.status == "error" else None
        if isinstance(err, distributed.KilledWorker):
            return WorkerLost(f"Dask gave it up: {err}", self.retries + 1)
        raise ExecutorError(
            "dask",
            f"a worker could not run trial {task.key[:12]} "
            f"({future.status}: {err!r}); is bisect-ml installed on every worker?",
        )

    def close(self, *, abort: bool = False) -> None:
        futures = list(self._futures)
        self._futures.clear()
        if futures:
            self._client.cancel(futures, force=abort)
        self._shutdown()

    def _shutdown(self) -> None:
        # Every outcome is committed by now: a cluster that stumbles while it
        # closes (a nanny that was restarting a dead worker) must not turn a
        # finished run into a crash.
        client = getattr(self, "_client", None)
        cluster, self._cluster = self._cluster, None
        for part in (client, cluster):
            if part is None:
                continue
            try:
                part.close()
            except Exception as err:
                logger.warning("dask did not close cleanly: %r", err)
        self._log.setLevel(self._log_level)
