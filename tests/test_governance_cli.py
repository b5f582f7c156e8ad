"""``crimecast audit``, ``crimecast db purge`` and ``crimecast report`` through the CLI runner."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from forecasting.cli import app

runner = CliRunner()


def _invoke(args, env):
    return runner.invoke(app, args, env=env)


@pytest.fixture
def db_env(tmp_path):
    env = {"CRIMECAST_DATA_DIR": str(tmp_path / "var")}
    assert _invoke(["db", "upgrade"], env).exit_code == 0
    return env


def _audit(env, n=3):
    from forecasting.cli._common import State
    from forecasting.config import load_settings
    from forecasting.store.governance import record_audit
    from forecasting.store.session import make_engine, make_session_factory, transaction

    State.settings = None
    url = load_settings(data_dir=env["CRIMECAST_DATA_DIR"]).resolved_database_url()
    engine = make_engine(url)
    with transaction(make_session_factory(engine)) as s:
        for i in range(n):
            record_audit(session=s, username="ana", action="view", target=f"run {i}")
    return engine


def test_audit_head_and_verify_then_detect_an_edit(db_env):
    engine = _audit(db_env)
    head = _invoke(["audit", "head"], db_env)
    assert head.exit_code == 0 and len(head.output.strip()) == 64
    ok = _invoke(["audit", "verify"], db_env)
    assert ok.exit_code == 0 and ok.output.startswith("ok: 3 audit rows, head " + head.output.strip())
    doc = json.loads(_invoke(["audit", "verify", "--json", "--head", head.output.strip()], db_env).output)
    assert doc["ok"] and doc["rows"] == 3
    with engine.begin() as conn:
        conn.execute(text("update audit_log set username = 'eve' where id = 2"))
    bad = _invoke(["audit", "verify"], db_env)
    assert bad.exit_code == 1 and "BROKEN at row 2 (edited)" in bad.stderr
    doc = json.loads(_invoke(["audit", "verify", "--json"], db_env).stdout)
    assert (doc["ok"], doc["problem_id"], doc["problem"]) == (False, 2, "edited")
    engine.dispose()
