"""Persistence: SQLAlchemy models, engine/session factories and repository functions.

Layer rule: the store imports only layer 0 (errors, config, schema); no compute module
imports the store. Repository functions take a keyword-only ``session`` and never commit:
the caller owns the transaction. ``lite`` reads the few rows of the commands that do no
modelling without the ORM (stdlib ``sqlite3`` for SQLite files) so they start fast.

Repository modules are named by the tables they hold: ``repository`` (incidents, ingest runs,
quarantine), ``cameras``, ``counts`` (activity counts and gaps), ``places``, ``areas``,
``streets``, ``grids`` (grids and cells), ``model_versions``, ``forecasts`` (forecast runs and
rows), ``backtests``, ``tasks``, ``plans`` (the read queries of priorities and patrol plans),
``governance`` (accounts, audit log, patrol visits); ``models`` holds the
ORM tables.
"""
