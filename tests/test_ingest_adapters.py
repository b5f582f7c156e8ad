"""Each adapter on the bundled real samples: counts are checked against an independent read."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from forecasting.config import DEFAULT_CATEGORY_GROUPS
from forecasting.errors import CRSError, InputError
from forecasting.ingest import AdapterOptions, incident_adapter, read_incidents

from .conftest import SAMPLE


def _run(path, fmt, **opts):
    chunks = list(
        read_incidents(path, incident_adapter(fmt, AdapterOptions(**opts)),
                       category_groups=DEFAULT_CATEGORY_GROUPS, default_tz="UTC", chunk_size=1000)
    )
    inc = pd.concat([c.incidents for c in chunks], ignore_index=True)
    q = pd.concat([c.quarantined for c in chunks], ignore_index=True)
    assert sum(c.rows_read for c in chunks) == len(inc) + len(q)
    return inc, q


def _raw(path):
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def test_vancouver_projects_utm_and_quarantines_withheld_locations():
    path = SAMPLE / "vancouver_4_neighbourhoods_2022_2024.csv.gz"
    raw = _raw(path)
    inc, q = _run(path, "vancouver")
    zero = ((raw["X"].astype(float) == 0) & (raw["Y"].astype(float) == 0)).sum()
    assert zero > 0
    assert (q["reason"] == "zero_coordinates").sum() == zero
    assert len(inc) == len(raw) - zero
    # Central Vancouver lies within these bounds; a wrong UTM zone would miss by degrees.
    assert inc["longitude"].between(-123.3, -123.0).all()
    assert inc["latitude"].between(49.2, 49.35).all()
    assert (inc["tz"] == "America/Vancouver").all()
    assert (inc["source_crs"] == "EPSG:32610").all()
    first = raw[raw["X"].astype(float) != 0].iloc[0]
    row = inc.iloc[0]
    local = row["occurred_at"].tz_convert("America/Vancouver")
    assert (local.year, local.month, local.day, local.hour, local.minute) == tuple(
        int(first[k]) for k in ("YEAR", "MONTH", "DAY", "HOUR", "MINUTE")
    )


def test_sf_both_layouts_and_the_y90_placeholders():
    for name, category in (("sf_kaggle_train_sample.csv.gz", None), ("sf_kaggle_test_sample.csv.gz", "UNCLASSIFIED")):
        path = SAMPLE / name
        raw = _raw(path)
        inc, q = _run(path, "sf")
        placeholders = (raw["Y"].astype(float) >= 90).sum()
        assert placeholders > 0
        assert (q["reason"] == "out_of_range_coordinates").sum() == placeholders
        assert len(inc) + len(q) == len(raw)
        if category:
            assert (inc["category"] == category).all()
            assert inc["incident_id"].isin(raw["Id"]).all()
        else:
            assert set(inc["category"]) <= set(raw["Category"])
    # '11:59:00PM' is a 12-hour clock: 23:59 local.
    inc, _ = _run(SAMPLE / "sf_kaggle_test_sample.csv.gz", "sf")
    local = inc["occurred_at"].dt.tz_convert("America/Los_Angeles")
    assert (local.dt.hour == 23).any()


def test_policeuk_keeps_month_resolution_and_ids_for_identical_rows():
    path = SAMPLE / "policeuk_west_yorkshire_2018-07_sample.zip"
    inc, q = _run(path, "policeuk")
    assert (inc["time_resolution"] == "month").all()
    local = inc["occurred_at"].dt.tz_convert("Europe/London")
    assert ((local.dt.day == 1) & (local.dt.month == 7) & (local.dt.year == 2018)).all()
    assert set(q["reason"]) == {"missing_coordinates"}
    assert inc["incident_id"].is_unique
    # Anti-social behaviour has no Crime ID: identical rows are separate incidents.
    asb = inc[inc["category"] == "Anti-social behaviour"]
    assert asb["incident_id"].str.startswith("h").all()
    assert asb["incident_id"].str.contains("-").any()


def test_chicago_cut_has_minutes_and_a_default_category():
    path = SAMPLE / "chicago_aggravated_assaults_districts_1_18_2017_2019.csv.gz"
    raw = _raw(path)
    inc, q = _run(path, "chicago")
    assert len(inc) + len(q) == len(raw)
    assert (inc["category"] == "AGGRAVATED ASSAULT").all()
    assert (inc["category_group"] == "violent").all()
    assert set(inc.columns) >= {"attributes"}
    assert '"loc_cat"' in inc["attributes"].iloc[0]


def test_chicago_portal_layout_projects_state_plane_when_lat_lon_blank(tmp_path):
    p = tmp_path / "portal.csv"
    p.write_text(
        "ID,Case Number,Date,Primary Type,X Coordinate,Y Coordinate,Latitude,Longitude\n"
        "1,A,01/05/2019 11:30:00 PM,THEFT,1176346,1899903,41.8781,-87.6298\n"
        "2,B,01/05/2019 01:00:00 AM,BATTERY,1176346,1899903,,\n"
        "3,C,not a date,BATTERY,,,,\n"
    )
    inc, q = _run(p, "chicago")
    assert inc["incident_id"].tolist() == ["1", "2"]
    assert inc.loc[1, "source_crs"] == "EPSG:3435"
    assert abs(inc.loc[1, "latitude"] - 41.88) < 0.01 and abs(inc.loc[1, "longitude"] + 87.63) < 0.01
    assert inc["occurred_at"].dt.tz_convert("America/Chicago").dt.hour.tolist() == [23, 1]
    assert q["reason"].tolist() == ["unparseable_date"]


def test_canonical_mixed_resolutions_and_offsets(tmp_path):
    p = tmp_path / "c.csv"
    p.write_text(
        "incident_id,occurred_at,latitude,longitude,category,extra\n"
        "a,2024-03-01T10:15:00+01:00,51.5,-0.1,Burglary,x\n"
        "b,2024-03-02,51.5,-0.1,Theft,y\n"
        "c,yesterday,51.5,-0.1,Theft,z\n"
        "d,2024-03-02 10:00,0,0,Theft,z\n"
        "e,2024-03-02 10:00,91,0,Theft,z\n"
        "f,2024-03-02 10:00,,0,Theft,z\n"
        "g,1850-01-01,51.5,-0.1,Theft,z\n"
    )
    inc, q = _run(p, "canonical", tz="Europe/London")
    assert inc["incident_id"].tolist() == ["a", "b"]
    assert inc["time_resolution"].tolist() == ["minute", "day"]
    assert inc["occurred_at"].iloc[0] == pd.Timestamp("2024-03-01 09:15", tz="UTC")
    assert inc["category_group"].tolist() == ["burglary", "theft"]
    assert q["reason"].tolist() == [
        "unparseable_date", "zero_coordinates", "out_of_range_coordinates",
        "missing_coordinates", "implausible_date",
    ]


def test_generic_with_projected_coordinates(tmp_path):
    p = tmp_path / "g.csv"
    p.write_text("Ref,When,E,N,Type\nr1,05/03/2024 14:30,530000,180000,Robbery\n")
    inc, q = _run(p, "generic", tz="Europe/London", crs="EPSG:27700", date_format="%d/%m/%Y %H:%M",
                  mapping={"incident_id": "Ref", "occurred_at": "When", "x": "E", "y": "N", "category": "Type"})
    assert len(q) == 0
    row = inc.iloc[0]
    assert row["incident_id"] == "r1" and row["source_crs"] == "EPSG:27700"
    assert abs(row["latitude"] - 51.50) < 0.02 and abs(row["longitude"] + 0.13) < 0.02
    assert row["occurred_at"].tz_convert("Europe/London").month == 3


@pytest.mark.parametrize(
    ("opts", "message"),
    [
        ({"mapping": {"latitude": "a", "longitude": "b"}}, "format 'generic' needs --map occurred_at=<column>"),
        ({"mapping": {"occurred_at": "a", "x": "b", "y": "c"}}, "projected coordinates need"),
        ({"mapping": {"occurred_at": "a", "latitude": "zz", "longitude": "b"}},
         "mapped column(s) ['zz'] are not in the file"),
        ({"mapping": {"when": "a"}}, "--map targets must be among"),
    ],
)
def test_generic_mapping_errors(tmp_path, opts, message):
    p = tmp_path / "g.csv"
    p.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(InputError, match=re.escape(message)):
        _run(p, "generic", **opts)


def test_bad_crs_is_named(tmp_path):
    p = tmp_path / "g.csv"
    p.write_text("a,b,c\n2024-01-01,2,3\n")
    with pytest.raises(CRSError, match=re.escape("crs must be a CRS such as 'EPSG:32610'; got 'EPSG:0'")):
        _run(p, "generic", crs="EPSG:0", mapping={"occurred_at": "a", "x": "b", "y": "c"})


def test_unknown_format():
    with pytest.raises(InputError, match=re.escape("format must be one of")):
        incident_adapter("nyc")


def test_dst_transitions_lose_no_row(tmp_path):
    p = tmp_path / "c.csv"
    # 01:30 happens twice on 2024-11-03 in Vancouver; 02:30 never happens on 2024-03-10.
    p.write_text(
        "incident_id,occurred_at,latitude,longitude,category\n"
        "a,2024-11-03 01:30,49.28,-123.12,Theft\n"
        "b,2024-03-10 02:30,49.28,-123.12,Theft\n"
    )
    inc, q = _run(p, "canonical", tz="America/Vancouver")
    assert len(inc) == 2 and len(q) == 0


@pytest.mark.parametrize(("fmt", "path", "column"), [
    ("vancouver", "vancouver_4_neighbourhoods_2022_2024.csv.gz", "HUNDRED_BLOCK"),
    ("sf", "sf_kaggle_train_sample.csv.gz", "Address"),
    ("policeuk", "policeuk_west_yorkshire_2018-07_sample.zip", "Location"),
])
def test_address_is_the_published_block_and_leaves_the_attributes(fmt, path, column):
    inc, _ = _run(SAMPLE / path, fmt)
    assert inc["address"].notna().mean() > 0.95
    if fmt != "policeuk":  # a zip: read the members' header through the adapter only
        raw = _raw(SAMPLE / path)
        assert set(inc["address"].dropna()) <= set(raw[column].str.strip())
    assert not inc["attributes"].fillna("").str.contains(f'"{column}"').any()


def test_address_in_canonical_generic_and_chicago_portal(tmp_path):
    p = tmp_path / "c.csv"
    p.write_text("incident_id,occurred_at,latitude,longitude,category,address\n"
                 "a,2024-01-01T10:00,49.28,-123.1,Theft,  10XX W GEORGIA ST \nb,2024-01-01T11:00,49.28,-123.1,Theft,\n")
    inc, _ = _run(p, "canonical")
    assert inc["address"].tolist() == ["10XX W GEORGIA ST", None]
    g = tmp_path / "g.csv"
    g.write_text("When,Lat,Lon,Street\n2024-01-01 10:00,51.5,-0.1,High Street\n")
    inc, _ = _run(g, "generic", mapping={"occurred_at": "When", "latitude": "Lat", "longitude": "Lon",
                                         "address": "Street"})
    assert inc["address"].tolist() == ["High Street"]
    c = tmp_path / "chicago.csv"
    c.write_text("ID,Date,Block,Primary Type,Latitude,Longitude\n"
                 "1,01/02/2019 10:00:00 PM,008XX N MICHIGAN AVE,THEFT,41.89,-87.62\n")
    inc, _ = _run(c, "chicago")
    assert inc["address"].tolist() == ["008XX N MICHIGAN AVE"]
    cut, _ = _run(SAMPLE / "chicago_aggravated_assaults_districts_1_18_2017_2019.csv.gz", "chicago")
    assert cut["address"].isna().all()  # the compact cut publishes no block
