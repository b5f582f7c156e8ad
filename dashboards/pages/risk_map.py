"""Risk map: cells coloured by forecast risk, a period selector, layers, and a cell panel with reasons."""

from __future__ import annotations

from functools import partial

from dash import Input, Output, State, dcc, html, no_update

from dashboards import figures, ids, tables
from dashboards.auth import current_user
from dashboards.figure_cache import encoded
from forecasting.errors import DataError

PATH = "/"
TITLE = "Risk map"
PERIOD_KINDS = ("week", "day", "shift")
#: Runs with more cells than this are drawn per view (cells in view; blocks of cells far out); smaller ones whole.
VIEWPORT_CELLS = 250_000


def layout(ctx):
    """Controls on top, the map on the left, the cell panel on the right."""
    runs = ctx.provider.forecast_runs()
    kinds = [k for k in PERIOD_KINDS if k in set(runs["period"])] or list(PERIOD_KINDS)
    cats = sorted(set(runs["category"])) or ["all"]
    kind = kinds[0]
    category = "all" if "all" in cats else cats[0]
    options = _period_options(ctx, runs, kind, category)
    return html.Div([
        html.Div([
            _field("Period", dcc.RadioItems(id=ids.MAP_PERIOD_KIND, options=[{"label": k, "value": k} for k in kinds],
                                            value=kind, inline=True)),
            _field("Forecast for", dcc.Dropdown(id=ids.MAP_PERIOD, options=options, clearable=False, searchable=False,
                                                value=tables.default_period(options),
                                                style={"minWidth": "340px"})),
            _field("Category", dcc.Dropdown(id=ids.MAP_CATEGORY, options=cats, value=category, clearable=False,
                                            searchable=False,
                                            style={"minWidth": "140px"})),
            _field("Colour by", dcc.RadioItems(id=ids.MAP_MEASURE, inline=True, value="expected_count",
                                               options=[{"label": "expected count", "value": "expected_count"},
                                                        {"label": "probability", "value": "probability"}])),
            _field("Layers", dcc.Checklist(id=ids.MAP_LAYERS, inline=True, value=default_layers(ctx.provider),
                                           options=available_layers(ctx.provider))),
        ], className="cc-controls"),
        html.Div(id=ids.MAP_STATUS, className="cc-status"),
        html.Div([
            html.Div(dcc.Graph(id=ids.MAP_GRAPH, config={"displaylogo": False, "scrollZoom": True},
                               style={"height": "640px"}), className="cc-map"),
            html.Div(id=ids.CELL_PANEL, className="cc-panel",
                     children=html.P("Click a cell to see its recent history, its forecast and why.")),
        ], className="cc-row"),
        dcc.Store(id=ids.MAP_SELECTED_CELL),
    ])


def available_layers(provider) -> list[str]:
    """Layers offered: cameras and places, plus streets and boundaries only when there are some."""
    out = ["cameras", "places"]
    if len(provider.streets()):
        out.insert(0, "streets")
    if provider.boundaries():
        out.append("boundaries")
    return out


def default_layers(provider) -> list[str]:
    """Layers ticked on arrival: every available one but places (many markers)."""
    return [layer for layer in available_layers(provider) if layer != "places"]


def map_title(provider, run, tz: str) -> str:
    """The map title: the period, and "simulated city" when the forecasts describe it."""
    label = tables.period_label(run, tz)
    return f"Simulated city: {label}" if provider.simulated() else label


def _period_options(ctx, runs, kind: str, category: str) -> list[dict]:
    """Period options, made once per list of runs (stored runs are immutable: their ids say it all)."""
    key = ("periods", tuple(runs["id"].tolist()), kind, category)
    return ctx.options.get_or(key, lambda: tables.period_options(runs, kind, category, ctx.timezone))


def _field(label, control):
    return html.Div([html.Label(label, className="cc-label"), control], className="cc-field")


def period_choices(ctx, kind: str, category: str, current):
    """Options of the period dropdown for a period kind and category; keeps the current run when listed."""
    options = _period_options(ctx, ctx.provider.forecast_runs(), kind, category)
    values = [o["value"] for o in options]
    return options, (current if current in values else tables.default_period(options))


