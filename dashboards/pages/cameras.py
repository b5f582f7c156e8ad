"""Cameras: for the selected shift, feeds ranked by monitoring priority, why, and coverage gaps."""

from __future__ import annotations

import pandas as pd
from dash import Input, Output, State, dcc, html

from dashboards import figures, ids, tables
from dashboards.auth import current_user
from dashboards.figure_cache import encoded
from dashboards.pages import risk_map
from forecasting.errors import ForecastingError

PATH = "/cameras"
TITLE = "Cameras"


def shift_options(ctx):
    """Shift runs when there are any (the control room plans by shift), else every run."""
    runs = ctx.provider.forecast_runs()
    options = tables.period_options(runs, "shift", None, ctx.timezone)
    return options or tables.period_options(runs, None, None, ctx.timezone)


def layout(ctx):
    """Shift selector; the ranked feeds with the selected feed's reasons beside them; the map."""
    options = shift_options(ctx)
    return html.Div([
        html.Div([html.Div([html.Label("Shift", className="cc-label"),
                            dcc.Dropdown(id=ids.CAM_PERIOD, options=options, clearable=False,
                                         value=tables.default_period(options),
                                         style={"minWidth": "360px"})], className="cc-field")],
                 className="cc-controls"),
        html.Div([
            html.Div([html.H3("Feeds to watch, by priority"),
                      html.P("Ordered by what each feed adds: expected incidents in its view that no "
                             "higher-ranked feed sees (overlapping views count once). 'On its own': expected "
                             "incidents in its view alone.", className="cc-note"),
                      html.Div([
                          html.Div([html.Div([html.Span(h) for h in ("", "Feed", "Adds", "On its own")],
                                             className="cc-camhead"),
                                    dcc.RadioItems(id=ids.CAM_LIST, options=[], className="cc-camlist"),
                                    dcc.Checklist(id=ids.CAM_SHOW_ALL, options=[{"label": " show all cameras",
                                                                                 "value": "all"}], value=[])],
                                   className="cc-camcol"),
                          html.Div(id=ids.CAM_WHY, className="cc-why")], className="cc-camrow"),
                      dcc.Graph(id=ids.CAM_RECORD, style={"height": "240px"}, config={"displaylogo": False})],
                     className="cc-panel cc-cams"),
            html.Div([dcc.Graph(id=ids.CAM_MAP, style={"height": "560px"}, config={"displaylogo": False}),
                      html.H3("Through the shift, hour by hour"),
                      html.Div(id=ids.CAM_HOURS),
                      html.H3("Coverage gaps: high-risk cells no camera sees"),
                      html.Div(id=ids.CAM_GAPS)], className="cc-map"),
        ], className="cc-row"),
    ])


def ranking(ctx, run_id, user=None, show_all=False, current=None):
    """Radio options of the ranked cameras (top 10 unless ``show_all``), the selection, and the gaps table."""
    if run_id is None:
        return [], None, html.P("No forecast stored yet.")
    try:
        priority, gaps = ctx.provider.camera_priority(int(run_id))
    except ForecastingError as exc:  # e.g. no active camera with a view: say so instead of an empty list
        return [], None, html.P(str(exc), className="cc-note")
    if user is not None:
        ctx.recorder.audit(user.username, "view", target=f"forecast_run:{int(run_id)}", details={"page": "cameras"})
    rows = tables.camera_list(priority, show_all=bool(show_all))
    options = [{"label": [html.B(r.label), html.Span(r.adds, className="cc-num"), html.Span(r.own, className="cc-num")],
                "value": r.camera_id} for r in rows.itertuples()]
    values = [o["value"] for o in options]
    value = current if current in values else (values[0] if values else None)
    share = gaps.attrs.get("unseen_share")
    note = html.P(f"{share:.0%} of the risk of the 20 highest-risk cells is in no camera's view."
                  if share is not None else "", className="cc-note")
    return options, value, [note, tables.html_table(tables.gaps_table(gaps))]


def record(ctx, k: int = 4):
    """The chart of the last 30 shifts: priority vs the k busiest vs the static rule."""
    return figures.choice_record_figure(ctx.provider.choice_record(k), k=k)


def hourly(ctx, run_id):
    """The hour-by-hour watch list of the shift, or why there is none."""
    if run_id is None:
        return ""
    watch = ctx.provider.watch_list(int(run_id))
    if watch.empty:
        return html.P("No hourly forecasts stored inside this shift: run `crimecast forecast --period hour` for "
                      "its hours to get a watch list per hour.", className="cc-note")
    return tables.html_table(tables.watch_table(watch), "watch-table")


def camera_view(ctx, run_id, camera_id):
    """The map with the chosen camera highlighted, and why it ranks where it does."""
    if run_id is None:
        return figures.empty_figure("No forecast stored yet: run `crimecast forecast --period shift`.", 560), ""
    p = ctx.provider
    runs = p.forecast_runs()
    run = runs[runs["id"] == int(run_id)].iloc[0]

    def build():
        return encoded(figures.risk_map_figure(
            p.forecast(int(run_id)), crs=p.grid_crs(int(run["grid_id"])), cameras=p.cameras(), layers=["cameras"],
            highlight_camera=camera_id, height=560,
            title=("Simulated city: " if p.simulated() else "") + tables.period_label(run, ctx.timezone),
            tile_url=ctx.settings.tile_url, map_style=ctx.settings.map_style))

    # Built and encoded once per stored run and camera, like the risk map (a new camera list makes new keys).
    key = ("camera-map", int(run_id), camera_id, risk_map.layers_version(ctx, ["cameras"]))
    fig = ctx.figures.get_or(key, build)
    why = ""
    if camera_id is not None:
        try:
            priority, _ = p.camera_priority(int(run_id))
        except ForecastingError:
            priority = pd.DataFrame(columns=["camera_id", "why"])
        hit = priority[priority["camera_id"] == str(camera_id)]
        if len(hit):
            why = html.P(hit["why"].iloc[0])
    return fig, why


def register(app, ctx) -> None:
    """Wire the callbacks."""

    @app.callback(Output(ids.CAM_LIST, "options"), Output(ids.CAM_LIST, "value"), Output(ids.CAM_GAPS, "children"),
                  Input(ids.CAM_PERIOD, "value"), Input(ids.CAM_SHOW_ALL, "value"), State(ids.CAM_LIST, "value"))
    def _rank(run_id, show_all, current):
        return ranking(ctx, run_id, current_user(), bool(show_all), current)

    @app.callback(Output(ids.CAM_RECORD, "figure"), Input(ids.CAM_PERIOD, "value"))
    def _record(_run_id):
        return record(ctx)

    @app.callback(Output(ids.CAM_HOURS, "children"), Input(ids.CAM_PERIOD, "value"))
    def _hours(run_id):
        return hourly(ctx, run_id)

    @app.callback(Output(ids.CAM_MAP, "figure"), Output(ids.CAM_WHY, "children"),
                  Input(ids.CAM_PERIOD, "value"), Input(ids.CAM_LIST, "value"))
    def _view(run_id, camera_id):
        return camera_view(ctx, run_id, camera_id)
