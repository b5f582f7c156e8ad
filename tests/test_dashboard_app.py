"""The Dash app without a browser: route protection, sign-in, roles, callbacks with a fake provider."""

from __future__ import annotations

import re

import numpy as np
import pytest
from dash import no_update
from flask import g

from dashboards import create_app, ids
from dashboards.figure_cache import FigureCache, decoded
from dashboards.pages import cameras, exports, models, risk_map
from tests.support.fake_provider import FakeProvider

ACCOUNTS = {"ana": ("analyst-password", "analyst"), "vic": ("viewer-password", "viewer"),
            "adm": ("admin-password!", "admin")}


@pytest.fixture(scope="module")
def fake():
    return FakeProvider(n_cells=225, seed=1, accounts=ACCOUNTS)


@pytest.fixture(scope="module")
def app(fake, tmp_path_factory):
    from forecasting.config import load_settings

    return create_app(load_settings(data_dir=str(tmp_path_factory.mktemp("var"))), fake)


@pytest.fixture
def ctx(app):
    return app.crimecast_context


def _sign_in(client, name, password):
    page = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    return client.post("/login", data={"username": name, "password": password, "csrf": token, "next": "/models"})


PROTECTED_GET = ["/", "/cameras", "/models", "/exports", "/nowhere", "/_dash-layout", "/_dash-dependencies",
                 "/_reload-hash"]


@pytest.mark.parametrize("path", PROTECTED_GET)
def test_every_route_needs_a_session(app, path):
    r = app.server.test_client().get(path)
    if path.startswith("/_"):
        assert r.status_code == 401
    else:
        assert r.status_code == 302 and r.headers["Location"].startswith("/login?next=")


def test_callback_endpoint_needs_a_session(app):
    body = {"output": f"{ids.PAGE}.children", "inputs": [{"id": ids.URL, "property": "pathname", "value": "/"}],
            "changedPropIds": [f"{ids.URL}.pathname"], "state": []}
    r = app.server.test_client().post("/_dash-update-component", json=body)
    assert r.status_code == 401 and b"page" not in r.data


def test_login_page_and_assets_are_public(app):
    c = app.server.test_client()
    assert c.get("/login").status_code == 200
    assert c.get("/assets/style.css").status_code == 200


def test_sign_in_sets_a_session_and_is_audited(app, fake):
    c = app.server.test_client()
    r = _sign_in(c, "ana", "analyst-password")
    assert r.status_code == 302 and r.headers["Location"] == "/models"
    assert c.get("/_dash-layout").status_code == 200
    assert any(e["action"] == "sign_in" and e["username"] == "ana" for e in fake.audit_log)
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_wrong_password_is_refused_and_audited(app, fake):
    c = app.server.test_client()
    r = _sign_in(c, "ana", "not-the-password")
    assert r.status_code == 401 and "wrong password" in r.text
    assert c.get("/_dash-layout").status_code == 401
    assert fake.audit_log[-1]["action"] == "sign_in_failed"


def test_sign_in_without_the_form_token_fails(app):
    c = app.server.test_client()
    r = c.post("/login", data={"username": "ana", "password": "analyst-password", "csrf": "forged"})
    assert r.status_code == 401 and c.get("/_dash-layout").status_code == 401


def test_open_redirect_is_refused(app):
    c = app.server.test_client()
    page = c.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    r = c.post("/login", data={"username": "vic", "password": "viewer-password", "csrf": token,
                               "next": "//evil.example/"})
    assert r.headers["Location"] == "/"


def test_disabled_account_loses_its_session(tmp_path):
    from forecasting.config import load_settings

    fake = FakeProvider(n_cells=25, accounts={"eve": ("viewer-password", "viewer")})
    app = create_app(load_settings(data_dir=str(tmp_path)), fake)
    c = app.server.test_client()
    _sign_in(c, "eve", "viewer-password")
    assert c.get("/_dash-layout").status_code == 200
    fake.disable("eve")
    assert c.get("/_dash-layout").status_code == 401


def test_routing_callback_renders_pages_for_a_signed_in_user(app):
    c = app.server.test_client()
    _sign_in(c, "vic", "viewer-password")
    body = {"output": f"..{ids.PAGE}.children...{ids.NAV}.children..",
            "outputs": [{"id": ids.PAGE, "property": "children"}, {"id": ids.NAV, "property": "children"}],
            "inputs": [{"id": ids.URL, "property": "pathname", "value": "/cameras"}],
            "changedPropIds": [f"{ids.URL}.pathname"], "state": []}
    r = c.post("/_dash-update-component", json=body)
    assert r.status_code == 200 and ids.CAM_LIST.encode() in r.data


