"""``crimecast priority`` (cameras to watch, new camera sites) and ``crimecast export patrol``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from forecasting.cli._common import factory, settings, sub_app
from forecasting.errors import ConfigError

priority_app = sub_app("Which cameras to watch this shift, and where new cameras would add most.")
export_app = sub_app("Export plans for patrol schedulers, in-car GPS, calendars and roll call.")

ShiftOpt = Annotated[str | None, typer.Option(
    "--shift", help="DATE/SHIFT, e.g. 2024-03-04/2 (third shift of that day). Default: the first shift after "
                    "the latest data.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
WeightOpt = Annotated[list[str] | None, typer.Option(
    "--weight", help="Severity weight CATEGORY=W (repeatable; unlisted categories weigh 1).")]
ModelOpt = Annotated[str | None, typer.Option(help="Forecast model to use when several are stored.")]
ShiftStartOpt = Annotated[int | None, typer.Option(
    help="Hour the first shift of the day starts (local time). Default: the layout the forecast was stored with; "
         "another value is refused.")]
ShiftHoursOpt = Annotated[int | None, typer.Option(
    help="Shift length in hours (must divide 24). Default: the layout the forecast was stored with.")]


def _weights(items: list[str] | None) -> dict[str, float]:
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        try:
            w = float(value)
        except ValueError:
            w = None
        if not sep or not key.strip() or w is None:
            raise ConfigError(f"--weight must look like CATEGORY=NUMBER, e.g. violent=3; got {item!r}")
        out[key.strip()] = w
    return out


def _periods(shift_start: int | None, shift_hours: int | None):
    """The shift layout asked for on the command line, or None (the stored forecast's layout)."""
    if shift_start is None and shift_hours is None:
        return None
    from forecasting.periods import PeriodSpec

    cfg = settings()  # an option left out takes the settings' value
    return PeriodSpec("shift", cfg.shift_start if shift_start is None else shift_start,
                      cfg.shift_hours if shift_hours is None else shift_hours).periods()


def _echo_json(doc: dict) -> None:
    typer.echo(json.dumps(doc, default=str))


@priority_app.command("cameras")
def priority_cameras(
    shift: ShiftOpt = None,
    k: Annotated[int, typer.Option("--k", help="Operator capacity: feeds that can be watched at once.")] = 4,
    as_json: JsonOpt = False,
    weight: WeightOpt = None,
    rule: Annotated[str, typer.Option(help="Coverage rule: area (the part of each cell in view), centroid or "
                                           "intersects.")] = "area",
    kind: Annotated[list[str] | None, typer.Option(help="Camera kinds to rank (repeatable; default cctv).")] = None,
    model: ModelOpt = None,
    shift_start: ShiftStartOpt = None,
    shift_hours: ShiftHoursOpt = None,
    by_hour: Annotated[bool, typer.Option("--by-hour", help="Watch list for each hour of the shift (needs "
                                                           "hourly forecasts).")] = False,
) -> None:
    """Rank cameras to watch: greedy by risk not yet seen by higher-ranked cameras, with reasons."""
    from forecasting.jobs import priority as jp

    if by_hour:
        wl = jp.watch_list(factory(), settings(), shift=shift, k=k, rule=rule, weights=_weights(weight),
                           kinds=kind or jp.WATCHABLE_KINDS, model=model, periods=_periods(shift_start, shift_hours))
        if as_json:
            _echo_json(wl.to_dict())
            return
        typer.echo(f"shift {wl.forecast.label}: the {k} feeds to watch, hour by hour")
        for hour, rows in wl.hours.groupby("hour", sort=True):
            typer.echo(f"{hour[11:16]}")
            for line in rows["explanation"]:
                typer.echo(f"  {line}")
        return
    res = jp.camera_priority(factory(), settings(), shift=shift, k=k, rule=rule, weights=_weights(weight),
                             kinds=kind or jp.WATCHABLE_KINDS, model=model,
                             periods=_periods(shift_start, shift_hours))
    if as_json:
        _echo_json(res.to_dict())
        return
    doc = res.to_dict()
    typer.echo(f"shift {doc['shift']} ({doc['period_start']} to {doc['period_end']} {doc['timezone']}), "
               f"model {doc['model']}: {doc['n_cameras']} cameras in service, k={k}")
    for line in res.choice["explanation"]:
        typer.echo(line)
    share = doc["covered_risk"] / doc["total_risk"] if doc["total_risk"] else 0.0
    typer.echo(f"together: {doc['covered_risk']:.2f} of {doc['total_risk']:.2f} ({share:.0%}); "
               f"no {k} cameras can see more than {doc['upper_bound']:.2f}")


@priority_app.command("sites")
def priority_sites(
    budget: Annotated[int, typer.Option("--budget", help="Number of new or mobile cameras to place.")],
    radius: Annotated[float, typer.Option("--radius", help="View radius of a new camera, metres.")] = 100.0,
    shift: ShiftOpt = None,
    gaps: Annotated[int, typer.Option("--gaps", help="Look for unseen cells among this many top-risk cells.")] = 20,
    as_json: JsonOpt = False,
    weight: WeightOpt = None,
    model: ModelOpt = None,
    shift_start: ShiftStartOpt = None,
    shift_hours: ShiftHoursOpt = None,
) -> None:
    """High-risk cells no camera sees, and sites for new cameras (greedy maximal covering)."""
    from forecasting.jobs import priority as jp

    res = jp.camera_sites(factory(), settings(), budget=budget, radius_m=radius, shift=shift, top=gaps,
                          weights=_weights(weight), model=model, periods=_periods(shift_start, shift_hours))
    doc = res.to_dict()
    if as_json:
        _echo_json(doc)
        return
    typer.echo(f"shift {doc['shift']}: {len(res.gaps)} of the top {gaps} risk cells are seen by no camera "
               f"({doc['unseen_top_share']:.0%} of their risk)")
    for g in res.gaps.head(10).itertuples(index=False):
        typer.echo(f"  gap {g.cell_id} (risk rank {g.risk_rank}, {g.risk:.2f})"
                   + (f": {'; '.join(g.reasons[:2])}" if g.reasons else ""))
    for r in res.siting.sites.itertuples(index=False):
        typer.echo(f"site {r.rank}: {r.site_id} at {r.latitude:.5f}, {r.longitude:.5f} adds {r.added_risk:.2f} "
                   f"({r.n_new_cells} cells)")
    typer.echo(f"added {doc['added_risk']:.2f} of {doc['unseen_risk']:.2f} unseen; at least "
               f"{doc['guarantee']:.0%} of the best {budget} sites (greedy guarantee 63%)")


@priority_app.command("evaluate")
def priority_evaluate(
    shift: ShiftOpt = None,
    k: Annotated[int, typer.Option("--k", help="Operator capacity.")] = 4,
    lookback_days: Annotated[int, typer.Option(help="Days of activity counts before the shift.")] = 28,
    as_json: JsonOpt = False,
    model: ModelOpt = None,
    shift_start: ShiftStartOpt = None,
    shift_hours: ShiftHoursOpt = None,
) -> None:
    """Share of the shift's incidents the chosen cameras would have seen, vs the k busiest cameras.

    Without --shift: the shift of the latest stored incident (the latest one with outcomes to score).
    """
    from forecasting.jobs import priority as jp

    session_factory, periods = factory(), _periods(shift_start, shift_hours)
    shift = shift or _latest_observed_shift(session_factory, periods or jp.stored_shifts(session_factory, settings()))
    doc = jp.evaluate_camera_choice(session_factory, settings(), shift=shift, k=k, lookback_days=lookback_days,
                                    model=model, periods=periods)
    if as_json:
        _echo_json(doc)
        return

    def fmt(part):
        return "not scored" if part["share"] is None else f"{part['seen']}/{doc['incidents']} ({part['share']:.0%})"

    typer.echo(f"shift {doc['shift']}, k={k}: priority cameras saw {fmt(doc['priority'])}; "
               f"busiest cameras saw {fmt(doc['busiest'])}")
    if doc["incidents"] == 0:
        typer.echo(f"  not scored: no incident is stored in shift {doc['shift']} (choose one with outcomes, "
                   "e.g. a past shift, with --shift DATE/SHIFT)")
    elif doc["busiest"].get("note"):
        typer.echo(f"  busiest cameras not scored: {doc['busiest']['note']}")


def _latest_observed_shift(session_factory, periods) -> str | None:
    """The shift holding the latest stored incident, or None (the job then picks its own default)."""
    from forecasting.patrol import shift_label
    from forecasting.store.plans import data_timezone, latest_data_time
    from forecasting.store.session import transaction

    with transaction(session_factory) as s:
        latest, tz = latest_data_time(session=s), data_timezone(session=s)
    if latest is None or tz is None:
        return None
    return shift_label(periods.index([latest.tz_convert(tz).tz_localize(None)])[0], periods)


@export_app.command("patrol")
def export_patrol(
    fmt: Annotated[str, typer.Option("--format", "-f", help="csv, geojson, kml, ics or pdf.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="File to write.")],
    shift: ShiftOpt = None,
    area: Annotated[str | None, typer.Option("--area", help="Patrol area name (default: every area).")] = None,
    areas: Annotated[Path | None, typer.Option("--areas", help="Patrol-area polygons (GeoJSON, ...).")] = None,
    areas_layer: Annotated[str | None, typer.Option(help="Stored area layer to use as patrol areas.")] = None,
    area_field: Annotated[str, typer.Option(help="Column of --areas naming each area.")] = "name",
    user: Annotated[str | None, typer.Option("--user", help="Who makes the export (default: the OS user).")] = None,
    top_cells: Annotated[int, typer.Option(help="Highest-risk cells considered per area.")] = 10,
    visit_minutes: Annotated[float, typer.Option(help="Minutes per visit (10-16, the Koper curve).")] = 15.0,
    patrol_minutes: Annotated[float, typer.Option(help="Hotspot patrol minutes per area per shift.")] = 120.0,
    weight: WeightOpt = None,
    model: ModelOpt = None,
    as_json: JsonOpt = False,
    shift_start: ShiftStartOpt = None,
    shift_hours: ShiftHoursOpt = None,
) -> None:
    """Write the shift's patrol plan (hotspots and visit windows); the export is audit-logged."""
    from forecasting.jobs import priority as jp
    from forecasting.patrol import PatrolConfig

    config = PatrolConfig(top_cells=top_cells, visit_minutes=visit_minutes, patrol_minutes=patrol_minutes)
    f = factory()
    polygons = jp.load_areas(f, path=areas, layer=areas_layer, name_col=area_field)
    doc = jp.export_patrol(f, settings(), fmt=fmt, out=out, user=user, shift=shift, area=area, areas=polygons,
                           config=config, weights=_weights(weight), model=model,
                           periods=_periods(shift_start, shift_hours))
    if as_json:
        _echo_json(doc)
        return
    typer.echo(f"wrote {doc['path']}: {doc['hotspots']} hotspots, {doc['visits']} visits for shift {doc['shift']} "
               f"(model {doc['model']} version {doc['model_version'] or '-'}); audit event {doc['audit_id']}")
