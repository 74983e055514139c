"""`status`: what the state store knows: tasks in flight, recent outcomes, attempts, PRs, tokens and cost."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict
from datetime import UTC, datetime

import click
from rich.text import Text

from autonomous_dev.core.outages import Outage, recorded
from autonomous_dev.store.records import TaskRecord

from .app import AppContext, cli
from .build import open_state


@cli.command()
@click.option("--repo", "repo_filter", help="Only this owner/name.")
@click.option(
    "--limit", type=click.IntRange(1, 100_000), default=50, show_default=True, help="Most tasks shown."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (all fields) for scripts.")
@click.pass_obj
def status(app: AppContext, repo_filter: str | None, limit: int, as_json: bool) -> None:
    """Show the tasks in the state store, newest first, with totals."""
    settings = app.settings()
    store = open_state(settings, app.credentials(), dry_run=False)
    try:
        records = store.tasks(repo_filter, limit=limit)
        outage = recorded(store)
    finally:
        store.close()
    if as_json:
        document = {"tasks": [_jsonable(r) for r in records], "totals": _totals(records),
                    "outage": _jsonable_outage(outage)}  # fmt: skip
        click.echo(json.dumps(document, indent=2))
        return
    from rich.table import Table

    table = Table("task", "state", "attempts", "next attempt", "PR", "rounds", "tokens", "cost", "updated",
                  "claim / last error")  # fmt: skip
    for record in records:
        table.add_row(
            f"{record.repo}#{record.issue}",
            record.state.value,
            str(record.attempts),
            _next_attempt(record),
            Text(record.pr_url or "-"),
            _rounds(record),
            f"{_tokens(record):,}",
            f"${record.cost_usd:,.4f}",
            f"{record.updated_at.astimezone():%Y-%m-%d %H:%M}",
            Text(_note(record), overflow="fold"),
        )
    app.console.print(table)
    totals = _totals(records)
    app.console.print(
        f"{totals['tasks']:,} tasks, {totals['tokens']:,} tokens, ${totals['cost_usd']:,.4f} estimated"
    )
    causes = _causes(records)
    if causes:
        app.console.print(
            "ended without a ready PR: " + ", ".join(f"{n} {cause}" for cause, n in causes.items())
        )
    if outage is not None:
        app.console.print(Text(f"{outage.note()}: {outage.message}", style="yellow"))


def _tokens(record: TaskRecord) -> int:
    return record.input_tokens + record.output_tokens + record.cache_read_tokens + record.cache_write_tokens


def _rounds(record: TaskRecord) -> str:
    """The rounds on its PR: review rounds answered, CI-repair rounds made."""
    if not record.review_rounds and not record.repair_rounds:
        return "-"
    return f"review {record.review_rounds}, CI {record.repair_rounds}"


def _next_attempt(record: TaskRecord) -> str:
    """When a task's next step is due (a failed attempt again, the next look at its PR); only a time in
    the future is worth showing."""
    due = record.next_attempt_at
    if record.step is None or due is None or due <= datetime.now(UTC):
        return "-"
    return f"{due.astimezone():%Y-%m-%d %H:%M}"


def _jsonable_outage(outage: Outage | None) -> dict[str, object] | None:
    if outage is None:
        return None
    data = asdict(outage)
    data["note"] = outage.note()
    for key in ("seen_at", "retry_at"):
        data[key] = data[key].isoformat() if data[key] else None
    return data


def _note(record: TaskRecord) -> str:
    if record.claim_owner and record.lease_expires_at:
        return f"claimed by {record.claim_owner} until {record.lease_expires_at:%H:%M:%S}"
    cause = f"[{record.cause.value}] " if record.cause is not None else ""
    return (cause + (record.last_error or ""))[:300]


def _totals(records: list[TaskRecord]) -> dict[str, object]:
    return {
        "tasks": len(records),
        "tokens": sum(_tokens(r) for r in records),
        "cost_usd": round(sum(r.cost_usd for r in records), 6),
        "review_rounds": sum(r.review_rounds for r in records),
        "repair_rounds": sum(r.repair_rounds for r in records),
        "causes": _causes(records),
    }


def _causes(records: list[TaskRecord]) -> dict[str, int]:
    """How many of the tasks stand on each cause (errors.Cause), by name."""
    return dict(sorted(Counter(r.cause.value for r in records if r.cause is not None).items()))


def _jsonable(record: TaskRecord) -> dict[str, object]:
    data = asdict(record)
    for key, value in data.items():
        if isinstance(value, datetime):
            data[key] = value.isoformat()
    data["state"] = record.state.value
    data["cause"] = record.cause.value if record.cause is not None else None
    data["progress"] = json.loads(record.progress) if record.progress else None  # the tracking comment's
    data["tokens"] = _tokens(record)
    return data
