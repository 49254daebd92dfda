"""Trials on Ray: a cluster at an address, or a local instance.

Install with ``pip install 'bisect-ml[ray]'``; this module is imported only
when ``--executor ray`` is chosen. Every node needs bisect-ml and the
frameworks of the pair installed, and must be able to read the scenario's data
file when it names one. The store stays with the driver: workers only train.

A worker that dies is Ray's to handle: a task is retried up to ``retries``
times after its worker process died (``max_retries``), then given up
(``WorkerCrashedError``). An exception in the trial's code is not retried.
A local instance started here listens on 127.0.0.1 only, without a dashboard
(see `start_local_ray`).
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

from bisect_ml._errors import ExecutorError
from bisect_ml.lab._executors import Executor, Result, WorkerLost
from bisect_ml.lab._worker import TrialTask, call

# Ray reports usage statistics unless told not to; this tool never phones home.
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

try:
    import ray
    import ray.exceptions
except ImportError as err:  # pragma: no cover - depends on the environment
    raise ExecutorError(
        "ray",
        f"needs Ray ({err.name} is not installed): pip install 'bisect-ml[ray]'",
    ) from None

if TYPE_CHECKING:
    from bisect_ml.backends import Outcome
    from bisect_ml.lab._worker import TrialError

__all__ = ["RayExecutor", "start_local_ray", "stop_local_ray"]

logger = logging.getLogger(__name__)

#: Ray errors that mean a worker, its node or its result was lost.
_LOST = (
    ray.exceptions.WorkerCrashedError,
    ray.exceptions.NodeDiedError,
    ray.exceptions.ObjectLostError,
    ray.exceptions.OutOfMemoryError,
)


#: Ray uses loopback as the node address when this is "0", as it does on macOS;
#: on Linux it would advertise the machine's first interface instead.
_LOOPBACK_ONLY = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def start_local_ray(cpus: int, *, quiet: bool = True) -> None:
    """Start a Ray instance on this machine that listens on loopback only.

    Ray turns ``127.0.0.1`` given as the node address into the machine's
    first network address, and its servers then listen there; with
    ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` it keeps to loopback on Linux too.
    The setting is read from the environment by Ray's own processes, so it is
    set there before they start.
    """
    _saved.setdefault("env", os.environ.get(_LOOPBACK_ONLY))
    os.environ[_LOOPBACK_ONLY] = "0"
    constants = _constants()
    if constants is not None:
        _saved.setdefault("constant", constants.ENABLE_RAY_CLUSTER)
        constants.ENABLE_RAY_CLUSTER = False
    ray.init(
        num_cpus=cpus,
        include_dashboard=False,
        log_to_driver=not quiet,
        logging_level=logging.ERROR if quiet else logging.INFO,
    )


def stop_local_ray() -> None:
    """Shut down Ray and undo the loopback setting of `start_local_ray`."""
    ray.shutdown()
    if "env" in _saved:
        previous = _saved.pop("env")
        if previous is None:
            os.environ.pop(_LOOPBACK_ONLY, None)
        else:
            os.environ[_LOOPBACK_ONLY] = previous
    constants = _constants()
    if constants is not None and "constant" in _saved:
        constants.ENABLE_RAY_CLUSTER = _saved.pop("constant")


_saved: dict[str, Any] = {}


def _constants() -> Any:
    found = getattr(getattr(ray, "_private", None), "ray_constants", None)
    return found if hasattr(found, "ENABLE_RAY_CLUSTER") else None


class RayExecutor(Executor):
    """Runs trials as Ray tasks (see the module docstring)."""

    name = "ray"

    def __init__(self, jobs: int = 1, **options: Any) -> None:
        super().__init__(jobs, **options)
        self._owns_ray = False
        self._refs: dict[ray.ObjectRef, TrialTask] = {}
        if not ray.is_initialized():
            try:
                if self.address is None:
                    start_local_ray(self.jobs, quiet=self.quiet)
                else:
                    ray.init(
                        address=self.address,
                        log_to_driver=not self.quiet,
                        logging_level=logging.ERROR if self.quiet else logging.INFO,
                    )
            except (ConnectionError, RuntimeError, ValueError) as err:
                where = self.address or "a local instance"
                raise ExecutorError(
                    "ray", f"cannot start or reach {where}: {err}"
                ) from None
            self._owns_ray = True
        local = self.address is None
        threads = self.threads if local else 1
        self.threads = threads
        self._remote = ray.remote(num_cpus=1, max_retries=self.retries)(call).options(
            runtime_env={"env_vars": {"BISECT_ML_THREADS": str(threads)}},
        )
        self._slots = int(ray.cluster_resources().get("CPU", self.jobs))
        logger.info("ray: %d CPUs", self._slots)

    @property
    def capacity(self) -> int:
        return 2 * max(self.jobs, self._slots)

    @property
    def pending(self) -> int:
        return len(self._refs)

    def submit(self, task: TrialTask) -> None:
        self._refs[self._remote.remote(self.trial_fn, task)] = task

    def wait(self, timeout: float) -> list[tuple[TrialTask, Result]]:
        if not self._refs:
            return []
        refs = list(self._refs)
        ready, rest = ray.wait(refs, num_returns=1, timeout=timeout)
        if ready and rest:
            more, _ = ray.wait(rest, num_returns=len(rest), timeout=0)
            ready += more
        return [(self._refs[r], self._result(r)) for r in ready]

    def _result(self, ref: ray.ObjectRef) -> Result:
        task = self._refs.pop(ref)
        try:
            value: Outcome | TrialError = ray.get(ref)
        except _LOST as err:
            return WorkerLost(
                f"Ray gave it up: {err.__class__.__name__}", self.retries + 1
            )
        except ray.exceptions.RayError as err:
            raise ExecutorError(
                "ray",
                f"a worker could not run trial {task.key[:12]} "
                f"({err.__class__.__name__}: {str(err).splitlines()[0]}); "
                "is bisect-ml installed on every node?",
            ) from None
        return value

    def close(self, *, abort: bool = False) -> None:
        refs = list(self._refs)
        self._refs.clear()
        for ref in refs:
            try:
                ray.cancel(ref, force=abort)
            except Exception:  # already finished or gone
                logger.debug("could not cancel %s", ref)
        if self._owns_ray:
            stop_local_ray()
            self._owns_ray = False
