"""Patrol-plan exports: CSV, GeoJSON, KML, iCalendar and a printable PDF briefing.

Every file carries its provenance — the shift and forecast period, the model and model version,
who generated it and when — where its readers look for metadata:

========  ==========================================================================
csv       provenance columns on every row (``shift``, ``period_start``, ``model_version`` ...)
geojson   a top-level ``crimecast`` member, and the same keys in each feature's properties
kml       the document's description and every placemark's ExtendedData
ics       ``X-CRIMECAST-*`` calendar properties and each event's description
pdf       document info (title, subject, keywords, author) and the briefing's header
========  ==========================================================================

Writers are pure: they take a :class:`~forecasting.patrol.PatrolPlan` and a path; recording the
export in the audit log is the caller's job (:mod:`forecasting.jobs.priority`). Outputs describe
places (hotspots, block-level addresses), never persons.

Hostile text in any field (an address, an area name, a user name) is harmless in every format:
CSV cells that a spreadsheet would run as a formula are neutralised (:func:`csv_safe`), KML is
built as an element tree so text is escaped by the XML library, GeoJSON by ``json``, iCalendar by
``icalendar``.

Layer 4: imports ``errors`` and ``patrol``; icalendar, fpdf2 and matplotlib lazily.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from forecasting.errors import ConfigError
from forecasting.patrol import PatrolPlan

#: Formats :func:`write_plan` understands, with their file suffixes.
EXPORT_FORMATS = {"csv": ".csv", "geojson": ".geojson", "kml": ".kml", "ics": ".ics", "pdf": ".pdf"}

#: Provenance keys carried by every export (missing ones are written empty).
PROVENANCE_KEYS = ("shift", "period_start", "period_end", "timezone", "model", "model_version",
                   "forecast_run_ids", "generated_at", "generated_by", "dataset")

_PRODUCT = "crimecast patrol plan"


def provenance(plan: PatrolPlan) -> dict[str, str]:
    """The provenance of a plan as strings (see :data:`PROVENANCE_KEYS`).

    Examples
    --------
    >>> import geopandas as gpd
    >>> p = PatrolPlan(gpd.GeoDataFrame(), pd.DataFrame(), gpd.GeoDataFrame(), {"model": "lgbm"})
    >>> provenance(p)["model"], provenance(p)["shift"]
    ('lgbm', '')
    """
    meta = plan.meta or {}
    out = {}
    for k in PROVENANCE_KEYS:
        v = meta.get(k)
        if isinstance(v, list | tuple):
            v = ",".join(str(x) for x in v)
        out[k] = "" if v is None else str(v)
    return out


def _windows(plan: PatrolPlan) -> pd.Series:
    """``"22:07-22:22; 00:47-01:02"`` per hotspot id."""
    v = plan.visits
    if v.empty:
        return pd.Series(dtype=object)
    txt = v["start"].dt.strftime("%H:%M") + "-" + v["end"].dt.strftime("%H:%M")
    return txt.groupby(v["hotspot_id"].to_numpy()).agg("; ".join)


def hotspot_table(plan: PatrolPlan) -> pd.DataFrame:
    """Flat table of the plan's hotspots (what CSV, GeoJSON and KML carry), with provenance.

    Columns: ``hotspot_id, area, rank, address, longitude, latitude, expected, risk, n_cells,
    cell_ids, visits, patrol_minutes, visit_windows, reasons`` then :data:`PROVENANCE_KEYS`.
    Lists are joined with ``"; "``.
    """
    h = pd.DataFrame(plan.hotspots.drop(columns="geometry", errors="ignore"))
    cols = ["hotspot_id", "area", "rank", "address", "longitude", "latitude", "expected", "risk", "n_cells",
            "cell_ids", "visits", "patrol_minutes", "visit_windows", "reasons"]
    if h.empty:
        return pd.DataFrame(columns=cols + list(PROVENANCE_KEYS))
    out = pd.DataFrame({
        "hotspot_id": h["hotspot_id"], "area": h["area"], "rank": h["rank"].astype(int),
        "address": h["address"].fillna(""), "longitude": h["longitude"].round(6),
        "latitude": h["latitude"].round(6), "expected": h["expected"].astype(float).round(4),
        "risk": h["risk"].astype(float).round(4), "n_cells": h["n_cells"].astype(int),
        "cell_ids": h["cell_ids"].map("; ".join), "visits": h["visits"].astype(int),
        "patrol_minutes": h["patrol_minutes"].astype(float),
        "visit_windows": h["hotspot_id"].map(_windows(plan)).fillna(""),
        "reasons": h["reasons"].map("; ".join),
    })
    for k, v in provenance(plan).items():
        out[k] = v
    return out


# ---------------------------------------------------------------------------- writers
#: First characters that make a spreadsheet read a cell as a formula (OWASP CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells cannot run as spreadsheet formulas.

    OWASP's rule: a text cell starting with ``= + - @``, a tab or a carriage return gets a
    leading single quote, so Excel, LibreOffice and Sheets show it as text. Numbers stay numbers
    (a negative longitude is data, not a formula). Nothing is stripped first, so ``"\\t=1+1"``
    is caught as written.

    Examples
    --------
    >>> safe = csv_safe(pd.DataFrame({"a": ["=1+1", "Main St", "\\t-2+3"], "x": [-1.5, 2.0, 3.0]}))
    >>> safe["a"].tolist(), safe["x"].tolist()
    (["'=1+1", 'Main St', "'\\t-2+3"], [-1.5, 2.0, 3.0])
    """
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            text = out[col].astype(object)
            bad = text.map(lambda v: isinstance(v, str) and v.startswith(_FORMULA_START)).astype(bool)
            out[col] = text.where(~bad, "'" + text[bad].astype(str))
    return out