def map_figure(ctx, run_id, measure: str, layers, selected_cell=None, user=None, relayout=None, zoomed=False):
    """The map of one forecast run (audited as a view), or a placeholder when there is none.

    The figure of a stored run is built and encoded to JSON once, then shared (``ctx.figures``):
    runs are immutable. The key holds the run, measure, layers, selected cell and the version of
    the drawn layers' data (cameras and places can be edited while the server runs), nothing
    about the user: every user may see every run's map. Every view is still audited.

    A run of more than :data:`VIEWPORT_CELLS` cells is drawn for the graph's current view only
    (``relayout``, see :func:`dashboards.figures.viewport`): the cells in view, or blocks of cells
    when many are; its key also holds the view. ``zoomed`` says the call comes from a zoom or pan: a
    small run is already drawn whole (nothing to send), and moving around is not audited as a view.

    Returns
    -------
    tuple
        The figure (an :func:`~dashboards.figure_cache.encoded` JSON fragment, or a placeholder
        figure) and the status line.
    """
    if run_id is None:
        return _empty("No forecast stored yet: run `crimecast forecast`."), "No forecast run selected."
    layers = sorted(layers or [])
    view = _view(ctx, int(run_id), relayout)
    if view is None and zoomed:
        return no_update, no_update
    key = ("map", int(run_id), measure, tuple(layers), selected_cell, layers_version(ctx, layers))
    if view is None:
        build = partial(_encoded_map, ctx, int(run_id), measure, layers, selected_cell)
    else:
        key = (*key, view)
        build = partial(_encoded_view, ctx, int(run_id), measure, layers, selected_cell, view)
    built = ctx.figures.get_or(key, build)
    if built is None:  # not cached: the run may be stored later
        ctx.figures.forget(key)
        return _empty(f"Forecast run {run_id} no longer exists."), f"Forecast run {run_id} not found."
    if user is not None and not zoomed:
        ctx.recorder.audit(user.username, "view", target=f"forecast_run:{int(run_id)}", details={"page": "map"})
    return built


def _view(ctx, run_id: int, relayout):
    """The viewport to draw for a large run on the offline raster map, else None (draw the run whole)."""
    if ctx.settings.tile_url or ctx.settings.map_style != "white-bg":
        return None
    try:
        ext = ctx.provider.forecast_extent(run_id)
    except DataError:
        return None
    if ext["n_cells"] <= VIEWPORT_CELLS or ext["col_min"] is None:
        return None
    return figures.viewport(relayout, ext)


def _run_row(p, run_id: int):
    """The stored run's row from the provider's (cached) run list, or None for an unknown id."""
    runs = p.forecast_runs()
    run = runs[runs["id"] == run_id]
    return None if run.empty else run.iloc[0]


def _build_view(ctx, run_id: int, measure: str, layers: list[str], selected_cell, view):
    p = ctx.provider
    run = _run_row(p, run_id)
    if run is None:
        return None
    ext = p.forecast_extent(run_id)
    if view.block == 1:
        cells = p.forecast_window(run_id, view.col_min, view.col_max, view.row_min, view.row_max)
        status = f"{ext['n_cells']:,} cells; {len(cells):,} around the view, each drawn."
    else:
        cells = figures.block_values(p.forecast_values(run_id), view)
        status = (f"{ext['n_cells']:,} cells; the view drawn as {len(cells):,} blocks of up to "
                  f"{view.block}x{view.block} cells (mean per cell); zoom in for single cells.")
    fig = figures.risk_map_view_figure(
        cells, view=view, extent=ext, frame_cells=p.forecast_frame_cells(run_id), measure=measure,
        crs=p.grid_crs(int(run["grid_id"])), cameras=p.cameras() if "cameras" in layers else None,
        places=p.places() if "places" in layers else None,
        boundaries=p.boundaries() if "boundaries" in layers else None,
        streets=p.streets() if "streets" in layers else None, layers=layers, selected_cell=selected_cell,
        title=map_title(p, run, ctx.timezone))
    return fig, status


def _encoded_view(ctx, run_id: int, measure: str, layers: list[str], selected_cell, view):
    built = _build_view(ctx, run_id, measure, layers, selected_cell, view)
    return None if built is None else (encoded(built[0]), built[1])


