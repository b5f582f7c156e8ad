"""Row validation of canonical incidents with pandera.

Each check is named by the quarantine reason it produces; a row failing several checks
gets the first reason in :data:`REASONS` order, so every rejected row has one reason.
"""

from __future__ import annotations

from functools import partial

import pandas as pd
import pandera.pandas as pa

#: Quarantine reasons produced here, in priority order.
REASONS = (
    "unparseable_date",
    "implausible_date",
    "missing_coordinates",
    "zero_coordinates",
    "out_of_range_coordinates",
    "outside_study_area",
)

_EARLIEST = pd.Timestamp("1900-01-01", tz="UTC")


def _schema(now: pd.Timestamp, study_area: tuple[float, float, float, float] | None) -> pa.DataFrameSchema:
    def when(d):
        return d["occurred_at"]

    def lon(d):
        return d["longitude"]

    def lat(d):
        return d["latitude"]

    # ignore_na=False: pandera would otherwise drop rows holding any null before checking,
    # and rows with missing values are exactly the ones to quarantine.
    check = partial(pa.Check, ignore_na=False)
    checks = [
        check(lambda d: when(d).notna(), name="unparseable_date"),
        check(lambda d: when(d).isna() | when(d).between(_EARLIEST, now), name="implausible_date"),
        check(lambda d: lon(d).notna() & lat(d).notna(), name="missing_coordinates"),
        check(lambda d: ~((lon(d) == 0) & (lat(d) == 0)), name="zero_coordinates"),
        # |lat| = 90 is a placeholder (SF's Y=90 rows), not a place anybody patrols.
        check(
            lambda d: (lon(d).isna() | lon(d).between(-180, 180, inclusive="both"))
            & (lat(d).isna() | lat(d).between(-90, 90, inclusive="neither")),
            name="out_of_range_coordinates",
        ),
    ]
    if study_area is not None:
        w, s, e, n = study_area
        checks.append(
            check(
                lambda d: lon(d).isna() | lat(d).isna() | (lon(d).between(w, e) & lat(d).between(s, n)),
                name="outside_study_area",
            )
        )
    return pa.DataFrameSchema(
        {
            # Any datetime resolution (pandas 3 parses to microseconds); values are what matter.
            "occurred_at": pa.Column(nullable=True),
            "longitude": pa.Column(float, nullable=True),
            "latitude": pa.Column(float, nullable=True),
        },
        checks=checks,
    )


def row_reasons(
    frame: pd.DataFrame, *, study_area: tuple[float, float, float, float] | None = None,
    now: pd.Timestamp | None = None,
) -> pd.Series:
    """The quarantine reason of each row of ``frame`` (NA where the row is valid).

    ``frame`` needs ``occurred_at`` (tz-aware UTC datetimes), ``longitude``, ``latitude``.
    """
    now = now if now is not None else pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=1)
    narrow = frame[["occurred_at", "longitude", "latitude"]]
    reasons = pd.Series(pd.NA, index=frame.index, dtype=object)
    try:
        _schema(now, study_area).validate(narrow, lazy=True)
    except pa.errors.SchemaErrors as exc:
        fc = exc.failure_cases
        fc = fc[fc["check"].isin(REASONS) & fc["index"].notna()]
        if not fc.empty:
            rank = fc["check"].map({r: i for i, r in enumerate(REASONS)})
            first = (
                fc.assign(rank=rank).sort_values("rank").drop_duplicates("index")
                .set_index("index")["check"]
            )
            reasons.loc[first.index.astype(frame.index.dtype)] = first.to_numpy()
    return reasons