def write_csv(plan: PatrolPlan, path) -> Path:
    """One row per hotspot (:func:`hotspot_table`), UTF-8 with a header row, formulas neutralised."""
    path = _target(path)
    # RFC 4180 line ends: a carriage return inside a cell is then quoted, never a row break.
    csv_safe(hotspot_table(plan)).to_csv(path, index=False, lineterminator="\r\n")
    return path


def write_geojson(plan: PatrolPlan, path) -> Path:
    """A FeatureCollection of hotspot polygons (EPSG:4326) with a ``crimecast`` provenance member."""
    import shapely

    path = _target(path)
    table = hotspot_table(plan)
    geoms = np.asarray(plan.hotspots.geometry.values, dtype=object) if len(table) else []
    feats = [{"type": "Feature", "properties": _plain(props),
              "geometry": json.loads(shapely.to_geojson(g))}
             for props, g in zip(table.to_dict(orient="records"), geoms, strict=True)]
    doc = {"type": "FeatureCollection", "name": _title(plan),
           "crimecast": {"product": _PRODUCT, **provenance(plan)}, "features": feats}
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def write_kml(plan: PatrolPlan, path) -> Path:
    """KML for in-car GPS and Google Earth.

    Folder ``Hotspots``: one point placemark per hotspot (name = hotspot id and address), with
    every :func:`hotspot_table` column as ExtendedData. Folder ``Hotspot areas``: the polygons.
    Built with :mod:`xml.etree.ElementTree`, which escapes every text and attribute, so
    ``Smith & Sons Street``, ``<`` or ``]]>`` in a name stay text and never add an element.
    """
    from xml.etree import ElementTree as ET

    path = _target(path)
    prov = provenance(plan)
    ET.register_namespace("", _KML_NS)
    root = ET.Element(_k("kml"))
    doc = _sub(root, "Document")
    _sub(doc, "name", _title(plan))
    _sub(doc, "description", "\n".join(f"{k}: {v}" for k, v in prov.items()))
    style = _sub(doc, "Style", id="hotspot-area")
    _sub(_sub(style, "PolyStyle"), "color", "5a0000ff")  # aabbggrr: translucent red
    points = _sub(doc, "Folder")
    _sub(points, "name", "Hotspots")
    areas = _sub(doc, "Folder")
    _sub(areas, "name", "Hotspot areas")
    table = hotspot_table(plan)
    geoms = np.asarray(plan.hotspots.geometry.values, dtype=object) if len(table) else []
    for row, geom in zip(table.to_dict(orient="records"), geoms, strict=True):  # one placemark per hotspot
        label = row["hotspot_id"] + (f" {row['address']}" if row["address"] else "")
        desc = (f"Expected incidents this shift: {row['expected']:.2f}\nVisits: {row['visits']} "
                f"({row['visit_windows']})\nWhy: {row['reasons'] or '-'}")
        pm = _placemark(points, label, desc, row)
        _sub(_sub(pm, "Point"), "coordinates", f"{row['longitude']},{row['latitude']}")
        for part in getattr(geom, "geoms", [geom]):
            pm = _placemark(areas, row["hotspot_id"], desc, {"hotspot_id": row["hotspot_id"],
                            **{k: prov[k] for k in ("shift", "period_start", "model_version")}})
            _sub(pm, "styleUrl", "#hotspot-area")
            poly = _sub(pm, "Polygon")
            _sub(_sub(_sub(poly, "outerBoundaryIs"), "LinearRing"), "coordinates", _coords(part.exterior.coords))
            for ring in part.interiors:
                _sub(_sub(_sub(poly, "innerBoundaryIs"), "LinearRing"), "coordinates", _coords(ring.coords))
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path


