"""Hypothesis: arbitrary garbage never crashes an ingest and never loses a row."""

from __future__ import annotations

import csv
import io

from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import func, select

from forecasting import jobs
from forecasting.errors import InputError
from forecasting.store.models import Incident, QuarantinedRow
from forecasting.store.session import transaction

HEADER = ["incident_id", "occurred_at", "latitude", "longitude", "category"]

garbage = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
plausible = st.one_of(
    garbage,
    st.sampled_from(["", "0", "90", "-91", "51.5", "-0.12", "nan", "inf", "1e308", "2024-02-30",
                     "2024-01-01T10:00", "2024-01-01", "1899-12-31", "2999-01-01", "x1", "x1"]),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.datetimes().map(lambda d: d.isoformat()),
)
row = st.lists(plausible, min_size=1, max_size=7)


def _csv(rows) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(HEADER)
    for r in rows:
        w.writerow(r)
    return buf.getvalue()


def _expected_rows(text: str) -> int:
    """Data rows as the csv module sees them (blank lines are not rows)."""
    reader = csv.reader(io.StringIO(text.replace("\x00", "")))
    next(reader)
    return sum(1 for r in reader if r and not (len(r) == 1 and not r[0].strip()))


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(row, max_size=25))
def test_garbage_rows_never_crash_and_every_row_is_accounted_for(rows, factory, settings, tmp_path_factory):
    path = tmp_path_factory.mktemp("g") / "garbage.csv"
    text = _csv(rows)
    path.write_text(text, newline="")
    s = jobs.ingest_incidents(factory, settings, path, "canonical", source="prop")
    assert s.rows_read == _expected_rows(text)
    assert s.rows_read == s.loaded + s.duplicates + s.quarantined
    with transaction(factory) as sess:
        assert sess.scalar(select(func.count()).select_from(Incident).where(Incident.run_id == s.run_id)) == s.loaded
        assert sess.scalar(
            select(func.count()).select_from(QuarantinedRow).where(QuarantinedRow.run_id == s.run_id)
        ) == s.quarantined


@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(blob=st.binary(max_size=400))
def test_garbage_files_fail_cleanly_or_account_for_every_row(blob, factory, settings, tmp_path_factory):
    path = tmp_path_factory.mktemp("b") / "blob.csv"
    path.write_bytes(blob)
    try:
        s = jobs.ingest_incidents(factory, settings, path, "canonical", source="blob")
    except InputError:
        # Unusable as a whole (no header, wrong columns): refused with a clear error, nothing kept.
        with transaction(factory) as sess:
            assert sess.scalar(select(func.count()).select_from(Incident).where(Incident.source == "blob")) == 0
        return
    assert s.rows_read == s.loaded + s.duplicates + s.quarantined
