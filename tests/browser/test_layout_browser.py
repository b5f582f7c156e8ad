"""Layout at a 1280 px wide window (a common control-room screen), in headless Chromium (marker ``browser``).

Each test pins a bug seen in screenshots at that width: a wide table running under the next box,
cut date fields, a map title under the chart toolbar, a camera marker taking a cell's click.
"""

from __future__ import annotations

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from dashboards import ids
from dashboards.testing import sign_in

from .conftest import USERS

WIDTH = 1280


@pytest.fixture
def narrow(driver, live):
    """The shared browser at 1280 px, signed in as the analyst; the usual size again afterwards."""
    size = driver.get_window_size()
    driver.set_window_size(WIDTH, 900)
    driver.delete_all_cookies()
    sign_in(driver, live["url"], "ana", USERS["ana"][0])
    yield driver
    driver.set_window_size(size["width"], size["height"])


def _wait(driver, cond, timeout=120):
    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(cond)


def _rect(driver, css):
    return driver.execute_script("const e = document.querySelector(arguments[0]);"
                                 "if (!e) return null; const r = e.getBoundingClientRect();"
                                 "return {left: r.left, right: r.right, top: r.top, bottom: r.bottom};", css)


def test_models_table_stays_inside_its_box(narrow, live):
    narrow.get(live["url"] + "/models")
    _wait(narrow, EC.presence_of_element_located((By.CSS_SELECTOR, f"#{ids.MODELS_TABLE} table")))
    box = _rect(narrow, f"#{ids.MODELS_TABLE}")
    panel = narrow.execute_script("const r = document.getElementById(arguments[0]).closest('.cc-panel')"
                                  ".getBoundingClientRect(); return {left: r.left};", ids.RETRAIN_BUTTON)
    assert box["right"] <= panel["left"]  # the table scrolls inside its box, not under the retrain panel
    # Every column can still be reached: the box scrolls sideways when the table is wider.
    wide = narrow.execute_script("const e = document.getElementById(arguments[0]);"
                                 "return [e.scrollWidth, e.clientWidth, getComputedStyle(e).overflowX];",
                                 ids.MODELS_TABLE)
    assert wide[0] <= wide[1] or wide[2] == "auto"


def test_analysis_date_fields_show_the_whole_date(narrow, live):
    narrow.get(live["url"] + "/analysis")
    for field in (ids.AN_START, ids.AN_END):
        el = _wait(narrow, EC.presence_of_element_located((By.ID, field)))
        assert len(el.get_attribute("value")) == 10  # YYYY-MM-DD
        scroll, client = narrow.execute_script("const e = arguments[0]; return [e.scrollWidth, e.clientWidth];", el)
        assert scroll <= client, f"{field}: the date is cut ({scroll} px of text in a {client} px field)"


def test_cameras_map_title_is_clear_of_the_chart_toolbar(narrow, live):
    narrow.get(live["url"] + "/cameras")
    graph = f"#{ids.CAM_MAP} .js-plotly-plot"
    _wait(narrow, lambda d: d.execute_script(
        "const gd = document.querySelector(arguments[0]);"
        "return gd && gd.data && gd.data.length && gd.data[0].type === 'heatmap';", graph))
    # Re-checked until the map has settled (it is drawn again once the top camera is selected).
    _wait(narrow, lambda d: _title_row_clear(d, graph))
    title, toolbar = _rect(narrow, f"{graph} .gtitle"), _rect(narrow, f"{graph} .modebar")
    assert title["top"] >= toolbar["bottom"] - 1  # its own row: a longer title cannot reach the toolbar


def _title_row_clear(driver, graph) -> bool:
    title, toolbar = _rect(driver, f"{graph} .gtitle"), _rect(driver, f"{graph} .modebar")
    return bool(title and toolbar and title["top"] >= toolbar["bottom"] - 1)


#: JavaScript: the pixel offset (from the plot's centre) of a camera marker inside the raster, and the
#: id of the cell under it.
CAMERA_ON_A_CELL_JS = """
const gd = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');
const cams = gd._fullData.find(t => t.name === 'cameras');  // x, y decoded (not base64)
const z = gd.calcdata[0][0].z, meta = gd.layout.meta;
const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, r = gd.getBoundingClientRect();
for (let i = 0; i < cams.x.length; i++) {
  const cx = Math.round(cams.x[i]), cy = Math.round(cams.y[i]);
  if (cy < 1 || cx < 1 || cy >= z.length - 1 || cx >= z[0].length - 1 || z[cy][cx] == null) continue;
  return {dx: xa._offset + xa.l2p(cams.x[i]) - r.width / 2, dy: ya._offset + ya.l2p(cams.y[i]) - r.height / 2,
          cell: '150m_' + (meta.col0 + cx) + '_' + (meta.row0 + cy)};
}
return null;
"""


def test_a_click_on_a_camera_marker_opens_the_cell_under_it(narrow, live):
    narrow.get(live["url"] + "/")
    _wait(narrow, lambda d: d.execute_script(
        "const gd = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');"
        "return gd && gd.calcdata && gd.data.some(t => t.name === 'cameras');", ids.MAP_GRAPH))
    plot = narrow.find_element(By.CSS_SELECTOR, f"#{ids.MAP_GRAPH} .js-plotly-plot")
    # Wholly in view: WebDriver offsets count from the centre of the element's visible part.
    narrow.execute_script("arguments[0].scrollIntoView({block: 'center'});", plot)
    target = narrow.execute_script(CAMERA_ON_A_CELL_JS, ids.MAP_GRAPH)
    assert target is not None, "no camera drawn over a forecast cell"
    ActionChains(narrow).move_to_element_with_offset(plot, int(target["dx"]), int(target["dy"])).click().perform()
    name = _wait(narrow, EC.visibility_of_element_located((By.ID, ids.CELL_NAME)))
    assert target["cell"] in name.text
    # The map outlines the cell (a small patch of the drawn figure, not a new figure).
    outline = _wait(narrow, lambda d: d.execute_script(
        "const gd = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');"
        "const s = gd.layout.shapes; return s && s.length === 1 && s[0];", ids.MAP_GRAPH))
    meta = narrow.execute_script("return document.querySelector('#' + arguments[0] + ' .js-plotly-plot').layout.meta;",
                                 ids.MAP_GRAPH)
    col, row = (int(v) for v in target["cell"].split("_")[1:])
    assert (outline["x0"] + 0.5, outline["y0"] + 0.5) == (col - meta["col0"], row - meta["row0"])