_KML_NS = "http://www.opengis.net/kml/2.2"
#: Characters XML 1.0 cannot hold at all (escaping does not help): replaced by U+FFFD.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def _k(tag: str) -> str:
    return f"{{{_KML_NS}}}{tag}"


def _sub(parent, tag: str, text: str | None = None, **attrs):
    """A KML child element; text is escaped by ElementTree, XML-invalid characters replaced."""
    from xml.etree import ElementTree as ET

    el = ET.SubElement(parent, _k(tag), {k: _XML_INVALID.sub("\ufffd", str(v)) for k, v in attrs.items()})
    if text is not None:
        el.text = _XML_INVALID.sub("\ufffd", str(text))
    return el


def _placemark(folder, name: str, description: str, data: dict):
    pm = _sub(folder, "Placemark")
    _sub(pm, "name", name)
    _sub(pm, "description", description)
    ext = _sub(pm, "ExtendedData")
    for k, v in data.items():
        _sub(_sub(ext, "Data", name=k), "value", v)
    return pm


def _coords(coords) -> str:
    return " ".join(f"{x},{y}" for x, y, *_ in coords)


def write_ics(plan: PatrolPlan, path) -> Path:
    """An iCalendar file with one event per visit window (times in UTC).

    Visit times are local to the plan's time zone; one in the repeated autumn hour is read as
    daylight time (the first 01:xx), as on ingest, and one in the skipped spring hour is shifted
    forward.
    """
    from icalendar import Calendar, Event

    path = _target(path)
    prov = provenance(plan)
    tz = (plan.meta or {}).get("timezone") or "UTC"
    cal = Calendar()
    cal.add("prodid", "-//crimecast//patrol plan//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", _title(plan))
    for k, v in prov.items():
        cal.add(f"x-crimecast-{k.replace('_', '-')}", v)
    stamp = _generated_at(plan)
    table = hotspot_table(plan).set_index("hotspot_id") if len(plan.hotspots) else None
    v = plan.visits
    if len(v):
        dst = np.ones(len(v), dtype=bool)  # ambiguous local times: the daylight-time reading
        starts = pd.DatetimeIndex(v["start"]).tz_localize(tz, ambiguous=dst, nonexistent="shift_forward")
        ends = pd.DatetimeIndex(v["end"]).tz_localize(tz, ambiguous=dst, nonexistent="shift_forward")
        n_visits = v.groupby("hotspot_id")["visit"].transform("max")
        for i, row in enumerate(v.itertuples(index=False)):  # one event per visit window
            h = table.loc[row.hotspot_id]
            where = row.address if isinstance(row.address, str) and row.address else \
                f"{row.latitude:.5f}, {row.longitude:.5f}"
            ev = Event()
            uid = hashlib.sha1(f"{prov['shift']}|{prov['period_start']}|{row.area}|{row.hotspot_id}|"
                               f"{row.visit}".encode()).hexdigest()[:20]
            ev.add("uid", f"{uid}@crimecast")
            ev.add("dtstamp", stamp)
            ev.add("dtstart", starts[i].tz_convert("UTC").to_pydatetime())
            ev.add("dtend", ends[i].tz_convert("UTC").to_pydatetime())
            ev.add("summary", f"Patrol visit {row.hotspot_id} ({row.visit}/{int(n_visits.iloc[i])}): {where}")
            ev.add("location", where)
            ev.add("geo", (float(row.latitude), float(row.longitude)))
            ev.add("categories", ["patrol", str(row.area)])
            ev.add("description", (
                f"Hotspot {row.hotspot_id} (area {row.area}); expected incidents this shift "
                f"{float(h['expected']):.2f}. Why: {h['reasons'] or '-'}. Shift {prov['shift']}; "
                f"model {prov['model']} version {prov['model_version']}."))
            cal.add_component(ev)
    path.write_bytes(cal.to_ical())
    return path


