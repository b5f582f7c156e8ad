"""The main flows in headless Chromium against the app served by waitress (marker ``browser``)."""

from __future__ import annotations

import time

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from dashboards import ids
from dashboards.testing import MAP_STATE_JS, sign_in

from .conftest import N_CELLS, USERS

WAIT = 20


def _wait(driver, cond, timeout=WAIT):
    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(cond)


def _map_state(driver, graph_id=ids.MAP_GRAPH):
    return driver.execute_script(MAP_STATE_JS, graph_id)


def test_sign_in_then_map_renders_with_cells(driver, live, shots):
    driver.delete_all_cookies()
    driver.get(live["url"] + "/")
    assert "/login" in driver.current_url  # no session: the page redirects to sign-in
    sign_in(driver, live["url"], "ana", USERS["ana"][0])
    state = _wait(driver, lambda d: _map_state(d))
    assert state["n"] == N_CELLS
    assert state["title"].startswith("Week of")
    badge = driver.find_element(By.ID, ids.USER_BADGE).text
    assert "ana (analyst)" in badge
    time.sleep(0.3)
    driver.save_screenshot(str(shots / "risk_map.png"))


def test_period_change_recolours(driver, live):
    before = _wait(driver, lambda d: _map_state(d))
    driver.find_element(By.CSS_SELECTOR, f"#{ids.MAP_PERIOD_KIND} input[value='shift']").click()
    after = _wait(driver, lambda d: (s := _map_state(d)) and s["title"] != before["title"] and s)
    assert after["title"].startswith("Shift") and after["n"] == N_CELLS
    assert abs(after["sum"] - before["sum"]) > 1e-6


CLICK_TOP_CELL_JS = """
const gd = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');
const z = gd.calcdata[0][0].z; let best = -1, bx = 0, by = 0;
for (let y = 0; y < z.length; y++) for (let x = 0; x < z[y].length; x++)
  if (z[y][x] != null && z[y][x] > best) { best = z[y][x]; bx = x; by = y; }
const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, r = gd.getBoundingClientRect();
return {dx: xa._offset + xa.l2p(bx) - r.width / 2, dy: ya._offset + ya.l2p(by) - r.height / 2, z: best};
"""


def test_cell_click_shows_reasons(driver, live, shots):
    _wait(driver, lambda d: _map_state(d))
    target = driver.execute_script(CLICK_TOP_CELL_JS, ids.MAP_GRAPH)
    plot = driver.find_element(By.CSS_SELECTOR, f"#{ids.MAP_GRAPH} .js-plotly-plot")
    ActionChains(driver).move_to_element_with_offset(plot, int(target["dx"]), int(target["dy"])).click().perform()
    reasons = _wait(driver, EC.visibility_of_element_located((By.ID, ids.CELL_REASONS)))
    _wait(driver, EC.visibility_of_element_located((By.ID, ids.CELL_HISTORY)))
    assert "incidents in this cell in the last 4 weeks" in reasons.text
    assert "rank 1 of" in driver.find_element(By.ID, ids.CELL_FORECAST).text
    assert "150m_" in driver.find_element(By.ID, ids.CELL_NAME).text  # the label (when known) and the id
    time.sleep(0.3)
    driver.save_screenshot(str(shots / "risk_map_cell.png"))


