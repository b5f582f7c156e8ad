"""Dashboard map timings in headless Chromium (Debian's chromium/chromedriver; no network).

Part 1 (default) serves the real app (waitress, SQLite seeded through the store functions) and
measures, for each grid size: the time from pressing "Sign in" until the risk map's cells are
drawn, and the time from a period change until the map is redrawn (median of repeats).

Part 2 (``--compare``) draws the same synthetic cells with four plotly components in a bare page
(plotly.js served from the installed plotly package) and reports first draw and a recolour:
``choroplethmap`` (GeoJSON polygons on a map), ``scattermap`` (circle markers on a map),
``scattergl`` (square markers on projected axes) and ``heatmap`` (one raster over rows/columns).

Part 3 (``--viewport``) stores a simulated forecast of ``--cells`` cells (default 1 M; labelled
simulated: seeded synthetic cells, not a real city) in SQLite, or in a fresh database on a PostgreSQL
server with ``--postgres URL``, and times in the browser the map at low zoom (sign-in to drawn: the
whole grid in blocks), then zooms by ``Plotly.relayout`` to middle and high zoom at three places
each and times each redraw (the callback reads only the cells in view). Every time is from the
user's action to the new raster drawn in Chromium.

Usage::

    uv run python benchmarks/bench_dashboard.py                 # 10k and 50k cells
    uv run python benchmarks/bench_dashboard.py --viewport --cells 1000000
    uv run python benchmarks/bench_dashboard.py --cells 10000 --repeats 5
    uv run python benchmarks/bench_dashboard.py --compare --cells 10000 50000
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path


def _wait(fn, timeout=120.0, poll=0.01):
    end = time.perf_counter() + timeout
    while time.perf_counter() < end:
        v = fn()
        if v:
            return v
        time.sleep(poll)
    raise TimeoutError("the map did not draw in time")


def bench_app(n_cells: int, repeats: int) -> dict:
    """Sign-in-to-map and period-change timings of the real app at ``n_cells``."""
    import sys

    from selenium.webdriver.common.by import By

    from dashboards import create_app, ids
    from dashboards.settings import DashboardSettings
    from dashboards.testing import MAP_STATE_JS, chrome, serve_in_thread
    from forecasting.config import load_settings
    from forecasting.store import migrate
    from forecasting.store.session import make_engine, make_session_factory

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the synthetic city is test support
    from tests.support.synthetic import seed_store  # noqa: E402

    data = Path(tempfile.mkdtemp(prefix="crimecast-bench-"))
    settings = load_settings(data_dir=str(data), _toml_file=None)
    migrate.upgrade(settings.resolved_database_url())
    factory = make_session_factory(make_engine(settings.resolved_database_url()))
    t0 = time.perf_counter()
    seed_store(factory, n_cells=n_cells, n_incidents=5_000, users={"ana": ("analyst-password", "analyst")})
    seed_s = time.perf_counter() - t0
    app = create_app(settings, dash_settings=DashboardSettings(secret_key="bench-secret-key-0123456789abcdef"))
    from dashboards.app import warm_up

    warm_up(app)  # as `crimecast serve` does before accepting requests
    served = serve_in_thread(app.server)
    driver = chrome()
    state = lambda: driver.execute_script(MAP_STATE_JS, ids.MAP_GRAPH)  # noqa: E731
    signin, redraw = [], []
    try:
        for _ in range(repeats):
            driver.delete_all_cookies()
            driver.get(served.url + "/login")
            driver.find_element(By.ID, "username").send_keys("ana")
            driver.find_element(By.ID, "password").send_keys("analyst-password")
            t = time.perf_counter()
            driver.find_element(By.ID, "login-submit").click()
            first = _wait(lambda: (s := state()) and s["n"] == n_cells and s)
            signin.append(time.perf_counter() - t)
            for kind in ("shift", "week", "shift"):
                before = state()["title"]
                t = time.perf_counter()
                driver.find_element(By.CSS_SELECTOR, f"#{ids.MAP_PERIOD_KIND} input[value='{kind}']").click()
                _wait(lambda b=before: (s := state()) and s["title"] != b and s["n"] == n_cells)
                redraw.append(time.perf_counter() - t)
            assert first["n"] == n_cells
    finally:
        driver.quit()
        served.close()
    # The first sign-in after the server starts is cold: Python imports, the first database read and an empty
    # browser cache (plotly.js is 4.6 MB); later ones are what users of a running deployment see.
    return {"cells": n_cells, "seed_s": round(seed_s, 1), "signin_to_map_cold_s": round(signin[0], 2),
            "signin_to_map_warm_s": round(statistics.median(signin[1:] or signin), 2),
            "period_change_median_s": round(statistics.median(redraw), 2),
            "period_change_max_s": round(max(redraw), 2), "repeats": repeats}


_VIEW_STATE_JS = """
const gd = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');
if (!gd || !gd.data || !gd.data.length || gd.data[0].type !== 'heatmap') return null;
if (!gd.querySelector('.heatmaplayer image') || !gd.calcdata || !gd.calcdata[0]) return null;
const z = gd.calcdata[0][0].z;
return {fresh: !gd.data[0].__seen, block: gd.layout.meta && gd.layout.meta.block,
        pixels: z.length * (z[0] ? z[0].length : 0), x0: gd.data[0].x0};
