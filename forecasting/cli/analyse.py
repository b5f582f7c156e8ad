"""``crimecast analyse hotspots|emerging|near-repeat``: the analyst's statistics on the stored incidents.

Thin: parse, call :func:`forecasting.jobs.analysis.run_analysis` (the one engine), print or write.
Heavy libraries are imported inside the commands, never when ``forecasting.cli`` is imported.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from forecasting.cli._common import factory, settings, sub_app
from forecasting.errors import ConfigError

analyse_app = sub_app("Hot-spot significance (Gi*, Local Moran's I), emerging hot spots and near-repeat (Knox) tests.")

CategoryOpt = Annotated[str, typer.Option("--category", help="Category or category group, or 'all'.")]
StartOpt = Annotated[str | None, typer.Option("--start", help="First day (inclusive); default the first incident.")]
EndOpt = Annotated[str | None, typer.Option("--end", help="Last day (inclusive); default the last incident.")]
CellOpt = Annotated[float | None, typer.Option("--cell-size", help="Cell size in metres (default: settings).")]
AlphaOpt = Annotated[float, typer.Option("--alpha", help="False discovery rate (Benjamini-Hochberg).")]
PermOpt = Annotated[int, typer.Option("--permutations", help="Monte Carlo permutations.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of the permutations.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
OutOpt = Annotated[Path | None, typer.Option("--out", help="Write FILE.geojson, FILE.csv or FILE.png.")]
SourceOpt = Annotated[list[str] | None, typer.Option("--source", help="Only incidents of this source (repeatable).")]
TopOpt = Annotated[int, typer.Option("--top", help="Cells to list.")]
NeighOpt = Annotated[str, typer.Option("--contiguity", help="queen or rook neighbours.")]
DistOpt = Annotated[float | None, typer.Option("--distance", help="Distance band in metres instead of contiguity.")]


def _bands(text: str, name: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise ConfigError(f"{name} must be comma-separated numbers such as 0,150,300,450; got {text!r}") from exc


def _run(kind: str, *, category, start, end, cell_size, source, **options):
    from forecasting.jobs.analysis import run_analysis

    return run_analysis(factory(), settings(), kind, category=category, start=start, end=end,
                        cell_size=cell_size, sources=source, **options)


def _finish(result, *, as_json: bool, out: Path | None, top: int, cells: list[dict] | None) -> None:
    from forecasting.analysis import write_result

    if out is not None:
        written = write_result(result, out)
        if not as_json:
            typer.echo(f"wrote {written}", err=True)
    if as_json:
        doc = result.summary()
        if result.kind == "near-repeat":
            doc["bands"] = json.loads(result.table.to_json(orient="records"))
        else:
            doc["top_cells"] = cells or []
        if out is not None:
            doc["out"] = str(out)
        typer.echo(json.dumps(doc, default=str))
    for note in result.meta.get("notes", []) if not as_json else []:
        typer.echo(f"note: {note}", err=True)


def _records(frame) -> list[dict]:
    return json.loads(frame.to_json(orient="records", date_format="iso"))


@analyse_app.command("hotspots")
def hotspots(
    category: CategoryOpt = "all", start: StartOpt = None, end: EndOpt = None, cell_size: CellOpt = None,
    alpha: AlphaOpt = 0.05, permutations: PermOpt = 999, seed: SeedOpt = 0, contiguity: NeighOpt = "queen",
    distance: DistOpt = None, source: SourceOpt = None, top: TopOpt = 10, as_json: JsonOpt = False,
    out: OutOpt = None,
) -> None:
    """Getis-Ord Gi* hot and cold spots (FDR-corrected) and Local Moran's I outliers of one window."""
    r = _run("hotspots", category=category, start=start, end=end, cell_size=cell_size, source=source, alpha=alpha,
             permutations=permutations, random_state=seed, contiguity=contiguity, distance=distance)
    t = r.table
    best = t[t.hot_spot == "hot spot"].nlargest(top, "gi_z")
    cols = ["cell_id", "latitude", "longitude", "count", "gi_z", "gi_q", "moran_type"]
    if not as_json:
        s = r.summary()["hot_spots"]
        typer.echo(f"{r.category}, {r.start.date()} to {(r.end - _day()).date()}: {r.meta['n_events']:,} incidents "
                   f"on {s['cells']:,} cells of {r.meta['cell_size']:g} m")
        typer.echo(f"Gi* at FDR {alpha:g}: {s['hot']:,} hot spots holding {s['share_of_incidents_in_hot_spots']:.1%} "
                   f"of the incidents, {s['cold']:,} cold spots")
        typer.echo(f"Local Moran's I: {s['high_low_outliers']:,} high-low and {s['low_high_outliers']:,} low-high "
                   f"outliers ({permutations} permutations, seed {seed})")
        for row in best.itertuples():
            typer.echo(f"  cell {row.cell_id} at {row.latitude:.5f}, {row.longitude:.5f}: {row.count:g} incidents, "
                       f"z {row.gi_z:.2f}, q {row.gi_q:.2g}, Moran: {row.moran_type}")
    _finish(r, as_json=as_json, out=out, top=top, cells=_records(best[cols]))


