"""Every command of the README's "After the demo" block runs as printed against a demo directory.

The demo is built once per session (`crimecast demo --no-serve`, with a shorter simulated
history and without the real-data backtest, which add minutes and no new command), in a
directory laid out like the repository root so the README's relative paths hold.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys

import pytest

from .conftest import REPO

pytestmark = pytest.mark.slow

_BLOCK = re.compile(r"<!-- demo-commands -->\s*```sh\n(.*?)```", re.DOTALL)


def readme_commands() -> list[str]:
    """The shell lines of the README's demo block, in order."""
    block = _BLOCK.search((REPO / "README.md").read_text(encoding="utf-8"))
    assert block, "README.md has no <!-- demo-commands --> block"
    return [line.strip() for line in block.group(1).splitlines() if line.strip()]


def _env() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith("CRIMECAST_")}


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo-root")
    proc = subprocess.run(
        [sys.executable, "-m", "forecasting", "demo", "--no-serve", "--no-backtest", "--days", "150"],
        cwd=root, env={**_env(), "CRIMECAST_DATA_DIR": "var/demo"}, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "CRIMECAST_DATA_DIR=var/demo uv run crimecast" in proc.stdout
    return root


def test_readme_demo_block_is_well_formed():
    lines = readme_commands()
    assert lines[0] == "export CRIMECAST_DATA_DIR=var/demo"
    assert all(line.startswith("uv run crimecast ") for line in lines[1:])


@pytest.mark.parametrize("line", readme_commands()[1:])
def test_readme_command_runs_as_printed(demo_root, line):
    env = _env()
    for export in readme_commands():
        if export.startswith("export "):
            key, _, value = export[len("export "):].partition("=")
            env[key] = value
    args = shlex.split(line)[len(["uv", "run", "crimecast"]):]
    proc = subprocess.run([sys.executable, "-m", "forecasting", *args], cwd=demo_root, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "Error" not in proc.stderr and "not scored" not in proc.stdout, proc.stdout + proc.stderr
