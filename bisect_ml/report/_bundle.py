"""The repro bundle written next to a report: enough for someone else to re-run it."""

from __future__ import annotations

import json
import platform
import shlex
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import bisect_ml

if TYPE_CHECKING:
    from bisect_ml.scenario import Pair
    from bisect_ml.verdict import Verdict

__all__ = ["write_bundle"]


def write_bundle(folder: Path, pair: Pair, verdict: Verdict, argv: list[str]) -> Path:
    """Write ``scenario.toml``, ``repro.json`` and ``REPRODUCE.md`` into ``folder``.

    The command recorded re-runs the same bisection on the copied scenario file
    with the same seeds and strategy; the library versions recorded are those the
    trials ran with, and the store key of every trial includes them, so a run
    with other versions trains afresh instead of reusing stale outcomes.
    """
    folder.mkdir(parents=True, exist_ok=True)
    scenario = folder / "scenario.toml"
    if pair.path and Path(pair.path).is_file():
        shutil.copyfile(pair.path, scenario)
    command = [
        "bisect-ml",
        "bisect",
        str(scenario),
        "--seeds",
        str(len(verdict.seeds)),
        "--strategy",
        verdict.strategy,
    ]
    versions = {
        **{k: str(v) for k, v in verdict.versions.items()},
        "bisect-ml": bisect_ml.__version__,
        "python": sys.version.split()[0],
    }
    info = {
        "pair": verdict.pair,
        "command": shlex.join(command),
        "original_command": shlex.join(["bisect-ml", *argv]),
        "seeds": list(verdict.seeds),
        "settings": verdict.settings,
        "versions": versions,
        "platform": platform.platform(),
        "status": verdict.status.value,
    }
    (folder / "repro.json").write_text(json.dumps(info, indent=2) + "\n")
    listed = ", ".join(f"{k} {v}" for k, v in sorted(versions.items()))
    (folder / "REPRODUCE.md").write_text(
        f"# Reproduce `{verdict.pair}`\n\n"
        f"```bash\n{info['command']}\n```\n\n"
        f"Seeds {verdict.seeds[0]}..{verdict.seeds[-1]}; versions: {listed}; "
        f"platform: {info['platform']}.\n"
    )
    return folder
