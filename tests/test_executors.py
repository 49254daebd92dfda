"""Issue 7: executors (local pool, Dask, Ray) give the same outcomes; a worker
that dies is retried a bounded number of times, then its trial is recorded as
failed and the search goes on.

Dask and Ray are optional extras: their tests skip when they are missing.
Clusters here are started on this machine and listen on 127.0.0.1 only.
"""

from __future__ import annotations

import functools
import math
import subprocess
import sys
from pathlib import Path

import pytest

from bisect_ml._errors import BackendError, ExecutorError
from bisect_ml.lab import Arm, Lab, Store, _executors, arm_key, get_executor
from bisect_ml.scenario import Pair, load_pair
from bisect_ml.strategies import get_strategy
from tests import _faults

ARMS = [Arm("torch"), Arm("keras")]
SEEDS = range(4)


@pytest.fixture(scope="module")
def pair() -> Pair:
    return load_pair("sim-two-causes")


def key_of(pair: Pair, arm: Arm, seed: int) -> str:
    return arm_key(pair, arm, seed)


def metrics(outcomes: dict[Arm, list]) -> dict[str, list[float]]:
    return {arm.base: [o.metric for o in v] for arm, v in outcomes.items()}


@pytest.fixture(scope="module")
def inline(pair: Pair) -> dict[str, list[float]]:
    with Lab(pair, Store(":memory:")) as lab:
        return metrics(lab.measure(ARMS, SEEDS))


def dying(folder: Path, keys: list[str], times: int) -> functools.partial:
    return functools.partial(_faults.die, str(folder), tuple(keys), times)


def test_unknown_executor_and_stray_address_are_refused() -> None:
    with pytest.raises(ExecutorError, match="`spark`: is not known; choose one of"):
        get_executor("spark")
    with pytest.raises(ExecutorError, match="takes no --address"):
        get_executor("local", address="tcp://127.0.0.1:1")


