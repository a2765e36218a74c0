"""Authorization, four-eyes rules, the staff register and the audit trail's reads.

The runner calls :func:`authorize` inside a mutating command's transaction before the command
runs, and appends the audit row (``lendkit.store.audit``) after it, or after a refusal.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from attrs import frozen
from sqlalchemy import select, update

from lendkit.core import access as A
from lendkit.core.access import Actor, Subject
from lendkit.core.errors import (
    FourEyesRequired,
    InvalidState,
    InvalidValue,
    NotFound,
    PermissionDenied,
)
from lendkit.core.inputs import MAX_NAME_LENGTH, check_text
from lendkit.core.records import LoanRecord
from lendkit.core.servicing import Page
from lendkit.core.states import DEFAULTED
from lendkit.ops.loans import load_loan
from lendkit.store import audit as store_audit
from lendkit.store.tables import autobid_rules, holds, listings, loans, staff, transfers
from lendkit.uow import UnitOfWork

#: where the owner of a subject is found, by subject kind
_OWNERS = {
    "listing": (listings.c.borrower_id, listings.c.id),
    "loan": (loans.c.borrower_id, loans.c.id),
    "hold": (holds.c.owner_id, holds.c.id),
    "transfer": (transfers.c.seller_id, transfers.c.id),
    "rule": (autobid_rules.c.investor_id, autobid_rules.c.id),
}


@frozen
class StaffRecord:
    """A staff member of the register (``platform.staff``)."""

    id: str
    name: str
    roles: tuple[str, ...]
    active: bool


def owner_of(uow: UnitOfWork, subject: Subject) -> str | None:
    """The party a command on ``subject`` acts for (``None``: no party owns it)."""
    if subject.owner is not None:
        return subject.owner
    if subject.kind == "party":
        return subject.id
    found = _OWNERS.get(subject.kind)
    if found is None:
        return uow.hooks.subject_owner(uow, subject)
    column, key = found
    value = uow.conn.execute(select(column).where(key == subject.id)).scalar()
    return None if value is None else str(value)


def roles_of(uow: UnitOfWork, actor: Actor) -> frozenset[str]:
    """A staff actor's roles: as given, else from the register (``PermissionDenied`` if the
    staff member is not registered or not active)."""
    if actor.kind != A.STAFF or actor.roles:
        return actor.roles
    row = uow.conn.execute(select(staff).where(staff.c.id == actor.id)).first()
    if row is None or not row.active:
        state = "not registered" if row is None else "deactivated"
        raise PermissionDenied(
            f"actor {actor.label} is {state} in the staff register: add them with"
            " `lendkit staff add` (or platform.staff.add) before they act"
        )
    return frozenset(r for r in row.roles.split(",") if r)


def authorize(uow: UnitOfWork, actor: Actor, action: str, subject: Subject) -> None:
    """Refuse (``PermissionDenied``) unless ``actor`` may run ``action`` on ``subject``.

    ``lendkit_authorize`` decides if a plugin answers, else the default policy
    (:func:`lendkit.core.access.default_decision`); four-eyes rules apply either way.
    """
    config = uow.platform_config
    decision = uow.hooks.authorize(uow, actor, action, subject)
    if decision is None:
        owner = owner_of(uow, subject) if actor.kind == A.PARTY else None
        decision = A.default_decision(
            actor,
            roles_of(uow, actor),
            action,
            owner,
            roles_of=config.all_roles,
            party_actions=config.party_actions,
        )
    if not decision.allowed:
        why = f": {decision.reason}" if decision.reason else ""
        raise PermissionDenied(
            f"actor {actor.label} may not {action} on {subject.label}: missing permission"
            f" {decision.missing or action}{why}"
        )
    if config.four_eyes and actor.kind == A.STAFF:
        _four_eyes(uow, actor, action, subject)


def _four_eyes(uow: UnitOfWork, actor: Actor, action: str, subject: Subject) -> None:
    if action == A.DISBURSE:
        approvers = store_audit.last_actors(uow.conn, subject.label, [A.APPROVE_LISTING])
        if approvers and approvers[0] == actor.label:
            raise FourEyesRequired(
                f"actor {actor.label} approved {subject.label} and may not also disburse it"
                " (four-eyes): another staff member must"
            )
    elif action == A.WRITE_OFF:
        requesters = store_audit.last_actors(uow.conn, subject.label, [A.REQUEST_WRITE_OFF])
        others = [r for r in requesters if r != actor.label and r.startswith(f"{A.STAFF}:")]
        if not others:
            asked = f" (requested by {requesters[0]} only)" if requesters else ""
            raise FourEyesRequired(
                f"actor {actor.label} may not write off {subject.label} alone (four-eyes): it"
                f" needs a write-off request by another staff member first{asked}"
                " (loans.request_write_off)"
            )


def request_write_off(uow: UnitOfWork, loan_id: str) -> LoanRecord:
    """A staff member asks for a defaulted loan's write-off (the first pair of eyes); the
    request is the command's audit row. Refused (``InvalidState``) unless the loan is defaulted."""
    loan = load_loan(uow, loan_id)
    if loan.state != DEFAULTED:
        raise InvalidState(
            f"loan {loan_id} is {loan.state}: only a defaulted loan may be written off"
        )
    return loan


