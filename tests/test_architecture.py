"""The import rules of docs/architecture.md that import-linter cannot see.

`make lint` checks which module imports which (``.importlinter``); it cannot tell a lazy import
from one at module top, so these tests import the modules in a fresh interpreter and look at
what got loaded.
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import forecasting

PLOTTING = ("matplotlib", "dash", "plotly")
HEAVY = ("numpy", "pandas", "sqlalchemy", "sklearn", "lightgbm", "geopandas", *PLOTTING)


def _loaded_after(imports: list[str], watch: tuple[str, ...]) -> list[str]:
    """Which of ``watch`` a fresh interpreter has loaded after importing ``imports``."""
    code = (f"import importlib, json, sys\nfor m in {imports!r}: importlib.import_module(m)\n"
            f"print(json.dumps(sorted(m for m in {list(watch)!r} if m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_the_library_loads_no_plotting_library_at_import():
    modules = [m.name for m in pkgutil.walk_packages(forecasting.__path__, "forecasting.")
               if not m.name.startswith("forecasting.cli") and m.name != "forecasting.__main__"]
    assert "forecasting.evaluate" in modules and "forecasting.export" in modules
    assert _loaded_after(modules, PLOTTING) == []


def test_the_cli_entry_point_loads_no_heavy_library():
    assert _loaded_after(["forecasting.cli"], HEAVY) == []


def test_no_dask_import_without_a_scheduler():
    # The scale-out path is opt-in: importing the library, the jobs and the CLI (and its train,
    # forecast and backtest commands) must not load Dask; only scaleout's functions import it.
    modules = [m.name for m in pkgutil.walk_packages(forecasting.__path__, "forecasting.")
               if m.name != "forecasting.__main__"]
    assert "forecasting.scaleout" in modules and "forecasting.jobs.forecasting" in modules
    assert "forecasting.cli.forecast" in modules
    # (lightgbm loads its own lightgbm.dask module at import, without importing dask.)
    assert _loaded_after(modules, ("dask", "distributed", "dask.array")) == []