# ---------------------------------------------------------------- callbacks
def _as(app, fake, name):
    """A request context in which ``name`` is signed in (what the guard sets)."""
    rc = app.server.test_request_context("/_dash-update-component", method="POST")
    rc.push()
    g.account = fake.get_account(name)
    return rc


def test_viewer_is_refused_a_retrain_server_side(app, fake, ctx):
    rc = _as(app, fake, "vic")
    try:
        before = len(fake.started)
        out = models.start_task(ctx, "train", {"period": "week"})
    finally:
        rc.pop()
    assert "Refused" in str(out.children) and "analyst role" in str(out.children)
    assert len(fake.started) == before
    assert fake.audit_log[-1]["action"] == "denied" and fake.audit_log[-1]["username"] == "vic"


def test_analyst_starts_a_retrain_and_it_is_audited(app, fake, ctx):
    rc = _as(app, fake, "ana")
    try:
        out = models.start_task(ctx, "train", {"period": "shift"})
    finally:
        rc.pop()
    assert "Started train as task" in str(out.children)
    assert fake.started[-1] == {"kind": "train", "params": {"period": "shift"}, "username": "ana"}
    assert fake.audit_log[-1]["action"] == "retrain"
    assert fake.tasks()["status"].iloc[0] == "queued"


def test_period_kind_switches_the_dropdown(ctx):
    options, value = risk_map.period_choices(ctx, "shift", "all", None)
    assert len(options) == 3 and value == options[-1]["value"]  # the newest period first
    again, kept = risk_map.period_choices(ctx, "shift", "all", options[1]["value"])
    assert kept == options[1]["value"]
    week, v = risk_map.period_choices(ctx, "week", "all", options[1]["value"])
    assert v != options[1]["value"] and v in [o["value"] for o in week]


def test_map_callback_draws_the_run_and_audits_the_view(ctx, fake):
    user = fake.get_account("vic")
    fig, status = risk_map.map_figure(ctx, 1, "expected_count", ["cameras"], None, user)
    fig = decoded(fig)
    assert fig["data"][0]["type"] == "heatmap" and "225 cells" in status
    other, _ = risk_map.map_figure(ctx, 2, "expected_count", ["cameras"], None, None)
    assert fig["data"][0]["z"] != decoded(other)["data"][0]["z"]  # a period change recolours
    assert fake.audit_log[-1] == {**fake.audit_log[-1], "action": "view", "target": "forecast_run:1"}


def test_map_callback_without_runs_says_what_to_do(ctx):
    fig, status = risk_map.map_figure(ctx, None, "expected_count", [], None, None)
    assert "crimecast forecast" in fig.layout.annotations[0].text


def test_cell_click_opens_the_panel_with_reasons(ctx, fake):
    fc = fake.forecast(1)
    top = fc.iloc[0]
    click = {"points": [{"curveNumber": 0, "x": int(top["col"] - fc["col"].min()),
                         "y": int(top["row"] - fc["row"].min()), "z": float(top["expected_count"])}]}
    cell, children = risk_map.cell_panel(ctx, 1, click)
    assert cell == top["cell_id"]
    text = str(decoded(children))
    assert top["reasons"][0] in text and "rank 1 of 225" in text


def test_camera_ranking_and_highlight(ctx, fake):
    run = int(fake.forecast_runs().query("period == 'shift'")["id"].iloc[0])
    options, first, gaps = cameras.ranking(ctx, run, None)
    assert len(options) == len(fake.cameras()) and first == options[0]["value"]
    fig, why = cameras.camera_view(ctx, run, options[1]["value"])
    assert f"selected: {options[1]['value']}" in [t.get("name") for t in decoded(fig)["data"]]
    assert cameras.camera_view(ctx, run, options[1]["value"])[0] is fig  # built once per run and camera
    assert why.children.startswith("#2 ")


def test_camera_list_keeps_the_selection_when_showing_all(ctx, fake):
    run = int(fake.forecast_runs().query("period == 'shift'")["id"].iloc[0])
    options, first, _ = cameras.ranking(ctx, run, None, show_all=False)
    second = options[1]["value"]
    again, kept, _ = cameras.ranking(ctx, run, None, show_all=True, current=second)
    assert kept == second and len(again) == len(fake.cameras())