def write_pdf(plan: PatrolPlan, path, *, map_image: bool = True, streets: pd.DataFrame | None = None) -> Path:
    """A printable roll-call briefing: header with provenance, a hotspot map and a table.

    The map draws ``streets`` (``name, wkt``) when given, names each hotspot by its address, and
    carries a scale bar and a north arrow; made from the simulated city, it says so.
    """
    from fpdf import FPDF

    path = _target(path)
    prov = provenance(plan)
    font_dir = _font_dir()
    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_title(_title(plan))
    pdf.set_subject(f"Shift {prov['shift']}: {prov['period_start']} to {prov['period_end']} {prov['timezone']}")
    pdf.set_keywords(f"model={prov['model']} model_version={prov['model_version']} "
                     f"forecast_runs={prov['forecast_run_ids']}")
    pdf.set_author(prov["generated_by"] or "crimecast")
    pdf.set_creator("crimecast")
    pdf.add_font("DejaVu", "", str(font_dir / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(font_dir / "DejaVuSans-Bold.ttf"))
    pdf.set_auto_page_break(True, margin=12)
    pdf.add_page()
    pdf.set_font("DejaVu", "B", 15)
    simulated = "SIMULATED CITY - " if prov["dataset"] == "simulated city" else ""
    pdf.cell(0, 8, f"{simulated}Patrol briefing - shift {prov['shift']}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 9)
    lines = [
        f"Period: {prov['period_start']} to {prov['period_end']} ({prov['timezone']})",
        f"Forecast: model {prov['model']}, version {prov['model_version']}, run(s) {prov['forecast_run_ids']}",
        f"Generated {prov['generated_at']} by {prov['generated_by']}",
        "Places to visit, not persons: short visits of 10-16 minutes spread across the shift.",
    ]
    for line in lines:
        pdf.multi_cell(0, 5, line, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    if map_image and len(plan.hotspots):
        pdf.image(_map_png(plan, streets), w=pdf.epw)
        pdf.ln(2)
    table = hotspot_table(plan)
    if table.empty:
        pdf.set_font("DejaVu", "B", 11)
        pdf.cell(0, 8, "No hotspot: no cell has forecast risk this shift.", new_x="LMARGIN", new_y="NEXT")
    else:
        pdf.set_font("DejaVu", "", 7.5)
        header = ("Hotspot", "Area", "Address / location", "Expected", "Visits", "Visit windows", "Why")
        with pdf.table(col_widths=(16, 14, 38, 16, 13, 37, 56), text_align="LEFT",
                       line_height=3.6, first_row_as_headings=True) as t:
            t.row(header)
            for r in table.itertuples(index=False):
                where = r.address or f"{r.latitude:.5f}, {r.longitude:.5f}"
                t.row((r.hotspot_id, str(r.area), where, f"{r.expected:.2f}", str(r.visits),
                       r.visit_windows, r.reasons or "-"))
    pdf.output(str(path))
    return path


def write_plan(plan: PatrolPlan, path, fmt: str | None = None, *, streets: pd.DataFrame | None = None) -> Path:
    """Write ``plan`` in ``fmt`` (default: from the file suffix); see :data:`EXPORT_FORMATS`.

    ``streets`` (``name, wkt``), when given, are drawn on the PDF's map.

    Examples
    --------
    >>> write_plan(None, "plan.xlsx")
    Traceback (most recent call last):
    ...
    forecasting.errors.ConfigError: format must be one of ['csv', 'geojson', 'kml', 'ics', 'pdf']; got 'xlsx'
    """
    path = Path(path)
    fmt = (fmt or path.suffix.lstrip(".")).lower()
    fmt = {"json": "geojson", "ical": "ics"}.get(fmt, fmt)
    writer = {"csv": write_csv, "geojson": write_geojson, "kml": write_kml, "ics": write_ics,
              "pdf": write_pdf}.get(fmt)
    if writer is None:
        raise ConfigError(f"format must be one of {list(EXPORT_FORMATS)}; got {fmt!r}")
    return write_pdf(plan, path, streets=streets) if fmt == "pdf" else writer(plan, path)


# ---------------------------------------------------------------------------- helpers
def _target(path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    return p


def _title(plan: PatrolPlan) -> str:
    prov = provenance(plan)
    simulated = " (simulated city)" if prov["dataset"] == "simulated city" else ""
    return f"{_PRODUCT}{simulated} {prov['shift']}".strip()


def _generated_at(plan: PatrolPlan) -> datetime:
    raw = (plan.meta or {}).get("generated_at")
    if raw:
        ts = pd.Timestamp(raw)
        return (ts.tz_localize("UTC") if ts.tz is None else ts.tz_convert("UTC")).to_pydatetime()
    return datetime.now(UTC)


def _plain(d: dict) -> dict:
    """JSON-safe scalars (numpy numbers to Python)."""
    return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in d.items()}


def _font_dir() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def _street_segments(streets: pd.DataFrame, box) -> tuple[list[np.ndarray], list[str], np.ndarray, np.ndarray]:
    """Street lines clipped to ``box`` (west, south, east, north) as vertex arrays, with each street's
    name, midpoint and end points (``x0, y0, x1, y1``)."""
    import shapely

    geoms = shapely.clip_by_rect(shapely.from_wkt(np.asarray(streets["wkt"], dtype=object)), *box)
    keep = ~shapely.is_empty(geoms)
    geoms, names = geoms[keep], streets["name"].astype(str).to_numpy()[keep]
    parts = shapely.get_parts(geoms)
    coords, idx = shapely.get_coordinates(parts, return_index=True)
    segments = np.split(coords, np.flatnonzero(np.diff(idx)) + 1) if len(coords) else []
    mids = shapely.get_coordinates(shapely.line_interpolate_point(geoms, 0.5, normalized=True))
    xy, geom = shapely.get_coordinates(geoms, return_index=True)
    first = np.searchsorted(geom, np.arange(len(geoms)))
    last = np.searchsorted(geom, np.arange(len(geoms)), side="right") - 1
    ends = np.hstack([xy[first], xy[last]]) if len(xy) else np.zeros((0, 4))
    return segments, list(names), mids, ends


def _street_angles(ends: np.ndarray, lat: float) -> np.ndarray:
    """Text angle (degrees, -90 to 90) of each street from its end points ``x0, y0, x1, y1``, in the map's aspect."""
    if not len(ends):
        return np.zeros(0)
    dx = (ends[:, 2] - ends[:, 0]) * max(np.cos(np.radians(lat)), 0.1)
    angle = np.degrees(np.arctan2(ends[:, 3] - ends[:, 1], dx))
    return (angle + 90) % 180 - 90


def _scale_bar(ax, lat: float) -> None:
    """A scale bar of a round length near a fifth of the map's width, in the lower left corner."""
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    m_per_deg = 111_320.0 * max(np.cos(np.radians(lat)), 0.1)
    width_m = (x1 - x0) * m_per_deg
    nice = np.array([10, 20, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000, 20000])
    length = float(nice[np.searchsorted(nice, width_m / 5, side="right") - 1]) if width_m / 5 >= 10 else 10.0
    bx, by = x0 + (x1 - x0) * 0.04, y0 + (y1 - y0) * 0.05
    ax.plot([bx, bx + length / m_per_deg], [by, by], color="black", lw=2, solid_capstyle="butt")
    ax.text(bx + length / m_per_deg / 2, by + (y1 - y0) * 0.015, f"{length / 1000:g} km" if length >= 1000
            else f"{length:g} m", ha="center", va="bottom", fontsize=6)


def _rings(geoms) -> list[np.ndarray]:
    """Exterior rings of (multi)polygons as coordinate arrays (vectorised with shapely)."""
    import shapely

    parts = shapely.get_parts(np.asarray(geoms, dtype=object))
    coords, idx = shapely.get_coordinates(shapely.get_exterior_ring(parts), return_index=True)
    return np.split(coords, np.flatnonzero(np.diff(idx)) + 1) if len(coords) else []


def _map_png(plan: PatrolPlan, streets: pd.DataFrame | None = None) -> io.BytesIO:
    """A map of the selected cells (shaded by expected incidents), labelled hotspot outlines, streets,
    a scale bar and a north arrow."""
    from matplotlib import colormaps
    from matplotlib.collections import LineCollection, PolyCollection
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure  # a bare Figure renders with Agg; no pyplot, no global backend

    fig = Figure(figsize=(7.5, 5.0), dpi=150)
    ax = fig.add_subplot()
    cells = plan.cells
    if len(cells):
        values = cells["expected_count"].to_numpy(float)
        norm = Normalize(vmin=0, vmax=max(float(values.max()), 1e-9))
        coll = PolyCollection(_rings(cells.geometry.values), array=values, cmap=colormaps["OrRd"], norm=norm,
                              edgecolors="0.6", linewidths=0.3)
        ax.add_collection(coll)
        fig.colorbar(coll, ax=ax, shrink=0.7, label="expected incidents")
    ax.add_collection(PolyCollection(_rings(plan.hotspots.geometry.values), facecolors="none",
                                     edgecolors="black", linewidths=1.0))
    for r in plan.hotspots.itertuples(index=False):  # one label per hotspot
        name = f"{r.hotspot_id} {r.address}" if isinstance(r.address, str) and r.address else r.hotspot_id
        ax.annotate(name, (r.longitude, r.latitude), fontsize=6, ha="center", va="center",
                    fontweight="bold", bbox={"boxstyle": "round,pad=0.15", "fc": "white", "alpha": 0.8})
    ax.autoscale_view()
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    pad_x, pad_y = (x1 - x0) * 0.08, (y1 - y0) * 0.08
    x0, x1, y0, y1 = x0 - pad_x, x1 + pad_x, y0 - pad_y, y1 + pad_y
    if streets is not None and len(streets):
        segments, names, mids, ends = _street_segments(streets, (x0, y0, x1, y1))
        ax.add_collection(LineCollection(segments, colors="0.45", linewidths=0.6, zorder=0))
        # Each name runs along its street (north-south names upright), so parallel streets' names do not collide.
        angles = _street_angles(ends, float(np.nanmean(plan.hotspots["latitude"])))
        for name, (mx, my), angle in zip(names, mids, angles, strict=True):  # one label per street
            ax.annotate(name, (mx, my), fontsize=4.5, color="0.3", ha="center", va="center", zorder=0,
                        rotation=angle, rotation_mode="anchor")
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    lat = float(np.nanmean(plan.hotspots["latitude"]))
    ax.set_aspect(1.0 / max(np.cos(np.radians(lat)), 0.1))
    _scale_bar(ax, lat)
    ax.annotate("N", xy=(0.96, 0.97), xytext=(0.96, 0.86), xycoords="axes fraction", ha="center", va="center",
                fontsize=8, fontweight="bold", arrowprops={"arrowstyle": "-|>", "color": "black", "lw": 1.2})
    ax.set_xticks([])
    ax.set_yticks([])
    title = f"Hotspots, shift {provenance(plan)['shift']}"
    if provenance(plan)["dataset"] == "simulated city":
        title = f"Simulated city: {title}"
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    buf.seek(0)
    return buf
