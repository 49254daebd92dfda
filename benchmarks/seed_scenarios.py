"""Cold and cached wall time of `bisect-ml bisect` on each seed scenario.

Prints, per scenario: trials trained, cold wall time, cached re-run wall time,
the gap with its interval, and the causes found. Each run is a whole process
(`bisect-ml bisect ... --store <fresh file>`), so framework imports count.

    python benchmarks/seed_scenarios.py [--jobs 2] [NAMES...]

Goals (issue #2): each verdict under 5 minutes cold on 2 CPU cores, under 5 s
re-run; `bisect-ml --help` under 0.3 s without importing torch or TensorFlow.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SEED_SCENARIOS = [
    "seed-init",
    "seed-preprocess",
    "seed-window",
    "seed-adam",
    "seed-adam-noise",
    "seed-article",
]
BIN = [sys.executable, "-m", "bisect_ml.cli"]


def _run(args: list[str]) -> tuple[float, int]:
    start = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True)
    return time.perf_counter() - start, proc.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=SEED_SCENARIOS)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument(
        "--out", type=Path, default=None, help="keep the reports in this folder"
    )
    args = parser.parse_args()

    help_times = [_run([*BIN, "--help"])[0] for _ in range(5)]
    print(f"bisect-ml --help: median {sorted(help_times)[2]:.3f} s over 5 runs")
    print()
    header = (
        f"{'scenario':16} {'exit':>4} {'trials':>6} {'cold s':>7} "
        f"{'cached s':>8}  gap [95% CI]                 causes"
    )
    print(header)
    print("-" * len(header))
    for name in args.names:
        with tempfile.TemporaryDirectory() as tmp:
            store = Path(tmp) / "s.sqlite"
            out = args.out or Path(tmp) / "out"
            cmd = [
                *BIN,
                "bisect",
                name,
                "--store",
                str(store),
                "--out",
                str(out),
                "--jobs",
                str(args.jobs),
                "--quiet",
            ]
            cold, code = _run(cmd)
            cached, _ = _run(cmd)
            report = json.loads((out / name / "report.json").read_text())
        gap = report["gap"]
        lo, hi = gap["ci"]
        causes = (
            ", ".join(
                f"{c['factor']} {c['share']['estimate']:.0%}" for c in report["causes"]
            )
            or "-"
        )
        trials = report["trials"]["run"] + report["trials"]["cached"]
        print(
            f"{name:16} {code:>4} {trials:>6} {cold:>7.1f} {cached:>8.1f}  "
            f"{gap['estimate']:+.4f} [{lo:+.4f}, {hi:+.4f}]   {causes}"
        )


if __name__ == "__main__":
    main()
