"""Model cards and the public transparency report, as Markdown and PDF from one document structure.

Layer 4: pure functions from plain dicts (what :mod:`forecasting.jobs.governance` gathers from
the store) to a :class:`Document` (a title and a list of blocks), and two renderers of it. Every
piece of text that came from a user or a file (area names, user names, model parameters) is
passed through :func:`forecasting.fairness.md_escape` by the Markdown renderer and is drawn as
plain text (no markup) by the PDF renderer, so it cannot inject links, HTML or headings.

The transparency report is aggregate and non-operational: it never names a cell, a hotspot or a
location, only areas of a published layer, months and totals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from forecasting.errors import ConfigError
from forecasting.fairness import md_escape

#: What a model card says the forecasts are for, and are not for.
INTENDED_USE = (
    "Ranking places (grid cells) by expected incidents in the next period, so planners can decide where "
    "patrol time and camera attention go; comparing models against simple rules on past data.")
MISUSE = (
    "Not for decisions about persons: outputs describe places and never individuals. Not a reason for a "
    "stop, search or arrest. Not evidence. Not for places or periods outside the training area and window. "
    "Not a measure of where crime happens, only of where it was recorded: patrols and reporting rates shape "
    "the data (see the feedback-loop guard).")
KNOWN_LIMITS = (
    "Recorded incidents under-count crimes that are rarely reported and over-count where police are present.",
    "At the smallest area shares the model can only tie the best simple rule (see the intervals above).",
    "Camera counts are aggregates; outages leave gaps that are stored, not filled.",
    "Area shares depend on the area layer's boundaries; small areas make shares noisy.",
)
#: What the transparency report states about cameras; the schema test enforces it.
CAMERA_STATEMENT = (
    "Cameras contribute counts only: numbers of people, vehicles and cyclists per camera per hour. No image, "
    "face, licence plate, device identifier or person is stored; the database has no column that could "
    "hold one, and a test of the live schema fails if one appears.")


@dataclass
class Document:
    """A title and blocks: ``("h2", text)``, ``("p", text)``, ``("bullets", [text])``,
    ``("table", header, rows)``; text is plain (renderers escape it)."""

    title: str
    blocks: list[tuple] = field(default_factory=list)

    def h2(self, text: str) -> Document:
        self.blocks.append(("h2", text))
        return self

    def p(self, text: str) -> Document:
        self.blocks.append(("p", text))
        return self

    def bullets(self, items) -> Document:
        self.blocks.append(("bullets", [str(i) for i in items]))
        return self

    def table(self, header, rows) -> Document:
        self.blocks.append(("table", [str(h) for h in header], [[str(c) for c in r] for r in rows]))
        return self


def to_markdown(doc: Document) -> str:
    """Markdown of ``doc``; all text escaped (:func:`~forecasting.fairness.md_escape`).

    Examples
    --------
    >>> print(to_markdown(Document("Card").p("a *b* <i>").table(["x"], [["1|2"]])))
    # Card
    <BLANKLINE>
    a \\*b\\* \\<i\\>
    <BLANKLINE>
    | x |
    |---|
    | 1\\|2 |
    <BLANKLINE>
    """
    out = [f"# {md_escape(doc.title)}", ""]
    for b in doc.blocks:
        if b[0] == "h2":
            out += [f"## {md_escape(b[1])}", ""]
        elif b[0] == "p":
            out += [md_escape(b[1]), ""]
        elif b[0] == "bullets":
            out += [f"- {md_escape(i)}" for i in b[1]] + [""]
        elif b[0] == "table":
            out += ["| " + " | ".join(md_escape(h) for h in b[1]) + " |", "|" + "---|" * len(b[1])]
            out += ["| " + " | ".join(md_escape(c) for c in r) + " |" for r in b[2]] + [""]
    return "\n".join(out)


def _pdf_text(text: str) -> str:
    # Control characters would be drawn as boxes or break lines; everything else is drawn literally.
    return "".join(ch if ch.isprintable() else " " for ch in str(text))


def to_pdf(doc: Document, path) -> Path:
    """Write ``doc`` as an A4 PDF (fpdf2, DejaVu fonts: any Unicode text is drawn as plain text)."""
    import matplotlib
    from fpdf import FPDF

    fonts = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_title(_pdf_text(doc.title))
    pdf.set_creator("crimecast")
    pdf.add_font("DejaVu", "", str(fonts / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(fonts / "DejaVuSans-Bold.ttf"))
    pdf.set_auto_page_break(True, margin=12)
    pdf.add_page()
    pdf.set_font("DejaVu", "B", 15)
    pdf.multi_cell(0, 8, _pdf_text(doc.title), new_x="LMARGIN", new_y="NEXT")
    for b in doc.blocks:
        if b[0] == "h2":
            pdf.ln(2)
            pdf.set_font("DejaVu", "B", 12)
            pdf.multi_cell(0, 6, _pdf_text(b[1]), new_x="LMARGIN", new_y="NEXT")
        elif b[0] == "p":
            pdf.set_font("DejaVu", "", 9)
            pdf.multi_cell(0, 4.6, _pdf_text(b[1]), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1)
        elif b[0] == "bullets":
            pdf.set_font("DejaVu", "", 9)
            for item in b[1]:
                pdf.multi_cell(0, 4.6, "- " + _pdf_text(item), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1)
        elif b[0] == "table":
            pdf.set_font("DejaVu", "", 7.5)
            with pdf.table(text_align="LEFT", line_height=3.8, first_row_as_headings=True,
                           markdown=False) as t:
                t.row([_pdf_text(h) for h in b[1]])
                for r in b[2]:
                    t.row([_pdf_text(c) for c in r])
            pdf.ln(2)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(path))
    return path


def write_document(doc: Document, path) -> Path:
    """Write ``doc`` as Markdown (``.md``) or PDF (``.pdf``), chosen by the suffix."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".md":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(to_markdown(doc), encoding="utf-8")
        return path
    if suffix == ".pdf":
        return to_pdf(doc, path)
    raise ConfigError(f"out must end in .md or .pdf; got {str(path)!r}")


