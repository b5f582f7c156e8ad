"""Pure table builders: frames in, planner-readable frames (or Dash components) out."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from forecasting.errors import InputError

_PERIOD_FORMAT = {"week": "Week of %a %d %b %Y", "day": "%a %d %b %Y", "shift": "%a %d %b %H:%M",
                  "hour": "%a %d %b %H:%M"}


def period_label(run: Mapping, tz: str | None = None) -> str:
    """A human label of a forecast run's period, e.g. ``"Shift Mon 03 Jun 06:00-14:00 (lgbm, all)"``.

    Examples
    --------
    >>> period_label({"period": "week", "period_start": pd.Timestamp("2024-06-03", tz="UTC"),
    ...               "period_end": pd.Timestamp("2024-06-10", tz="UTC"), "model": "lgbm", "category": "all"})
    'Week of Mon 03 Jun 2024 (lgbm, all)'
    """
    start = pd.Timestamp(run["period_start"])
    end = pd.Timestamp(run["period_end"])
    if tz:
        start, end = start.tz_convert(tz), end.tz_convert(tz)
    fmt = _PERIOD_FORMAT.get(run["period"], "%Y-%m-%d %H:%M")
    text = start.strftime(fmt)
    if run["period"] in ("shift", "hour"):
        text = f"{run['period'].capitalize()} {text}-{end:%H:%M}"
    return f"{text} ({run['model']}, {run['category']})"


def period_options(runs: pd.DataFrame, period: str | None = None, category: str | None = None,
                   tz: str | None = None) -> list[dict]:
    """Dropdown options (``label``, ``value`` = run id) of the stored runs, soonest period first.

    Runs are immutable: re-issuing a forecast adds a run. Each period lists its latest run
    first, then the earlier ones labelled as such (``title`` names the run that superseded them)
    so they stay selectable for comparison.

    Parameters
    ----------
    runs : DataFrame
        ``runs`` contract of :mod:`dashboards.contracts`.
    period : str, optional
        Keep one period kind (``week``, ``day``, ``shift``).
    category : str, optional
        Keep one category.
    """
    sel = runs
    if period:
        sel = sel[sel["period"] == period]
    if category:
        sel = sel[sel["category"] == category]
    key = ["period_start", "model", "category", "period"]
    sel = sel.sort_values(["period_start", "id"], ascending=[True, False])
    latest = sel.groupby(key, sort=False)["id"].transform("max")
    out = []
    for (_, r), newest in zip(sel.iterrows(), latest, strict=True):
        if r["id"] == newest:
            out.append({"label": period_label(r, tz), "value": int(r["id"])})
        else:
            issued = pd.Timestamp(r["issued_at"])
            when = f", issued {issued.tz_convert(tz) if tz else issued:%d %b %H:%M}" if pd.notna(issued) else ""
            out.append({"label": f"{period_label(r, tz)} - earlier run {int(r['id'])}{when}",
                        "value": int(r["id"]), "title": f"superseded by run {int(newest)}"})
    return out


def default_period(options: list[dict]):
    """The value to select first: the newest stored period, normally the coming one.

    Options are listed soonest first; earlier runs are kept for comparing forecast with outcome.
    """
    current = [o for o in options if "title" not in o]  # not superseded by a later run
    return (current or options)[-1]["value"] if options else None


_NEAR_REPEAT = re.compile(r"recent incidents (in this cell|in the surrounding cells) "
                          r"\(near-repeat intensity ([\d.]+), half-life ([\d.]+) days\)( — .+)?")


def readable_reasons(reasons: list[str]) -> list[str]:
    """Reasons in a planner's units, each said once.

    A near-repeat intensity is a recency-weighted count of incidents: each counts 1 at once and
    half after the half-life. Several half-lives of the same place say the same thing, so only the
    first (the strongest reason) is kept. (The wording at the source, ``describe_feature``, is the
    forecasting core's; this keeps stored reasons readable.)

    Examples
    --------
    >>> out = readable_reasons(["recent incidents in this cell (near-repeat intensity 2.4, half-life 7 days)",
    ...                         "recent incidents in this cell (near-repeat intensity 3.1, half-life 28 days)",
    ...                         "5 incidents in this cell in the last 4 weeks"])
    >>> len(out), out[0][:40], out[0][-26:]
    (2, 'about 2.4 recent incidents in this cell,', '(half weight after 7 days)')
    """
    out, seen = [], set()
    for reason in reasons:  # a handful of short strings per cell
        m = _NEAR_REPEAT.fullmatch(str(reason))
        if m:
            if m.group(1) in seen:
                continue
            seen.add(m.group(1))
            # A Knox sentence recorded at training (" — burglary incidents here repeat within ...") is kept.
            reason = (f"about {float(m.group(2)):.1f} recent incidents {m.group(1)}, recent ones counting fully "
                      f"and older ones less (half weight after {m.group(3)} days){m.group(4) or ''}")
        if reason not in out:
            out.append(reason)
    return out


def cell_summary(forecast: pd.DataFrame, cell_id: str) -> dict:
    """What the cell panel shows: id, rank of all cells, expected count, probability, reasons.

    Raises
    ------
    InputError
        When the cell is not in the forecast.
    """
    hit = forecast[forecast["cell_id"] == cell_id]
    if hit.empty:
        raise InputError(f"cell_id {cell_id!r} is not in this forecast")
    r = hit.iloc[0]
    reasons = readable_reasons(list(r["reasons"])) if isinstance(r["reasons"], list | tuple | np.ndarray) else []
    return {"cell_id": cell_id, "rank": int(r["rank"]), "n_cells": int(len(forecast)),
            "expected_count": float(r["expected_count"]), "probability": float(r["probability"]),
            "reasons": reasons or ["No explanation stored: only the highest-risk cells carry reasons."]}


def priority_table(priority: pd.DataFrame, limit: int | None = None) -> pd.DataFrame:
    """Cameras by monitoring priority: rank, camera, expected incidents in view, new, why."""
    out = pd.DataFrame({
        "Rank": priority["rank"].astype(int),
        "Camera": [f"{c} {n}".strip() for c, n in zip(priority["camera_id"], priority["name"], strict=True)],
        "Expected in view": priority["expected_in_view"].map(lambda v: f"{v:.2f}"),
        "Not seen by higher ranks": priority["marginal"].map(lambda v: f"{v:.2f}"),
        "Why": priority["why"],
    })
    return out.head(limit) if limit else out


#: Cameras shown before "show all" on the cameras page.
CAMERA_LIST_TOP = 10


def camera_list(priority: pd.DataFrame, show_all: bool = False, top: int = CAMERA_LIST_TOP) -> pd.DataFrame:
    """The ranked feeds as the cameras page lists them: the top ``top`` unless ``show_all``.

    ``adds`` (expected incidents in view that no higher-ranked feed sees) sets the order;
    ``own`` is the camera's expected incidents in view on its own; both to two decimals.

    Examples
    --------
    >>> p = pd.DataFrame({"rank": [1, 2], "camera_id": ["A", "B"], "name": ["Main St", ""],
    ...                   "expected_in_view": [0.5, 0.4], "marginal": [0.5, 0.1]})
    >>> camera_list(p, top=1).to_dict("records")
    [{'camera_id': 'A', 'label': '#1 A Main St', 'adds': '0.50', 'own': '0.50'}]
    """
    sel = priority if show_all else priority.head(top)
    return pd.DataFrame({
        "camera_id": sel["camera_id"].astype(str).to_numpy(),
        "label": [f"#{int(r)} {c} {n}".strip() for r, c, n in
                  zip(sel["rank"], sel["camera_id"], sel["name"].fillna(""), strict=True)],
        "adds": sel["marginal"].map(lambda v: f"{v:.2f}").to_numpy(),
        "own": sel["expected_in_view"].map(lambda v: f"{v:.2f}").to_numpy(),
    }, columns=["camera_id", "label", "adds", "own"])


def watch_table(watch: pd.DataFrame) -> pd.DataFrame:
    """Hour-by-hour watch list: hour (HH:MM), rank, feed, adds, on its own, why.

    Examples
    --------
    >>> w = pd.DataFrame({"hour": ["2024-03-04T22:00:00"], "rank": [1], "camera_id": ["A"], "name": ["Main"],
    ...                   "marginal": [0.5], "expected_in_view": [0.75], "why": ["..."]})
    >>> watch_table(w).iloc[0].astype(str).tolist()
    ['22:00', '1', 'A Main', '0.50', '0.75', '...']
    """
    return pd.DataFrame({
        "Hour": watch["hour"].astype(str).str[11:16],
        "Rank": watch["rank"].astype(int),
        "Feed": [f"{c} {n}".strip() for c, n in zip(watch["camera_id"], watch["name"].fillna(""), strict=True)],
        "Adds": watch["marginal"].map(lambda v: f"{v:.2f}"),
        "On its own": watch["expected_in_view"].map(lambda v: f"{v:.2f}"),
        "Why": watch["why"],
    })


def gaps_table(gaps: pd.DataFrame, limit: int = 10) -> pd.DataFrame:
    """High-risk cells no camera sees, with their risk rank and first reason."""
    return pd.DataFrame({
        "Cell": gaps["cell_id"].astype(str),
        "Risk rank": gaps["risk_rank"].astype(int),
        "Expected": gaps["risk"].map(lambda v: f"{v:.2f}"),
        "Main reason": gaps["reasons"].map(lambda r: r[0] if isinstance(r, list | tuple) and len(r) else ""),
    }).head(limit)


def backtest_table(metrics: Mapping, target: str = "all", shares: Sequence[float] | None = None) -> pd.DataFrame:
    """Every model side by side: PAI, hit rate and PEI* at each area share (0.5-5 %).

    Parameters
    ----------
    metrics : mapping
        A ``metrics.json`` summary (:func:`forecasting.evaluate.summarise`).
    target : str
    shares : sequence of float, optional
        Default the summary's ``area_shares``.

    Examples
    --------
    >>> from tests.support.synthetic import synthetic_metrics
    >>> backtest_table(synthetic_metrics()).columns[:3].tolist()
    ['Model', 'PAI@0.5%', 'PAI@1%']
    """
    targets = metrics.get("targets", {})
    if target not in targets:
        raise InputError(f"target must be one of {list(targets)}; got {target!r}")
    shares = list(shares or metrics.get("area_shares", []))
    keys = [f"{s * 100:g}%" for s in shares]
    refs = set(metrics.get("references", []))
    rows = []
    for model, m in targets[target]["models"].items():
        row = {"Model": f"{model} (not a forecast)" if model in refs else model}
        for stem, label, fmt in (("pai", "PAI", "{:.2f}"), ("hit_rate", "Hit", "{:.1%}"),
                                 ("pei_star", "PEI*", "{:.2f}")):
            for k in keys:
                v = m.get(f"{stem}@{k}")
                row[f"{label}@{k}"] = "" if v is None or (isinstance(v, float) and np.isnan(v)) else fmt.format(v)
        rows.append(row)
    return pd.DataFrame(rows)


def versions_table(versions: pd.DataFrame) -> pd.DataFrame:
    """Model versions with their training windows."""
    def day(v):
        return "" if v is None or pd.isna(v) else f"{pd.Timestamp(v):%Y-%m-%d}"

    return pd.DataFrame({
        "Version": versions["id"].astype(int), "Model": versions["name"], "Category": versions["category"],
        "Period": versions["period"],
        "Trained on": [f"{day(a)} to {day(b)}" for a, b in zip(versions["train_start"], versions["train_end"],
                                                               strict=True)],
        "Created": versions["created_at"].map(lambda v: "" if pd.isna(v) else f"{pd.Timestamp(v):%Y-%m-%d %H:%M}"),
        "By": versions["created_by"].fillna(""),
    })


def tasks_table(tasks: pd.DataFrame) -> pd.DataFrame:
    """Background tasks with progress as a percentage."""
    return pd.DataFrame({
        "Task": tasks["id"].astype(int), "Kind": tasks["kind"], "Status": tasks["status"],
        "Progress": tasks["progress"].fillna(0).map(lambda v: f"{100 * float(v):.0f}%"),
        "Message": tasks["message"].fillna(""), "By": tasks["created_by"].fillna(""),
    })


def plan_table(plan: pd.DataFrame) -> pd.DataFrame:
    """Hotspots of a patrol plan, reasons joined."""
    return pd.DataFrame({
        "Hotspot": plan["hotspot_id"], "Area": plan["area"], "Rank": plan["rank"],
        "Expected": plan["expected"].map(lambda v: f"{float(v):.2f}"), "Visits": plan["visits"],
        "Why": plan["reasons"].map(lambda r: "; ".join(r) if isinstance(r, list | tuple) else str(r or "")),
    })


def html_table(frame: pd.DataFrame, table_id: str | None = None, class_name: str = "cc-table"):
    """A plain HTML table of a frame (cheaper than a DataTable and readable in screenshots)."""
    from dash import html

    head = html.Thead(html.Tr([html.Th(str(c)) for c in frame.columns]))
    body = html.Tbody([html.Tr([html.Td(str(v)) for v in row]) for row in frame.itertuples(index=False)])
    kw = {"id": table_id} if table_id else {}
    return html.Table([head, body], className=class_name, **kw)
