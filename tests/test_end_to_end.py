"""One real run of the CLI with both frameworks, on a tiny scenario."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.frameworks

TINY = """
[scenario]
name = "tiny"
description = "digits, 300 samples, a small MLP, 2 epochs; the sides differ in Adam."

[data]
dataset = "digits"
max_samples = 300

[model]
layers = [
  { type = "dense", units = 16, activation = "relu" },
  { type = "dense", units = 10, activation = "linear" },
]

[train]
epochs = 2
loss = "cross_entropy"
from_logits = true

[sides.torch]
train.batch_size = 32
preprocess.scale = "unit"
init.dense.kernel = "glorot_uniform"
init.dense.bias = "zeros"
optimizer.learning_rate = 0.01

[sides.keras]
train.shuffle = {shuffle}

[search]
seeds = 3
"""


def test_bisect_with_both_frameworks_then_from_the_store(tmp_path: Path) -> None:
    from bisect_ml.factors import registry

    shuffle = registry["train.shuffle"].default("torch")
    (tmp_path / "tiny.toml").write_text(TINY.replace("{shuffle}", json.dumps(shuffle)))
    env = dict(os.environ, BISECT_ML_STORE=str(tmp_path / "store.sqlite"))
    cmd = [
        sys.executable,
        "-m",
        "bisect_ml.cli",
        "bisect",
        "tiny.toml",
        "--jobs",
        "2",
        "--out",
        "out",
        "-q",
    ]

    first = subprocess.run(
        cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert first.returncode in (0, 3, 4, 5), first.stderr
    report = json.loads((tmp_path / "out/tiny/report.json").read_text())
    assert report["candidates"] == [
        "optimizer.learning_rate",
        "optimizer.epsilon",
        "optimizer.epsilon_placement",
    ]
    backends = {arm["label"]: arm["backend"] for arm in report["arms"]}
    assert backends["torch"] == "torch" and backends["keras"] == "keras"
    assert report["versions"]["torch"].startswith("2.13")
    assert report["versions"]["keras"].startswith("3.")
    assert all(len(arm["values"]) == 3 for arm in report["arms"])
    assert report["trials"]["run"] == len(report["arms"]) * 3

    second = subprocess.run(
        cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert second.returncode == first.returncode
    again = json.loads((tmp_path / "out/tiny/report.json").read_text())
    assert again["trials"] == {"run": 0, "cached": report["trials"]["run"]}
    assert again["gap"] == report["gap"]
