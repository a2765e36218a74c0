"""Parties: registration, verification checks, credit assessment and investor risk levels."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update

from lendkit.core.config import GRADES
from lendkit.core.errors import Forbidden, InvalidValue, NotFound
from lendkit.core.money import Money
from lendkit.core.records import CreditAssessment, PartyRecord
from lendkit.services.common import (
    MAX_NAME_LENGTH,
    check_choice,
    check_id,
    check_text,
    get_row,
    new_id,
)
from lendkit.services.context import Ctx
from lendkit.services.uow import Tx
from lendkit.store.tables import parties, rating_reports, verifications

if TYPE_CHECKING:
    from lendkit.platform import Platform

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


def require_party(ctx: Ctx, party_id: str, *, verified: bool = False, action: str = "") -> Any:
    """The ``lendkit_parties`` row of ``party_id`` (``NotFound`` if there is none).

    With ``verified``, the party must also have passed every check in ``REQUIRED_CHECKS``
    (``Forbidden`` otherwise, naming ``action``: what it may not do, e.g. ``"bid"``).
    """
    if not verified:
        return get_row(ctx.conn, parties, party_id, "party")
    # one query: the party and how many of the required checks it passed
    passed = (
        select(func.count())
        .where(
            verifications.c.party_id == parties.c.id,
            verifications.c.check.in_(REQUIRED_CHECKS),
            verifications.c.state == "verified",
        )
        .scalar_subquery()
    )
    found = ctx.conn.execute(
        select(parties, passed.label("passed")).where(parties.c.id == party_id)
    ).first()
    if found is None:
        raise NotFound(f"party {party_id!r} does not exist")
    row = found
    if row.passed < len(REQUIRED_CHECKS):
        raise Forbidden(
            f"party {party_id} is not verified ({', '.join(REQUIRED_CHECKS)} needed) and may not"
            f" {action or 'do this'}"
        )
    return row


class PartiesService:
    """``platform.parties``: borrowers and investors (one party may be both)."""

    def __init__(self, platform: Platform) -> None:
        self._p = platform

    def register(self, name: str, kind: str = "person", key: str | None = None) -> PartyRecord:
        """Register a person or an enterprise; its custody accounts open with it."""
        name = check_name(name)
        kind = check_choice(kind, "party kind", KINDS)

        def run(tx: Tx) -> PartyRecord:
            ctx = Ctx(tx)
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

        return self._p.runner.run(
            "parties.register", run, key=key, payload=[name, kind], result_type=PartyRecord
        )

    def set_check(
        self, party_id: str, check: str, state: str, detail: str = "", key: str | None = None
    ) -> PartyRecord:
        """Record one verification check (id_card, phone, email, documents) as pending/verified/rejected."""
        party_id = check_id(party_id, "party")
        check = check_choice(check, "verification check", CHECKS)
        state = check_choice(state, "verification state", CHECK_STATES)
        detail = check_text(
            detail, "check detail", MAX_DETAIL_LENGTH, allow_empty=True, multiline=True
        )

        def run(tx: Tx) -> PartyRecord:
            ctx = Ctx(tx)
            require_party(ctx, party_id)
            ctx.conn.execute(
                update(verifications)
                .where(verifications.c.party_id == party_id, verifications.c.check == check)
                .values(state=state, detail=detail, updated_at=ctx.now)
            )
            return load_party(ctx, party_id)

        return self._p.runner.run(
            "parties.set_check",
            run,
            key=key,
            payload=[party_id, check, state, detail],
            result_type=PartyRecord,
        )

    def verify(self, party_id: str, key: str | None = None) -> PartyRecord:
        """Mark every verification check of the party verified."""
        party_id = check_id(party_id, "party")

        def run(tx: Tx) -> PartyRecord:
            ctx = Ctx(tx)
            require_party(ctx, party_id)
            ctx.conn.execute(
                update(verifications)
                .where(verifications.c.party_id == party_id)
                .values(state="verified", updated_at=ctx.now)
            )
            return load_party(ctx, party_id)

        return self._p.runner.run(
            "parties.verify", run, key=key, payload=[party_id], result_type=PartyRecord
        )

    def get(self, party_id: str) -> PartyRecord:
        """One party."""
        party_id = check_id(party_id, "party")
        return self._p.runner.run("parties.get", lambda tx: load_party(Ctx(tx), party_id))

    def add_rating_report(
        self, party_id: str, agency: str, grade: str, key: str | None = None
    ) -> bool:
        """File a third-party rating report; it counts only if ``agency`` is whitelisted.

        Returns whether the report was accepted.
        """
        party_id = check_id(party_id, "party")
        grade = check_choice(grade, "grade", GRADES)
        agency = check_name(agency, "rating agency", MAX_AGENCY_LENGTH)

        def run(tx: Tx) -> bool:
            ctx = Ctx(tx)
            require_party(ctx, party_id)
            accepted = agency in self._p.config.rating_agencies
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

        return self._p.runner.run(
            "parties.add_rating_report",
            run,
            key=key,
            payload=[party_id, agency, grade],
            result_type=bool,
        )

    def assess(self, party_id: str, key: str | None = None) -> CreditAssessment:
        """Score the party (the ``lendkit_assess_credit`` hook; default scorecard last)."""
        party_id = check_id(party_id, "party")

        def run(tx: Tx) -> CreditAssessment:
            ctx = Ctx(tx)
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
            result = self._p.hooks.assess_credit(ctx, party_id, verified, reports)
            if result is None or result.grade not in GRADES:
                raise InvalidValue(
                    f"credit assessment of {party_id} gave no valid grade: {result!r}"
                )
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

        return self._p.runner.run(
            "parties.assess", run, key=key, payload=[party_id], result_type=CreditAssessment
        )

    def set_risk_level(
        self,
        party_id: str,
        answers: Sequence[int] | Mapping[str, int],
        key: str | None = None,
    ) -> int:
        """Score an investor's risk questionnaire (answers 0..4 each) into a risk level 1..5."""
        party_id = check_id(party_id, "party")
        if isinstance(answers, Mapping):
            values = list(answers.values())
        elif isinstance(answers, list | tuple):
            values = list(answers)
        else:
            raise InvalidValue(
                f"questionnaire answers {str(answers)[:40]!r}: give a list of integers 0..4"
            )
        if not values or any(
            isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 4 for v in values
        ):
            raise InvalidValue(f"questionnaire answers {values!r}: give one or more integers 0..4")
        total = sum(values) * 5 // len(values)  # normalised to 0..20
        level = next((lvl for bound, lvl in RISK_BANDS if total < bound), 5)

        def run(tx: Tx) -> int:
            ctx = Ctx(tx)
            require_party(ctx, party_id)
            ctx.conn.execute(
                update(parties).where(parties.c.id == party_id).values(risk_level=level)
            )
            return level

        return self._p.runner.run(
            "parties.set_risk_level", run, key=key, payload=[party_id, values], result_type=int
        )


def is_verified(ctx: Ctx, party_id: str) -> bool:
    """Whether ``party_id`` passed every check in ``REQUIRED_CHECKS``."""
    states = dict(
        ctx.conn.execute(
            select(verifications.c.check, verifications.c.state).where(
                verifications.c.party_id == party_id
            )
        ).all()
    )
    return all(states.get(c) == "verified" for c in REQUIRED_CHECKS)


def load_party(ctx: Ctx, party_id: str) -> PartyRecord:
    """The party ``party_id`` as it is now in this unit of work (``NotFound`` if none)."""
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
