"""The command-line reference, generated from the commands' own ``--help``.

``python -m forecasting.cli.reference`` (``make docs``) rewrites the command table of
``README.md`` (between the ``cli-reference`` markers) and ``docs/cli.md`` (every command's
options) from the Click commands behind ``crimecast``, so the text is what ``--help`` says;
``--check`` only reports whether they are current, and ``tests/test_cli_reference.py`` fails
when they are not. Help text lives in the commands' docstrings and option ``help=``.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path
from typing import Any

START = "<!-- cli-reference: generated from --help by `make docs`; edit the commands, not this table -->"
END = "<!-- /cli-reference -->"
ROOT = Path(__file__).resolve().parents[2]


def commands() -> list[tuple[str, Any]]:
    """Every leaf command as ``("crimecast db upgrade", command)``, in ``--help`` order."""
    import typer

    from forecasting.cli import app

    out: list[tuple[str, Any]] = []

    def walk(cmd: Any, path: str) -> None:
        if hasattr(cmd, "list_commands"):  # a group (Typer vendors Click: duck-typed)
            ctx = typer.Context(cmd, info_name=path)
            for name in cmd.list_commands(ctx):
                walk(cmd.get_command(ctx, name), f"{path} {name}")
        elif not getattr(cmd, "hidden", False):
            out.append((path, cmd))

    walk(typer.main.get_command(app), "crimecast")
    return out


def _options(cmd: Any) -> list[Any]:
    return [p for p in cmd.params if p.name != "help" and not getattr(p, "hidden", False)]


def _is_argument(p: Any) -> bool:
    return p.param_type_name == "argument"


def _metavar(p: Any) -> str:
    if _is_argument(p):
        name = p.name.upper() + ("..." if p.nargs == -1 else "")
        return name if p.required else f"[{name}]"
    return f"{p.opts[0]} {p.opts[0].lstrip('-').replace('-', '_').upper()}"


def synopsis(path: str, cmd: Any) -> str:
    """``crimecast ingest incidents PATHS... --format FORMAT [OPTIONS]``: what must be given."""
    params = _options(cmd)
    needed = [_metavar(p) for p in params if p.required or _is_argument(p)]
    optional = any(not (p.required or _is_argument(p)) for p in params)
    return " ".join([path, *needed] + (["[OPTIONS]"] if optional else []))


def _help(cmd: Any) -> str:
    return inspect.cleandoc(cmd.help or "").replace("\b\n", "")


def summary(cmd: Any) -> str:
    """The first paragraph of the command's help, on one line."""
    return " ".join(_help(cmd).split("\n\n")[0].split())


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def readme_table() -> str:
    """The README's command table."""
    rows = [f"| `{_cell(synopsis(path, cmd))}` | {_cell(summary(cmd))} |" for path, cmd in commands()]
    return "\n".join(["| command | what it does |", "|---|---|", *rows])


def _default(p: Any) -> str:
    if p.required:
        return "required"
    if getattr(p, "is_flag", False) and not p.secondary_opts:
        return "flag"
    d = p.default
    if d is None or d == () or d == []:
        return ""
    return f"`{d}`"


def _names(p: Any) -> str:
    if _is_argument(p):
        return p.name.upper()
    return " / ".join(filter(None, [", ".join(p.opts), ", ".join(getattr(p, "secondary_opts", []))]))


def cli_markdown() -> str:
    """``docs/cli.md``: every command with its full help and options."""
    import typer

    from forecasting.cli import app

    root = typer.main.get_command(app)
    lines = ["# Command-line reference", "",
             "Generated from `--help` by `make docs` (`python -m forecasting.cli.reference`); do not edit.",
             "", "Options given before the command (`crimecast --config FILE COMMAND ...`) apply to every command:",
             "", "| option | |", "|---|---|",
             *[f"| `{_names(p)}` | {_cell(p.help or '')} |" for p in _options(root)], ""]
    for path, cmd in commands():
        lines += [f"## {path}", "", "```", synopsis(path, cmd), "```", "", _help(cmd), ""]
        params = _options(cmd)
        if params:
            lines += ["| option | default | |", "|---|---|---|"]
            lines += [f"| `{_cell(_names(p))}` | "
                      f"{_cell(_default(p))} | {_cell(getattr(p, 'help', None) or '')} |" for p in params]
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def readme_with_table(readme: str) -> str:
    """``readme`` with the text between the markers replaced by :func:`readme_table`."""
    head, sep, rest = readme.partition(START)
    _, sep2, tail = rest.partition(END)
    if not (sep and sep2):
        raise SystemExit(f"README.md lacks the markers {START!r} ... {END!r}")
    return f"{head}{START}\n{readme_table()}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    """Rewrite README.md and docs/cli.md; with ``--check``, exit 1 if either is out of date."""
    check = "--check" in (argv if argv is not None else sys.argv[1:])
    readme, doc = ROOT / "README.md", ROOT / "docs" / "cli.md"
    wanted = {readme: readme_with_table(readme.read_text(encoding="utf-8")), doc: cli_markdown()}
    stale = [p for p, text in wanted.items() if not p.exists() or p.read_text(encoding="utf-8") != text]
    if check:
        for p in stale:
            print(f"{p.relative_to(ROOT)} is out of date: run `make docs`", file=sys.stderr)
        return 1 if stale else 0
    for p in stale:
        p.write_text(wanted[p], encoding="utf-8")
        print(f"wrote {p.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
