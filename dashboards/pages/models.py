"""Models: backtests side by side, capture curves, model versions, and background retrains."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

from dash import Input, Output, State, dcc, html, no_update

from dashboards import figures, ids, tables
from dashboards.auth import PermissionDenied, current_user, require_role

PATH = "/models"
TITLE = "Models"
POLL_MS = 2000


def layout(ctx):
    """Latest backtest, capture curves, versions, and the retrain/backtest controls with a task list."""
    bts = ctx.provider.backtests()
    targets = list(bts[0].metrics.get("targets", {})) if bts else []
    return html.Div([
        html.Div([
            html.Div([html.H3(backtest_heading(bts)),
                      html.Div(id=ids.MODELS_BACKTEST_INFO, className="cc-note"),
                      dcc.Dropdown(id=ids.MODELS_TARGET, options=targets, value=targets[0] if targets else None,
                                   searchable=False,
                                   clearable=False, style={"maxWidth": "260px"}),
                      html.Div(id=ids.MODELS_TABLE, className="cc-scroll"),
                      dcc.Graph(id=ids.MODELS_CURVES, config={"displaylogo": False})], className="cc-map"),
            html.Div([
                html.H3("Retrain or backtest (analysts)"),
                html.P("Runs in the background; progress appears below and other users are not blocked.",
                       className="cc-note"),
                html.Label("Period", className="cc-label"),
                dcc.RadioItems(id=ids.RETRAIN_PERIOD, options=["week", "day", "shift"], value="week", inline=True),
                html.Button("Retrain now", id=ids.RETRAIN_BUTTON, className="cc-button"),
                html.Div([html.Label("Backtest from", className="cc-label"),
                          dcc.Input(id=ids.BACKTEST_START, type="text", value="2024-01-01", size="10"),
                          html.Label("to", className="cc-label"),
                          dcc.Input(id=ids.BACKTEST_END, type="text", value="2024-06-30", size="10")]),
                html.Button("Run backtest", id=ids.BACKTEST_BUTTON, className="cc-button"),
                html.Div(id=ids.TASK_MESSAGE, className="cc-message"),
                html.H4("Background tasks"),
                html.Div(id=ids.TASKS_TABLE, className="cc-scroll"),
                dcc.Interval(id=ids.TASKS_INTERVAL, interval=POLL_MS),
            ], className="cc-panel cc-wide"),
        ], className="cc-row"),
        html.H3("Model versions and their training windows"),
        html.Div(tables.html_table(tables.versions_table(ctx.provider.model_versions())), id=ids.MODELS_VERSIONS,
                 className="cc-scroll"),
    ])


def backtest_heading(bts) -> str:
    """The heading names the backtest's data set, so a real-data backtest is never read as the simulated city's."""
    dataset = (bts[0].metrics or {}).get("dataset") if bts else None
    return f"Latest backtest ({dataset}): every model side by side" if dataset else \
        "Latest backtest: every model side by side"


def backtest_view(ctx, target):
    """Backtest description, the side-by-side table and the capture-curve figure."""
    bts = ctx.provider.backtests()
    if not bts or target is None:
        return ("No backtest stored yet: run `crimecast backtest`.", None,
                figures.empty_figure("No backtest stored yet: run `crimecast backtest`.", 360))
    b = bts[0]
    m = b.metrics
    dataset = m.get("dataset") or "dataset not recorded"
    info = (f"Backtest {b.id} on {dataset}: {m.get('n_periods', '?')} {b.period}s on {m.get('n_cells', '?')} cells of "
            f"{m.get('cell_size_m', '?')} m, {b.created_at:%Y-%m-%d}" + (f" by {b.created_by}" if b.created_by else "")
            + ". " + str(m.get("note", "")))
    return info, tables.html_table(tables.backtest_table(m, target)), figures.capture_curve_figure(m, target)


_START_LOCK = threading.Lock()


def start_task(ctx, kind: str, params: dict):
    """Start a retrain or backtest if the signed-in account is an analyst (re-checked server-side)."""
    try:
        account = require_role("analyst")
    except PermissionDenied as exc:
        user = current_user()
        ctx.recorder.audit(user.username if user else None, "denied", target=kind, details={"reason": str(exc)})
        return html.Span(f"Refused: {exc}.", className="cc-error")
    with _START_LOCK:  # two quick clicks must not both pass the cap
        active = ctx.provider.tasks()
        mine = active[(active["created_by"] == account.username) & active["status"].isin(("queued", "running"))]
        cap = ctx.settings.max_tasks_per_user
        if len(mine) >= cap:
            ctx.recorder.audit(account.username, "denied", target=kind, details={"reason": "task cap"})
            return html.Span(f"Refused: {account.username} already runs {len(mine)} task(s) (at most {cap} at "
                             "once); wait for one to finish.", className="cc-error")
        task_id = ctx.recorder.start_task(kind, params, account.username)
    ctx.recorder.audit(account.username, "retrain" if kind == "train" else "backtest", target=f"task:{task_id}",
                       details=params)
    return html.Span(f"Started {kind} as task {task_id}; progress below.", className="cc-ok")


def register(app, ctx) -> None:
    """Wire the callbacks."""

    @app.callback(Output(ids.MODELS_BACKTEST_INFO, "children"), Output(ids.MODELS_TABLE, "children"),
                  Output(ids.MODELS_CURVES, "figure"), Input(ids.MODELS_TARGET, "value"))
    def _backtest(target):
        return backtest_view(ctx, target)

    @app.callback(Output(ids.TASK_MESSAGE, "children", allow_duplicate=True), Input(ids.RETRAIN_BUTTON, "n_clicks"),
                  State(ids.RETRAIN_PERIOD, "value"), prevent_initial_call=True)
    def _retrain(n, period):
        return start_task(ctx, "train", {"period": period}) if n else no_update

    @app.callback(Output(ids.TASK_MESSAGE, "children", allow_duplicate=True), Input(ids.BACKTEST_BUTTON, "n_clicks"),
                  State(ids.RETRAIN_PERIOD, "value"), State(ids.BACKTEST_START, "value"),
                  State(ids.BACKTEST_END, "value"), prevent_initial_call=True)
    def _backtest_run(n, period, start, end):
        if not n:
            return no_update
        out = Path(ctx.backtest_out_dir) / datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        return start_task(ctx, "backtest", {"start": start, "end": end, "period": period, "out": str(out)})

    @app.callback(Output(ids.TASKS_TABLE, "children"), Input(ids.TASKS_INTERVAL, "n_intervals"))
    def _tasks(_):
        return tables.html_table(tables.tasks_table(ctx.provider.tasks().head(10)))
