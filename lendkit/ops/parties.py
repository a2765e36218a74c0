"""Parties: registration, verification checks, credit assessment and investor risk levels."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, update

from lendkit.core.config import GRADES
from lendkit.core.errors import Forbidden, InvalidValue, NotFound
from lendkit.core.inputs import MAX_NAME_LENGTH, check_text
from lendkit.core.money import Money
from lendkit.core.records import CreditAssessment, PartyRecord
from lendkit.store.rows import get_row, new_id
from lendkit.store.tables import parties, rating_reports, verifications
from lendkit.uow import UnitOfWork

KINDS = ("person", "enterprise")
CHECKS = ("id_card", "phone", "email", "documents")
#: the checks a party needs before it may borrow, bid or withdraw
REQUIRED_CHECKS = ("id_card", "phone")
CHECK_STATES = ("pending", "verified", "rejected")
#: questionnaire answers are scored 0..4 each; the total maps to a risk level 1..5
RISK_BANDS = ((4, 1), (8, 2), (12, 3), (16, 4))

#: the longest rating agency name (the column's size)
MAX_AGENCY_LENGTH = 100
#: the longest verification detail (the column's size)
MAX_DETAIL_LENGTH = 400


def check_name(name: object, what: str = "name", max_length: int = MAX_NAME_LENGTH) -> str:
    """A party's (or an agency's) name: 1..``max_length`` printable characters, trimmed."""
    return check_text(name, what, max_length)


def checks_passed(party_id: Any) -> Any:
    """A scalar subquery: how many of ``REQUIRED_CHECKS`` ``party_id`` (a value or a column)
    passed, to read with the party in the same statement."""
    return (
        select(func.count())
        .where(
            verifications.c.party_id == party_id,
            verifications.c.check.in_(REQUIRED_CHECKS),
            verifications.c.state == "verified",
        )
        .scalar_subquery()
    )


def check_verified(party_id: str, found: bool, passed: int, action: str = "") -> None:
    """``NotFound`` if the party does not exist, ``Forbidden`` (naming ``action``) if it has not
    passed every check in ``REQUIRED_CHECKS``."""
    if not found:
        raise NotFound(f"party {party_id!r} does not exist")
    if passed < len(REQUIRED_CHECKS):
        raise Forbidden(
            f"party {party_id} is not verified ({', '.join(REQUIRED_CHECKS)} needed) and may not"
            f" {action or 'do this'}"
        )


def require_party(
    ctx: UnitOfWork, party_id: str, *, verified: bool = False, action: str = ""
) -> Any:
    """The ``lendkit_parties`` row of ``party_id`` (``NotFound`` if there is none).

    With ``verified``, the party must also have passed every check in ``REQUIRED_CHECKS``
    (``Forbidden`` otherwise, naming ``action``: what it may not do, e.g. ``"bid"``).
    """
    if not verified:
        return get_row(ctx.conn, parties, party_id, "party")
    # one query: the party and how many of the required checks it passed
    found = ctx.conn.execute(
        select(parties, checks_passed(parties.c.id).label("passed")).where(parties.c.id == party_id)
    ).first()
    check_verified(party_id, found is not None, 0 if found is None else found.passed, action)
    return found


def register(ctx: UnitOfWork, name: str, kind: str) -> PartyRecord:
    """Register a person or an enterprise; its custody accounts open with it."""
    party_id = new_id("pty")
    ctx.conn.execute(
        parties.insert().values(
            id=party_id,
            name=name,
            kind=kind,
            credit_line=0,
            credit_used=0,
            currency=ctx.currency,
            created_at=ctx.now,
        )
    )
    ctx.conn.execute(
        verifications.insert(),
        [
            {
                "party_id": party_id,
                "check": c,
                "state": "pending",
                "detail": "",
                "updated_at": ctx.now,
            }
            for c in CHECKS
        ],
    )
    ctx.party_account(party_id)
    ctx.party_frozen(party_id)
    return PartyRecord(id=party_id, name=name, kind=kind, verified=False)


def set_check(ctx: UnitOfWork, party_id: str, check: str, state: str, detail: str) -> PartyRecord:
    """Record one verification check of ``party_id`` as ``state``; the party as it is now."""
    require_party(ctx, party_id)
    ctx.conn.execute(
        update(verifications)
        .where(verifications.c.party_id == party_id, verifications.c.check == check)
        .values(state=state, detail=detail, updated_at=ctx.now)
    )
    return load_party(ctx, party_id)


def verify(ctx: UnitOfWork, party_id: str) -> PartyRecord:
    """Mark every verification check of the party verified; the party as it is now."""
    require_party(ctx, party_id)
    ctx.conn.execute(
        update(verifications)
        .where(verifications.c.party_id == party_id)
        .values(state="verified", updated_at=ctx.now)
    )
    return load_party(ctx, party_id)


def add_rating_report(ctx: UnitOfWork, party_id: str, agency: str, grade: str) -> bool:
    """File a third-party rating report; returns whether it counts (``agency`` whitelisted)."""
    require_party(ctx, party_id)
    accepted = agency in ctx.platform_config.rating_agencies
    ctx.conn.execute(
        rating_reports.insert().values(
            id=new_id("rpt"),
            party_id=party_id,
            agency=agency,
            grade=grade,
            accepted=accepted,
            created_at=ctx.now,
        )
    )
    return accepted


def assess(ctx: UnitOfWork, party_id: str) -> CreditAssessment:
    """Score the party (the ``lendkit_assess_credit`` hook) and store its grade and line."""
    require_party(ctx, party_id)
    verified = [
        r.check
        for r in ctx.conn.execute(
            select(verifications.c.check).where(
                verifications.c.party_id == party_id, verifications.c.state == "verified"
            )
        )
    ]
    reports = [
        r.grade
        for r in ctx.conn.execute(
            select(rating_reports.c.grade).where(
                rating_reports.c.party_id == party_id, rating_reports.c.accepted.is_(True)
            )
        )
    ]
    result = ctx.hooks.assess_credit(ctx, party_id, verified, reports)
    if result is None or result.grade not in GRADES:
        raise InvalidValue(f"credit assessment of {party_id} gave no valid grade: {result!r}")
    ctx.conn.execute(
        update(parties)
        .where(parties.c.id == party_id)
        .values(
            credit_score=result.score,
            grade=result.grade,
            credit_line=result.credit_line.minor,
        )
    )
    return result


def risk_level(answers: Sequence[int]) -> int:
    """The risk level 1..5 of questionnaire ``answers`` (each 0..4, at least one)."""
    total = sum(answers) * 5 // len(answers)  # normalised to 0..20
    return next((lvl for bound, lvl in RISK_BANDS if total < bound), 5)


def set_risk_level(ctx: UnitOfWork, party_id: str, answers: Sequence[int]) -> int:
    """Store the risk level of an investor's questionnaire ``answers``; returns the level."""
    level = risk_level(answers)
    require_party(ctx, party_id)
    ctx.conn.execute(update(parties).where(parties.c.id == party_id).values(risk_level=level))
    return level


def is_verified(ctx: UnitOfWork, party_id: str) -> bool:
    """Whether the party passed every check in ``REQUIRED_CHECKS``."""
    states = dict(
        ctx.conn.execute(
            select(verifications.c.check, verifications.c.state).where(
                verifications.c.party_id == party_id
            )
        ).all()
    )
    return all(states.get(c) == "verified" for c in REQUIRED_CHECKS)


def load_party(ctx: UnitOfWork, party_id: str) -> PartyRecord:
    """The party ``party_id`` as it is now (``NotFound`` if none)."""
    row = get_row(ctx.conn, parties, party_id, "party")
    return PartyRecord(
        id=row.id,
        name=row.name,
        kind=row.kind,
        verified=is_verified(ctx, party_id),
        grade=row.grade,
        credit_score=row.credit_score,
        credit_line=Money.from_minor(row.credit_line, row.currency),
        risk_level=row.risk_level,
    )
