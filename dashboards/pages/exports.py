"""Exports: patrol plans for a shift and area, downloadable in every format the export code provides."""

from __future__ import annotations

from dash import Input, Output, State, dcc, html, no_update

from dashboards import ids, tables
from dashboards.auth import current_user
from dashboards.contracts import area_names
from dashboards.pages.cameras import shift_options

PATH = "/exports"
TITLE = "Exports"
ALL_AREAS = "__all__"


def layout(ctx):
    """Shift, area and format selectors, a preview of the plan, and the download button."""
    options = shift_options(ctx)
    areas = [{"label": "whole study area", "value": ALL_AREAS}] + \
        [{"label": a, "value": a} for a in area_names(ctx.provider.boundaries())]
    formats = ctx.provider.export_formats()
    return html.Div([
        html.Div([
            _field("Shift", dcc.Dropdown(id=ids.EXPORT_PERIOD, options=options, clearable=False, searchable=False,
                                         value=tables.default_period(options), style={"minWidth": "360px"})),
            _field("Area", dcc.Dropdown(id=ids.EXPORT_AREA, options=areas, value=ALL_AREAS, clearable=False,
                                        searchable=False,
                                        style={"minWidth": "220px"})),
            _field("Format", dcc.Dropdown(id=ids.EXPORT_FORMAT, options=formats, value=formats[0], clearable=False,
                                          searchable=False,
                                          style={"minWidth": "120px"})),
            html.Button("Download patrol plan", id=ids.EXPORT_BUTTON, className="cc-button"),
        ], className="cc-controls"),
        html.Div(id=ids.EXPORT_MESSAGE, className="cc-message"),
        html.H3("Patrol plan: hotspots and visits" + (" (simulated city)" if ctx.provider.simulated() else "")),
        html.Div(id=ids.EXPORT_PREVIEW),
        dcc.Download(id=ids.EXPORT_DOWNLOAD),
    ])


def _field(label, control):
    return html.Div([html.Label(label, className="cc-label"), control], className="cc-field")


def _area(value):
    return None if value in (None, ALL_AREAS) else value


def preview(ctx, run_id, area):
    """The plan's hotspot table."""
    if run_id is None:
        return html.P("No forecast stored yet.")
    return tables.html_table(tables.plan_table(ctx.provider.patrol_plan(int(run_id), _area(area))), "plan-table")


def download(ctx, run_id, area, fmt, user):
    """The file for ``dcc.Download`` and a message; the export job audits every download as it makes it."""
    if run_id is None:
        return no_update, "Nothing to export: no forecast stored."
    name, content = ctx.provider.export_plan(int(run_id), _area(area), fmt, user.username if user else None)
    return dcc.send_bytes(content, name), f"Downloaded {name} ({len(content):,} bytes)."


def register(app, ctx) -> None:
    """Wire the callbacks."""

    @app.callback(Output(ids.EXPORT_PREVIEW, "children"), Input(ids.EXPORT_PERIOD, "value"),
                  Input(ids.EXPORT_AREA, "value"))
    def _preview(run_id, area):
        return preview(ctx, run_id, area)

    @app.callback(Output(ids.EXPORT_DOWNLOAD, "data"), Output(ids.EXPORT_MESSAGE, "children"),
                  Input(ids.EXPORT_BUTTON, "n_clicks"), State(ids.EXPORT_PERIOD, "value"),
                  State(ids.EXPORT_AREA, "value"), State(ids.EXPORT_FORMAT, "value"), prevent_initial_call=True)
    def _download(n, run_id, area, fmt):
        return download(ctx, run_id, area, fmt, current_user()) if n else (no_update, no_update)
