"""``crimecast audit`` (verify the hash chain of the audit log, print its head) and ``crimecast report``
(model cards, the public transparency report)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from forecasting.cli._common import factory, sub_app

audit_app = sub_app("Check the tamper-evident audit log.")


@audit_app.command("verify")
def audit_verify(
    head: Annotated[str | None, typer.Option("--head", help="A head hash anchored earlier; it must still be in "
                                             "the chain.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Recompute the audit chain; exit 1 at the first edited, deleted or reordered row."""
    from forecasting.store.governance import verify_audit
    from forecasting.store.session import transaction

    with transaction(factory()) as s:
        r = verify_audit(session=s, head=head)
    if as_json:
        typer.echo(json.dumps(r.to_dict()))
    elif r.ok:
        typer.echo(f"ok: {r.rows:,} audit rows, head {r.head_hash} (row {r.head_id})")
    else:
        typer.echo(f"BROKEN at row {r.problem_id} ({r.problem}): {r.message}", err=True)
    if not r.ok:
        raise typer.Exit(1)


@audit_app.command("head")
def audit_head_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Print the hash of the newest audit row, to anchor elsewhere."""
    from forecasting.store.governance import audit_head
    from forecasting.store.session import transaction

    with transaction(factory()) as s:
        h = audit_head(session=s)
    typer.echo(json.dumps(h) if as_json else h["row_hash"])


report_app = sub_app("Model cards and the public transparency report (Markdown or PDF).")


@report_app.command("transparency")
def report_transparency(
    out: Annotated[Path, typer.Option("--out", help="FILE.md or FILE.pdf")],
) -> None:
    """Write the public transparency report: aggregate, no cell-level risk."""
    from forecasting import reports
    from forecasting.cli._common import settings
    from forecasting.jobs.governance import transparency_facts

    _check_out(out)
    path = reports.write_document(reports.transparency_report(transparency_facts(factory(), settings())), out)
    typer.echo(f"transparency report: {path}")


@report_app.command("model-card")
def report_model_card(
    out: Annotated[Path, typer.Option("--out", help="FILE.md or FILE.pdf; with --all, a directory.")],
    version: Annotated[int | None, typer.Option("--version", help="Model version id (default: newest).")] = None,
    every: Annotated[bool, typer.Option("--all", help="A card for every stored model version (Markdown and "
                                        "PDF) into the --out directory.")] = False,
) -> None:
    """Write the model card of a model version (intended use, data, accuracy with intervals, fairness...)."""
    from forecasting import reports
    from forecasting.cli._common import settings
    from forecasting.jobs.governance import model_card_document
    from forecasting.store.model_versions import list_model_versions
    from forecasting.store.session import transaction

    f = factory()
    if not every:
        _check_out(out)
        typer.echo(f"model card: {reports.write_document(model_card_document(f, settings(), version), out)}")
        return
    with transaction(f) as s:
        ids = list_model_versions(session=s, limit=100_000)["id"].tolist()
    for vid in ids:
        doc = model_card_document(f, settings(), int(vid))
        for suffix in (".md", ".pdf"):
            reports.write_document(doc, out / f"model_card_v{vid}{suffix}")
    typer.echo(f"{len(ids)} model cards (Markdown and PDF) in {out}")


def _check_out(out: Path) -> None:
    from forecasting.errors import ConfigError

    if out.suffix.lower() not in (".md", ".pdf"):
        raise ConfigError(f"--out must end in .md or .pdf; got {str(out)!r}")