@analyse_app.command("emerging")
def emerging(
    category: CategoryOpt = "all", start: StartOpt = None, end: EndOpt = None, cell_size: CellOpt = None,
    period: Annotated[str, typer.Option("--period", help="Time step of the cube: week, day, shift or hour.")] = "week",
    time_lag: Annotated[int, typer.Option("--time-lag", help="Previous periods in each bin's neighbourhood.")] = 1,
    alpha: AlphaOpt = 0.05,
    trend_alpha: Annotated[float, typer.Option("--trend-alpha", help="Mann-Kendall significance.")] = 0.05,
    fdr_family: Annotated[str, typer.Option("--fdr-family", help="cube (all bins) or period (each period).")] = "cube",
    contiguity: NeighOpt = "queen", distance: DistOpt = None, source: SourceOpt = None, top: TopOpt = 10,
    as_json: JsonOpt = False, out: OutOpt = None,
) -> None:
    """Emerging hot spots: Gi* per period over a space-time cube plus a Mann-Kendall trend per cell."""
    r = _run("emerging", category=category, start=start, end=end, cell_size=cell_size, source=source, alpha=alpha,
             trend_alpha=trend_alpha, period=period, time_lag=time_lag, contiguity=contiguity, distance=distance,
             fdr_family=fdr_family)
    t = r.table
    shown = t[t.pattern != "no pattern detected"].sort_values(["pattern", "last_z"], ascending=[True, False])
    shown = shown.groupby("pattern", sort=False).head(3).head(top)
    cols = ["cell_id", "latitude", "longitude", "pattern", "n_hot", "n_cold", "last_z", "trend_z", "trend_p"]
    if not as_json:
        typer.echo(f"{r.category}, {r.start.date()} to {(r.end - _day()).date()}: {r.meta['n_events']:,} incidents, "
                   f"{r.meta['n_cells']:,} cells x {r.meta['n_periods']} {period}s "
                   f"(FDR {alpha:g}, trend {trend_alpha:g})")
        for pattern, n in r.summary()["emerging"].items():
            typer.echo(f"  {pattern:24s} {n:7,d} cells")
        for row in shown.itertuples():
            typer.echo(f"  cell {row.cell_id} at {row.latitude:.5f}, {row.longitude:.5f}: {row.pattern} "
                       f"({row.n_hot} hot / {row.n_cold} cold {period}s, trend z {row.trend_z:+.2f})")
    _finish(r, as_json=as_json, out=out, top=top, cells=_records(shown[cols]))


@analyse_app.command("near-repeat")
def near_repeat(
    category: CategoryOpt = "all", start: StartOpt = None, end: EndOpt = None,
    distance_bands: Annotated[str, typer.Option("--distance-bands", help="Band edges in metres.")] = "0,150,300,450",
    time_bands: Annotated[str, typer.Option("--time-bands", help="Band edges in days.")] = "0,7,14,21",
    permutations: PermOpt = 999, seed: SeedOpt = 0, alpha: AlphaOpt = 0.05, source: SourceOpt = None,
    as_json: JsonOpt = False, out: OutOpt = None,
) -> None:
    """Knox near-repeat test: observed / expected pairs per space-time band (Near Repeat Calculator style)."""
    r = _run("near-repeat", category=category, start=start, end=end, cell_size=None, source=source, alpha=alpha,
             permutations=permutations, random_state=seed,
             distance_bands=_bands(distance_bands, "distance_bands"), time_bands=_bands(time_bands, "time_bands"))
    if not as_json:
        from forecasting.analysis import incident_label, near_repeat_table, no_window_sentence

        typer.echo(f"{r.category}, {r.start.date()} to {(r.end - _day()).date()}: {r.meta['n_events']:,} incidents, "
                   f"{r.meta['pairs_in_reach']:,} pairs within {r.meta['distance_bands'][-1]:g} m; "
                   f"{permutations} permutations of the times, seed {seed}")
        typer.echo(near_repeat_table(r.knox, alpha=alpha))
        win = r.window
        typer.echo(win.sentence(incident_label(r.category)) if win else
                   no_window_sentence(alpha))
    _finish(r, as_json=as_json, out=out, top=0, cells=None)


def _day():
    import pandas as pd

    return pd.Timedelta(days=1)
