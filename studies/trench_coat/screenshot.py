"""Screenshot of the study's HTML report for the docs, taken in Debian's Chromium.

    python studies/trench_coat/screenshot.py [REPORT.html] [OUT.png]

Defaults: ``studies/trench_coat/report.html`` -> ``docs/report_screenshot.png``. Needs
``apt-get install chromium`` and ``pip install playwright`` (no ``playwright install``: the
system's browser is used).
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

HERE = Path(__file__).resolve().parent
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]  # fmt: skip


def main() -> None:
    report = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "report.html"
    out = (
        Path(sys.argv[2])
        if len(sys.argv) > 2
        else HERE.parents[1] / "docs" / "report_screenshot.png"
    )
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1500})
        page.goto(report.resolve().as_uri(), wait_until="load")
        page.screenshot(path=str(out))
        browser.close()
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
