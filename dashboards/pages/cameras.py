"""Cameras: for the selected shift, feeds ranked by monitoring priority, why, and coverage gaps."""

from __future__ import annotations

from dash import Input, Output, dcc, html

from dashboards import figures, ids, tables
from dashboards.auth import current_user

PATH = "/cameras"
TITLE = "Cameras"


def shift_options(ctx):
    """Shift runs when there are any (the control room plans by shift), else every run."""
    runs = ctx.provider.forecast_runs()
    options = tables.period_options(runs, "shift", None, ctx.timezone)
    return options or tables.period_options(runs, None, None, ctx.timezone)


def layout(ctx):
    """Shift selector, the ranked list on the left, the map with the chosen camera on the right."""
    options = shift_options(ctx)
    return html.Div([
        html.Div([html.Div([html.Label("Shift", className="cc-label"),
                            dcc.Dropdown(id=ids.CAM_PERIOD, options=options, clearable=False,
                                         value=tables.default_period(options),
                                         style={"minWidth": "360px"})], className="cc-field")],
                 className="cc-controls"),
        html.Div([
            html.Div([html.H3("Feeds to watch, by priority"),
                      html.P("Expected incidents in each camera's view this shift; overlapping views are counted "
                             "once (greedy maximum coverage).", className="cc-note"),
                      dcc.RadioItems(id=ids.CAM_LIST, options=[], className="cc-camlist"),
                      html.Div(id=ids.CAM_WHY, className="cc-why")], className="cc-panel cc-wide"),
            html.Div([dcc.Graph(id=ids.CAM_MAP, style={"height": "560px"}, config={"displaylogo": False}),
                      html.H3("Coverage gaps: high-risk cells no camera sees"),
                      html.Div(id=ids.CAM_GAPS)], className="cc-map"),
        ], className="cc-row"),
    ])


def ranking(ctx, run_id, user=None):
    """Radio options of the ranked cameras, the first camera, and the gaps table."""
    if run_id is None:
        return [], None, html.P("No forecast stored yet.")
    priority, gaps = ctx.provider.camera_priority(int(run_id))
    if user is not None:
        ctx.recorder.audit(user.username, "view", target=f"forecast_run:{int(run_id)}", details={"page": "cameras"})
    options = [{"label": html.Span([html.B(f"#{r.rank} {r.camera_id}"), f" {r.name} ",
                                    html.Span(f"{r.expected_in_view:.2f} expected in view", className="cc-num")]),
                "value": str(r.camera_id)} for r in priority.itertuples()]
    share = gaps.attrs.get("unseen_share")
    note = html.P(f"{share:.0%} of the risk of the 20 highest-risk cells is in no camera's view."
                  if share is not None else "", className="cc-note")
    return options, (options[0]["value"] if options else None), [note, tables.html_table(tables.gaps_table(gaps))]


def camera_view(ctx, run_id, camera_id):
    """The map with the chosen camera highlighted, and why it ranks where it does."""
    if run_id is None:
        return figures.empty_figure("No forecast stored yet: run `crimecast forecast --period shift`.", 560), ""
    p = ctx.provider
    runs = p.forecast_runs()
    run = runs[runs["id"] == int(run_id)].iloc[0]
    fig = figures.risk_map_figure(p.forecast(int(run_id)), crs=p.grid_crs(int(run["grid_id"])), cameras=p.cameras(),
                                  layers=["cameras"], highlight_camera=camera_id, height=560,
                                  title=("Simulated city: " if p.simulated() else "") + tables.period_label(
                                      run, ctx.timezone), tile_url=ctx.settings.tile_url,
                                  map_style=ctx.settings.map_style)
    why = ""
    if camera_id is not None:
        priority, _ = p.camera_priority(int(run_id))
        hit = priority[priority["camera_id"] == str(camera_id)]
        if len(hit):
            why = html.P(hit["why"].iloc[0])
    return fig, why


def register(app, ctx) -> None:
    """Wire the callbacks."""

    @app.callback(Output(ids.CAM_LIST, "options"), Output(ids.CAM_LIST, "value"), Output(ids.CAM_GAPS, "children"),
                  Input(ids.CAM_PERIOD, "value"))
    def _rank(run_id):
        return ranking(ctx, run_id, current_user())

    @app.callback(Output(ids.CAM_MAP, "figure"), Output(ids.CAM_WHY, "children"),
                  Input(ids.CAM_PERIOD, "value"), Input(ids.CAM_LIST, "value"))
    def _view(run_id, camera_id):
        return camera_view(ctx, run_id, camera_id)