def test_export_download_is_audited(ctx, fake):
    run = int(fake.forecast_runs().query("period == 'shift'")["id"].iloc[0])
    data, msg = exports.download(ctx, run, "districts/West", "csv", fake.get_account("vic"))
    assert data["filename"].endswith(".csv") and data["base64"]
    assert "Downloaded" in msg
    e = fake.audit_log[-1]
    assert e["action"] == "export" and e["username"] == "vic" and e["details"]["format"] == "csv"
    assert e["details"]["area"] == "districts/West"


def test_backtest_view_side_by_side(ctx):
    info, table, fig = models.backtest_view(ctx, "all")
    assert "Backtest 1" in info and len(fig.data) == 4
    assert "PAI@0.5%" in str(table)


@pytest.mark.parametrize(("online", "cartesian"), [(False, True), (True, False)])
def test_offline_pages_load_the_small_plotly_bundle_and_online_pages_the_full_one(tmp_path, online, cartesian):
    from dashboards.settings import DashboardSettings
    from forecasting.config import load_settings

    fake = FakeProvider(n_cells=25, accounts={"eve": ("viewer-password", "viewer")})
    ds = DashboardSettings(tile_url="https://tiles.example/{z}/{x}/{y}.png" if online else None)
    app = create_app(load_settings(data_dir=str(tmp_path)), fake, dash_settings=ds)
    c = app.server.test_client()
    _sign_in(c, "eve", "viewer-password")
    page = c.get("/").get_data(as_text=True)
    assert ("plotly-cartesian.min.js" in page) is cartesian


def test_map_figure_of_a_run_is_built_once_and_every_view_audited(ctx, fake):
    user = fake.get_account("vic")
    before = len(fake.audit_log)
    a, _ = risk_map.map_figure(ctx, 3, "probability", ["cameras", "boundaries"], None, user)
    b, _ = risk_map.map_figure(ctx, 3, "probability", ["boundaries", "cameras"], None, user)
    assert a is b  # the same stored run, measure and layers: one build, shared
    assert len(fake.audit_log) == before + 2
    c, _ = risk_map.map_figure(ctx, 3, "expected_count", ["cameras", "boundaries"], None, user)
    assert c is not a
    missing, status = risk_map.map_figure(ctx, 999, "probability", [], None, user)
    assert "not found" in status


def test_a_large_run_is_drawn_for_the_view_only(ctx, fake, monkeypatch):
    """Above VIEWPORT_CELLS the map holds blocks far out and only the cells around the view close in."""
    from dashboards import figures

    monkeypatch.setattr(risk_map, "VIEWPORT_CELLS", 100)
    monkeypatch.setattr(figures, "MAX_VIEW_PIXELS", 64)
    user = fake.get_account("vic")
    before = len(fake.audit_log)
    far, status = risk_map.map_figure(ctx, 1, "expected_count", [], None, user)
    far = decoded(far)
    assert far["layout"]["meta"]["block"] > 1 and _z(far).size <= 64
    assert "blocks of up to" in status
    near, status = risk_map.map_figure(ctx, 1, "expected_count", [], None, user,
                                       {"xaxis.range[0]": 1, "xaxis.range[1]": 4, "yaxis.range[0]": 1,
                                        "yaxis.range[1]": 4}, True)
    near = decoded(near)
    z = _z(near)
    assert near["layout"]["meta"]["block"] == 1 and z.size <= 64 and np.isfinite(z).sum() < len(fake.forecast(1))
    assert len(fake.audit_log) == before + 1  # zooming is not a new view
    # A click on a cell of the zoomed view opens that cell's panel (read alone).
    fc = fake.forecast(1)
    x0, y0 = int(near["data"][0]["x0"]), int(near["data"][0]["y0"])
    cell, _ = risk_map.cell_panel(ctx, 1, {"points": [{"x": x0, "y": y0, "curveNumber": 0}]})
    hit = fc[(fc["col"] == fc["col"].min() + x0) & (fc["row"] == fc["row"].min() + y0)]
    assert cell == hit["cell_id"].iloc[0]
    # The panel of a large run reads that one cell, yet ranks it among every cell of the run.
    text = str(risk_map.panel_children(ctx, 1, cell))
    assert f"rank {int(hit['rank'].iloc[0]):,} of {len(fc):,}" in text


