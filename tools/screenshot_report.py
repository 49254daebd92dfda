"""Render an HTML report and photograph it in headless Chromium.

    python tools/screenshot_report.py REPORT.html OUT.png

Checks that the page loads with no network (every plot is an embedded image)
and writes a full-page screenshot to look at. Needs Debian's `chromium`.
Exit 0 on success, 1 when the page or the screenshot looks wrong.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def screenshot(html: Path, png: Path, height: int = 4000) -> None:
    """Write a 1200 x ``height`` screenshot of ``html`` to ``png``."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise FileNotFoundError("chromium is not installed (apt-get install chromium)")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                browser,
                *FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size=1200,{height}",
                f"--screenshot={png}",
                html.resolve().as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )


def main() -> int:
    html, png = Path(sys.argv[1]), Path(sys.argv[2])
    text = html.read_text(encoding="utf-8")
    if "http://" in text or "https://" in text:
        print("the report refers to the network", file=sys.stderr)
        return 1
    screenshot(html, png)
    size = png.stat().st_size
    print(f"{png}: {size} bytes, {text.count('data:image/png')} embedded plots")
    return 0 if size > 20_000 else 1


if __name__ == "__main__":
    sys.exit(main())