def selection_patch(ctx, run_id, selected_cell):
    """Only the outline of the newly selected cell, as a :class:`dash.Patch` of the drawn map, or None.

    A click selects a cell; redrawing the whole map for that (a new figure per selected cell) cost
    a full build and a 0.5 MB response. On the offline raster map the outline is one layout shape,
    so the browser gets just that. None when a full figure is needed (no run, an online tile map).
    """
    from dash import Patch

    if run_id is None or _view(ctx, int(run_id), None) is not None:  # online map, or a large run: a full figure
        return None
    fc = ctx.provider.forecast(int(run_id))
    if not figures.is_raster(fc):
        return None
    patch = Patch()
    patch["layout"]["shapes"] = figures.highlight_shapes(fc, int(fc["col"].min()), int(fc["row"].min()),
                                                         selected_cell)
    return patch


def layers_version(ctx, layers) -> int:
    """A fingerprint of the data of the editable layers drawn (cameras, places), re-read at most every 30 s.

    Streets and boundaries are read once per server; cameras and places can change under a running
    server (``crimecast cameras import``), and a new fingerprint makes new map keys.
    """
    editable = tuple(layer for layer in ("cameras", "places") if layer in layers)
    if not editable:
        return 0
    return ctx.layer_versions.get_or(editable, lambda: _fingerprint(
        [getattr(ctx.provider, layer)() for layer in editable]))


def _fingerprint(frames) -> int:
    import pandas as pd

    return int(sum(int(pd.util.hash_pandas_object(f.astype(str), index=False).sum() % (1 << 61)) for f in frames))


def _encoded_map(ctx, run_id: int, measure: str, layers: list[str], selected_cell):
    built = _build_map(ctx, run_id, measure, layers, selected_cell)
    return None if built is None else (encoded(built[0]), built[1])


def _build_map(ctx, run_id: int, measure: str, layers: list[str], selected_cell):
    p = ctx.provider
    run = _run_row(p, run_id)
    if run is None:
        return None
    fc = p.forecast(run_id)
    fig = figures.risk_map_figure(
        fc, measure=measure, crs=p.grid_crs(int(run["grid_id"])),
        cameras=p.cameras() if "cameras" in layers else None, places=p.places() if "places" in layers else None,
        boundaries=p.boundaries() if "boundaries" in layers else None,
        streets=p.streets() if "streets" in layers else None, layers=layers, selected_cell=selected_cell,
        title=map_title(p, run, ctx.timezone), tile_url=ctx.settings.tile_url, map_style=ctx.settings.map_style)
    status = (f"{len(fc):,} cells; highest expected count {fc['expected_count'].max():.2f} "
              f"(top 1% of cells: {fc['expected_count'].nlargest(max(1, len(fc) // 100)).sum():.1f} expected).")
    return fig, status


def _empty(text: str):
    return figures.empty_figure(text)


def cell_panel(ctx, run_id, click):
    """The selected cell and the panel's children for a click on the map."""
    if run_id is None or not click or not click.get("points"):
        return no_update, no_update
    point = click["points"][0]
    if _view(ctx, int(run_id), None) is not None:  # a large run: look up only the cell under the click
        ext = ctx.provider.forecast_extent(int(run_id))
        meta = {"kind": "raster", "col0": ext["col_min"], "row0": ext["row_min"]}
        col, row = figures.clicked_col_row(meta, point) or (ext["col_min"] - 1, ext["row_min"] - 1)
        fc = ctx.provider.forecast_window(int(run_id), col, col, row, row)
    else:
        fc = ctx.provider.forecast(int(run_id))
        raster = figures.is_raster(fc)
        meta = {"kind": "raster", "col0": int(fc["col"].min()), "row0": int(fc["row"].min())} if raster else {}
    cell = figures.cell_at(fc, meta, point)
    if cell is None:
        return no_update, no_update
    # A stored run's cell panel (history from past incidents, forecast, reasons) is the same for everyone:
    # built and encoded once per (run, cell), in its own cache so that clicks never push maps out.
    return cell, ctx.panels.get_or(("panel", int(run_id), cell),
                                   lambda: encoded(panel_children(ctx, int(run_id), cell)))