# ------------------------------------------------------------------ shared sections
def _pct(x) -> str:
    return "n/a" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.1%}"


def verdict(ci_low: float, ci_high: float) -> str:
    """``wins`` / ``ties`` / ``loses`` from a 95 % interval of a difference (challenger - baseline).

    Examples
    --------
    >>> verdict(0.1, 0.5), verdict(-0.2, 0.3), verdict(-0.5, -0.1)
    ('wins', 'ties (the interval includes no difference)', 'loses')
    """
    if ci_low > 0:
        return "wins"
    if ci_high < 0:
        return "loses"
    return "ties (the interval includes no difference)"


def accuracy_rows(metrics: dict, target: str = "all") -> list[list[str]]:
    """Rows ``share, challenger PAI, strongest simple rule, its PAI, difference [95% CI], p, verdict``."""
    entry = (metrics or {}).get("targets", {}).get(target, {})
    models = entry.get("models", {})
    rows = []
    for key, b in entry.get("bootstrap", {}).items():
        c, base = b["challenger"], b["baseline"]
        rows.append([key, f"{models.get(c, {}).get(f'pai@{key}', float('nan')):.2f}", base,
                     f"{models.get(base, {}).get(f'pai@{key}', float('nan')):.2f}",
                     f"{b['diff']:+.2f} [{b['ci_low']:+.2f}, {b['ci_high']:+.2f}]", _p_text(b),
                     verdict(b["ci_low"], b["ci_high"])])
    return rows


ACCURACY_HEADER = ["area share", "model PAI", "strongest simple rule", "rule PAI", "difference [95% CI]",
                   "one-sided p (Benjamini-Hochberg adjusted)", "verdict"]