"""
_MARK_JS = "const gd = document.querySelector('#' + arguments[0] + ' .js-plotly-plot'); gd.data[0].__seen = true;"
_ZOOM_JS = """
const gd = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');
Plotly.relayout(gd, {'xaxis.range': arguments[1], 'yaxis.range': arguments[2]});
"""


def bench_viewport(n_cells: int, postgres: str | None = None) -> dict:
    """Low, middle and high zoom draw times of the real app over a simulated ``n_cells`` forecast."""
    import contextlib
    import sys

    from selenium.webdriver.common.by import By

    from dashboards import create_app, ids
    from dashboards.settings import DashboardSettings
    from dashboards.testing import chrome, serve_in_thread
    from forecasting.config import load_settings
    from forecasting.store import migrate
    from forecasting.store.session import make_engine, make_session_factory

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.bench_ingest import _database  # noqa: E402
    from tests.support.synthetic import seed_store  # noqa: E402

    data = Path(tempfile.mkdtemp(prefix="crimecast-bench-"))
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(_database(postgres, str(data)))
        settings = load_settings(data_dir=str(data), database_url=url, _toml_file=None)
        migrate.upgrade(url)
        engine = make_engine(url)
        stack.callback(engine.dispose)
        factory = make_session_factory(engine)
        t0 = time.perf_counter()
        seed = seed_store(factory, n_cells=n_cells, n_runs=1, n_incidents=1_000,
                          users={"ana": ("analyst-password", "analyst")})
        seed_s = time.perf_counter() - t0
        cells = seed["cells"]
        n_cols, n_rows = int(cells["col"].max() - cells["col"].min() + 1), int(cells["row"].max()
                                                                               - cells["row"].min() + 1)
        app = create_app(settings, dash_settings=DashboardSettings(secret_key="bench-secret-key-0123456789abcdef"))
        from dashboards.app import warm_up

        warm_up(app)
        served = serve_in_thread(app.server)
        stack.callback(served.close)
        driver = chrome()
        stack.callback(driver.quit)
        state = lambda: driver.execute_script(_VIEW_STATE_JS, ids.MAP_GRAPH)  # noqa: E731
        driver.get(served.url + "/login")
        driver.find_element(By.ID, "username").send_keys("ana")
        driver.find_element(By.ID, "password").send_keys("analyst-password")
        t = time.perf_counter()
        driver.find_element(By.ID, "login-submit").click()
        low = _wait(lambda: state())
        out = {"cells": n_cells, "backend": "postgresql" if postgres else "sqlite", "seed_s": round(seed_s, 1),
               "low_zoom_signin_to_map_s": round(time.perf_counter() - t, 2), "low_zoom_block": low["block"],
               "low_zoom_pixels": low["pixels"]}
        # The graph reports its first layout ("autosize") as a zoom: let that redraw land before zooming.
        time.sleep(3)
        low = _wait(lambda: state())
        rng = __import__("numpy").random.default_rng(0)
        for level, width in (("middle", max(n_cols // 6, 8)), ("high", 40)):
            times, blocks, pixels = [], [], []
            for _ in range(3):
                x = float(rng.uniform(0, n_cols - width))
                y = float(rng.uniform(0, n_rows - width))
                driver.execute_script(_MARK_JS, ids.MAP_GRAPH)
                t = time.perf_counter()
                driver.execute_script(_ZOOM_JS, ids.MAP_GRAPH, [x, x + width], [y, y + width])
                # A new raster of this view: not the whole-grid one (a different block size or origin).
                got = _wait(lambda: (s := state()) and s["fresh"] and (s["block"], s["x0"]) != (low["block"], low["x0"])
                            and s)
                times.append(time.perf_counter() - t)
                blocks.append(got["block"])
                pixels.append(got["pixels"])
            out[f"{level}_zoom_median_s"] = round(statistics.median(times), 2)
            out[f"{level}_zoom_max_s"] = round(max(times), 2)
            out[f"{level}_zoom_block"] = max(blocks)
            out[f"{level}_zoom_max_pixels"] = max(pixels)
        # Back out to the whole grid (double-click): the block figure is cached by then.
        driver.execute_script(_MARK_JS, ids.MAP_GRAPH)
        t = time.perf_counter()
        driver.execute_script("const gd = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');"
                              "Plotly.relayout(gd, {'xaxis.autorange': true, 'yaxis.autorange': true});", ids.MAP_GRAPH)
        _wait(lambda: (s := state()) and s["fresh"] and s)
        out["low_zoom_again_s"] = round(time.perf_counter() - t, 2)
    return out


_COMPARE_JS = """
const [fig, upd, done] = [arguments[0], arguments[1], arguments[arguments.length - 1]];
const gd = document.getElementById('g');
function idle() {
  const m = gd._fullLayout.map && gd._fullLayout.map._subplot && gd._fullLayout.map._subplot.map;
  if (!m) return new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  return new Promise(r => { const t = setTimeout(r, 30000); m.once('idle', () => { clearTimeout(t); r(); });
                            m.triggerRepaint(); });
}
const t0 = performance.now();
Plotly.newPlot(gd, fig.data, fig.layout).then(idle).then(() => {
  const t1 = performance.now();
  Plotly.restyle(gd, upd, [0]).then(idle).then(() => done([t1 - t0, performance.now() - t1]));
}).catch(e => done(String(e)));
"""


def _compare_figures(n: int) -> dict:
    import numpy as np

    side = int(np.ceil(np.sqrt(n)))
    r, c = np.divmod(np.arange(n), side)
    lon0, lat0, d = -123.2, 49.2, 0.0015
    lon, lat = lon0 + c * d, lat0 + r * d * 0.66
    z = np.random.default_rng(0).gamma(0.5, 1.0, n)
    z2 = np.random.default_rng(1).gamma(0.5, 1.0, n)
    feats = [{"type": "Feature", "id": str(i), "geometry": {"type": "Polygon", "coordinates": [[
        [lon[i] - d / 2, lat[i] - d / 3], [lon[i] + d / 2, lat[i] - d / 3], [lon[i] + d / 2, lat[i] + d / 3],
        [lon[i] - d / 2, lat[i] + d / 3], [lon[i] - d / 2, lat[i] - d / 3]]]}} for i in range(n)]
    mp = {"style": "white-bg", "center": {"lon": float(lon.mean()), "lat": float(lat.mean())}, "zoom": 11}
    margin = {"l": 0, "r": 0, "t": 0, "b": 0}
    Z = np.full((int(r.max()) + 1, side), np.nan)
    Z[r, c] = z
    Z2 = np.full_like(Z, np.nan)
    Z2[r, c] = z2

    def nn(a):
        return np.where(np.isnan(a), None, a).tolist()

    return {
        "choroplethmap": ({"data": [{"type": "choroplethmap", "geojson": {"type": "FeatureCollection",
                                                                          "features": feats},
                                     "locations": [str(i) for i in range(n)], "z": z.tolist(),
                                     "marker": {"line": {"width": 0}}}], "layout": {"map": mp, "margin": margin}},
                          {"z": [z2.tolist()]}),
        "scattermap": ({"data": [{"type": "scattermap", "lon": lon.tolist(), "lat": lat.tolist(), "mode": "markers",
                                  "marker": {"color": z.tolist(), "size": 4}}],
                        "layout": {"map": mp, "margin": margin}},
                       {"marker.color": [z2.tolist()]}),
        "scattergl": ({"data": [{"type": "scattergl", "x": c.tolist(), "y": r.tolist(), "mode": "markers",
                                 "marker": {"symbol": "square", "color": z.tolist(), "size": 5}}],
                       "layout": {"yaxis": {"scaleanchor": "x"}, "margin": margin}}, {"marker.color": [z2.tolist()]}),
        "heatmap": ({"data": [{"type": "heatmap", "z": nn(Z)}], "layout": {"yaxis": {"scaleanchor": "x"},
                                                                           "margin": margin}},
                    {"z": [nn(Z2)]}),
    }


def bench_compare(sizes) -> list[dict]:
    """First draw and recolour (ms) of each candidate map component."""
    import functools
    import http.server
    import threading

    from plotly.offline import get_plotlyjs

    from dashboards.testing import chrome

    tmp = Path(tempfile.mkdtemp(prefix="crimecast-cmp-"))
    (tmp / "page.html").write_text("<html><head><script>" + get_plotlyjs() + "</script></head><body>"
                                   "<div id='g' style='width:1200px;height:800px'></div></body></html>")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp))
    handler.log_message = lambda *a: None
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    driver = chrome()
    driver.set_script_timeout(180)
    out = []
    try:
        for n in sizes:
            for name, (fig, upd) in _compare_figures(n).items():
                driver.get(f"http://127.0.0.1:{srv.server_port}/page.html")
                res = driver.execute_async_script(_COMPARE_JS, fig, upd)
                row = {"cells": n, "component": name, "payload_mb": round(len(json.dumps(fig)) / 1e6, 1)}
                if isinstance(res, str):
                    row["error"] = res
                else:
                    row.update(first_draw_ms=round(res[0]), recolour_ms=round(res[1]))
                out.append(row)
                print(json.dumps(row), flush=True)
    finally:
        driver.quit()
        srv.shutdown()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, nargs="+", default=[10_000, 50_000])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--compare", action="store_true", help="Compare map components instead of timing the app.")
    ap.add_argument("--viewport", action="store_true", help="Low / middle / high zoom over one large forecast.")
    ap.add_argument("--postgres", metavar="URL", help="--viewport: store on this PostgreSQL server (default SQLite).")
    args = ap.parse_args()
    from dashboards.testing import browser_missing

    why = browser_missing()
    if why:
        raise SystemExit(f"cannot benchmark: {why}")
    if args.compare:
        bench_compare(args.cells)
        return
    if args.viewport:
        for n in args.cells:
            print(json.dumps(bench_viewport(n, args.postgres)), flush=True)
        return
    for n in args.cells:
        print(json.dumps(bench_app(n, args.repeats)), flush=True)


if __name__ == "__main__":
    main()
