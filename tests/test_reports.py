"""Model cards and the transparency report: content, escaping of hostile text, formats, the CLI."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from forecasting import reports
from forecasting.cli import app
from forecasting.errors import ConfigError

HOSTILE = "**Evil** <script>alert(1)</script> [x](javascript:1)\n# owned | cell c_17"

METRICS = {
    "n_periods": 26, "n_cells": 900, "period": "week",
    "targets": {"all": {
        "models": {"lgbm": {"pai@1%": 9.1, "pai@5%": 5.0}, "naive": {"pai@1%": 9.0, "pai@5%": 4.2}},
        "bootstrap": {"1%": {"challenger": "lgbm", "baseline": "naive", "diff": 0.1, "ci_low": -0.4,
                             "ci_high": 0.6, "p_value": 0.35, "n_boot": 1000},
                      "5%": {"challenger": "lgbm", "baseline": "naive", "diff": 0.8, "ci_low": 0.3,
                             "ci_high": 1.2, "p_value": 0.001, "n_boot": 1000}}}},
    "calibration": {"model": "lgbm", "target": "all",
                    "bins": [{"bin": 1, "n": 100, "predicted": 0.01, "observed": 0.012}]},
    "fairness": {"model": "lgbm", "n_periods": 26, "n_areas": 2, "threshold": 0.05, "by_share": {
        "1%": {"gini_mean": 0.6, "gini_first": 0.55, "gini_last": 0.62, "hhi_mean": 0.4,
               "persistence": {"1": 0.8, "4": 0.7}, "over_attended": [HOSTILE],
               "areas": [{"area": HOSTILE, "flagged_share": 0.7, "incident_share": 0.5, "excess": 0.2,
                          "over_attended": True}]}}},
}


def test_accuracy_rows_say_where_the_model_only_ties():
    rows = reports.accuracy_rows(METRICS)
    assert rows[0][0] == "1%" and rows[0][-1].startswith("ties") and rows[1][-1] == "wins"
    assert rows[1][4] == "+0.80 [+0.30, +1.20]"
    adjusted = {**METRICS, "targets": {"all": {**METRICS["targets"]["all"], "bootstrap": {
        k: {**b, "p_adjusted": 0.5} for k, b in METRICS["targets"]["all"]["bootstrap"].items()}}}}
    assert reports.accuracy_rows(adjusted)[0][5].endswith("(0.500)")  # BH-adjusted p beside the raw one


def test_model_card_sections_and_escaping(tmp_path):
    version = {"id": 7, "name": "lgbm", "category": HOSTILE, "period": "week", "features": ["count_7d"],
               "train_start": "2022-01-01", "train_end": "2024-06-30", "created_by": HOSTILE}
    doc = reports.model_card(version, {"id": 1, "start": "2024-01-01", "end": "2024-06-30", "metrics": METRICS},
                             {"counts": 730, "forecasts": 365, "exports": 90, "audit": 1095})
    md = reports.to_markdown(doc)
    for section in ("Intended use", "Misuse", "Data sources and windows", "Features", "Accuracy against simple rules",
                    "Calibration", "Fairness of attention", "Retention", "Known limits"):
        assert f"## {section}" in md
    assert "ties (the interval includes no difference)" in md and "| forecasts | 365 |" in md
    assert not re.search(r"(?<!\\)<script|(?<!\\)\]\(|^# owned", md, flags=re.M)
    pdf = reports.write_document(doc, tmp_path / "card.pdf")
    assert pdf.read_bytes().startswith(b"%PDF")


def _analysis_record(category: str) -> dict:
    bands = [{"distance_from": d, "distance_to": d + 150.0, "days_from": t, "days_to": t + 7.0,
              "observed": 300 if (d, t) == (0, 0) else 100, "expected": 100.0,
              "ratio": 3.0 if (d, t) == (0, 0) else 1.0,
              "p": 0.005 if (d, t) == (0, 0) else 0.5, "q": 0.045 if (d, t) == (0, 0) else 0.9}
             for d in (0.0, 150.0, 300.0) for t in (0.0, 7.0, 14.0)]
    return {"enabled": True, "category": category, "start": "2023-06-30 00:00:00", "end": "2024-06-30 00:00:00",
            "near_repeat": {"n_events": 1234, "permutations": 199, "random_state": 0, "alpha": 0.05,
                            "pairs_in_reach": 9000, "pairs_tested": 9000, "bands": bands,
                            "window": {"distance_m": 150.0, "days": 7.0, "ratio": 3.0, "q": 0.045},
                            "sentence": f"{category} incidents here repeat within 150 m and 7 days 3.0x more "
                                        "often than chance", "note": None},
            "hot_spots": {"cells": 900, "hot": 31, "cold": 0, "share_of_incidents_in_hot_spots": 0.25,
                          "high_low_outliers": 2, "low_high_outliers": 1},
            "emerging": {"new hot spot": 3, "sporadic hot spot": 5, "no pattern detected": 892},
            "feature_windows": {"half_lives_days": [3.5, 28.0, 91.0], "near_repeat_ring": 1, "chosen_from": "knox"}}


def test_model_card_cites_the_near_repeat_finding_and_the_hot_spots(tmp_path):
    version = {"id": 8, "name": "lgbm", "category": "burglary", "period": "week",
               "params": {"analysis": _analysis_record("burglary")}}
    md = reports.to_markdown(reports.model_card(version, None, {"audit": 730}))
    assert "## Near repeats and hot spots in the training data" in md
    assert ("Finding: burglary incidents here repeat within 150 m and 7 days 3.0x more often than chance." in md)
    assert "Knox near-repeat test of 1,234 burglary incidents from 2023-06-30 to 2024-06-30" in md
    assert "| 0-150 | 0-7 | 300 | 100.0 | 3.00 | 0.045 |" in md
    assert "half-lives 3.5, 28, 91 days" in md and "31 of 900 cells, holding 25.0% of the burglary incidents" in md
    assert "3 new hot spot; 5 sporadic hot spot." in md
    off = reports.to_markdown(reports.model_card({**version, "params": {"analysis": {"enabled": False}}}, None, {}))
    assert "Off (setting near\\_repeat\\_knox = false)" in off
    old = reports.to_markdown(reports.model_card({**version, "params": {}}, None, {}))
    assert "Not recorded" in old


def test_model_card_escapes_a_hostile_category_in_the_near_repeat_finding(tmp_path):
    version = {"id": 9, "name": "lgbm", "category": HOSTILE, "period": "week",
               "params": {"analysis": _analysis_record(HOSTILE)}}
    doc = reports.model_card(version, None, {"audit": 730})
    md = reports.to_markdown(doc)
    assert "repeat within 150 m and 7 days 3.0x more often than chance" in md
    assert not re.search(r"(?<!\\)<script|(?<!\\)\]\(|^# owned|(?<!\\)\*\*Evil", md, flags=re.M)
    assert reports.write_document(doc, tmp_path / "card.pdf").read_bytes().startswith(b"%PDF")


def test_transparency_report_is_aggregate(tmp_path):
    facts = {"generated_at": "2026-12-01", "incidents": {"total": 10, "by_source": {"vancouver": 10},
                                                          "first": "2022-01-01", "last": "2024-12-31"},
             "cameras": {"cameras": 3, "count_rows": 100}, "retention": {"counts": 730},
             "backtest": {"start": "2024-01-01", "end": "2024-06-30", "metrics": METRICS},
             "audit": {"chain": {"ok": True, "rows": 5},
                       "by_month": [{"month": "2026-11", "action": "view", "events": 4},
                                    {"month": "2026-11", "action": "export", "events": 1}]},
             "purges": [{"at": datetime(2026, 11, 2, tzinfo=UTC), "details": {"counts": 12, "audit_events": 3}}]}
    md = reports.to_markdown(reports.transparency_report(facts))
    assert "Cameras give counts only" in md and "no image" in md.lower()
    assert "| 2026-11 | 4 | 1 | 0 | 0 | 0 | 5 |" in md and "| 2026-11-02 00:00 | 12 | 0 | 0 | 0 | 3 |" in md
    assert "verification passed" in md


def test_write_document_checks_the_suffix(tmp_path):
    with pytest.raises(ConfigError, match=re.escape("out must end in .md or .pdf; got")):
        reports.write_document(reports.Document("x"), tmp_path / "x.html")


@pytest.fixture
def env(tmp_path):
    env = {"CRIMECAST_DATA_DIR": str(tmp_path / "var")}
    assert CliRunner().invoke(app, ["db", "upgrade"], env=env).exit_code == 0
    from forecasting.cli._common import State
    from forecasting.config import load_settings
    from forecasting.store import backtests as backtests_repo
    from forecasting.store import model_versions as versions_repo
    from forecasting.store.governance import record_audit
    from forecasting.store.session import make_engine, make_session_factory, transaction

    State.settings = None
    engine = make_engine(load_settings(data_dir=env["CRIMECAST_DATA_DIR"]).resolved_database_url())
    with transaction(make_session_factory(engine)) as s:
        versions_repo.add_model_version(session=s, name="lgbm", category="all", period="week", features=["a"],
                                created_by="ana")
        backtests_repo.add_backtest(session=s, period="week", metrics=METRICS, created_by="ana")
        record_audit(session=s, username=HOSTILE[:60], action="view", target="forecast 1")
    engine.dispose()
    return env


def test_cli_reports(env, tmp_path):
    run = CliRunner()
    r = run.invoke(app, ["report", "transparency", "--out", str(tmp_path / "t.md")], env=env)
    assert r.exit_code == 0, r.output
    md = (tmp_path / "t.md").read_text()
    assert "Audit statistics" in md and "1 events in a hash chain; verification passed" in md
    assert run.invoke(app, ["report", "transparency", "--out", str(tmp_path / "t.pdf")], env=env).exit_code == 0
    assert (tmp_path / "t.pdf").read_bytes().startswith(b"%PDF")
    r = run.invoke(app, ["report", "model-card", "--out", str(tmp_path / "card.md")], env=env)
    assert r.exit_code == 0 and "## Accuracy against simple rules" in (tmp_path / "card.md").read_text()
    r = run.invoke(app, ["report", "model-card", "--all", "--out", str(tmp_path / "cards")], env=env)
    assert r.exit_code == 0 and sorted(p.name for p in (tmp_path / "cards").iterdir()) == [
        "model_card_v1.md", "model_card_v1.pdf"]
    bad = run.invoke(app, ["report", "model-card", "--version", "99", "--out", str(tmp_path / "c.md")], env=env)
    assert bad.exit_code == 1 and "version must be the id of a stored model version; got 99" in bad.stderr
    bad = run.invoke(app, ["report", "transparency", "--out", str(tmp_path / "t.txt")], env=env)
    assert bad.exit_code == 1 and bad.stderr.startswith("Error: --out must end in .md or .pdf")


def test_model_card_says_when_the_backtest_did_not_run_the_model():
    metrics = {**METRICS, "targets": {"all": {"models": {"naive": {}}, "bootstrap": {}}}}
    md = reports.to_markdown(reports.model_card({"id": 1, "name": "lgbm", "period": "week",
                                                 "features": {"windows_days": [7, 28]}}, {"id": 2, "metrics": metrics},
                                                {}))
    assert "did not run lgbm" in md and "- windows\\_days = [7, 28]" not in md and "windows\\_days = \\[7, 28\\]" in md


@pytest.mark.parametrize("guard, says", [
    (None, "not recorded"),
    ({"enabled": False}, "off (trained on raw counts"),
    ({"enabled": True, "applied": False}, "no stored patrol visit fell in the training window"),
    ({"enabled": True, "applied": True, "uplift": 2.0, "patrolled_cell_periods": 3, "incidents_discounted": 1234},
     "1,234 incidents recorded during 3 patrolled cell-periods weighted 1/2"),
])
def test_model_card_states_the_feedback_loop_guard(guard, says):
    version = {"id": 1, "name": "lgbm", "period": "week", "params": {"patrol_guard": guard} if guard else {}}
    md = reports.to_markdown(reports.model_card(version, None, {}))
    assert "Feedback-loop guard: " in md and says in md


def test_dashboard_model_card_is_the_cli_card(env, tmp_path):
    """Two front doors, one engine: the Trust page's card is `crimecast report model-card`'s."""
    from dashboards.store_provider import StoreProvider
    from forecasting.config import load_settings
    from forecasting.store.session import make_engine, make_session_factory

    r = CliRunner().invoke(app, ["report", "model-card", "--version", "1", "--out", str(tmp_path / "c.md")], env=env)
    assert r.exit_code == 0, r.output
    settings = load_settings(data_dir=env["CRIMECAST_DATA_DIR"], _toml_file=None)
    engine = make_engine(settings.resolved_database_url())
    try:
        card = StoreProvider(make_session_factory(engine), settings=settings).model_card(1)
    finally:
        engine.dispose()
    assert card.strip() == (tmp_path / "c.md").read_text().strip()
    assert "1 features, computed for each cell" in card  # the full version row, not the page's summary columns
