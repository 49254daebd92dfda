"""Reliability of bisect-ml: kills survived, bad inputs caught, executor speed.

Prints three tables:

1. **kill -9**: a simulated-backend bisection (sim-two-causes, every trial
   made to take ``--trial-seconds``) runs as a real ``bisect-ml`` process with
   ``--jobs 2`` worker processes, is killed with SIGKILL at a moment drawn
   uniformly over an uninterrupted run's duration (start-up, training, or
   writing the report), then re-run with the same command. A kill is survived
   when the re-run exits 0 with the verdict of an uninterrupted run. *Lost*
   trials were announced as stored by the killed run but are missing from the
   store; *retrained* trials were in the store before the re-run, yet the
   re-run trained them again. Goal: 20/20 survived, 0 lost, 0 retrained.
2. **bad input**: every case of the bad-input catalogue (`tests/_bad_inputs.py`)
   and a few bad flags, each a real ``bisect-ml bisect`` process with a fresh
   store path. A clear error is exit 2, one line on stderr that names the file
   (and the key), no traceback, and no store file; an unexpected error is one
   line "internal error" with exit 1. Goal: >= 200 tried, 0 tracebacks.
3. **throughput**: the same trials on the local pool, a Dask LocalCluster and
   a local Ray instance (2 workers each, loopback only), with start-up time
   apart. Engines that are not installed are reported as such.

    python benchmarks/reliability.py [--kills 20] [--seed 0] [--trial-seconds 0.05]
        [--skip-bad] [--skip-speed]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BIN = [sys.executable, "-m", "bisect_ml.cli"]
STORED = re.compile(r"trial ([0-9a-f]{64}) stored")


def _scenario(folder: Path, seconds: float) -> Path:
    from bisect_ml.scenario import bundled_scenarios

    text = bundled_scenarios()["sim-two-causes"].read_text()
    path = folder / "slow.toml"
    path.write_text(text.replace("noise = 0.01", f"noise = 0.01\nseconds = {seconds}"))
    return path


def _keys(store: Path) -> set[str]:
    import sqlite3

    if not store.exists():
        return set()
    db = sqlite3.connect(f"{store.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return {k for (k,) in db.execute("SELECT key FROM trials")}
    except sqlite3.DatabaseError:
        return set()  # killed before the schema was written
    finally:
        db.close()


def _verdict(folder: Path) -> dict:
    report = json.loads((folder / "out/sim-two-causes/report.json").read_text())
    return {k: v for k, v in report.items() if k not in ("trials", "seconds")}


def _bisect(folder: Path, store: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            *BIN,
            "bisect",
            "slow.toml",
            "--store",
            str(store),
            "--out",
            "out",
            "--jobs",
            "2",
            "-q",
            "--debug",
        ],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _orphans(before: set[int]) -> list[int]:
    """Worker processes started since ``before`` that outlived their parent."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        pid = int(status.parent.name)
        if pid in before:
            continue
        try:
            text = status.read_text()
            cmd = (status.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if b"multiprocessing" in cmd and re.search(r"PPid:\s+1\n", text):
            found.append(pid)
    return found


def kills(n: int, seed: int, trial_seconds: float) -> dict[str, object]:
    rng = random.Random(seed)
    folder = Path(tempfile.mkdtemp(prefix="bisect-ml-kill-"))
    _scenario(folder, trial_seconds)
    before = {int(p.name) for p in Path("/proc").glob("[0-9]*")}

    start = time.perf_counter()
    ref = _bisect(folder, folder / "reference.sqlite")
    ref.communicate()
    t_ref = time.perf_counter() - start
    if ref.returncode != 0:
        raise SystemExit(f"the reference run failed with {ref.returncode}")
    reference = _verdict(folder)
    total = len(_keys(folder / "reference.sqlite"))
    print(
        f"reference run: {total} trials in {t_ref:.1f}s (jobs 2, "
        f"{trial_seconds}s a trial)"
    )

    survived = lost = retrained = 0
    rows = []
    phases: dict[str, int] = {}
    for i in range(n):
        store = folder / f"kill{i}.sqlite"
        at = rng.uniform(0.05, t_ref * 0.95)
        proc = _bisect(folder, store)
        time.sleep(at)
        proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate()
        announced = set(STORED.findall(err))
        kept = _keys(store)
        lost_here = len(announced - kept)

        again = _bisect(folder, store)
        _, err2 = again.communicate()
        trained_again = set(STORED.findall(err2))
        retrained_here = len(trained_again & kept)
        ok = (
            again.returncode == 0
            and _verdict(folder) == reference
            and lost_here == 0
            and retrained_here == 0
            and len(_keys(store)) == total
        )
        survived += ok
        lost += lost_here
        retrained += retrained_here
        phase = "start-up" if not kept else "training" if len(kept) < total else "after"
        phases[phase] = phases.get(phase, 0) + 1
        rows.append(
            (
                i + 1,
                at,
                phase,
                len(kept),
                len(trained_again),
                lost_here,
                retrained_here,
                "yes" if ok else "NO",
            )
        )

    print(
        "\n| kill | at s | phase | stored at kill | trained by re-run | lost |"
        " retrained | survived |\n|---|---|---|---|---|---|---|---|"
    )
    for r in rows:
        print(
            "| "
            + " | ".join(f"{v:.2f}" if isinstance(v, float) else str(v) for v in r)
            + " |"
        )
    time.sleep(2)  # workers of killed runs notice their parent died
    orphans = _orphans(before)
    return {
        "kills survived": f"{survived}/{n}",
        "kills by phase": ", ".join(f"{k} {v}" for k, v in phases.items()),
        "trials lost": lost,
        "trials retrained": retrained,
        "orphan worker processes left": len(orphans),
    }


def _bad_case(args: tuple[int, object, Path]) -> tuple[str, bool, bool, str]:
    """(name, clear error, traceback, first stderr line) of one bad input."""
    i, case, root = args
    folder = root / f"case{i}"
    path = case.write(folder)  # type: ignore[attr-defined]
    store = folder / "store.sqlite"
    proc = subprocess.run(
        [*BIN, "bisect", str(path), "--store", str(store), "-q"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = proc.stderr.strip().splitlines()
    traceback = "Traceback" in proc.stderr
    clear = (
        proc.returncode == 2
        and len(lines) == 1
        and str(path) in lines[0]
        and case.expect in lines[0]  # type: ignore[attr-defined]
        and not traceback
        and not store.exists()
        and not (folder / "PWNED").exists()
    )
    return case.name, clear, traceback, lines[-1] if lines else ""  # type: ignore[attr-defined]


def bad_inputs() -> dict[str, object]:
    from tests._bad_inputs import catalogue

    cases = catalogue()
    root = Path(tempfile.mkdtemp(prefix="bisect-ml-bad-"))
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(_bad_case, [(i, c, root) for i, c in enumerate(cases)]))

    flags = [
        ["bisect", "sim-two-causes", "--seeds", "1"],
        ["bisect", "sim-two-causes", "--jobs", "0"],
        ["bisect", "sim-two-causes", "--executor", "spark"],
        ["bisect", "sim-two-causes", "--retries", "-1"],
        ["bisect", "sim-two-causes", "--strategy", "magic"],
        ["bisect", "sim-two-causes", "--address", "tcp://127.0.0.1:9"],
        ["store", "prune"],
        ["store", "prune", "--older-than", "soon"],
    ]
    for args in flags:
        store = root / "flag.sqlite"
        proc = subprocess.run(
            [*BIN, *args],
            capture_output=True,
            text=True,
            env=dict(os.environ, BISECT_ML_STORE=str(store)),
        )
        tb = "Traceback" in proc.stderr
        clear = proc.returncode == 2 and not tb and not store.exists()
        results.append((" ".join(args), clear, tb, proc.stderr.strip()[-200:]))

    unclear = [r for r in results if not r[1]]
    for name, _, tb, line in unclear:
        print(f"  not clear: {name}{' (traceback)' if tb else ''}: {line[:160]}")
    return {
        "bad inputs tried": len(results),
        "clear errors": len(results) - len(unclear),
        "tracebacks": sum(r[2] for r in results),
    }


def throughput(trials: int, seconds: float) -> list[tuple[str, str, str, str]]:
    from bisect_ml.lab import Arm, Lab, Store
    from bisect_ml.scenario import load_pair

    folder = Path(tempfile.mkdtemp(prefix="bisect-ml-speed-"))
    pair = load_pair(_scenario(folder, seconds))
    arms = [Arm("torch"), Arm("keras")] + [
        Arm(fw, frozenset({f})) for f in pair.differing() for fw in ("torch", "keras")
    ]
    seeds = range(-(-trials // len(arms)))
    rows = []
    reference = None
    for name, module in (("local", None), ("dask", "distributed"), ("ray", "ray")):
        if module is not None:
            try:
                __import__(module)
            except ImportError:
                rows.append((name, "not installed", "-", "-"))
                continue
        start = time.perf_counter()
        with Lab(pair, Store(":memory:"), jobs=2, executor=name) as lab:
            lab.measure(arms[:1], range(10_000, 10_002))  # start-up, warm workers
            warm = time.perf_counter()
            got = lab.measure(arms, seeds)
            done = time.perf_counter()
        metrics = {a: [o.metric for o in v] for a, v in got.items()}
        reference = reference or metrics
        n = len(arms) * len(seeds)
        rows.append(
            (
                name,
                f"{warm - start:.1f}",
                f"{n / (done - warm):.1f}",
                "yes" if metrics == reference else "NO",
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--trial-seconds", type=float, default=0.05)
    parser.add_argument("--skip-bad", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    args = parser.parse_args()

    print("## kill -9 at random points, then re-run\n")
    for k, v in kills(args.kills, args.seed, args.trial_seconds).items():
        print(f"{k}: {v}")

    if not args.skip_bad:
        print("\n## bad inputs through the CLI\n")
        for k, v in bad_inputs().items():
            print(f"{k}: {v}")

    if not args.skip_speed:
        print("\n## trial throughput, 2 workers, same trials\n")
        for trials, seconds in ((160, 0.05), (400, 0.0)):
            print(f"\n{trials} trials of {seconds}s:\n")
            print("| executor | start-up s | trials/s | same outcomes |")
            print("|---|---|---|---|")
            for row in throughput(trials, seconds):
                print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
