"""The HTML report: self-contained, with every plot, and renders in a browser."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bisect_ml import api
from bisect_ml.report._html import to_html
from bisect_ml.scenario import parse_pair
from tests._helpers import simulated_doc


@pytest.fixture(scope="module")
def verdict(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    doc = simulated_doc(
        [
            {"when": {"init.dense.kernel": "kaiming_uniform_sqrt5"}, "shift": 0.05},
            {"when": {"preprocess.scale": "symmetric"}, "shift": -0.01},
        ]
    )
    store = tmp_path_factory.mktemp("html") / "s.sqlite"
    return api.bisect(parse_pair(doc), store=store)


def test_report_is_self_contained_with_all_plots(verdict) -> None:  # type: ignore[no-untyped-def]
    page = to_html(verdict)
    assert page.startswith("<!doctype html>")
    # Distributions, shares, training curves.
    assert page.count("src='data:image/png;base64,") == 3
    assert "http://" not in page and "https://" not in page
    assert "init.dense.kernel" in page and "Trial log" in page
    assert "numpy" in page  # the environment section


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium not installed")
def test_report_renders_in_headless_chromium(verdict, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import sys

    sys.path.insert(0, str(Path(__file__).parents[1] / "tools"))
    from screenshot_report import screenshot

    html = tmp_path / "report.html"
    html.write_text(to_html(verdict), encoding="utf-8")
    png = tmp_path / "report.png"
    screenshot(html, png, height=2400)
    assert png.stat().st_size > 20_000