def _p_text(b: dict) -> str:
    """The raw bootstrap p and, where the backtest stored it, the one adjusted over its whole table."""
    adj = b.get("p_adjusted")
    return f"{b['p_value']:.3f}" + ("" if adj is None else f" ({adj:.3f})")


def _fairness_blocks(doc: Document, fair: dict | None) -> None:
    doc.h2("Fairness of attention")
    if not fair:
        doc.p("No backtest with fairness figures is stored yet: run `crimecast backtest ... --areas LAYER`.")
        return
    doc.p(f"From the backtest of model {fair.get('model')} over {fair.get('n_periods')} periods. Gini of the "
          "flagged share by " + ("area" if fair.get("n_areas") else "cell") + " (0 = spread evenly); "
          "persistence = share of flagged cells still flagged k periods later. An area is over-attended when "
          f"its share of flagged cells exceeds its share of incidents by more than {fair.get('threshold', 0):.0%} "
          "(percentage points).")
    rows = []
    for key, e in fair.get("by_share", {}).items():
        pers = "; ".join(f"{k}: {_pct(v)}" for k, v in e.get("persistence", {}).items())
        over = e.get("over_attended")
        rows.append([key, f"{e['gini_mean']:.2f} ({e['gini_first']:.2f} to {e['gini_last']:.2f})",
                     f"{e['hhi_mean']:.3f}", pers,
                     "n/a (no area layer)" if over is None else (", ".join(over) or "none")])
    doc.table(["flagged share", "Gini mean (first to last period)", "HHI mean", "persistence (lag: share)",
               "over-attended areas"], rows)


def _calibration_blocks(doc: Document, cal: dict | None) -> None:
    doc.h2("Calibration")
    if not cal or not cal.get("bins"):
        doc.p("No calibration figures are stored: run a backtest.")
        return
    doc.p(f"Cells grouped by forecast expected count (deciles, model {cal.get('model')}): mean forecast against "
          "mean recorded incidents per cell and period. A calibrated model has the two close in every row.")
    doc.table(["decile", "cell-periods", "mean forecast", "mean recorded"],
              [[b["bin"], f"{b['n']:,}", f"{b['predicted']:.4f}", f"{b['observed']:.4f}"] for b in cal["bins"]])


