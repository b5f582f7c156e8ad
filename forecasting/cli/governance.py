"""``crimecast audit``: verify the hash chain of the audit log, print its head."""

from __future__ import annotations

import json
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
