"""The HTML report opened in headless Chromium through selenium: no console error, every image
decoded, every link resolving, and a screenshot kept (skipped where no browser can be had)."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support.cli import run

import proofs.registry
from proofs.kernel import full_adder, ripple_adder
from proofs.registry import of
from verify import ops
from verify.obligation import Obligation

ROOT = Path(__file__).resolve().parents[2]
PROGRAMS = ROOT / "constructions" / "programs"
SCREENSHOT_ENV = "LOOPMLP_SCREENSHOT"
"""Where the screenshot goes (default reports/browser/index.png under the repository)."""
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1280,900")


def _wrong_adder() -> Obligation:
    """A full adder against a spec whose carry is [a+b+c >= 1]: refuted, so the page has its
    Refuted section and the links into the table."""
    ob = full_adder()
    return Obligation("test/wrong-adder", ob.network, ob.domain,
                      lambda v: {"sum": ops.bit(v["a"] + v["b"] + v["c"], 0),
                                 "carry": ops.ite(v["a"] + v["b"] + v["c"] >= 1, 1, 0)})


def _tool(env: str, *names: str) -> str | None:
    given = os.environ.get(env)
    if given:
        return given if Path(given).exists() else None
    return next((p for p in map(shutil.which, names) if p), None)


@pytest.fixture
def browser() -> Iterator[Any]:
    """A headless Chromium driven by chromedriver, with a fresh profile; skipped without one."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed "
                                    "(pip install -e '.[test]')")
    from selenium.common.exceptions import WebDriverException

    chromium = _tool("LOOPMLP_CHROMIUM", "chromium", "chromium-browser", "google-chrome")
    driver_path = _tool("LOOPMLP_CHROMEDRIVER", "chromedriver")
    if chromium is None or driver_path is None:
        pytest.skip("no headless browser: needs chromium and chromedriver on PATH "
                    "(apt-get install chromium chromium-driver)")
    profile = tempfile.mkdtemp(prefix="loopmlp-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        driver = webdriver.Chrome(options=options,
                                  service=webdriver.ChromeService(executable_path=driver_path))
    except WebDriverException as e:
        shutil.rmtree(profile, ignore_errors=True)
        pytest.skip(f"the browser did not start: {str(e).strip().splitlines()[0]}")
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _screenshot_path() -> Path:
    given = os.environ.get(SCREENSHOT_ENV)
    return Path(given) if given else ROOT / "reports" / "browser" / "index.png"


@pytest.mark.slow  # about 6 s: a report with pictures, then a browser; .ci/run runs it
def test_the_report_in_a_browser(browser: Any, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    entries = [of("test/wrong-adder", _wrong_adder),
               of("kernel/ripple-adder[bits=2]", lambda: ripple_adder(2))]
    monkeypatch.setattr(proofs.registry, "all_entries", lambda: entries)
    out = tmp_path / "report"
    code, _, err = run("report", "--out", str(out), "--bits", "2",
                       "--trace-program", str(PROGRAMS / "countdown.sq"), "--quiet")
    assert code == 1, err  # the wrong adder is refuted
    t0 = time.perf_counter()
    browser.get((out / "index.html").as_uri())
    state: Callable[[str], Any] = browser.execute_script
    assert state("return document.readyState") == "complete"
    errors = [e for e in browser.get_log("browser") if e.get("level") == "SEVERE"]
    assert errors == [], errors
    images = state("return Array.from(document.images).map("
                   "i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight])")
    assert len(images) == 3, images  # proof times, layer structure, trace
    for alt, complete, width, height in images:
        assert complete and width > 0 and height > 0, alt
    hrefs = state("return Array.from(document.querySelectorAll('a[href]')).map("
                  "a => a.getAttribute('href'))")
    assert "#refuted" in hrefs and "results.json" in hrefs
    for href in hrefs:
        if href.startswith("#"):
            assert state("return document.getElementById(arguments[0]) !== null",
                         href[1:]), href
        else:
            assert "://" not in href and (out / href).is_file(), href
    height = min(int(state("return document.documentElement.scrollHeight")), 12000)
    browser.set_window_size(1280, height)
    shot = _screenshot_path()
    shot.parent.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(shot)), shot
    assert shot.read_bytes().startswith(b"\x89PNG")
    assert time.perf_counter() - t0 < 30