def calibration_bins(scores, counts, n_bins: int = 10) -> list[dict]:
    """Mean forecast and mean recorded count per quantile bin of the forecast (vectorised).

    Examples
    --------
    >>> calibration_bins(np.array([[0.1, 0.1, 0.9, 0.9]]), np.array([[0, 0, 1, 1]]), n_bins=2)
    [{'bin': 1, 'n': 2, 'predicted': 0.1, 'observed': 0.0}, {'bin': 2, 'n': 2, 'predicted': 0.9, 'observed': 1.0}]
    """
    s = np.asarray(scores, dtype=float).ravel()
    y = np.asarray(counts, dtype=float).ravel()
    ranks = np.argsort(np.argsort(s, kind="stable"), kind="stable")
    b = np.minimum((ranks * n_bins) // max(len(s), 1), n_bins - 1)
    n = np.bincount(b, minlength=n_bins)
    ps = np.bincount(b, weights=s, minlength=n_bins)
    os_ = np.bincount(b, weights=y, minlength=n_bins)
    keep = n > 0
    return [{"bin": int(i + 1), "n": int(n[i]), "predicted": float(ps[i] / n[i]), "observed": float(os_[i] / n[i])}
            for i in np.flatnonzero(keep)]


def backtest_calibration(result, target: str = "all") -> dict:
    """Calibration of the backtest's challenger (``lgbm`` when present) for ``metrics.json``."""
    models = [m for m in result.models if m not in result.reference and (m, target) in result.scores]
    if not models:
        return {}
    model = "lgbm" if "lgbm" in models else models[0]
    return {"model": model, "target": target,
            "bins": calibration_bins(result.scores[(model, target)], result.observed[target])}


def _retention_blocks(doc: Document, retention: dict) -> None:
    doc.table(["data", "kept for (days)"], [[k, str(v)] for k, v in retention.items()])


# ------------------------------------------------------------------------ model card
def _guard_line(guard: dict | None) -> str:
    """The feedback-loop guard as the model version recorded it (docs/governance.md)."""
    if not guard:
        return "Feedback-loop guard: not recorded (trained before the guard existed)"
    if not guard.get("enabled"):
        return "Feedback-loop guard: off (trained on raw counts, patrol visits not discounted)"
    if not guard.get("applied"):
        return "Feedback-loop guard: on; no stored patrol visit fell in the training window"
    return (f"Feedback-loop guard: {guard.get('incidents_discounted', 0):,} incidents recorded during "
            f"{guard.get('patrolled_cell_periods', 0):,} patrolled cell-periods weighted "
            f"1/{float(guard.get('uplift', 1)):g}")


def _analysis_blocks(doc: Document, a: dict | None) -> None:
    """The analyst's statistics of the training incidents, as training recorded them (docs/analysis.md)."""
    doc.h2("Near repeats and hot spots in the training data")
    if not a:
        doc.p("Not recorded (trained before training recorded the analyses).")
        return
    if not a.get("enabled"):
        doc.p("Off (setting near_repeat_knox = false): the near-repeat features use the default windows.")
        return
    nr = a.get("near_repeat") or {}
    label = "incidents" if a.get("category") == "all" else f"{a.get('category')} incidents"
    fw = a.get("feature_windows") or {}
    span = f"{str(a.get('start'))[:10]} to {str(a.get('end'))[:10]} (before the training cut-off)"
    if nr.get("bands"):
        tested = nr.get("pairs_tested", nr.get("pairs_in_reach"))
        sample = "" if tested == nr.get("pairs_in_reach") else f", a seeded sample of {tested:,} of them tested"
        doc.p(f"Knox near-repeat test of {nr.get('n_events', 0):,} {label} from {span}: "
              f"{nr.get('pairs_in_reach', 0):,} pairs within the largest distance band{sample}, "
              f"{nr.get('permutations')} permutations (seed {nr.get('random_state')}), Benjamini-Hochberg over "
              f"the bands. " + (f"Finding: {nr['sentence']}." if nr.get("sentence") else
                                f"Finding: {nr.get('note') or 'no near-repeat window'}"))
        doc.table(["distance (m)", "days", "observed pairs", "expected pairs", "Knox ratio", "q"],
                  [[f"{b['distance_from']:g}-{b['distance_to']:g}", f"{b['days_from']:g}-{b['days_to']:g}",
                    f"{b['observed']:,}", f"{b['expected']:,.1f}", f"{b['ratio']:.2f}", f"{b['q']:.3f}"]
                   for b in nr["bands"]])
    else:
        doc.p(f"Knox near-repeat test of {label} from {span}: not run ({nr.get('note') or 'no incidents'}).")
    if fw:
        how = "chosen from this test" if fw.get("chosen_from") == "knox" else "left at the defaults (no window)"
        doc.p(f"Near-repeat feature windows {how}: "
              f"half-lives {', '.join(f'{h:g}' for h in fw.get('half_lives_days', []))} days; surrounding cells "
              f"within {fw.get('near_repeat_ring', 1)} cell(s) of the cell.")
    lines = []
    hot = a.get("hot_spots")
    if hot:
        lines.append(f"Getis-Ord Gi* hot spots (FDR 0.05) over the same window: {hot.get('hot', 0):,} of "
                     f"{hot.get('cells', 0):,} cells, holding {hot.get('share_of_incidents_in_hot_spots', 0):.1%} of "
                     f"the {label}; {hot.get('cold', 0):,} cold spots; Local Moran's I outliers: "
                     f"{hot.get('high_low_outliers', 0):,} High-Low, {hot.get('low_high_outliers', 0):,} Low-High.")
    em = a.get("emerging")
    if em:
        pats = [f"{n:,} {k}" for k, n in em.items() if k != "no pattern detected"]
        lines.append("Emerging hot spots (weekly Gi* and Mann-Kendall trends): "
                     + ("; ".join(pats) if pats else "none") + ".")
    if lines:
        doc.bullets(lines)


def model_card(version: dict, backtest: dict | None, retention: dict[str, int]) -> Document:
    """The model card of one model version.

    Parameters
    ----------
    version : dict
        ``id, name, category, period, train_start, train_end, features, params, metrics, data_hash,
        created_at, created_by`` (a model version row).
    backtest : dict, optional
        ``id, created_at, start, end, metrics`` of the latest backtest of the same period (its
        ``metrics`` hold the accuracy table, ``fairness`` and ``calibration``).
    retention : dict
        Days kept per table (``counts, forecasts, exports, audit``).

    Returns
    -------
    Document

    Examples
    --------
    >>> doc = model_card({"id": 3, "name": "lgbm", "category": "all", "period": "week"}, None, {"audit": 730})
    >>> doc.title
    'Model card: lgbm, category all, week forecasts (version 3)'
    """
    v = version
    doc = Document(f"Model card: {v.get('name')}, category {v.get('category')}, {v.get('period')} forecasts "
                   f"(version {v.get('id')})")
    doc.h2("Intended use").p(INTENDED_USE)
    doc.h2("Misuse").p(MISUSE)
    doc.h2("Data sources and windows")
    doc.bullets([f"Training window: {v.get('train_start') or '?'} to {v.get('train_end') or '?'}",
                 f"Incidents used: {v.get('sources') or 'the incidents stored in the database'}; data hash "
                 f"{v.get('data_hash') or 'n/a'}",
                 f"Created {v.get('created_at') or '?'} by {v.get('created_by') or '?'}",
                 _guard_line((v.get("params") or {}).get("patrol_guard"))])
    feats = v.get("features") or []
    doc.h2("Features")
    doc.p("Computed for each cell from incidents strictly before the forecast origin (counts in windows, "
          "neighbours' counts, decaying histories, calendar), with these settings:" if isinstance(feats, dict)
          else f"{len(feats)} features, computed for each cell from incidents strictly before the forecast origin.")
    if isinstance(feats, dict):
        doc.bullets([f"{k} = {val}" for k, val in feats.items()])
    elif feats:
        doc.bullets([", ".join(map(str, feats[:60])) + (" ..." if len(feats) > 60 else "")])
    _analysis_blocks(doc, (v.get("params") or {}).get("analysis"))
    doc.h2("Accuracy against simple rules")
    if backtest:
        bm = backtest.get("metrics") or {}
        if v.get("name") not in bm.get("targets", {}).get("all", {}).get("models", {}):
            doc.p(f"The latest backtest of {v.get('period')} forecasts did not run {v.get('name')}: the figures "
                  "below describe the models it ran (named in each section), not this version.")
        doc.p(f"Backtest {backtest.get('id')} ({backtest.get('start')} to {backtest.get('end')}, "
              f"{bm.get('n_periods', '?')} periods, {bm.get('n_cells', '?')} cells): PAI = share of incidents "
              "in the flagged area divided by the area share; 95 % intervals from a paired bootstrap of periods.")
        rows = accuracy_rows(bm)
        if rows:
            doc.table(ACCURACY_HEADER, rows)
        else:
            doc.p("The backtest holds no comparison of this model with a simple rule.")
    else:
        doc.p("No backtest stored for this period yet: run `crimecast backtest`.")
    _calibration_blocks(doc, (backtest or {}).get("metrics", {}).get("calibration"))
    _fairness_blocks(doc, (backtest or {}).get("metrics", {}).get("fairness"))
    doc.h2("Retention")
    _retention_blocks(doc, retention)
    doc.h2("Known limits").bullets(KNOWN_LIMITS)
    return doc


# ------------------------------------------------------------------ transparency report
def transparency_report(facts: dict) -> Document:
    """The public transparency report: aggregate and non-operational (no cell, hotspot or location).

    Parameters
    ----------
    facts : dict
        ``generated_at``; ``incidents`` (``total``, ``first``, ``last``, ``by_source`` {source: n});
        ``cameras`` (``cameras``, ``count_rows``); ``retention`` {table: days}; ``backtest`` (as in
        :func:`model_card`, or None); ``audit`` (``by_month``: records ``month, action, events``;
        ``chain``: ``ok, rows``); ``purges`` (records ``at, details``).

    Returns
    -------
    Document
    """
    doc = Document("crimecast transparency report")
    doc.p(f"Generated {facts.get('generated_at')}. This report is aggregate: it names no place smaller than a "
          "published area and gives no forecast of any place.")
    inc = facts.get("incidents") or {}
    doc.h2("What data is used, and for how long")
    doc.p(f"Recorded incidents: {inc.get('total', 0):,} from {inc.get('first') or '-'} to {inc.get('last') or '-'}.")
    if inc.get("by_source"):
        doc.table(["source", "incidents"], [[k, f"{n:,}"] for k, n in inc["by_source"].items()])
    cams = facts.get("cameras") or {}
    doc.p(f"Cameras and counting sites: {cams.get('cameras', 0):,}, with {cams.get('count_rows', 0):,} hourly "
          "count rows kept.")
    doc.p("Data is deleted when older than these limits (crimecast db purge, run daily):")
    _retention_blocks(doc, facts.get("retention") or {})
    doc.h2("Cameras give counts only").p(CAMERA_STATEMENT)
    doc.h2("Accuracy against simple rules")
    bt = facts.get("backtest")
    if bt:
        doc.p(f"Latest backtest ({bt.get('start')} to {bt.get('end')}): how much better the model finds places "
              "with recorded incidents than the best simple rule (for example, last period's counts), with 95 % "
              "intervals. 'ties' means the difference is within chance.")
        rows = accuracy_rows(bt.get("metrics") or {})
        if rows:
            doc.table(ACCURACY_HEADER, rows)
        else:
            doc.p("The latest backtest compares no learned model with a simple rule (run it with lgbm).")
    else:
        doc.p("No backtest stored yet.")
    _fairness_blocks(doc, (bt or {}).get("metrics", {}).get("fairness"))
    doc.h2("Audit statistics")
    audit = facts.get("audit") or {}
    chain = audit.get("chain") or {}
    doc.p(f"The audit log holds {chain.get('rows', 0):,} events in a hash chain; verification "
          + ("passed." if chain.get("ok") else f"FAILED: {chain.get('message', 'unknown')}"))
    by_month = audit.get("by_month") or []
    if by_month:
        actions = ("view", "export", "retrain", "backtest", "sign_in")
        months = sorted({r["month"] for r in by_month})
        cell = {(r["month"], r["action"]): r["events"] for r in by_month}
        doc.table(["month", "views", "exports", "retrains", "backtests", "sign-ins", "all events"],
                  [[m, *[str(cell.get((m, a), 0)) for a in actions],
                    str(sum(e for (mm, _), e in cell.items() if mm == m))] for m in months])
    doc.h2("Purges done")
    purges = facts.get("purges") or []
    if purges:
        doc.table(["when", "activity counts", "forecast runs", "export files", "patrol visits", "audit events"],
                  [[str(p["at"])[:16], *[str(_get(p["details"], k)) for k in
                                        ("counts", "forecast_runs", "export_files", "patrol_visits", "audit_events")]]
                   for p in purges])
    else:
        doc.p("No purge has been run yet.")
    return doc


def _get(d: Any, key: str) -> Any:
    return d.get(key, 0) if isinstance(d, dict) else 0
