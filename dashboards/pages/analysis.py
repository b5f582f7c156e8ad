"""Analysis: the emerging-hot-spot map and the Knox near-repeat table of a category and window.

Both come from the analysis job (through the provider); the page only lays them out.
"""

from __future__ import annotations

from dash import Input, Output, State, dcc, html

from dashboards import analysis_figures, ids, tables
from dashboards.auth import current_user
from forecasting.errors import ForecastingError

PATH = "/analysis"
TITLE = "Analysis"


def layout(ctx):
    """Controls on top; the emerging-hot-spot map on the left; the Knox table and counts on the right."""
    try:
        opts = ctx.provider.analysis_options()
    except ForecastingError as exc:
        return html.Div(html.P(f"No analysis yet: {exc}.", className="cc-note"))
    return html.Div([
        html.Div([
            _field("Category", dcc.Dropdown(id=ids.AN_CATEGORY, options=opts["categories"], value="all",
                                            clearable=False, style={"minWidth": "220px"})),
            _field("From", dcc.Input(id=ids.AN_START, type="text", value=opts["start"], size="10")),
            _field("to", dcc.Input(id=ids.AN_END, type="text", value=opts["end"], size="10")),
            html.Button("Analyse", id=ids.AN_RUN, className="cc-button"),
            html.Span(f"Data from {opts['first']} to {opts['last']}.", className="cc-note"),
        ], className="cc-controls"),
        html.Div(id=ids.AN_STATUS, className="cc-status"),
        html.Div([
            html.Div(dcc.Graph(id=ids.AN_MAP, config={"displaylogo": False, "scrollZoom": True},
                               style={"height": "600px"}), className="cc-map"),
            html.Div([
                html.H3("Near repeats (Knox test)"),
                html.P(id=ids.AN_SENTENCE),
                html.Div(id=ids.AN_KNOX),
                html.P("Observed / expected pairs of incidents per distance and time band; expected from "
                       "permutations of the times. * = significant after Benjamini-Hochberg.", className="cc-note"),
                html.H3("Emerging hot spots"),
                html.Div(id=ids.AN_PATTERNS),
                html.P("Gi* per week over the cells and the previous week, FDR-corrected, with a Mann-Kendall "
                       "trend per cell (categories as in ArcGIS Pro; docs/analysis.md).", className="cc-note"),
            ], className="cc-panel"),
        ], className="cc-row"),
    ])


def _field(label, control):
    return html.Div([html.Label(label, className="cc-label"), control], className="cc-field")


def analysis_view(ctx, category: str, start: str, end: str, user=None):
    """Map, pattern counts, Knox table, near-repeat sentence and status for one category and window."""
    import pandas as pd
    import plotly.graph_objects as go

    from forecasting.analysis import incident_label, no_window_sentence

    p = ctx.provider
    try:
        em = p.analysis("emerging", category, start, end)
        nr = p.analysis("near-repeat", category, start, end)
    except ForecastingError as exc:
        return go.Figure(), None, None, None, html.Span(f"Error: {exc}", className="cc-error")
    if user is not None:
        ctx.recorder.audit(user.username, "view", target="analysis",
                           details={"category": category, "start": start, "end": end})
    counts = em.summary()["emerging"]
    patterns = tables.html_table(pd.DataFrame({"pattern": list(counts), "cells": [f"{v:,}" for v in counts.values()]}))
    win = nr.window
    sentence = (win.sentence(incident_label(category)) + "." if win else
                no_window_sentence(nr.meta["alpha"]))
    title = f"{category}: {em.start.date()} to {end} ({em.meta['n_periods']} weeks, {em.meta['n_cells']:,} cells)"
    status = (f"{em.meta['n_events']:,} incidents; Knox on {nr.meta['pairs_in_reach']:,} pairs within "
              f"{nr.meta['distance_bands'][-1]:g} m, {nr.meta['permutations']} permutations (seed "
              f"{nr.meta['random_state']}).")
    return (analysis_figures.emerging_map_figure(em.table, title), patterns,
            tables.html_table(analysis_figures.knox_frame(nr.table, nr.meta["alpha"]), ids.AN_KNOX + "-table"),
            sentence, status)


def register(app, ctx) -> None:
    """Wire the callback."""

    @app.callback(Output(ids.AN_MAP, "figure"), Output(ids.AN_PATTERNS, "children"), Output(ids.AN_KNOX, "children"),
                  Output(ids.AN_SENTENCE, "children"), Output(ids.AN_STATUS, "children"),
                  Input(ids.AN_RUN, "n_clicks"), State(ids.AN_CATEGORY, "value"), State(ids.AN_START, "value"),
                  State(ids.AN_END, "value"))
    def _run(_, category, start, end):
        return analysis_view(ctx, category, start, end, current_user())


__all__ = ["PATH", "TITLE", "analysis_view", "layout", "register"]
