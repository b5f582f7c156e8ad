# Two commands on a fresh machine (Python 3.11+ and make): `make demo` and `make test`.
PYTHON ?= python3
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := $(PYTHON)
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
RUN := $(UV) run --frozen
DEMO_DIR ?= var/demo

.PHONY: setup demo test test-fast lint docs bench clean

# The environment lives in .venv/, installed from the committed uv.lock.
.venv/.synced: pyproject.toml uv.lock
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	$(UV) sync --frozen
	@touch $@

setup: .venv/.synced

demo: setup
	CRIMECAST_DATA_DIR=$(DEMO_DIR) $(RUN) crimecast demo

test: setup
	$(RUN) pytest -q

test-fast: setup
	$(RUN) pytest -q -m "not slow and not browser"

lint: setup
	$(RUN) ruff check forecasting dashboards tests benchmarks migrations
	$(RUN) lint-imports

# The CLI reference (README table, docs/cli.md) from the commands' --help; a test checks it is current.
docs: setup
	$(RUN) python -m forecasting.cli.reference

bench: setup
	$(RUN) python benchmarks/bench_ingest.py

clean:
	rm -rf .venv var .pytest_cache