# -- the staff register --------------------------------------------------------------------------


def check_roles(uow: UnitOfWork, roles: Iterable[object]) -> tuple[str, ...]:
    """Role names known to the configuration, sorted (``InvalidValue`` naming the allowed)."""
    known = uow.platform_config.all_roles
    chosen: set[str] = set()
    for role in roles:
        if not isinstance(role, str) or role not in known:
            raise InvalidValue(
                f"role {str(role)[:40]!r} is not a role of this platform: use one of"
                f" {', '.join(sorted(known))}"
            )
        chosen.add(role)
    if not chosen:
        raise InvalidValue(f"a staff member needs at least one role: {', '.join(sorted(known))}")
    return tuple(sorted(chosen))


def _staff(row: object) -> StaffRecord:
    return StaffRecord(
        id=row.id,  # type: ignore[attr-defined]
        name=row.name,  # type: ignore[attr-defined]
        roles=tuple(r for r in row.roles.split(",") if r),  # type: ignore[attr-defined]
        active=bool(row.active),  # type: ignore[attr-defined]
    )


def load_staff(uow: UnitOfWork, staff_id: str) -> StaffRecord:
    row = uow.conn.execute(select(staff).where(staff.c.id == staff_id)).first()
    if row is None:
        raise NotFound(f"staff member {staff_id!r} is not in the staff register")
    return _staff(row)


def add_staff(uow: UnitOfWork, staff_id: str, name: str, roles: Sequence[object]) -> StaffRecord:
    """Register a staff member with roles (``InvalidState`` if the id is taken)."""
    chosen = check_roles(uow, roles)
    name = check_text(name, "staff name", MAX_NAME_LENGTH)
    if uow.conn.execute(select(staff.c.id).where(staff.c.id == staff_id)).first() is not None:
        raise InvalidState(f"staff member {staff_id!r} is already registered")
    uow.conn.execute(
        staff.insert().values(
            id=staff_id,
            name=name,
            roles=",".join(chosen),
            active=True,
            created_at=uow.now,
            updated_at=uow.now,
        )
    )
    return load_staff(uow, staff_id)


def set_staff(
    uow: UnitOfWork,
    staff_id: str,
    *,
    roles: Sequence[object] | None = None,
    active: bool | None = None,
) -> StaffRecord:
    """Change a staff member's roles and/or deactivate (or reactivate) them."""
    load_staff(uow, staff_id)
    values: dict[str, object] = {"updated_at": uow.now}
    if roles is not None:
        values["roles"] = ",".join(check_roles(uow, roles))
    if active is not None:
        values["active"] = active
    uow.conn.execute(update(staff).where(staff.c.id == staff_id).values(**values))
    return load_staff(uow, staff_id)


def list_staff(uow: UnitOfWork) -> list[StaffRecord]:
    return [_staff(r) for r in uow.conn.execute(select(staff).order_by(staff.c.id))]


# -- the audit trail -----------------------------------------------------------------------------


def audit_page(
    uow: UnitOfWork,
    *,
    subject: str | None,
    actor: str | None,
    action: str | None,
    outcome: str | None,
    since: datetime | None,
    until: datetime | None,
    after: str | None,
    limit: int,
) -> Page[A.AuditEntry]:
    """Audit rows, oldest first, a page at a time (``after``: the previous page's ``next``)."""
    start: int | None = None
    if after is not None:
        if not after.isdigit():
            raise InvalidValue(f"page cursor {after[:40]!r} is not an audit cursor (digits)")
        start = int(after)
    rows = store_audit.audit_rows(
        uow.conn,
        subject=subject,
        actor=actor,
        action=action,
        outcome=outcome,
        since=since,
        until=until,
        after=start,
        limit=limit + 1,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(tuple(rows), str(rows[-1].id) if more and rows else None)
