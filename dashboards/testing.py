"""Helpers for the real-browser tests and the benchmark: a headless Chromium and a background server.

Uses Debian's ``/usr/bin/chromium`` and ``/usr/bin/chromedriver`` explicitly (never selenium-manager,
never a download). Selenium is a development dependency, imported only here.
"""

from __future__ import annotations

import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--enable-unsafe-swiftshader", "--window-size=1440,980")


def browser_missing() -> str | None:
    """Why a real-browser run is impossible here, or None."""
    for p in (CHROMIUM, CHROMEDRIVER):
        if not p.exists():
            return f"{p} is absent (apt-get install chromium chromium-driver)"
    return None


def chrome(download_dir: str | Path | None = None):
    """A headless Chromium driven by Debian's chromedriver, with a fresh profile."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for flag in CHROME_FLAGS:
        opts.add_argument(flag)
    opts.add_argument(f"--user-data-dir={tempfile.mkdtemp(prefix='crimecast-chrome-')}")
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # console (CSP violations) for the tests
    if download_dir is not None:
        opts.add_experimental_option("prefs", {"download.default_directory": str(download_dir),
                                               "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)
    if download_dir is not None:
        driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(download_dir)})
    driver.set_script_timeout(60)
    return driver


@dataclass
class Served:
    """A WSGI app served by waitress in a daemon thread."""

    url: str
    server: object
    thread: threading.Thread

    def close(self) -> None:
        """Stop serving."""
        self.server.close()
        self.thread.join(timeout=5)


def serve_in_thread(wsgi_app, threads: int = 6) -> Served:
    """Serve ``wsgi_app`` with waitress on a free localhost port."""
    from waitress import create_server

    server = create_server(wsgi_app, host="127.0.0.1", port=0, threads=threads, ident="crimecast-test")
    thread = threading.Thread(target=server.run, daemon=True, name="waitress")
    thread.start()
    return Served(f"http://127.0.0.1:{server.effective_port}", server, thread)


#: JavaScript: milliseconds since page start when the map's cells are drawn, with the number of cells.
MAP_STATE_JS = """
const gd = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');
if (!gd || !gd.data || !gd.data.length || gd.data[0].type !== 'heatmap') return null;
const img = gd.querySelector('.heatmaplayer image');
if (!img) return null;
if (!gd.calcdata || !gd.calcdata[0]) return null;
let z = gd.calcdata[0][0].z, n = 0, sum = 0;
for (const row of z) for (const v of row) if (v != null && !Number.isNaN(v)) { n += 1; sum += v; }
return {n: n, sum: sum, title: gd.layout.title && gd.layout.title.text};
"""


def sign_in(driver, base_url: str, username: str, password: str, path: str = "/") -> None:
    """Open ``path`` (redirected to the sign-in page), sign in, and wait for the answer page.

    The wait matters: a ``driver.get`` issued while the sign-in POST is still in flight cancels it,
    so the next page would be the sign-in form again (a flaky test, never a product bug).
    """
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(base_url + path)
    driver.find_element(By.ID, "username").send_keys(username)
    driver.find_element(By.ID, "password").send_keys(password)
    button = driver.find_element(By.ID, "login-submit")
    button.click()
    WebDriverWait(driver, 60, poll_frequency=0.1).until(EC.staleness_of(button))
