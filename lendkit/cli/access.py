"""Staff, write-offs and the audit trail on the command line.

``lendkit staff add|list|roles|deactivate``, ``lendkit loan request-write-off|write-off`` and
``lendkit audit``. Like every command they take ``--db``, ``--actor`` (who runs them:
``staff:ID``, ``party:ID`` or ``system``), ``--plugins`` and ``--json``; the ones that change
something take ``--key``.
"""

from __future__ import annotations

import click

from lendkit.cli.base import main
from lendkit.cli.operations import (
    as_json,
    common,
    echo_page,
    key_option,
    loan_group,
    page_options,
    parse_day,
    platform_of,
)
from lendkit.core.access import AUDIT_OUTCOMES
from lendkit.ops.access import StaffRecord

__all__ = ["audit_command", "staff_group"]


@main.group("staff")
def staff_group() -> None:
    """The staff register: who may act as staff:ID, with which roles."""


def staff_out(member: StaffRecord, cur: str, as_json_flag: bool, what: str) -> None:
    if as_json_flag:
        click.echo(as_json(member, cur))
        return
    state = "active" if member.active else "deactivated"
    click.echo(f"staff {member.id} ({member.name}) {what}: {', '.join(member.roles)}; {state}")


@staff_group.command("add")
@click.argument("staff_id")
@common()
@click.option("--name", required=True, help="The staff member's name.")
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    help="A role (repeat for several): customer_service, reviewer, finance, collections,"
    " operator, admin, or one the configuration defines.",
)
@key_option
@click.pass_context
def staff_add(
    ctx: click.Context,
    staff_id: str,
    plugins: list[str] | None,
    as_json_flag: bool,
    name: str,
    roles: tuple[str, ...],
    key: str | None,
) -> None:
    """Register a staff member with roles (needs the staff.add permission: admin or system)."""
    with platform_of(ctx, plugins) as p:
        member = p.staff.add(staff_id, name, list(roles), key=key)
        cur = p.config.currency
    staff_out(member, cur, as_json_flag, "added")


@staff_group.command("roles")
@click.argument("staff_id")
@common()
@click.option("--role", "roles", multiple=True, required=True, help="A role (repeat).")
@key_option
@click.pass_context
def staff_roles(
    ctx: click.Context,
    staff_id: str,
    plugins: list[str] | None,
    as_json_flag: bool,
    roles: tuple[str, ...],
    key: str | None,
) -> None:
    """Replace a staff member's roles."""
    with platform_of(ctx, plugins) as p:
        member = p.staff.set_roles(staff_id, list(roles), key=key)
        cur = p.config.currency
    staff_out(member, cur, as_json_flag, "now has roles")


@staff_group.command("deactivate")
@click.argument("staff_id")
@common()
@key_option
@click.pass_context
def staff_deactivate(
    ctx: click.Context,
    staff_id: str,
    plugins: list[str] | None,
    as_json_flag: bool,
    key: str | None,
) -> None:
    """Deactivate a staff member: they may no longer act."""
    with platform_of(ctx, plugins) as p:
        member = p.staff.set_active(staff_id, False, key=key)
        cur = p.config.currency
    staff_out(member, cur, as_json_flag, "deactivated")


@staff_group.command("list")
@common()
@click.pass_context
def staff_list(ctx: click.Context, plugins: list[str] | None, as_json_flag: bool) -> None:
    """Every staff member with roles."""
    with platform_of(ctx, plugins) as p:
        members = p.staff.list()
        cur = p.config.currency
    if as_json_flag:
        click.echo(as_json(members, cur))
        return
    if not members:
        click.echo("(no staff)")
        return
    for m in members:
        state = "" if m.active else " (deactivated)"
        click.echo(f"{m.id:<16} {m.name:<24} {', '.join(m.roles)}{state}")


def _write_off_command(name: str, done: str, doc: str) -> None:
    """``lendkit loan NAME LOAN``: run ``p.loans.<name with _>`` and say ``done``."""

    @loan_group.command(name, help=doc)
    @click.argument("loan_id")
    @common()
    @key_option
    @click.pass_context
    def command(
        ctx: click.Context,
        loan_id: str,
        plugins: list[str] | None,
        as_json_flag: bool,
        key: str | None,
    ) -> None:
        with platform_of(ctx, plugins) as p:
            loan = getattr(p.loans, name.replace("-", "_"))(loan_id, key=key)
            cur = p.config.currency
        click.echo(as_json(loan, cur) if as_json_flag else done.format(loan=loan))


_write_off_command(
    "request-write-off",
    "write-off of loan {loan.id} requested",
    "Ask for a defaulted loan's write-off (the first of four eyes).",
)
_write_off_command(
    "write-off",
    "loan {loan.id} written off ({loan.state})",
    "Write off (核销) a defaulted loan; with four-eyes, after another staff member's request.",
)


@main.command("audit")
@common()
@click.option("--subject", default=None, help="Only this subject, e.g. listing:L1, loan:X.")
@click.option("--by", "by", default=None, help="Only this actor's commands (staff:ID...).")
@click.option("--action", default=None, help="Only this action, e.g. loans.disburse.")
@click.option("--outcome", type=click.Choice(AUDIT_OUTCOMES), default=None)
@click.option("--since", default=None, help="From this day (YYYY-MM-DD, UTC).")
@click.option("--until", default=None, help="Before this day (YYYY-MM-DD, UTC).")
@page_options
@click.pass_context
def audit_command(
    ctx: click.Context,
    plugins: list[str] | None,
    as_json_flag: bool,
    subject: str | None,
    by: str | None,
    action: str | None,
    outcome: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    after: str | None,
) -> None:
    """The audit trail: every mutating command, refused or not, oldest first."""
    start, end = parse_day(since, "--since"), parse_day(until, "--until")
    with platform_of(ctx, plugins) as p:
        page = p.audit(
            subject=subject,
            actor=by,
            action=action,
            outcome=outcome,
            since=start,
            until=end,
            after=after,
            limit=limit,
        )
        cur = p.config.currency
    echo_page(
        page,
        cur,
        as_json_flag,
        empty="audit rows",
        headers=("at (UTC)", "actor", "action", "subject", "outcome"),
        right=(False, False, False, False, False),
        squeeze=3,
        row=lambda e: (
            e.at.strftime("%Y-%m-%d %H:%M"),
            e.actor,
            e.action if len(e.action) <= 24 else e.action[:23] + "…",
            e.subject,
            e.error_type or e.outcome,  # a refusal shows its error class
        ),
        command="lendkit audit",
    )