def test_a_small_run_ignores_zooms(ctx, fake):
    """Under VIEWPORT_CELLS the whole run is drawn once; a zoom sends nothing new (today's fast path)."""
    assert risk_map.map_figure(ctx, 1, "expected_count", [], None, None, {"xaxis.range[0]": 1,
                                                                          "xaxis.range[1]": 4}, True) == (
        no_update, no_update)


def _z(fig: dict) -> np.ndarray:
    """The cells' raster of a decoded figure (plotly sends arrays as base64 typed arrays)."""
    import base64

    z = fig["data"][0]["z"]
    if isinstance(z, dict):
        return np.frombuffer(base64.b64decode(z["bdata"]), dtype=z["dtype"]).astype(float)
    return np.asarray([[np.nan if v is None else v for v in row] for row in z], dtype=float)


def _fresh_json(value):
    """What Dash would send for ``value`` built anew (plotly's encoder, as in every response)."""
    import orjson
    from plotly.io.json import to_json_plotly

    return orjson.loads(to_json_plotly(value))


@pytest.mark.parametrize("layers", [[], ["cameras", "boundaries", "places", "streets"]])
def test_cached_map_equals_a_freshly_built_one(ctx, layers):
    cached, status = risk_map.map_figure(ctx, 2, "probability", layers, None, None)
    again, _ = risk_map.map_figure(ctx, 2, "probability", layers, None, None)
    fresh, fresh_status = risk_map._build_map(ctx, 2, "probability", sorted(layers), None)
    assert again is cached and status == fresh_status
    assert decoded(cached) == _fresh_json(fresh)


def test_map_cache_keys_hold_the_run_the_measure_and_the_selected_cell(ctx, fake):
    fc = fake.forecast(1)
    a, _ = risk_map.map_figure(ctx, 1, "expected_count", ["cameras"], None, None)
    b, _ = risk_map.map_figure(ctx, 2, "expected_count", ["cameras"], None, None)
    c, _ = risk_map.map_figure(ctx, 1, "expected_count", ["cameras"], fc["cell_id"].iloc[3], None)
    assert len({id(a), id(b), id(c)}) == 3
    assert decoded(a)["layout"]["title"] != decoded(b)["layout"]["title"]  # each run its own period
    assert "shapes" in decoded(c)["layout"] and "shapes" not in decoded(a)["layout"]
    keys = [k for k in ctx.figures._items if k[0] == "map"]
    assert {k[1] for k in keys} >= {1, 2}
    # No user in the key: the map of a run is the same for every role (views are audited outside the cache).
    viewer, admin = fake.get_account("vic"), fake.get_account("adm")
    assert risk_map.map_figure(ctx, 1, "expected_count", ["cameras"], None, viewer)[0] is \
        risk_map.map_figure(ctx, 1, "expected_count", ["cameras"], None, admin)[0]


def test_map_is_rebuilt_when_the_cameras_change(tmp_path):
    from dashboards.pages import PageContext

    fake = FakeProvider(n_cells=100, seed=3, accounts=ACCOUNTS)
    # Layer fingerprints re-read on every request here (30 s in the app).
    ctx = PageContext(provider=fake, recorder=fake, layer_versions=FigureCache(size=4, ttl=0.0))
    before, _ = risk_map.map_figure(ctx, 1, "expected_count", ["cameras"], None, None)
    assert risk_map.map_figure(ctx, 1, "expected_count", ["cameras"], None, None)[0] is before
    assert risk_map.map_figure(ctx, 1, "expected_count", [], None, None)[0] is not before
    fake._cameras = fake._cameras.iloc[1:]  # one camera retired under the running server
    after, _ = risk_map.map_figure(ctx, 1, "expected_count", ["cameras"], None, None)
    assert after is not before
    n_markers = [len(t["text"]) for t in decoded(after)["data"] if t.get("name") == "cameras"]
    assert n_markers == [len(fake._cameras)]


