"""`bisect-ml factors [NAME]`: the catalogue by area, and one factor explained."""

from __future__ import annotations

import re
import sysconfig
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bisect_ml.cli import app
from bisect_ml.factors import CASES, EXPLANATIONS, explanation, registry
from bisect_ml.factors import _explain as explain_module

runner = CliRunner()
PUBLIC_CASES = Path("/work/shared/PUBLIC_CASES.md")


@pytest.mark.parametrize("name", list(registry))
def test_every_registered_factor_is_explained(name: str) -> None:
    text = explanation(name)
    for part in (text.differs, text.matters):
        assert len(part) >= 20 and part.endswith(".") and "TODO" not in part
    assert set(text.cases) <= set(CASES), set(text.cases) - set(CASES)


def test_no_explanation_of_a_factor_that_does_not_exist() -> None:
    assert sorted(set(EXPLANATIONS) - set(registry)) == []


def test_the_end_marker_closes_the_mapping() -> None:
    # Other changes insert their entries before it: it must stay last.
    lines = Path(explain_module.__file__).read_text().rstrip().splitlines()
    assert lines[-2:] == ["    # -- end of explanations --", "}"]


@pytest.mark.skipif(not PUBLIC_CASES.exists(), reason="design documents absent")
def test_cited_cases_exist_in_the_public_cases_document() -> None:
    document = PUBLIC_CASES.read_text()
    missing = [c for c in CASES if f"**{c}:" not in document]
    assert missing == []


def test_source_files_named_by_a_factor_are_installed() -> None:
    # Where a default was read must be a file of the installed libraries (C++
    # sources of TensorFlow are not installed and are exempt).
    site = Path(sysconfig.get_paths()["purelib"])
    missing = [
        (f.name, path)
        for f in registry.values()
        for path in re.findall(r"\b((?:torch|keras|tensorflow)/[\w/]+\.py)\b", f.source)
        if not (site / path).is_file()
    ]
    assert missing == []


def test_factors_lists_every_factor_under_its_area_heading() -> None:
    result = runner.invoke(app, ["factors"])
    assert result.exit_code == 0
    headings = re.findall(r"^## (\S+)$", result.stdout, flags=re.M)
    assert headings == list(registry.areas())
    assert {"init", "preprocess", "layers", "norm", "loss", "optimizer", "train"} <= (
        set(headings)
    )
    # Each factor's row sits below its own area's heading.
    area = ""
    seen = []
    for line in result.stdout.splitlines():
        if line.startswith("## "):
            area = line[3:]
        elif line.startswith("| `"):
            name = line.split("`")[1]
            assert registry[name].area == area
            seen.append(name)
    assert seen == [f.name for fs in registry.areas().values() for f in fs]


def test_factors_name_explains_one_factor() -> None:
    result = runner.invoke(app, ["factors", "norm.batch.momentum"])
    assert result.exit_code == 0
    out = result.stdout
    for heading in (
        "What differs",
        "Why it matters",
        "How bisect-ml applies it",
        "Where the defaults were read (installed sources)",
        "Public reports (PUBLIC_CASES.md)",
    ):
        assert f"\n{heading}\n" in out
    assert "  torch default  0.1\n  keras default  0.01\n" in out
    assert "a candidate    when the sides differ in it, for models with a " in out
    assert "torch/nn/modules/batchnorm.py" in out and "R05: Ludwig" in out
    assert max(len(line) for line in out.splitlines() if "github" not in line) <= 88


def test_factors_name_lists_choices_with_their_meaning() -> None:
    result = runner.invoke(app, ["factors", "loss.target_shape"])
    assert result.exit_code == 0
    assert "    matched    prediction i against target i" in result.stdout
    assert "for mean squared error" in result.stdout


@pytest.mark.parametrize(
    ("prefix", "area"), [("optimizer", "optimizer"), ("init.recurrent", "init")]
)
def test_factors_prefix_lists_one_area(prefix: str, area: str) -> None:
    result = runner.invoke(app, ["factors", prefix])
    assert result.exit_code == 0
    names = re.findall(r"^\| `([^`]+)`", result.stdout, flags=re.M)
    assert names == [f.name for f in registry.with_prefix(prefix)]
    assert names and all(n.startswith(prefix + ".") for n in names)
    assert all(registry[n].area == area for n in names)


@pytest.mark.parametrize(
    ("name", "closest"),
    [
        ("optimzer.epsilon", "optimizer.epsilon"),
        ("norm.batch.momentom", "norm.batch.momentum"),
        ("epsilom", "optimizer.epsilon"),
    ],
)
def test_unknown_factor_is_one_line_with_the_closest_names(
    name: str, closest: str
) -> None:
    result = runner.invoke(app, ["factors", name])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(
        f"bisect-ml: error: `{name}` is neither a factor nor an area; closest: "
    )
    assert closest in lines[0].split("closest: ")[1].split(", ")


def test_nothing_close_points_at_the_catalogue() -> None:
    result = runner.invoke(app, ["factors", "zzzz"])
    assert result.exit_code == 2
    assert result.stderr == (
        "bisect-ml: error: `zzzz` is neither a factor nor an area; "
        "`bisect-ml factors` lists them\n"
    )
