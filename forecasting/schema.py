"""Canonical column names and dtypes, in one place.

Every stage asserts the frame contract it receives with :func:`require_columns`.

Incidents frame (what ingestion produces and the store returns)
---------------------------------------------------------------
``incident_id``      str, stable id (the source's id, else a hash of the source row)
``occurred_at``      datetime64[ns, UTC], the instant (or the start of the resolution bucket)
``time_resolution``  str, one of :data:`TIME_RESOLUTIONS`
``tz``               str, IANA time zone of the source (periods are built in local time)
``longitude``        float64, WGS84 degrees
``latitude``         float64, WGS84 degrees
``source_crs``       str, e.g. ``"EPSG:4326"`` or ``"EPSG:32610"``
``category``         str, the source's raw category
``category_group``   str, the mapped group (configurable mapping)
``address``          str or None, the block or street as the source publishes it (e.g. Vancouver
                     ``"10XX W 10TH AVE"``); optional: frames built without it are valid

Events frame (what the forecasting core consumes)
-------------------------------------------------
``occurred_local``   datetime64[ns], naive wall-clock time in the data's time zone
``longitude``, ``latitude``, ``category``, ``category_group`` as above.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from forecasting.errors import InputError

if TYPE_CHECKING:  # names only: the CLI reads this module without paying for pandas
    import pandas as pd

INCIDENT_ID = "incident_id"
OCCURRED_AT = "occurred_at"
OCCURRED_LOCAL = "occurred_local"
TIME_RESOLUTION = "time_resolution"
TZ = "tz"
LONGITUDE = "longitude"
LATITUDE = "latitude"
SOURCE_CRS = "source_crs"
CATEGORY = "category"
CATEGORY_GROUP = "category_group"
ADDRESS = "address"
ATTRIBUTES = "attributes"
CONTENT_HASH = "content_hash"

TIME_RESOLUTIONS = ("minute", "hour", "day", "month")

INCIDENT_COLUMNS = (
    INCIDENT_ID,
    OCCURRED_AT,
    TIME_RESOLUTION,
    TZ,
    LONGITUDE,
    LATITUDE,
    SOURCE_CRS,
    CATEGORY,
    CATEGORY_GROUP,
)

#: Incident columns an adapter fills when its source has them (None otherwise).
OPTIONAL_INCIDENT_COLUMNS = (ADDRESS,)

EVENT_COLUMNS = (OCCURRED_LOCAL, LONGITUDE, LATITUDE, CATEGORY, CATEGORY_GROUP)

#: The target that pools every category; always forecast.
ALL_CATEGORIES = "all"

#: Forecast periods understood by the grid panel.
PERIODS = ("week", "day", "shift", "hour")

#: Output contract of ``crimecast backtest`` (``scores.parquet``); other tools read it.
SCORE_COLUMNS = ("model", "category", "cell_id", "period_start", "score")


def require_columns(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    """Raise :class:`InputError` naming the missing columns of ``frame``.

    Parameters
    ----------
    frame : DataFrame
        The frame entering a stage.
    columns : iterable of str
        The columns the stage needs.
    what : str
        A short name of the frame for the message, e.g. ``"incidents"``.
    """
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(
            f"{what} frame is missing column(s) {missing}; got columns {list(frame.columns)}"
        )


def events_from_incidents(incidents: pd.DataFrame) -> pd.DataFrame:
    """Turn an incidents frame into the events frame the forecasting core consumes.

    ``occurred_at`` (UTC) is converted to naive local wall-clock time using each row's
    ``tz``; month-resolution incidents are kept (callers decide whether a period can use them).

    Examples
    --------
    >>> import pandas as pd
    >>> inc = pd.DataFrame({"incident_id": ["a"],
    ...     "occurred_at": pd.to_datetime(["2024-01-01 08:00"], utc=True),
    ...     "time_resolution": ["minute"], "tz": ["America/Vancouver"],
    ...     "longitude": [-123.1], "latitude": [49.28], "source_crs": ["EPSG:4326"],
    ...     "category": ["Mischief"], "category_group": ["property"]})
    >>> str(events_from_incidents(inc)["occurred_local"].iloc[0])
    '2024-01-01 00:00:00'
    """
    import pandas as pd

    require_columns(incidents, INCIDENT_COLUMNS, "incidents")
    out = incidents[[INCIDENT_ID, LONGITUDE, LATITUDE, CATEGORY, CATEGORY_GROUP, TIME_RESOLUTION]].copy()
    utc = pd.to_datetime(incidents[OCCURRED_AT], utc=True)
    local = pd.Series(pd.NaT, index=incidents.index, dtype="datetime64[ns]")
    # Vectorised per time zone: a dataset normally has one, so this is one conversion.
    for tz, idx in incidents.groupby(TZ, sort=False).groups.items():
        local.loc[idx] = utc.loc[idx].dt.tz_convert(tz).dt.tz_localize(None).astype("datetime64[ns]")
    out.insert(1, OCCURRED_LOCAL, local)
    return out.reset_index(drop=True)
