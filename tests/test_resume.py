"""Issue 7: a killed, interrupted or concurrent bisection loses and repeats nothing.

The runs here are real `bisect-ml` processes with worker processes, on a
simulated pair whose trials take a little time (``simulation.seconds``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bisect_ml.lab import Arm, Lab, Progress, Store
from bisect_ml.scenario import bundled_scenarios, load_pair

BIN = [sys.executable, "-m", "bisect_ml.cli"]


def slow_scenario(folder: Path, seconds: float = 0.02) -> Path:
    text = bundled_scenarios()["sim-two-causes"].read_text()
    path = folder / "slow.toml"
    path.write_text(text.replace("noise = 0.01", f"noise = 0.01\nseconds = {seconds}"))
    return path


def start(folder: Path, store: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*BIN, "bisect", "slow.toml", "--store", str(store), "--out", "out", *extra],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        # A CI script started in the background (`cmd &`, no job control)
        # runs with SIGINT ignored, and a child inherits that: give the run
        # the default disposition a user's terminal gives it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def run(folder: Path, store: Path, *extra: str) -> dict:
    proc = start(folder, store, "-q", *extra)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return json.loads((folder / "out/sim-two-causes/report.json").read_text())


def comparable(report: dict) -> dict:
    """A report without what differs between a fresh and a resumed run."""
    return {
        k: v
        for k, v in report.items()
        if k not in ("trials", "seconds", "settings", "notes")
    }


def stored(store: Path) -> int:
    with _open(store) as s:
        return len(s)


class _open:
    def __init__(self, path: Path) -> None:
        self.store = Store(path, readonly=True)

    def __enter__(self) -> Store:
        return self.store

    def __exit__(self, *exc: object) -> None:
        self.store.close()


def children(pid: int) -> list[int]:
    out = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True
    ).stdout
    return [int(p) for p in out.split()]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "zombie" in status.read_text())


def assert_gone(pids: list[int], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in pids if alive(p)]


def wait_for_trials(store: Path, at_least: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if store.exists():
            try:
                if stored(store) >= at_least:
                    return
            except Exception:  # the store is being created
                pass
        time.sleep(0.05)
    raise AssertionError(f"fewer than {at_least} trials stored in {timeout}s")


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("reference")
    slow_scenario(folder, seconds=0.0)
    return run(folder, folder / "s.sqlite")


def test_kill_9_then_rerun_resumes_with_the_same_verdict(
    tmp_path: Path, reference: dict
) -> None:
    slow_scenario(tmp_path)
    store = tmp_path / "s.sqlite"
    proc = start(tmp_path, store, "--jobs", "2", "-q")
    wait_for_trials(store, 40)
    workers = children(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    kept, total = stored(store), reference["trials"]["run"]
    assert 40 <= kept < total

    resumed = run(tmp_path, store, "--jobs", "2")
    assert resumed["trials"]["run"] == total - kept  # nothing finished retrained
    assert comparable(resumed) == comparable(reference)
    assert_gone(workers)  # workers of the killed run exit by themselves


@pytest.mark.parametrize(
    ("sig", "code", "word"),
    [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")],
)
def test_sigint_and_sigterm_stop_cleanly_with_how_to_resume(
    tmp_path: Path, sig: int, code: int, word: str
) -> None:
    # 0.2 s a trial: 180 trials take 18 s, so a loaded machine that polls
    # the store late still signals a run that is far from done.
    slow_scenario(tmp_path, seconds=0.2)
    store = tmp_path / "s.sqlite"
    proc = start(tmp_path, store, "--jobs", "2", "-q")
    wait_for_trials(store, 10)
    assert proc.poll() is None, "the run ended before it could be signalled"
    workers = children(proc.pid)
    stopped = time.monotonic()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert time.monotonic() - stopped < 5
    assert proc.returncode == code
    assert f"bisect-ml: {word}" in err and "run the same command again" in err
    assert "Traceback" not in err
    assert_gone(workers)
    with _open(store) as s:
        assert s.info().claims == 0  # released for whoever comes next


def test_two_runs_on_one_store_share_the_work(tmp_path: Path, reference: dict) -> None:
    store = tmp_path / "s.sqlite"
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        slow_scenario(tmp_path / sub, seconds=0.01)
    procs = [start(tmp_path / sub, store, "-q") for sub in ("a", "b")]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    reports = [
        json.loads((tmp_path / sub / "out/sim-two-causes/report.json").read_text())
        for sub in ("a", "b")
    ]
    # Every trial trained once, by one of the two; both reach the same verdict.
    total = reference["trials"]["run"]
    assert sum(r["trials"]["run"] for r in reports) == total
    assert all(r["trials"]["run"] > 0 for r in reports)
    assert comparable(reports[0]) == comparable(reports[1]) == comparable(reference)
    assert stored(store) == total


def test_interrupted_lab_keeps_what_finished_and_releases_claims(
    tmp_path: Path,
) -> None:
    pair = load_pair("sim-two-causes")
    path = tmp_path / "s.sqlite"
    arms = [Arm("torch"), Arm("keras")]

    def stop_after_five(p: Progress) -> None:
        if p.done == 5:
            raise KeyboardInterrupt

    with (
        pytest.raises(KeyboardInterrupt),
        Lab(pair, Store(path), progress=stop_after_five) as lab,
    ):
        lab.measure(arms, range(10))
    store = Store(path)
    assert len(store) == 5 and store.info().claims == 0

    with Lab(pair, store) as lab:
        again = lab.measure(arms, range(10))
    assert (lab.cached, lab.trained) == (5, 15)
    with Lab(pair, Store(":memory:")) as fresh:
        expected = fresh.measure(arms, range(10))
    assert {a: [o.metric for o in v] for a, v in again.items()} == {
        a: [o.metric for o in v] for a, v in expected.items()
    }


def test_editing_a_data_file_changes_the_trial_key(tmp_path: Path) -> None:
    # Issue 7 (never train twice, never reuse a stale outcome): a trial reads
    # the data file, so its key follows the file's bytes, not only its path.
    from bisect_ml.lab import trial_key
    from bisect_ml.scenario import DataSpec, LayerSpec, Spec, TrainSpec

    data = tmp_path / "d.csv"
    data.write_text("a,label\n" + "\n".join(f"{i},{i % 2}" for i in range(20)))
    spec = Spec(
        data=DataSpec(path=str(data), target="label"),
        layers=(LayerSpec("dense", 2),),
        train=TrainSpec(epochs=1, loss="cross_entropy", from_logits=True),
    )
    before = trial_key(spec, {}, 0, "torch")
    assert trial_key(spec, {}, 0, "torch") == before
    data.write_text(data.read_text() + "\n99,1")
    assert trial_key(spec, {}, 0, "torch") != before


def test_a_factor_at_its_framework_default_leaves_the_key_alone() -> None:
    # A factor added to the catalogue that only names what a framework always
    # did must not orphan the trials already stored; a swapped value must
    # still change the key, and so must the side a simulated trial stands for.
    from bisect_ml.factors import default_assignment
    from bisect_ml.lab import trial_key
    from bisect_ml.scenario import load_pair

    spec = load_pair("sim-two-causes").spec
    torch = default_assignment("torch")
    key = trial_key(spec, torch, 0, "torch")
    assert trial_key(spec, {**torch, "new.factor": "x"}, 0, "torch") != key
    trimmed = {k: v for k, v in torch.items() if k != "train.shuffle"}
    assert trial_key(spec, trimmed, 0, "torch") == key
    swapped = {**torch, "train.shuffle": default_assignment("keras")["train.shuffle"]}
    assert trial_key(spec, swapped, 0, "torch") != key
    keras = default_assignment("keras")
    sim_torch = trial_key(spec, torch, 0, "simulated", framework="torch")
    sim_keras = trial_key(spec, keras, 0, "simulated", framework="keras")
    assert sim_torch != sim_keras
