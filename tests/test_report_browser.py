"""The HTML report in a real browser: Debian's Chromium driven by Playwright (no browser
download: ``executable_path``). The page loads without console errors or network requests,
every figure renders with a non-zero size, sorting a column reorders the rows, and a
screenshot is written.

Skipped when Chromium or Playwright is absent, unless ``METRICRM_REQUIRE_BROWSER=1`` (set by
``.ci/run``, which installs Chromium): then their absence fails the test.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import metricrm as mr
from metricrm.cli import main

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync",
]  # fmt: skip
TIMEOUT_MS = 30_000


def _chromium() -> str:
    required = os.environ.get("METRICRM_REQUIRE_BROWSER") == "1"
    path = os.environ.get("METRICRM_CHROMIUM") or shutil.which("chromium") or next(
        (p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if Path(p).is_file()), None
    )  # fmt: skip
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        if required:
            pytest.fail("METRICRM_REQUIRE_BROWSER=1 but playwright is not installed")
        pytest.skip("playwright is not installed")
    if path is None:
        if required:
            pytest.fail("METRICRM_REQUIRE_BROWSER=1 but no chromium executable was found")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return path


STUDY = Path(__file__).resolve().parents[1] / "studies" / "trench_coat"


@pytest.fixture(scope="module", params=["sample", "trench_coat"])
def report(request, tmp_path_factory):
    """The report of a fresh run on the built-in samples, and the report of the committed
    trench-coat study with its own SVG figures (the README's screenshot)."""
    pytest.importorskip("matplotlib")
    folder = tmp_path_factory.mktemp("browser")
    out = folder / "report.html"
    if request.param == "trench_coat":
        figures = [a for f in sorted((STUDY / "figures").glob("*.svg")) for a in ("--figure", f)]
        assert figures, "the study's figures/*.svg are committed"
        argv = ["report", str(STUDY / "results.csv"), "-o", str(out), *map(str, figures)]
        assert main(argv) == 0
        return out
    table = mr.meta_evaluate(
        ["bleu", "chrf", "ter", "length_chars"],
        {"reference": mr.load_sample("reference"), "preference": mr.load_sample("preference")},
        n_resamples=100, cache=False, progress=False,
    )  # fmt: skip
    results = mr.write_table(table, folder / "results.csv")
    assert main(["report", str(results), "-o", str(out)]) == 0
    return out


def test_report_in_chromium(report, tmp_path):
    executable = _chromium()
    from playwright.sync_api import sync_playwright

    errors, requests = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS,
                                    headless=True, timeout=TIMEOUT_MS)  # fmt: skip
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(TIMEOUT_MS)
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(report.as_uri(), wait_until="load")

            # every figure renders with a non-zero size
            sizes = page.eval_on_selector_all(
                "figure svg",
                "els => els.map(e => { const r = e.getBoundingClientRect();"
                " return [r.width, r.height]; })",
            )
            n_figures = page.locator("figure").count()
            assert n_figures >= 2 and len(sizes) == n_figures
            assert all(w > 0 and h > 0 for w, h in sizes), sizes

            # sorting a column reorders the rows
            table = page.locator("#table-0")
            header = table.locator("thead th", has_text="value").first
            column = table.locator("thead th").all_inner_texts().index("value")
            script = f"t => Array.from(t.tBodies[0].rows).map(r => r.cells[{column}].dataset.sort)"
            before = table.evaluate(script)
            header.click()
            ascending = table.evaluate(script)
            header.click()
            descending = table.evaluate(script)
            numbers = [float(v) for v in ascending]
            assert sorted(numbers) == numbers and numbers != [float(v) for v in before]
            assert [float(v) for v in descending] == sorted(numbers, reverse=True)
            assert header.get_attribute("aria-sort") == "descending"
            # a text column sorts too
            scorer = table.locator("thead th", has_text="scorer").first
            scorer.click()
            col = table.locator("thead th").all_inner_texts().index("scorer")
            names = table.evaluate(
                f"t => Array.from(t.tBodies[0].rows).map(r => r.cells[{col}].textContent)"
            )
            assert names == sorted(names)

            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 10_000
    assert errors == []
    assert all(u.startswith("file:") for u in requests), requests
