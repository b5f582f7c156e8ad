"""``crimecast ingest cameras|counts|places|areas`` and ``crimecast simulate``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from forecasting.cli._common import factory, settings
from forecasting.cli.ingest import print_summaries, progress, summaries_total


def _report(summaries, as_json: bool, extra_keys: tuple[str, ...] = ()) -> None:
    if as_json:
        total = summaries_total(summaries)
        for k in extra_keys:
            total[k] = sum(getattr(s, k) for s in summaries)
        typer.echo(json.dumps(total))
    else:
        print_summaries(summaries)
        for k in extra_keys:
            n = sum(getattr(s, k) for s in summaries)
            if n:
                typer.echo(f"{k.replace('_', ' ')}: {n:,}")


def ingest_cameras_cmd(
    paths: Annotated[list[Path], typer.Argument(help="CSV/CSV.GZ/ZIP registry, or GeoJSON/GeoPackage (canonical).")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="canonical, leeds, melbourne, auckland or chicago-cta.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
    source: Annotated[str | None, typer.Option(help="Dataset camera ids are unique within (default: format).")] = None,
    default_range: Annotated[float, typer.Option("--default-range", help="View radius, metres.")] = 50.0,
    simulated: Annotated[bool | None, typer.Option("--simulated/--real", help="Flag as simulated (default: file name starts with simulated_).")] = None,  # noqa: E501
) -> None:
    """Ingest a camera / counting-site registry (locations and view polygons, never imagery)."""
    from forecasting.errors import check_positive
    from forecasting.jobs.cameras import ingest_cameras

    check_positive("--default-range", default_range, "metres")
    cfg, f = settings(), factory(create=True)
    out = []
    for p in paths:
        with progress(p, enabled=not as_json) as advance:
            out.append(ingest_cameras(f, cfg, p, fmt, source=source, default_range_m=default_range,
                                      simulated=simulated, progress=advance))
    _report(out, as_json, ("updated",))


def ingest_counts_cmd(
    paths: Annotated[list[Path], typer.Argument(help="CSV, CSV.GZ or ZIP files.")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="canonical, leeds, auckland, melbourne or chicago-cta.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
    source: Annotated[str | None, typer.Option(help="Source of the counted cameras (default: format).")] = None,
) -> None:
    """Ingest aggregate activity counts per camera and hour/day; missing hours become gaps."""
    from forecasting.jobs.cameras import ingest_counts

    cfg, f = settings(), factory(create=True)
    out = []
    for p in paths:
        with progress(p, enabled=not as_json) as advance:
            out.append(ingest_counts(f, cfg, p, fmt, source=source, progress=advance))
    _report(out, as_json, ("blank_cells", "gaps"))


def ingest_places_cmd(
    paths: Annotated[list[Path], typer.Argument(help="CSV/CSV.GZ/ZIP with positions, GeoJSON or GeoPackage.")],
    category: Annotated[str | None, typer.Option(help="Category of every place in the file.")] = None,
    category_column: Annotated[str | None, typer.Option(help="Column holding each place's category.")] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="auto (by suffix): csv, geojson or gpkg.")] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
    source: Annotated[str | None, typer.Option(help="Dataset that place ids are unique within (default: file name).")] = None,  # noqa: E501
    id_column: Annotated[str | None, typer.Option(help="Column of stable place ids (default: a row hash).")] = None,
    name_column: Annotated[str | None, typer.Option(help="Column of names (default: detected).")] = None,
    lon_column: Annotated[str | None, typer.Option(help="Longitude column (default: detected).")] = None,
    lat_column: Annotated[str | None, typer.Option(help="Latitude column (default: detected).")] = None,
    simulated: Annotated[bool | None, typer.Option("--simulated/--real", help="Flag as simulated (default: file name starts with simulated_).")] = None,  # noqa: E501
) -> None:
    """Ingest points of interest by category (risk-terrain layers)."""
    from forecasting.errors import InputError
    from forecasting.jobs.cameras import ingest_places

    if fmt not in ("auto", "csv", "geojson", "gpkg"):
        raise InputError(f"--format must be one of auto, csv, geojson, gpkg; got {fmt!r}")
    cfg, f = settings(), factory(create=True)
    out = []
    for p in paths:
        with progress(p, enabled=not as_json) as advance:
            out.append(ingest_places(f, cfg, p, category=category, category_column=category_column, source=source,
                                     id_column=id_column, name_column=name_column, lon_column=lon_column,
                                     lat_column=lat_column, simulated=simulated, progress=advance))
    _report(out, as_json)


def ingest_areas_cmd(
    path: Annotated[Path, typer.Argument(help="GeoJSON/GeoPackage polygons, or CSV with a WKT column.")],
    layer: Annotated[str, typer.Option(help="Layer name, e.g. population or pedestrian_volume.")],
    value_column: Annotated[str, typer.Option(help="Column holding the value.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
    id_column: Annotated[str | None, typer.Option(help="Column of area ids (default: a row hash).")] = None,
    name_column: Annotated[str | None, typer.Option(help="Column of names (default: detected).")] = None,
    hour_column: Annotated[str | None, typer.Option(help="Column of hour of week (0 = Monday 00:00).")] = None,
) -> None:
    """Ingest an area layer (value per polygon; points with values become Voronoi cells)."""
    from forecasting.jobs.cameras import ingest_areas

    s = ingest_areas(factory(create=True), settings(), path, layer=layer, value_column=value_column,
                     id_column=id_column, name_column=name_column, hour_column=hour_column)
    _report([s], as_json)


def simulate_cmd(
    out: Annotated[Path, typer.Option("--out", help="Directory to write the simulated city into.")],
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same city).")] = 0,
    days: Annotated[int, typer.Option(help="Days of data.")] = 900,
    cameras: Annotated[int, typer.Option(help="Number of cameras.")] = 40,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] = False,
) -> None:
    """Write a simulated city with known truth: incidents (with block addresses), cameras, counts, places, streets."""
    import time

    from forecasting.simulate import SIMULATED_PREFIX, SimulationConfig, simulate_city, write_city
    from forecasting.streets import name_city_streets, write_streets

    t0 = time.perf_counter()
    city = simulate_city(SimulationConfig(seed=seed, days=days, n_cameras=cameras))
    streets = name_city_streets(city)
    files = write_city(city, out)
    files["streets"] = write_streets(streets.lines(), Path(out) / f"{SIMULATED_PREFIX}streets.geojson")
    summary = {"out": str(out), "seed": seed, **city.summary(), "seconds": round(time.perf_counter() - t0, 2),
               "files": {k: str(v) for k, v in files.items()}}
    if as_json:
        typer.echo(json.dumps(summary))
    else:
        for k, v in summary.items():
            if k != "files":
                typer.echo(f"{k}: {v}")
        for k, v in files.items():
            typer.echo(f"  {k}: {v}")
