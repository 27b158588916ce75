"""The built book, read in a real headless Chromium: every page loads, every figure is there, math renders."""
from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from taskfp_lib.upstream.manifest import REPO_ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
#: pages that must show at least one figure
FIGURE_PAGES = {"notebooks/01_task_pool", "notebooks/02_fig4_shots", "notebooks/03_external_validation",
                "notebooks/03b_external_validation_revision", "notebooks/04_table3_scenario_similarity",
                "notebooks/05_fig6_sample_size", "notebooks/08_bins_sweep", "notebooks/09_full_size_targets",
                "notebooks/10_probes", "notebooks/11_msd_segmentation", "notebooks/12_task_maps",
                "notebooks/13_development_comparison"}


def toc_files() -> list[str]:
    toc = yaml.safe_load((REPO_ROOT / "book" / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [c["file"] for c in part.get("chapters", [])]
    return files


@pytest.fixture(scope="module")
def built_book(tmp_path_factory):
    if not (REPO_ROOT / "book" / "_static" / "mathjax" / "tex-chtml.js").is_file():
        pytest.fail("MathJax is not in book/_static/mathjax: run `make mathjax` (the book serves it offline)")
    out = tmp_path_factory.mktemp("book")
    jb = Path(sys.executable).parent / "jupyter-book"
    proc = subprocess.run([str(jb), "build", str(REPO_ROOT), "--config", str(REPO_ROOT / "_config.yml"),
                           "--toc", str(REPO_ROOT / "book" / "_toc.yml"), "--path-output", str(out),
                           "--warningiserror", "--keep-going"], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out / "_build" / "html"


@pytest.fixture(scope="module")
def server(built_book):
    handler = type("QuietHandler", (http.server.SimpleHTTPRequestHandler,), {"log_message": lambda *a: None})
    handler = functools.partial(handler, directory=str(built_book))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.fail("Chromium and ChromeDriver are required (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--window-size=1400,1000"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def test_toc_pages_exist(built_book):
    for page in toc_files():
        assert (built_book / f"{page}.html").is_file(), page


def test_every_page_loads_with_its_figures(built_book, server, browser):
    from selenium.webdriver.support.ui import WebDriverWait

    shots = REPO_ROOT / "_build" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    for page in toc_files():
        browser.get(f"{server}/{page}.html")
        WebDriverWait(browser, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")
        assert browser.title and "404" not in browser.title, page
        heading = browser.execute_script(
            "return Array.from(document.querySelectorAll('article h1')).map(h => h.textContent.trim()).join('')")
        assert heading, f"{page}: no title heading"
        images = browser.find_elements("css selector", "main img, article img")
        WebDriverWait(browser, 30).until(lambda d: all(d.execute_script("return arguments[0].complete", i) for i in images))
        for img in images:
            w = browser.execute_script("return arguments[0].naturalWidth", img)
            h = browser.execute_script("return arguments[0].naturalHeight", img)
            assert w > 50 and h > 50, f"{page}: broken or empty image {img.get_attribute('src')}"
        if page in FIGURE_PAGES:
            assert images, f"{page}: no figure"
        assert browser.find_elements("css selector", "main p, article p"), f"{page}: no text"
        browser.save_screenshot(str(shots / (page.replace("/", "__") + ".png")))
        external = browser.execute_script(
            "return Array.from(document.querySelectorAll('script[src]')).map(s => s.src)"
            ".filter(u => !u.startsWith(location.origin))")
        assert not external, f"{page}: scripts from outside the book: {external}"


def test_math_renders_offline(server, browser):
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{server}/book/methods.html")
    WebDriverWait(browser, 30).until(lambda d: d.find_elements("css selector", "mjx-container"))
    containers = browser.find_elements("css selector", "mjx-container")
    assert len(containers) > 10
    assert all(c.size["width"] > 0 for c in containers[:5])
    assert not browser.find_elements("css selector", "mjx-merror"), "MathJax reported a TeX error"