def test_choosing_the_local_pool_imports_no_engine() -> None:
    code = (
        "import sys, bisect_ml.lab, bisect_ml.cli, bisect_ml.api; "
        "print([m for m in ('dask', 'distributed', 'ray') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out.stderr


def test_local_pool_matches_in_process_training(
    pair: Pair, inline: dict[str, list[float]]
) -> None:
    with Lab(pair, Store(":memory:"), jobs=2) as lab:
        assert metrics(lab.measure(ARMS, SEEDS)) == inline
    assert lab.trained == 8 and not lab.failed


def test_local_worker_death_is_retried_alone_then_succeeds(
    tmp_path: Path, pair: Pair, inline: dict[str, list[float]]
) -> None:
    victim = key_of(pair, Arm("torch"), 1)
    fn = dying(tmp_path, [victim], times=1)
    with Lab(pair, Store(":memory:"), jobs=2, trial_fn=fn) as lab:
        assert metrics(lab.measure(ARMS, SEEDS)) == inline
    assert _faults.tries(tmp_path) == {victim: 2}
    assert not lab.failed


class _FlakyStartPool(_executors.ProcessPoolExecutor):
    """A pool whose first start fails the way CPython's spawn does when a
    descriptor of the previous pool was closed twice."""

    starts = 0
    message = "bad value(s) in fds_to_keep"

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
        if not hasattr(self, "_tried"):
            self._tried = True
            type(self).starts += 1
            if type(self).starts == 1:
                raise ValueError(self.message)
        return super().submit(fn, *args, **kwargs)


def test_a_pool_that_fails_to_start_its_workers_is_started_anew(
    monkeypatch: pytest.MonkeyPatch, pair: Pair, inline: dict[str, list[float]]
) -> None:
    monkeypatch.setattr(_FlakyStartPool, "starts", 0)
    monkeypatch.setattr(_executors, "ProcessPoolExecutor", _FlakyStartPool)
    with Lab(pair, Store(":memory:"), jobs=2) as lab:
        assert metrics(lab.measure(ARMS, SEEDS)) == inline
    assert _FlakyStartPool.starts == 2 and not lab.failed


class _FlakyMidRunPool(_executors.ProcessPoolExecutor):
    """The first pool fails its second submit, while the first trial runs."""

    pools = 0
    submits = 0

    def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        type(self).pools += 1
        super().__init__(*args, **kwargs)

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
        type(self).submits += 1
        if type(self).pools == 1 and type(self).submits == 2:
            raise ValueError("bad value(s) in fds_to_keep")
        return super().submit(fn, *args, **kwargs)


def test_a_pool_that_fails_mid_run_drains_then_is_replaced(
    monkeypatch: pytest.MonkeyPatch, pair: Pair, inline: dict[str, list[float]]
) -> None:
    monkeypatch.setattr(_FlakyMidRunPool, "pools", 0)
    monkeypatch.setattr(_FlakyMidRunPool, "submits", 0)
    monkeypatch.setattr(_executors, "ProcessPoolExecutor", _FlakyMidRunPool)
    with Lab(pair, Store(":memory:"), jobs=2) as lab:
        assert metrics(lab.measure(ARMS, SEEDS)) == inline
    # The trial in flight finished in the suspect pool; the rest went to one
    # new pool, and no trial failed.
    assert _FlakyMidRunPool.pools == 2 and not lab.failed


def test_any_other_error_starting_a_pool_is_not_hidden(
    monkeypatch: pytest.MonkeyPatch, pair: Pair
) -> None:
    monkeypatch.setattr(_FlakyStartPool, "starts", 0)
    monkeypatch.setattr(_FlakyStartPool, "message", "some other fault")
    monkeypatch.setattr(_executors, "ProcessPoolExecutor", _FlakyStartPool)
    with pytest.raises(ValueError, match="some other fault"):
        with Lab(pair, Store(":memory:"), jobs=2) as lab:
            lab.measure(ARMS, SEEDS)


def test_local_worker_dying_every_time_fails_only_its_trial(
    tmp_path: Path, pair: Pair, inline: dict[str, list[float]]
) -> None:
    victim = key_of(pair, Arm("keras"), 2)
    store = Store(tmp_path / "s.sqlite")
    fn = dying(tmp_path, [victim], times=99)
    with Lab(pair, store, jobs=2, retries=1, trial_fn=fn) as lab:
        got = metrics(lab.measure(ARMS, SEEDS))
    assert _faults.tries(tmp_path) == {victim: 2}  # 1 try + 1 retry
    assert [(f.arm, f.seed, f.attempts) for f in lab.failed] == [("keras", 2, 2)]
    assert math.isnan(got["keras"][2])
    got["keras"][2] = inline["keras"][2]
    assert got == inline  # every other trial, co-runners included, is fine
    assert store.records([victim])[victim].failed


def test_a_failed_trial_is_reused_until_pruned(
    tmp_path: Path, pair: Pair, inline: dict[str, list[float]]
) -> None:
    victim = key_of(pair, Arm("torch"), 0)
    store = Store(tmp_path / "s.sqlite")
    with Lab(pair, store, jobs=2, retries=0, trial_fn=dying(tmp_path, [victim], 99)):
        pass
    with Lab(
        pair, store, jobs=2, retries=0, trial_fn=dying(tmp_path, [victim], 99)
    ) as lab:
        lab.measure(ARMS, SEEDS)
    with Lab(pair, store) as again:
        got = metrics(again.measure(ARMS, SEEDS))
    assert again.trained == 0 and [f.seed for f in again.failed] == [0]
    assert math.isnan(got["torch"][0])

    assert store.prune(failed=True) == 1
    with Lab(pair, store) as healed:
        assert metrics(healed.measure(ARMS, SEEDS)) == inline
    assert healed.trained == 1 and not healed.failed


def test_search_goes_on_past_a_failed_trial(tmp_path: Path, pair: Pair) -> None:
    victim = key_of(pair, Arm("torch"), 1)
    strategy = get_strategy("ofat", seeds=5, alpha=0.05, margin=0.2)
    fn = dying(tmp_path, [victim], times=99)
    with Lab(pair, Store(":memory:"), jobs=2, retries=0, trial_fn=fn) as lab:
        verdict = strategy.run(lab)
    assert [(f.arm, f.seed) for f in lab.failed] == [("torch", 1)]
    assert verdict.trials_run > 0 and verdict.causes


def test_an_exception_in_a_trial_is_a_crash_and_not_retried(pair: Pair) -> None:
    with (
        pytest.raises(
            BackendError, match="trial (torch|keras) seed 1 failed: ValueError"
        ),
        Lab(pair, Store(":memory:"), jobs=2, trial_fn=_faults.raise_error) as lab,
    ):
        lab.measure(ARMS, SEEDS)


# -- Dask and Ray: one cluster per test, loopback only ------------------------


def engine_run(
    name: str, tmp_path: Path, pair: Pair
) -> tuple[dict[str, list[float]], Lab, str]:
    victim = key_of(pair, Arm("keras"), 3)
    fn = dying(tmp_path, [victim], times=99)
    with Lab(
        pair, Store(tmp_path / "s.sqlite"), jobs=2, executor=name, trial_fn=fn
    ) as lab:
        got = metrics(lab.measure(ARMS, SEEDS))
    return got, lab, victim


def check_engine_run(
    got: dict[str, list[float]],
    lab: Lab,
    victim: str,
    tmp_path: Path,
    inline: dict[str, list[float]],
) -> None:
    # The dying trial was tried 1 + retries (2) times, then recorded as failed;
    # every other outcome equals the in-process one, so the store is shared.
    assert _faults.tries(tmp_path) == {victim: 3}
    assert [(f.arm, f.seed, f.attempts) for f in lab.failed] == [("keras", 3, 3)]
    assert math.isnan(got["keras"][3])
    got["keras"][3] = inline["keras"][3]
    assert got == inline
    assert lab.trained == 8


def test_dask_local_cluster(
    tmp_path: Path, pair: Pair, inline: dict[str, list[float]]
) -> None:
    pytest.importorskip(
        "distributed", reason="the dask extra is not installed (bisect-ml[dask])"
    )
    check_engine_run(*engine_run("dask", tmp_path, pair), tmp_path, inline)


def test_ray_local_instance(
    tmp_path: Path, pair: Pair, inline: dict[str, list[float]]
) -> None:
    pytest.importorskip("ray", reason="the ray extra is not installed (bisect-ml[ray])")
    check_engine_run(*engine_run("ray", tmp_path, pair), tmp_path, inline)


@pytest.mark.parametrize(
    ("name", "modules", "extra"),
    [("dask", ("dask", "distributed"), "dask"), ("ray", ("ray",), "ray")],
)
def test_a_missing_engine_says_which_extra_to_install(
    name: str, modules: tuple[str, ...], extra: str
) -> None:
    hide = "; ".join(f"sys.modules[{m!r}] = None" for m in modules)
    code = (
        f"import sys; {hide}\n"
        "from bisect_ml.lab import get_executor\n"
        "try:\n"
        f"    get_executor({name!r})\n"
        "except Exception as err:\n"
        "    print(type(err).__name__, err)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.startswith("ExecutorError executor `" + name + "`: needs")
    assert f"pip install 'bisect-ml[{extra}]'" in out.stdout
