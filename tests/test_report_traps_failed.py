"""Every report carries what a reader must see: the pair's known traps (issue
#3's `diff` warnings, now shown by `bisect` too) and each arm's failed trials
(issue #4), in Markdown, JSON and HTML, and again from a stored run."""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bisect_ml import api
from bisect_ml.lab import Arm, Lab, Store, arm_key
from bisect_ml.report import to_html, to_json, to_markdown
from bisect_ml.report._state import verdict_from_state, verdict_state
from bisect_ml.scenario import load_pair, parse_pair
from bisect_ml.strategies import get_strategy
from bisect_ml.verdict import Verdict
from tests import _faults
from tests._bad_inputs import toml
from tests._helpers import simulated_doc

_EFFECTS = [{"when": {"init.dense.kernel": "glorot_uniform"}, "shift": 0.05}]
_TRAP_KEY = "sides.torch.train.batch_size"


def _trapped_doc() -> dict[str, Any]:
    """A simulated pair whose torch side leaves its batch size unset: the
    ``torch-batch-size-1`` trap."""
    doc = simulated_doc(_EFFECTS)
    del doc["sides"]["torch"]["train"]
    return doc


@pytest.fixture(scope="module")
def trapped(tmp_path_factory: pytest.TempPathFactory) -> tuple[Verdict, list[Any]]:
    seen: list[Any] = []
    store = tmp_path_factory.mktemp("traps") / "s.sqlite"
    verdict = api.bisect(
        parse_pair(_trapped_doc()), store=store, seeds=4, on_traps=seen.extend
    )
    return verdict, seen


def test_bisect_hands_over_the_traps_before_training_and_keeps_them(
    trapped: tuple[Verdict, list[Any]],
) -> None:
    verdict, seen = trapped
    assert [(t.code, t.key) for t in seen] == [("torch-batch-size-1", _TRAP_KEY)]
    (kept,) = verdict.settings["warnings"]
    assert kept["code"] == "torch-batch-size-1" and kept["key"] == _TRAP_KEY
    assert kept["message"] == seen[0].message


def test_markdown_json_and_html_show_the_warnings(
    trapped: tuple[Verdict, list[Any]],
) -> None:
    verdict, seen = trapped
    md = to_markdown(verdict)
    section = md.split("## Warnings\n", 1)[1].split("\n## ", 1)[0]
    assert f"- [torch-batch-size-1] `{_TRAP_KEY}`: {seen[0].message}" in section
    # It comes first, right under the verdict, where a reader starts.
    assert md.index("## Warnings") < md.index("## Gap")

    report = json.loads(to_json(verdict))
    assert report["warnings"] == [
        {
            "code": "torch-batch-size-1",
            "factor": "train.batch_size",
            "side": "torch",
            "key": _TRAP_KEY,
            "message": seen[0].message,
        }
    ]
    assert "warnings" not in report["settings"]

    page = to_html(verdict)
    assert "<h2 id='warnings'>Warnings</h2>" in page
    assert f"<code>{_TRAP_KEY}</code>" in page
    assert page.index("id='warnings'") < page.index("<h2>Gap</h2>")


def test_a_pair_without_traps_has_no_warnings_section(tmp_path: Path) -> None:
    verdict = api.bisect(
        parse_pair(simulated_doc(_EFFECTS)), store=tmp_path / "s.sqlite", seeds=3
    )
    assert verdict.settings["warnings"] == []
    assert "## Warnings" not in to_markdown(verdict)
    assert json.loads(to_json(verdict))["warnings"] == []
    assert "id='warnings'" not in to_html(verdict)


def test_the_cli_warns_on_stderr_and_a_stored_run_still_shows_them(
    tmp_path: Path,
) -> None:
    path = tmp_path / "pair.toml"
    path.write_text(toml(_trapped_doc()), encoding="utf-8")
    env = dict(os.environ, BISECT_ML_STORE=str(tmp_path / "s.sqlite"))

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "bisect_ml.cli", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    run = cli("bisect", str(path), "--seeds", "5", "-q", "--out", "out")
    assert run.returncode == 0, run.stderr
    first = run.stderr.splitlines()[0]
    assert first.startswith(
        f"bisect-ml: warning: {path}: [torch-batch-size-1] `{_TRAP_KEY}`: "
    )
    assert "## Warnings" in run.stdout
    written = json.loads((tmp_path / "out/t/report.json").read_text())
    assert [w["code"] for w in written["warnings"]] == ["torch-batch-size-1"]

    again = cli("report", "latest")
    assert again.returncode == 0, again.stderr
    assert again.stdout == run.stdout
    stored = json.loads(cli("report", "latest", "-f", "json").stdout)
    assert stored["warnings"] == written["warnings"]


# -- failed trials per arm (issue #4) ---------------------------------------------


@pytest.fixture(scope="module")
def one_failed(tmp_path_factory: pytest.TempPathFactory) -> Verdict:
    """sim-two-causes with torch's seed 1 failed: its worker always dies."""
    folder = tmp_path_factory.mktemp("failed")
    pair = load_pair("sim-two-causes")
    victim = Arm("torch")
    key = arm_key(pair, victim, 1)
    fn = functools.partial(_faults.die, str(folder), (key,), 99)
    strategy = get_strategy("ofat", seeds=4, alpha=0.05, margin=0.2)
    with Lab(pair, Store(":memory:"), jobs=2, retries=0, trial_fn=fn) as lab:
        return strategy.run(lab)


def test_json_arms_count_failed_trials(one_failed: Verdict) -> None:
    arms = {a["label"]: a for a in json.loads(to_json(one_failed))["arms"]}
    assert (arms["torch"]["failed"], arms["torch"]["diverged"]) == (1, 1)
    assert arms["torch"]["values"][1] is None
    assert all(a["failed"] == 0 for label, a in arms.items() if label != "torch")
    assert {a.label: a.failed for a in one_failed.arms} == {
        label: a["failed"] for label, a in arms.items()
    }


def test_html_arm_table_counts_failed_trials(one_failed: Verdict) -> None:
    page = to_html(one_failed)
    log = page.split("<h3>Trial log</h3>", 1)[1]
    header = re.search(r"<tr>(<th>.*?)</tr>", log)
    assert header is not None
    names = re.findall(r"<th>(.*?)</th>", header.group(1))
    column = names.index("of them failed")
    rows = {
        cells[0]: cells
        for cells in (
            re.findall(r"<td>(.*?)</td>", r)
            for r in re.findall(r"<tr>(<td>.*?)</tr>", log)
        )
    }
    assert rows["torch"][column] == "1"
    assert all(r[column] == "0" for label, r in rows.items() if label != "torch")


def test_failed_counts_survive_the_stored_state(one_failed: Verdict) -> None:
    back = verdict_from_state(verdict_state(one_failed))
    assert to_json(back) == to_json(one_failed)
    assert to_html(back) == to_html(one_failed)
