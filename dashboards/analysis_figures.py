"""Pure builders of the Analysis page: the emerging-hot-spot map and the Knox table (frames in, figures out)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

#: Colour of each emerging hot spot category: hot reds (darker = more established), cold blues.
PATTERN_COLOURS = {
    "new hot spot": "#fcbba1", "consecutive hot spot": "#fc9272", "intensifying hot spot": "#a50f15",
    "persistent hot spot": "#de2d26", "diminishing hot spot": "#fb6a4a", "sporadic hot spot": "#fdae6b",
    "oscillating hot spot": "#e6550d", "historical hot spot": "#9e9ac8",
    "new cold spot": "#c6dbef", "consecutive cold spot": "#9ecae1", "intensifying cold spot": "#08519c",
    "persistent cold spot": "#3182bd", "diminishing cold spot": "#6baed6", "sporadic cold spot": "#bcbddc",
    "oscillating cold spot": "#756bb1", "historical cold spot": "#54278f", "no pattern detected": "#e0e0e0",
}


def emerging_map_figure(table: pd.DataFrame, title: str = "", height: int = 600) -> go.Figure:
    """Cells as squares at their centres, one trace per emerging category (the legend toggles them).

    Parameters
    ----------
    table : DataFrame
        :func:`forecasting.analysis.emerging_hot_spots` output with ``longitude, latitude``.

    Examples
    --------
    >>> t = pd.DataFrame({"cell_id": ["a", "b"], "longitude": [-123.1, -123.09], "latitude": [49.28, 49.28],
    ...     "pattern": ["new hot spot", "no pattern detected"], "n_hot": [1, 0], "n_cold": [0, 0],
    ...     "trend_z": [0.1, 0.0], "total": [3.0, 0.0]})
    >>> [tr.name for tr in emerging_map_figure(t).data]
    ['new hot spot', 'no pattern detected']
    """
    fig = go.Figure()
    present = [p for p in PATTERN_COLOURS if p in set(table["pattern"])]
    for pattern in present:
        g = table[table["pattern"] == pattern]
        text = [f"cell {c}<br>{pattern}<br>{int(t):,} incidents; {h} hot / {k} cold periods; trend z {z:+.2f}"
                for c, t, h, k, z in zip(g["cell_id"], g["total"], g["n_hot"], g["n_cold"], g["trend_z"],
                                         strict=True)]
        fig.add_trace(go.Scattergl(
            x=g["longitude"], y=g["latitude"], mode="markers", name=pattern, text=text, hoverinfo="text",
            customdata=g["cell_id"], marker={"symbol": "square", "size": 7, "color": PATTERN_COLOURS[pattern],
                                             "line": {"width": 0}},
            visible=True if pattern != "no pattern detected" else "legendonly"))
    lat = float(np.nanmean(table["latitude"])) if len(table) else 0.0
    fig.update_layout(
        title=title, height=height, margin={"l": 10, "r": 10, "t": 40, "b": 10}, plot_bgcolor="white",
        legend={"title": "Emerging hot spot analysis", "itemsizing": "constant"},
        xaxis={"visible": False},
        # Degrees of longitude shrink with latitude: keep squares square.
        yaxis={"visible": False, "scaleanchor": "x", "scaleratio": 1 / max(np.cos(np.radians(lat)), 0.1)})
    return fig


def knox_frame(bands: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """The Knox table as the Near Repeat Calculator shows it: distance bands by time bands.

    Each cell reads ``ratio`` and, when significant after Benjamini-Hochberg at ``alpha``, a star
    and the p-value.

    Examples
    --------
    >>> b = pd.DataFrame({"distance_from": [0.0, 0], "distance_to": [150.0, 150], "days_from": [0.0, 7],
    ...     "days_to": [7.0, 14], "ratio": [2.1, 0.98], "p": [0.001, 0.6], "q": [0.002, 0.6]})
    >>> knox_frame(b).to_dict(orient="records")
    [{'distance': '0-150 m', '0-7 days': '2.10* (p 0.001)', '7-14 days': '0.98'}]
    """
    b = bands.assign(distance=[f"{a:g}-{c:g} m" for a, c in zip(bands["distance_from"], bands["distance_to"],
                                                               strict=True)],
                     days=[f"{a:g}-{c:g} days" for a, c in zip(bands["days_from"], bands["days_to"], strict=True)],
                     text=[f"{r:.2f}* (p {p:.2g})" if q < alpha else f"{r:.2f}"
                           for r, p, q in zip(bands["ratio"], bands["p"], bands["q"], strict=True)])
    out = b.pivot(index="distance", columns="days", values="text")
    out = out.loc[list(dict.fromkeys(b["distance"])), list(dict.fromkeys(b["days"]))]
    out.columns.name = None
    return out.reset_index()
