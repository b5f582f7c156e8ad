"""The Analysis page in headless Chromium over the seeded store (marker ``browser``)."""

from __future__ import annotations

import time

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from dashboards import ids
from dashboards.testing import sign_in

from .conftest import USERS


def test_analysis_page_shows_the_emerging_map_and_the_knox_table(driver, live, shots):
    sign_in(driver, live["url"], "ana", USERS["ana"][0], "/analysis")
    wait = WebDriverWait(driver, 120, poll_frequency=0.1)
    table = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, f"#{ids.AN_KNOX} table")))
    assert "0-150 m" in table.text and "0-7 days" in table.text
    sentence = driver.find_element(By.ID, ids.AN_SENTENCE).text
    assert "repeat within" in sentence or "No near-repeat window" in sentence
    n = wait.until(lambda d: d.execute_script(
        f"const gd = document.querySelector('#{ids.AN_MAP} .js-plotly-plot');"
        "return gd && gd.data && gd.data.length;"))
    assert n >= 1
    assert "incidents" in driver.find_element(By.ID, ids.AN_STATUS).text
    time.sleep(0.3)
    driver.save_screenshot(str(shots / "analysis.png"))
