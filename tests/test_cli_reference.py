"""The command-line reference in README.md and docs/cli.md is what --help says (datasette's cog check)."""

from __future__ import annotations

from forecasting.cli import reference


def test_readme_table_and_docs_are_generated_from_the_commands():
    readme = (reference.ROOT / "README.md").read_text(encoding="utf-8")
    assert reference.readme_with_table(readme) == readme, "README.md's command table is stale: run `make docs`"
    docs = (reference.ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert reference.cli_markdown() == docs, "docs/cli.md is stale: run `make docs`"


def test_every_command_has_a_row_and_a_summary():
    table = reference.readme_table()
    for path, cmd in reference.commands():
        assert f"| `{path}" in table and reference.summary(cmd), path
    assert "crimecast ingest incidents PATHS... --format FORMAT [OPTIONS]" in table
    assert "crimecast db upgrade [REVISION]" in table


def test_check_reports_a_stale_reference(tmp_path, monkeypatch, capsys):
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text(f"intro\n{reference.START}\nold\n{reference.END}\nrest\n")
    monkeypatch.setattr(reference, "ROOT", tmp_path)
    assert reference.main(["--check"]) == 1 and "run `make docs`" in capsys.readouterr().err
    assert reference.main([]) == 0 and reference.main(["--check"]) == 0
    text = (tmp_path / "README.md").read_text()
    assert text.startswith("intro\n") and text.endswith("rest\n") and "crimecast backtest" in text
