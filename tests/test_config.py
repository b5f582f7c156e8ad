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