def panel_children(ctx, run_id: int, cell_id: str):
    """History chart, forecast figures and the reasons in words, for one cell (a large run reads that cell only)."""
    large = _view(ctx, run_id, None) is not None
    fc = ctx.provider.forecast_cell(run_id, cell_id) if large else ctx.provider.forecast(run_id)
    s = tables.cell_summary(fc, cell_id)
    if large:
        s["n_cells"] = ctx.provider.forecast_extent(run_id)["n_cells"]
    runs = ctx.provider.forecast_runs()
    kind = str(runs.loc[runs["id"] == run_id, "period"].iloc[0])
    history = ctx.provider.cell_history(run_id, cell_id)
    name = figures.cell_names(fc.loc[fc["cell_id"] == cell_id])
    return [
        html.H3(name[0] if len(name) and name[0] != cell_id else f"Cell {cell_id}", id=ids.CELL_NAME),
        html.P([html.B(f"{s['expected_count']:.2f}"), f" incidents expected this {kind} ",
                f"(probability of at least one: {s['probability']:.0%}); rank {s['rank']:,} of {s['n_cells']:,}."],
               id=ids.CELL_FORECAST),
        html.H4("Why"),
        html.Ul([html.Li(r) for r in s["reasons"]], id=ids.CELL_REASONS),
        html.H4(f"Recent {kind}s"),
        dcc.Graph(id=ids.CELL_HISTORY, figure=figures.history_figure(history, s["expected_count"], kind),
                  config={"displayModeBar": False}),
    ]


def _triggered():
    """The id of the input that fired the running callback (None on the first call)."""
    from dash import ctx as dash_ctx

    return dash_ctx.triggered_id


def register(app, ctx) -> None:
    """Wire the callbacks."""

    @app.callback(Output(ids.MAP_PERIOD, "options"), Output(ids.MAP_PERIOD, "value"),
                  Input(ids.MAP_PERIOD_KIND, "value"), Input(ids.MAP_CATEGORY, "value"), State(ids.MAP_PERIOD, "value"))
    def _periods(kind, category, current):
        return period_choices(ctx, kind, category, current)

    @app.callback(Output(ids.MAP_GRAPH, "figure"), Output(ids.MAP_STATUS, "children"),
                  Input(ids.MAP_PERIOD, "value"), Input(ids.MAP_MEASURE, "value"), Input(ids.MAP_LAYERS, "value"),
                  Input(ids.MAP_SELECTED_CELL, "data"), State(ids.MAP_GRAPH, "relayoutData"))
    def _map(run_id, measure, layers, cell, relayout):
        if _triggered() == ids.MAP_SELECTED_CELL:  # only the selection changed: send its outline
            patch = selection_patch(ctx, run_id, cell)
            if patch is not None:
                return patch, no_update
        return map_figure(ctx, run_id, measure, layers, cell, current_user(), relayout)

    # A zoom or pan is its own callback: a large run redraws what is now in view; a small one sends nothing.
    # (In one callback, the zoom Dash reports right after the first draw would overtake that draw.)
    @app.callback(Output(ids.MAP_GRAPH, "figure", allow_duplicate=True),
                  Output(ids.MAP_STATUS, "children", allow_duplicate=True),
                  Input(ids.MAP_GRAPH, "relayoutData"), State(ids.MAP_PERIOD, "value"), State(ids.MAP_MEASURE, "value"),
                  State(ids.MAP_LAYERS, "value"), State(ids.MAP_SELECTED_CELL, "data"), prevent_initial_call=True)
    def _zoom(relayout, run_id, measure, layers, cell):
        return map_figure(ctx, run_id, measure, layers, cell, current_user(), relayout, zoomed=True)

    @app.callback(Output(ids.MAP_SELECTED_CELL, "data"), Output(ids.CELL_PANEL, "children"),
                  Input(ids.MAP_GRAPH, "clickData"), State(ids.MAP_PERIOD, "value"), prevent_initial_call=True)
    def _click(click, run_id):
        return cell_panel(ctx, run_id, click)


__all__ = ["PATH", "TITLE", "available_layers", "cell_panel", "default_layers", "layers_version", "layout",
           "map_figure", "map_title", "panel_children", "period_choices", "register",
           "selection_patch"]
