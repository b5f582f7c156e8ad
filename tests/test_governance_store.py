"""The audit hash chain: edits, deletions, reorderings and cut-offs are detected on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from forecasting.store import migrate
from forecasting.store.governance import (
    CHECKPOINT,
    GENESIS,
    audit_activity,
    audit_head,
    purge_audit,
    record_audit,
    verify_audit,
)
from forecasting.store.session import make_engine, make_session_factory, transaction


def _fill(factory, n=5):
    with transaction(factory) as s:
        ids = [record_audit(session=s, username="ana", action="view", target=f"forecast {i}",
                            details={"i": i, "period": ("2024-01-01", "week")}) for i in range(n)]
    return ids


def _verify(factory, **kw):
    with transaction(factory) as s:
        return verify_audit(session=s, **kw)


def _sql(factory, sql, **params):
    with transaction(factory) as s:
        s.execute(text(sql), params)


def _check_detection(factory):
    ids = _fill(factory)
    ok = _verify(factory)
    assert ok.ok and ok.rows == 5 and ok.head_id == ids[-1]
    with transaction(factory) as s:
        assert audit_head(session=s)["row_hash"] == ok.head_hash

    # Edit one field of the third row.
    _sql(factory, "update audit_log set target = 'forecast 99' where id = :i", i=ids[2])
    r = _verify(factory)
    assert (r.ok, r.problem_id, r.problem) == (False, ids[2], "edited")
    _sql(factory, "update audit_log set target = 'forecast 2' where id = :i", i=ids[2])
    assert _verify(factory).ok

    # Reorder: swap the contents (hashes included) of rows 2 and 3.
    cols = "at, username, action, target, details, prev_hash, row_hash"
    _sql(factory, f"create table swap as select id, {cols} from audit_log where id in (:a, :b)", a=ids[1], b=ids[2])
    sets = ", ".join(f"{c} = (select {c} from swap where swap.id = "
                     f"case when audit_log.id = :a then :b else :a end)" for c in cols.split(", "))
    _sql(factory, f"update audit_log set {sets} where id in (:a, :b)", a=ids[1], b=ids[2])
    r = _verify(factory)
    assert (r.ok, r.problem_id, r.problem) == (False, ids[1], "reordered")
    _sql(factory, "drop table swap")

    # Delete a middle row (after restoring order by rebuilding a fresh chain).
    _sql(factory, "delete from audit_log")
    ids = _fill(factory)
    _sql(factory, "delete from audit_log where id = :i", i=ids[2])
    r = _verify(factory)
    assert (r.ok, r.problem_id, r.problem) == (False, ids[3], "deleted")

    # Delete the oldest row: the new oldest row neither starts the chain nor follows a checkpoint.
    _sql(factory, "delete from audit_log")
    ids = _fill(factory)
    _sql(factory, "delete from audit_log where id = :i", i=ids[0])
    r = _verify(factory)
    assert (r.ok, r.problem_id, r.problem) == (False, ids[1], "deleted")

    # Cut the newest rows: only an anchored head shows it.
    _sql(factory, "delete from audit_log")
    ids = _fill(factory)
    anchored = _verify(factory).head_hash
    _sql(factory, "delete from audit_log where id = :i", i=ids[-1])
    assert _verify(factory).ok
    r = _verify(factory, head=anchored)
    assert (r.ok, r.problem) == (False, "truncated")


def test_chain_detects_edit_reorder_delete_and_cut_on_sqlite(factory):
    _check_detection(factory)


@pytest.fixture
def pg_factory(postgres_url):
    migrate.upgrade(postgres_url)
    engine = make_engine(postgres_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.mark.db
def test_chain_detects_edit_reorder_delete_and_cut_on_postgres(pg_factory):
    _check_detection(pg_factory)


def test_first_row_starts_from_genesis_and_links(factory):
    ids = _fill(factory, 2)
    with transaction(factory) as s:
        from forecasting.store.models import AuditEvent

        a, b = (s.get(AuditEvent, i) for i in ids)
        assert a.prev_hash == GENESIS and b.prev_hash == a.row_hash and len(b.row_hash) == 64


def test_purge_leaves_a_checkpoint_and_a_verifiable_chain(factory):
    ids = _fill(factory, 4)
    old = datetime(2020, 1, 1, tzinfo=UTC)
    # Back-date the first two rows, re-hashing them as if written then (a legitimate old chain).
    from forecasting.store.governance import chain_hash
    from forecasting.store.models import AuditEvent

    with transaction(factory) as s:
        prev = GENESIS
        for i in ids:
            e = s.get(AuditEvent, i)
            if i in ids[:2]:
                e.at = old
            e.prev_hash = prev
            e.row_hash = prev = chain_hash(prev, at=e.at, username=e.username, action=e.action,
                                           target=e.target, details=e.details)
    assert _verify(factory).ok
    with transaction(factory) as s:
        assert purge_audit(session=s, before=old + timedelta(days=1), dry_run=True) == 2
    with transaction(factory) as s:
        assert purge_audit(session=s, before=old + timedelta(days=1), username="admin") == 2
    r = _verify(factory)
    assert r.ok and r.rows == 3, r
    with transaction(factory) as s:
        cp = s.get(AuditEvent, r.head_id)
        assert cp.action == CHECKPOINT and cp.details["purged_rows"] == 2
        assert cp.details["first_kept_id"] == ids[2] and cp.details["replaced_hash"] == s.get(
            AuditEvent, ids[2]).prev_hash
    # A second purge of everything: the checkpoint row itself continues the chain.
    with transaction(factory) as s:
        assert purge_audit(session=s, before=datetime(2999, 1, 1, tzinfo=UTC)) == 3
    r = _verify(factory)
    assert r.ok and r.rows == 1
    # Deleting rows after a purge is still detected.
    _fill(factory, 3)
    with transaction(factory) as s:
        first = s.execute(text("select min(id) from audit_log")).scalar()
    _sql(factory, "delete from audit_log where id = :i", i=first)
    assert _verify(factory).problem == "deleted"


def _concurrent_appends(factory, n_threads=4, per_thread=10):
    errors = []

    def work():
        try:
            for _ in range(per_thread):
                with transaction(factory) as s:
                    record_audit(session=s, username="t", action="view")
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    r = _verify(factory)
    assert r.ok and r.rows == n_threads * per_thread, r


def test_concurrent_writers_do_not_fork_the_chain_on_sqlite(factory):
    _concurrent_appends(factory)


@pytest.mark.db
def test_concurrent_writers_do_not_fork_the_chain_on_postgres(pg_factory):
    _concurrent_appends(pg_factory)


def test_audit_activity_counts_per_month_and_action(factory):
    _fill(factory, 3)
    with transaction(factory) as s:
        record_audit(session=s, username="x", action="export")
        act = audit_activity(session=s)
    month = datetime.now(UTC).strftime("%Y-%m")
    assert act.to_dict(orient="records") == [{"month": month, "action": "export", "events": 1},
                                             {"month": month, "action": "view", "events": 3}]


def test_upgrade_chains_the_audit_rows_already_there(settings):
    url = settings.resolved_database_url()
    migrate.upgrade(url, "0002")
    engine = make_engine(url)
    with engine.begin() as conn:
        for i in range(3):
            conn.execute(text("insert into audit_log (at, username, action, target, details) values "
                              "(:at, 'ana', 'view', :t, :d)"),
                         {"at": datetime(2024, 1, 1 + i), "t": f"run {i}", "d": json.dumps({"i": i})})
    migrate.upgrade(url)
    factory = make_session_factory(engine)
    r = _verify(factory)
    assert r.ok and r.rows == 3
    _fill(factory, 1)  # new rows continue the migrated chain
    assert _verify(factory).ok
    engine.dispose()