def test_cached_cell_panel_equals_a_fresh_one_and_is_kept_per_run_and_cell(ctx, fake):
    fc = fake.forecast(3)
    row = fc.iloc[7]
    click = {"points": [{"curveNumber": 0, "x": int(row["col"] - fc["col"].min()),
                         "y": int(row["row"] - fc["row"].min())}]}
    cell, panel = risk_map.cell_panel(ctx, 3, click)
    assert risk_map.cell_panel(ctx, 3, click)[1] is panel
    assert decoded(panel) == _fresh_json(risk_map.panel_children(ctx, 3, cell))
    other_run = risk_map.cell_panel(ctx, 1, click)[1]
    assert other_run is not panel
    assert ("panel", 3, cell) in ctx.panels._items and ("panel", 1, cell) in ctx.panels._items


def test_map_callback_over_http_sends_the_cached_figure(app, ctx):
    c = app.server.test_client()
    _sign_in(c, "vic", "viewer-password")
    body = {"output": f"..{ids.MAP_GRAPH}.figure...{ids.MAP_STATUS}.children..",
            "outputs": [{"id": ids.MAP_GRAPH, "property": "figure"}, {"id": ids.MAP_STATUS, "property": "children"}],
            "inputs": [{"id": ids.MAP_PERIOD, "property": "value", "value": 3},
                       {"id": ids.MAP_MEASURE, "property": "value", "value": "expected_count"},
                       {"id": ids.MAP_LAYERS, "property": "value", "value": ["cameras"]},
                       {"id": ids.MAP_SELECTED_CELL, "property": "data", "value": None}],
            "changedPropIds": [f"{ids.MAP_PERIOD}.value"],
            "state": [{"id": ids.MAP_GRAPH, "property": "relayoutData", "value": None}]}
    r = c.post("/_dash-update-component", json=body)
    assert r.status_code == 200
    got = r.get_json()["response"]
    fresh, status = risk_map._build_map(ctx, 3, "expected_count", ["cameras"], None)
    assert got[ids.MAP_GRAPH]["figure"] == _fresh_json(fresh) and got[ids.MAP_STATUS]["children"] == status
    assert b"<" not in r.data  # still HTML-safe, as Dash's own encoding is


def test_selecting_a_cell_sends_only_its_outline(ctx, fake):
    cell = fake.forecast(2)["cell_id"].iloc[4]
    patch = risk_map.selection_patch(ctx, 2, cell).to_plotly_json()
    full, _ = risk_map.map_figure(ctx, 2, "expected_count", ["cameras"], cell, None)
    shapes = decoded(full)["layout"]["shapes"]
    assert len(shapes) == 1 and shapes[0]["type"] == "rect"
    assert patch["operations"] == [{"operation": "Assign", "location": ["layout", "shapes"],
                                    "params": {"value": shapes}}]
    cleared = risk_map.selection_patch(ctx, 2, None).to_plotly_json()
    assert cleared["operations"][0]["params"]["value"] == []


def test_selection_callback_over_http_is_a_small_patch(app, fake):
    c = app.server.test_client()
    _sign_in(c, "vic", "viewer-password")
    cell = fake.forecast(1)["cell_id"].iloc[0]
    body = {"output": f"..{ids.MAP_GRAPH}.figure...{ids.MAP_STATUS}.children..",
            "outputs": [{"id": ids.MAP_GRAPH, "property": "figure"}, {"id": ids.MAP_STATUS, "property": "children"}],
            "inputs": [{"id": ids.MAP_PERIOD, "property": "value", "value": 1},
                       {"id": ids.MAP_MEASURE, "property": "value", "value": "expected_count"},
                       {"id": ids.MAP_LAYERS, "property": "value", "value": ["cameras"]},
                       {"id": ids.MAP_SELECTED_CELL, "property": "data", "value": cell}],
            "changedPropIds": [f"{ids.MAP_SELECTED_CELL}.data"],
            "state": [{"id": ids.MAP_GRAPH, "property": "relayoutData", "value": None}]}
    r = c.post("/_dash-update-component", json=body)
    assert r.status_code == 200 and len(r.data) < 1000
    got = r.get_json()["response"]
    assert got[ids.MAP_GRAPH]["figure"]["operations"][0]["location"] == ["layout", "shapes"]
    assert ids.MAP_STATUS not in got
    body["changedPropIds"] = [f"{ids.MAP_PERIOD}.value"]  # a period change with a cell selected: the whole map
    whole = c.post("/_dash-update-component", json=body).get_json()["response"][ids.MAP_GRAPH]["figure"]
    assert whole["data"][0]["type"] == "heatmap" and len(whole["layout"]["shapes"]) == 1
