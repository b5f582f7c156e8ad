"""Trust: fairness of attention by area (latest backtest) and the model card of each model version.

Reads the stored backtests and model versions through the provider; the card is built by
:func:`forecasting.jobs.governance.model_card_document` (the engine of ``crimecast report model-card``) and
shown as Markdown whose user-supplied text is escaped, so it cannot inject HTML or links.
"""

from __future__ import annotations

import pandas as pd
from dash import Input, Output, dcc, html

from dashboards import ids, tables

PATH = "/trust"
TITLE = "Trust"


def _latest_fairness(ctx) -> dict | None:
    bts = ctx.provider.backtests()
    return next((b.metrics.get("fairness") for b in bts if b.metrics.get("fairness")), None)


def layout(ctx):
    """Fairness panel (share selector, summary, bar chart, table) and the model-card viewer."""
    fair = _latest_fairness(ctx) or {}
    shares = list(fair.get("by_share", {}))
    versions = ctx.provider.model_versions()
    options = [{"label": f"v{r.id}: {r.name} {r.category} ({r.period})", "value": int(r.id)}
               for r in versions.itertuples()]
    return html.Div([
        html.Div([
            html.H3("Fairness of attention (latest backtest)"),
            dcc.RadioItems(id=ids.TRUST_SHARE, options=shares, value=shares[0] if shares else None, inline=True),
            html.Div(id=ids.TRUST_FAIRNESS_INFO, className="cc-note"),
            dcc.Graph(id=ids.TRUST_FAIRNESS_FIGURE, config={"displaylogo": False}),
            html.Div(id=ids.TRUST_FAIRNESS_TABLE),
        ], className="cc-map"),
        html.H3("Model card"),
        dcc.Dropdown(id=ids.TRUST_VERSION, options=options, value=options[0]["value"] if options else None,
                     clearable=False, style={"maxWidth": "420px"}),
        dcc.Markdown(id=ids.TRUST_CARD, className="cc-card"),
    ])


def fairness_info(fair: dict | None, share: str | None) -> str:
    """One paragraph: concentration, persistence and over-attended areas at ``share``."""
    if not fair or share not in fair.get("by_share", {}):
        return "No backtest with fairness figures yet: run `crimecast backtest ... --areas LAYER`."
    e = fair["by_share"][share]
    pers = ", ".join(f"{k} period(s) later {v:.0%}" for k, v in e["persistence"].items() if v == v)
    over = e.get("over_attended")
    return (f"Model {fair['model']}, top {share} of cells flagged over {fair['n_periods']} periods. Gini of the "
            f"flagged share by {'area' if fair['n_areas'] else 'cell'}: {e['gini_mean']:.2f} on average "
            f"({e['gini_first']:.2f} first period, {e['gini_last']:.2f} last). Still flagged: {pers or 'n/a'}. "
            + ("" if over is None else f"Over-attended (attention share above incident share by more than "
               f"{fair['threshold']:.0%}): {', '.join(over) or 'none'}."))


def fairness_frame(fair: dict | None, share: str | None) -> pd.DataFrame:
    """Areas with their shares (percent strings), largest excess first; empty without an area layer."""
    rows = ((fair or {}).get("by_share", {}).get(share) or {}).get("areas") or []
    if not rows:
        return pd.DataFrame(columns=["area", "flagged share", "incident share", "excess", "over-attended"])
    df = pd.DataFrame(rows).sort_values("excess", ascending=False)
    cols = [c for c in ("flagged_share", "incident_share", "population_share", "visit_share", "camera_share")
            if c in df]
    out = df[["area"]].copy()
    for c in cols:
        out[c.replace("_", " ")] = df[c].map("{:.1%}".format)
    out["excess"] = df["excess"].map("{:+.1%}".format)
    out["over-attended"] = df["over_attended"].map({True: "yes", False: ""})
    return out


def fairness_figure(fair: dict | None, share: str | None):
    """Bars of flagged share against incident share per area (pure; no data access)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    rows = ((fair or {}).get("by_share", {}).get(share) or {}).get("areas") or []
    if rows:
        df = pd.DataFrame(rows).sort_values("incident_share", ascending=False)
        fig.add_bar(name="share of flagged cells", x=df["area"], y=df["flagged_share"])
        fig.add_bar(name="share of incidents", x=df["area"], y=df["incident_share"])
        fig.update_layout(barmode="group", yaxis_tickformat=".0%", margin={"l": 40, "r": 10, "t": 10, "b": 80},
                          height=320, legend={"orientation": "h"})
    else:
        # No area layer in the backtest: say so rather than draw empty axes.
        fig.update_layout(annotations=[{"text": "No shares by area: the backtest had no area layer "
                                                "(`crimecast backtest ... --areas FILE`)", "showarrow": False}],
                          xaxis={"visible": False}, yaxis={"visible": False}, height=120,
                          plot_bgcolor="white", margin={"l": 10, "r": 10, "t": 10, "b": 10})
    return fig


def model_card_markdown(ctx, version_id) -> str:
    """The model card of ``version_id`` as (escaped) Markdown, from the provider's model-card engine."""
    if version_id is None:
        return "No model version stored yet: run `crimecast train`."
    return ctx.provider.model_card(int(version_id))


def register(app, ctx) -> None:
    """Wire the callbacks."""

    @app.callback(Output(ids.TRUST_FAIRNESS_INFO, "children"), Output(ids.TRUST_FAIRNESS_FIGURE, "figure"),
                  Output(ids.TRUST_FAIRNESS_TABLE, "children"), Input(ids.TRUST_SHARE, "value"))
    def _fairness(share):
        fair = _latest_fairness(ctx)
        return (fairness_info(fair, share), fairness_figure(fair, share),
                tables.html_table(fairness_frame(fair, share)))

    @app.callback(Output(ids.TRUST_CARD, "children"), Input(ids.TRUST_VERSION, "value"))
    def _card(version_id):
        return model_card_markdown(ctx, version_id)
