"""Persistence: SQLAlchemy models, engine/session factories and repository functions.

Layer rule: the store imports only layer 0 (errors, config, schema); no compute module
imports the store. Repository functions take a keyword-only ``session`` and never commit:
the caller owns the transaction. ``lite`` reads the few rows of the commands that do no
modelling without the ORM (stdlib ``sqlite3`` for SQLite files) so they start fast.
"""
