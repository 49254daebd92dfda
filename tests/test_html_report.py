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


# -- issue 6: everything the Markdown report says, in the HTML report ---------


@pytest.fixture(scope="module")
def adaptive(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Two causes (so a pair interaction test) with adaptive seeds."""
    doc = simulated_doc(
        [
            {"when": {"init.dense.kernel": "kaiming_uniform_sqrt5"}, "shift": 0.04},
            {"when": {"optimizer.epsilon_placement": "corrected"}, "shift": 0.02},
        ]
    )
    store = tmp_path_factory.mktemp("html") / "s.sqlite"
    return api.bisect(parse_pair(doc), store=store, seeds=5, max_seeds=15)


_SECTIONS = {
    "power": "Noise and power",
    "interactions": "Interactions between causes",
    "closure": "Closure, interactions and residual",
    "evidence": "Evidence",
    "decisions": "Decision log: why each decision stopped",
}


def test_report_has_every_markdown_section(adaptive) -> None:  # type: ignore[no-untyped-def]
    from bisect_ml.report import to_markdown

    page = to_html(adaptive)
    markdown = to_markdown(adaptive)
    assert adaptive.interactions and adaptive.decisions and adaptive.power
    for anchor, title in _SECTIONS.items():
        assert f"id='{anchor}'>{title}<" in page
    assert "Tests and corrections used" in page
    # The same sentences as the Markdown report, as HTML.
    assert "the gap is explained by the causes below" in markdown
    assert "The gap is explained by the causes below." in page
    assert "smallest gap detectable with 90% power" in page
    assert "adaptive seeds: looks at 5, 10, 15 seeds per arm" in page
    for d in adaptive.decisions:
        assert d.outcome in page
    for t in adaptive.tests:
        assert html_escape(t) in page
    pair = adaptive.interactions[0].factors
    assert f"<code>{pair[0]}</code> x <code>{pair[1]}</code>" in page
    assert "**" not in page and "`" not in page  # no Markdown left over


def html_escape(text: str) -> str:
    import html

    return html.escape(text).replace("`", "")


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium not installed")
def test_new_sections_render_in_headless_chromium(adaptive, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Chromium loads the page offline, decodes every plot, shows every section."""
    import re
    import subprocess
    import sys

    sys.path.insert(0, str(Path(__file__).parents[1] / "tools"))
    from screenshot_report import FLAGS

    probe = (
        "<script>window.addEventListener('load', () => {"
        "for (const img of document.images) img.setAttribute('data-w', "
        "img.naturalWidth); document.body.setAttribute('data-probe', 'loaded');"
        "});</script>"
    )
    page = tmp_path / "report.html"
    page.write_text(to_html(adaptive).replace("</body>", probe + "</body>"))
    dom = subprocess.run(
        [
            shutil.which("chromium") or "chromium",
            *FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            "--dump-dom",
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert 'data-probe="loaded"' in dom
    widths = [int(w) for w in re.findall(r'data-w="(\d+)"', dom)]
    assert len(widths) == 3 and min(widths) > 300  # every plot decoded
    shown = re.findall(r"<h[23][^>]*>([^<]+)<", dom)
    for title in _SECTIONS.values():
        assert title in shown
    log = dom[dom.index("Decision log") : dom.index("Trial log")]
    assert log.count("<tr>") == len(adaptive.decisions) + 1  # header and each
