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

    The command recorded, run from ``folder``, re-runs the same bisection on the
    copied scenario file
    with the same seeds (and seed cap and step, when seeds were adaptive),
    strategy and trial budget; ``repro.json`` records them under ``seeding``.
    The library versions recorded are those the trials ran with, and the store
    key of every trial includes them, so a run with other versions trains
    afresh instead of reusing stale outcomes. ``argv`` is the command line as
    typed, program name first; it is kept as ``original_command``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    scenario = folder / "scenario.toml"
    if pair.path and Path(pair.path).is_file():
        shutil.copyfile(pair.path, scenario)
    looks = [int(n) for n in verdict.settings.get("looks") or [len(verdict.seeds)]]
    seeding = {
        "seeds_per_arm": len(verdict.seeds),
        "max_seeds": looks[-1],
        "seed_step": looks[1] - looks[0] if len(looks) > 1 else None,
        "looks": looks,
        "first_seed": verdict.seeds[0],
    }
    command = [
        "bisect-ml",
        "bisect",
        scenario.name,
        "--seeds",
        str(len(verdict.seeds)),
        "--strategy",
        verdict.strategy,
    ]
    if len(looks) > 1:
        command += ["--max-seeds", str(looks[-1])]
        command += ["--seed-step", str(seeding["seed_step"])]
    if verdict.settings.get("max_trials") is not None:
        command += ["--max-trials", str(verdict.settings["max_trials"])]
    versions = {
        **{k: str(v) for k, v in verdict.versions.items()},
        "bisect-ml": bisect_ml.__version__,
        "python": sys.version.split()[0],
    }
    info = {
        "pair": verdict.pair,
        "command": shlex.join(command),
        "original_command": shlex.join(argv),
        "seeds": list(verdict.seeds),
        "seeding": seeding,
        "settings": verdict.settings,
        "versions": versions,
        "platform": platform.platform(),
        "status": verdict.status.value,
    }
    (folder / "repro.json").write_text(json.dumps(info, indent=2) + "\n")
    listed = ", ".join(f"{k} {v}" for k, v in sorted(versions.items()))
    (folder / "REPRODUCE.md").write_text(
        f"# Reproduce `{verdict.pair}`\n\n"
        f"From this folder:\n\n```bash\n{info['command']}\n```\n\n"
        f"Seeds {verdict.seeds[0]}..{verdict.seeds[-1]} per arm"
        + (
            f", adaptive up to {looks[-1]} (looks at {', '.join(map(str, looks))})"
            if len(looks) > 1
            else ""
        )
        + f"; versions: {listed}; platform: {info['platform']}.\n"
    )
    return folder
