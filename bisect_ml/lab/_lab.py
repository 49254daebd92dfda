"""The lab runs trials: from the store when it can, on warm workers when not."""

from __future__ import annotations

import functools
import logging
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bisect_ml._errors import BackendError
from bisect_ml.backends import Outcome, get_backend, library_versions
from bisect_ml.lab._arm import Arm
from bisect_ml.scenario import content_hash

if TYPE_CHECKING:
    from bisect_ml.factors import Value
    from bisect_ml.lab._store import Store
    from bisect_ml.scenario import Dataset, DataSpec, Pair, Spec

__all__ = ["Lab", "Progress", "trial_key"]

logger = logging.getLogger(__name__)

#: Trials a worker process trains before it is replaced by a fresh one.
_TRIALS_PER_WORKER = 100


@dataclass(frozen=True)
class Progress:
    """What a progress display is told after each trial."""

    done: int
    total: int
    arm: str
    seed: int
    cached: bool
    eta_seconds: float | None


def trial_key(spec: Spec, assignment: dict[str, Value], seed: int, backend: str) -> str:
    """Content hash identifying a trial: the same key means the same training."""
    return content_hash(
        {
            "spec": spec.to_dict(),
            "assignment": assignment,
            "seed": seed,
            "backend": backend,
            "versions": library_versions(backend),
        }
    )


@functools.lru_cache(maxsize=8)
def _data(spec: DataSpec) -> Dataset:
    from bisect_ml.scenario import load_data

    return load_data(spec)


def _init_worker(threads: int, quiet: bool) -> None:
    os.environ["BISECT_ML_THREADS"] = str(threads)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if quiet:
        # TensorFlow's C++ runtime writes start-up notices straight to fd 2,
        # past every Python logging setting. A worker's errors reach the parent
        # as exceptions, so its stderr is dropped unless the user asks for it.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)


def _train(
    backend: str, spec: Spec, assignment: dict[str, Value], seed: int
) -> Outcome:
    data = None if backend == "simulated" else _data(spec.data)
    return get_backend(backend).train(spec, data, assignment, seed)  # type: ignore[arg-type]


class Lab:
    """Schedules trials of a pair's arms and keeps every outcome in the store.

    Parameters
    ----------
    pair
        The pair whose arms are measured.
    store
        Where outcomes are looked up before training and written after.
    jobs
        Worker processes for real backends. Each worker imports its frameworks
        once and trains many trials; the simulated backend runs in-process.
    quiet_workers
        Drop what workers write to stderr (TensorFlow's start-up notices).
    progress
        Called after every trial, trained or taken from the store.
    """

    def __init__(
        self,
        pair: Pair,
        store: Store,
        *,
        jobs: int = 1,
        progress: Callable[[Progress], None] | None = None,
        quiet_workers: bool = True,
    ) -> None:
        self.pair = pair
        self.store = store
        self.jobs = max(1, jobs)
        self.progress = progress
        self.quiet_workers = quiet_workers
        self.trained = 0
        self.cached = 0
        self.train_seconds = 0.0
        self._pool: ProcessPoolExecutor | None = None
        self._memo: dict[tuple[Arm, int], Outcome] = {}

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            threads = max(1, (os.cpu_count() or 1) // self.jobs)
            self._pool = ProcessPoolExecutor(
                max_workers=self.jobs,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(threads, self.quiet_workers),
                # TensorFlow keeps every traced function of every model a process
                # ever built (about 5 MB a trial); recycle workers to bound it.
                max_tasks_per_child=_TRIALS_PER_WORKER,
            )
        return self._pool

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
        jobs: list[tuple[Arm, int, str, str, dict[str, Any]]] = []
        for arm, seed in requests:
            backend = arm.backend(pair)
            assignment = arm.assignment(pair)
            key = trial_key(pair.spec, assignment, seed, backend)
            jobs.append((arm, seed, key, backend, assignment))

        total, done = len(jobs), 0
        started = time.perf_counter()
        to_train = []
        for job in jobs:
            arm, seed, key = job[0], job[1], job[2]
            stored = self.store.get(key)
            if stored is None:
                to_train.append(job)
                continue
            self._memo[(arm, seed)] = stored
            self.cached += 1
            done += 1
            self._report(done, total, arm, seed, True, None)

        if to_train:
            logger.info(
                "training %d trials (%d from the store)",
                len(to_train),
                total - len(to_train),
            )
        for job, outcome in self._train_all(to_train):
            arm, seed, key, backend, assignment = job
            self.store.put(
                key,
                backend=backend,
                arm=arm.label(pair),
                seed=seed,
                assignment=assignment,
                outcome=outcome,
            )
            self._memo[(arm, seed)] = outcome
            self.trained += 1
            self.train_seconds += outcome.seconds
            done += 1
            elapsed = time.perf_counter() - started
            left = total - done
            eta = elapsed / self.trained * left if self.trained else None
            self._report(done, total, arm, seed, False, eta)

    def _train_all(
        self, jobs: list[tuple[Arm, int, str, str, dict[str, Any]]]
    ) -> Iterable[tuple[tuple[Arm, int, str, str, dict[str, Any]], Outcome]]:
        spec = self.pair.spec
        # Real frameworks always train in worker processes (also with one job),
        # so the parent never imports them and a worker can be recycled.
        in_process = all(j[3] == "simulated" for j in jobs)
        if in_process:
            os.environ.setdefault("BISECT_ML_THREADS", str(os.cpu_count() or 1))
            for job in jobs:
                yield (
                    job,
                    self._guard(
                        job, functools.partial(_train, job[3], spec, job[4], job[1])
                    ),
                )
            return

        pool = self._executor()
        futures: dict[Future[Outcome], tuple[Arm, int, str, str, dict[str, Any]]] = {
            pool.submit(_train, job[3], spec, job[4], job[1]): job for job in jobs
        }
        try:
            for future in as_completed(futures):
                job = futures[future]
                yield job, self._guard(job, future.result)
        finally:
            for future in futures:
                future.cancel()

    def _guard(
        self,
        job: tuple[Arm, int, str, str, dict[str, Any]],
        call: Callable[[], Outcome],
    ) -> Outcome:
        try:
            return call()
        except BackendError:
            raise
        except Exception as err:  # a crash in a trial, not a diverged training
            arm, seed = job[0], job[1]
            raise BackendError(
                job[3],
                f"trial {arm.label(self.pair)} seed {seed} failed: "
                f"{err.__class__.__name__}: {err}",
            ) from err

    def _report(
        self,
        done: int,
        total: int,
        arm: Arm,
        seed: int,
        cached: bool,
        eta: float | None,
    ) -> None:
        if self.progress is not None:
            self.progress(
                Progress(done, total, arm.label(self.pair), seed, cached, eta)
            )
