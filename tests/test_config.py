from __future__ import annotations

import re

import pytest

from forecasting.config import load_settings
from forecasting.errors import ConfigError


def test_defaults_put_sqlite_in_the_data_dir(tmp_path):
    s = load_settings(data_dir=str(tmp_path))
    assert s.resolved_database_url() == f"sqlite:///{tmp_path}/crimecast.db"
    assert s.cell_size == 150 and s.timezone == "UTC"


def test_environment_overrides_toml(tmp_path, monkeypatch):
    toml = tmp_path / "crimecast.toml"
    toml.write_text('cell_size = 200\ntimezone = "Europe/London"\nretention_days = 90\n')
    monkeypatch.setenv("CRIMECAST_CONFIG", str(toml))
    monkeypatch.setenv("CRIMECAST_CELL_SIZE", "250")
    s = load_settings()
    assert (s.cell_size, s.timezone, s.retention_days) == (250, "Europe/London", 90)


def test_toml_in_working_directory_is_found(tmp_path):
    (tmp_path / "crimecast.toml").write_text('database_url = "sqlite:////tmp/x.db"\n')
    assert load_settings().resolved_database_url() == "sqlite:////tmp/x.db"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cell_size": -5}, "cell_size must be a positive number of metres; got -5"),
        ({"timezone": "Mars/Olympus"}, "timezone must be an IANA name such as 'Europe/London'; got 'Mars/Olympus'"),
        ({"retention_days": 0}, "retention_days: Value error, must be a positive integer; got 0"),
        ({"near_repeat_days": 0}, "near_repeat_days: Value error, must be a positive integer; got 0"),
        ({"near_repeat_permutations": 5},
         "near_repeat_permutations: Value error, near_repeat_permutations must be an integer of at least 9; got 5"),
    ],
)
def test_invalid_values_are_named(kwargs, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings(**kwargs)


def test_missing_config_file_is_named(monkeypatch):
    monkeypatch.setenv("CRIMECAST_CONFIG", "/nope/crimecast.toml")
    with pytest.raises(ConfigError, match=re.escape("config file /nope/crimecast.toml does not exist")):
        load_settings()


def test_nothing_is_read_at_import():
    import importlib

    import forecasting.config as config

    importlib.reload(config)
    assert not hasattr(config, "settings")


def test_the_cell_size_default_is_written_once():
    # config.DEFAULT_CELL_SIZE is the one default: a function or --cell-size option that copies its
    # number would drift from it the day it changes (a deliberate other size, e.g. 200 m, is not a copy).
    import ast
    from pathlib import Path

    from forecasting.config import DEFAULT_CELL_SIZE

    root = Path(__file__).resolve().parents[1]
    literal = []
    for path in [p for d in ("forecasting", "dashboards", "benchmarks") for p in (root / d).rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.arguments):
                args = node.posonlyargs + node.args
                pairs = list(zip(args[len(args) - len(node.defaults):], node.defaults, strict=True))
                pairs += [(a, d) for a, d in zip(node.kwonlyargs, node.kw_defaults, strict=True) if d is not None]
                literal += [f"{path.name}:{d.lineno}" for a, d in pairs
                            if a.arg == "cell_size" and isinstance(d, ast.Constant) and d.value == DEFAULT_CELL_SIZE]
            elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                    and node.args[0].value == "--cell-size":
                literal += [f"{path.name}:{k.value.lineno}" for k in node.keywords
                            if k.arg == "default" and isinstance(k.value, ast.Constant)
                            and k.value.value == DEFAULT_CELL_SIZE]
    assert literal == []
