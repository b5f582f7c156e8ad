"""Session fixtures of the real-browser tests: a seeded SQLite store, the app under waitress, Chromium."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import REPO

#: Read at import: the autouse fixture of tests/conftest.py clears CRIMECAST_* variables per test.
SAVE_SCREENSHOTS = os.environ.get("CRIMECAST_SAVE_SCREENSHOTS") == "1"
IN_CI = bool(os.environ.get("CI"))
USERS = {"ana": ("analyst-password", "analyst"), "vic": ("viewer-password", "viewer")}
N_CELLS = 2_500


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser_ok():
    from dashboards.testing import browser_missing

    why = browser_missing()
    if why:
        if IN_CI:
            pytest.fail(f"browser tests cannot run in CI: {why}")
        pytest.skip(f"browser tests skipped: {why}")


@pytest.fixture(scope="session")
def live(browser_ok, tmp_path_factory):
    """The dashboard on a free localhost port over a seeded SQLite database."""
    from dashboards import create_app
    from dashboards.settings import DashboardSettings
    from dashboards.testing import serve_in_thread
    from forecasting.config import load_settings
    from forecasting.store import migrate
    from forecasting.store.session import make_engine, make_session_factory
    from tests.support.synthetic import seed_store

    data = tmp_path_factory.mktemp("dashboard-var")
    settings = load_settings(data_dir=str(data), _toml_file=None)
    url = settings.resolved_database_url()
    migrate.upgrade(url)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    info = seed_store(factory, n_cells=N_CELLS, n_incidents=6_000, seed=7, users=USERS,
                      boundaries_dir=data / "boundaries")
    app = create_app(settings, dash_settings=DashboardSettings(secret_key="browser-test-secret-key-0123456789"))
    served = serve_in_thread(app.server)
    yield {"url": served.url, "factory": factory, "info": info}
    served.close()
    engine.dispose()


@pytest.fixture(scope="session")
def downloads(tmp_path_factory):
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="session")
def driver(live, downloads):
    from dashboards.testing import chrome

    d = chrome(downloads)
    yield d
    d.quit()


@pytest.fixture(scope="session")
def shots(tmp_path_factory) -> Path:
    """Where screenshots go: docs/img when CRIMECAST_SAVE_SCREENSHOTS=1, else a pytest temp dir."""
    if SAVE_SCREENSHOTS:
        out = REPO / "docs" / "img"
        out.mkdir(parents=True, exist_ok=True)
        return out
    return tmp_path_factory.mktemp("screenshots")
