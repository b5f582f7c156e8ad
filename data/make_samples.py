"""Rebuild the small real cuts in data/sample/ from ../shared/data (run from the repo root).

The cuts keep rows verbatim (only filtered), so every quirk of the source survives.
"""

from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path

import pandas as pd

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
OUT = Path(__file__).resolve().parent / "sample"


def _write_gz(frame: pd.DataFrame, name: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    # mtime=0 keeps the archive bytes identical between rebuilds.
    with open(OUT / name, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        gz.write(frame.to_csv(index=False).encode("utf-8"))
    print(name, len(frame))


def main() -> None:
    keep = ["Central Business District", "West End", "Strathcona", "Mount Pleasant"]
    van = pd.concat(
        pd.read_csv(SHARED / "vancouver" / f"crimedata_csv_AllNeighbourhoods_{y}.csv.gz", dtype=str,
                    keep_default_na=False)
        for y in (2022, 2023, 2024)
    )
    # Offences against a person are published at X=Y=0; those of the four neighbourhoods
    # are kept as they are, so the sample shows the quarantine path.
    van = van[van["NEIGHBOURHOOD"].isin(keep)]
    _write_gz(van, "vancouver_4_neighbourhoods_2022_2024.csv.gz")

    chi = pd.read_csv(SHARED / "chicago" / "chicago_aggravated_assaults.csv.gz", dtype=str, keep_default_na=False)
    chi = chi[chi["district"].isin(["1", "18"]) & (chi["date"] >= "2017-01-01")]
    _write_gz(chi, "chicago_aggravated_assaults_districts_1_18_2017_2019.csv.gz")

    train = pd.read_csv(SHARED / "san_francisco" / "sf_kaggle_train_2003-01-06_2015-05-13.csv.gz",
                        dtype=str, keep_default_na=False)
    odd = train[train["Y"].astype(float) >= 90]
    _write_gz(pd.concat([train.iloc[:3000], odd]), "sf_kaggle_train_sample.csv.gz")
    test = pd.read_csv(SHARED / "san_francisco" / "sf_kaggle_test_2003_2014.csv.gz", dtype=str,
                       keep_default_na=False)
    odd = test[test["Y"].astype(float) >= 90]
    _write_gz(pd.concat([test.iloc[:3000], odd]), "sf_kaggle_test_sample.csv.gz")

    uk = pd.read_csv(SHARED / "policeuk_west_yorkshire" / "2018-07-west-yorkshire-street.csv.gz",
                     dtype=str, keep_default_na=False)
    buf = io.StringIO()
    # Keep some rows whose location police.uk withheld (blank coordinates).
    blank = uk[uk["Longitude"] == ""].iloc[:100]
    pd.concat([uk.iloc[:2900], blank]).to_csv(buf, index=False)
    with zipfile.ZipFile(OUT / "policeuk_west_yorkshire_2018-07_sample.zip", "w", zipfile.ZIP_DEFLATED) as z:
        info = zipfile.ZipInfo("2018-07-west-yorkshire-street.csv", date_time=(2018, 8, 1, 0, 0, 0))
        z.writestr(info, buf.getvalue(), compress_type=zipfile.ZIP_DEFLATED)
    print("policeuk zip", 3000)


if __name__ == "__main__":
    main()