def test_camera_list_and_highlight(driver, live, shots):
    driver.find_element(By.ID, "nav-cameras").click()
    top = _wait(driver, lambda d: (x := d.find_elements(By.CSS_SELECTOR, f"#{ids.CAM_LIST} label")) and
                len(x) == 10 and x)  # compact: the top 10 first
    assert top[0].text.startswith("#1 CAM-")
    driver.find_element(By.CSS_SELECTOR, f"#{ids.CAM_SHOW_ALL} input").click()
    labels = _wait(driver, lambda d: (x := d.find_elements(By.CSS_SELECTOR, f"#{ids.CAM_LIST} label")) and
                   len(x) == 12 and x)
    assert labels[0].text.startswith("#1 CAM-")
    # The selected camera's reasons sit beside the list (to its right), not below it.
    why = driver.find_element(By.ID, ids.CAM_WHY).rect
    first = labels[0].rect
    assert why["x"] >= first["x"] + first["width"] - 1
    labels[1].click()
    second = labels[1].text.split()[1]
    _wait(driver, lambda d: d.execute_script(
        "const gd = document.querySelector('#cam-map .js-plotly-plot');"
        "return gd && gd.data.some(t => t.name === 'selected: ' + arguments[0]);", second))
    assert driver.find_element(By.ID, ids.CAM_WHY).text.startswith("#2 ")
    assert driver.find_elements(By.CSS_SELECTOR, f"#{ids.CAM_GAPS} table tr")
    time.sleep(0.3)
    driver.save_screenshot(str(shots / "cameras.png"))


def test_export_download_is_saved_and_audited(driver, live, downloads, shots):
    from forecasting.store.governance import audit_frame
    from forecasting.store.session import transaction

    driver.find_element(By.ID, "nav-exports").click()
    _wait(driver, EC.presence_of_element_located((By.CSS_SELECTOR, "#plan-table tbody tr")))
    driver.find_element(By.ID, ids.EXPORT_BUTTON).click()
    _wait(driver, lambda d: "Downloaded" in d.find_element(By.ID, ids.EXPORT_MESSAGE).text)
    files = _wait(driver, lambda d: [p for p in downloads.glob("*.csv")], timeout=15)
    text = files[0].read_text()
    assert text.splitlines()[0].count(",") >= 3 and len(text.splitlines()) > 1
    with transaction(live["factory"]) as s:
        audit = audit_frame(session=s, action="export")
    assert audit["username"].iloc[0] == "ana" and audit["details"].iloc[0]["format"] == "csv"
    driver.save_screenshot(str(shots / "exports.png"))


def test_models_page(driver, live, shots):
    driver.find_element(By.ID, "nav-models").click()
    table = _wait(driver, EC.presence_of_element_located((By.CSS_SELECTOR, f"#{ids.MODELS_TABLE} table")))
    assert "PAI@1%" in table.text and "lgbm" in table.text
    _wait(driver, EC.presence_of_element_located((By.CSS_SELECTOR, f"#{ids.TASKS_TABLE} table")))
    time.sleep(0.5)
    driver.save_screenshot(str(shots / "models.png"))


def test_viewer_is_refused_a_retrain(driver, live):
    from forecasting.store.session import transaction
    from forecasting.store.tasks import list_tasks

    _wait(driver, EC.element_to_be_clickable((By.ID, "sign-out"))).click()  # a POST with the token
    _wait(driver, EC.presence_of_element_located((By.ID, "login-form")))
    sign_in(driver, live["url"], "vic", USERS["vic"][0], "/models")
    button = _wait(driver, EC.element_to_be_clickable((By.ID, ids.RETRAIN_BUTTON)))
    button.click()
    msg = _wait(driver, lambda d: (t := d.find_element(By.ID, ids.TASK_MESSAGE).text) and t)
    assert msg.startswith("Refused") and "analyst role" in msg
    with transaction(live["factory"]) as s:
        assert list_tasks(session=s) == []


def test_every_page_works_under_the_content_security_policy(driver, live):
    """The CSP allows Dash's one inline script by hash: every page renders and the console shows no violation."""
    for path, element in (("/", f"#{ids.MAP_GRAPH} .js-plotly-plot"), ("/cameras", f"#{ids.CAM_LIST}"),
                          ("/models", f"#{ids.MODELS_TABLE} table"), ("/exports", f"#{ids.EXPORT_PREVIEW}")):
        driver.get(live["url"] + path)
        _wait(driver, EC.presence_of_element_located((By.CSS_SELECTOR, element)))
    driver.get(live["url"] + "/")
    assert _wait(driver, lambda d: _map_state(d))["n"] == N_CELLS
    logs = driver.get_log("browser")  # everything logged since the session began, all tests above included
    violations = [e["message"] for e in logs if "Content Security Policy" in e["message"]]
    assert violations == []
