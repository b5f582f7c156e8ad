"""Rebuild the camera/count cuts in data/sample/ from ../shared/data (run from the repo root).

Rows are kept verbatim (only filtered, text in, text out), so every quirk of the source survives:
Leeds' blank registry rows and March DST hour, Auckland's duplicated hours and blank cells,
Melbourne's header-less file and skipped October hour, CTA's duplicate station-days.
"""

from __future__ import annotations

import gzip
import shutil
import zipfile
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
OUT = Path(__file__).resolve().parent / "sample"


def _write_gz(lines: list[str], name: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    # mtime=0 keeps the archive bytes identical between rebuilds.
    with open(OUT / name, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        gz.write("".join(lines).encode("utf-8"))
    print(name, len(lines))


def _gz_lines(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        return f.readlines()


def main() -> None:
    shutil.copyfile(SHARED / "leeds_footfall" / "camera_locs.csv", OUT / "leeds_camera_locs.csv")
    lines = _gz_lines(SHARED / "leeds_footfall" / "footfall.csv.gz")
    # March 2016 (clocks go forward on the 27th): every camera, every hour.
    _write_gz([lines[0]] + [ln for ln in lines[1:] if "-Mar-2016," in ln], "leeds_footfall_2016-03.csv.gz")

    shutil.copyfile(SHARED / "auckland_pedestrians" / "locations.csv", OUT / "auckland_locations.csv")
    lines = _gz_lines(SHARED / "auckland_pedestrians" / "hourly_counts.csv.gz")
    # September 2024: a duplicated hour on the 28th, clocks forward on the 29th, blank cells.
    _write_gz([lines[0]] + [ln for ln in lines[1:] if ln.startswith("2024-09-")], "auckland_hourly_2024-09.csv.gz")

    shutil.copyfile(SHARED / "melbourne_pedestrians" / "Pedestrian_sensor_locations.csv",
                    OUT / "melbourne_sensor_locations.csv")
    with zipfile.ZipFile(SHARED / "melbourne_pedestrians" / "pedestriancounts_melbourne.zip") as z:
        text = z.read("pedestriancounts_melbourne.csv").decode("utf-8").splitlines(keepends=True)
    # October 2012, sensors 1-6 (no header row, as published; clocks forward on the 7th).
    keep = [ln for ln in text if "-OCT-2012 " in ln and ln.split(",")[3] in {"1", "2", "3", "4", "5", "6"}]
    _write_gz(keep, "melbourne_counts_2012-10_sensors_1-6.csv.gz")

    lines = _gz_lines(SHARED / "chicago" / "cta_L_station_daily_entries_2001_2021.csv.gz")
    stations = {"40010", "40280", "40380", "41320", "40330"}
    _write_gz([lines[0]] + [ln for ln in lines[1:] if ln.split(",")[0] in stations and ",2011-" in ln],
              "cta_station_entries_5_stations_2011.csv.gz")


if __name__ == "__main__":
    main()
