"""``platform.parties``: the facade over :mod:`lendkit.ops.parties`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from lendkit.core.access import Actor, Subject
from lendkit.core.config import GRADES
from lendkit.core.errors import InvalidValue
from lendkit.core.inputs import check_bool, check_choice, check_id, check_text
from lendkit.core.records import CreditAssessment, PartyRecord
from lendkit.core.servicing import Page, check_limit
from lendkit.ops import parties as ops
from lendkit.ops import servicing

if TYPE_CHECKING:
    from lendkit.platform import Platform


class PartiesService:
    """``platform.parties``: borrowers and investors (one party may be both)."""

    def __init__(self, platform: Platform) -> None:
        self._p = platform

    def register(
        self,
        name: str,
        kind: str = "person",
        key: str | None = None,
        actor: Actor | str | None = None,
    ) -> PartyRecord:
        """Register a person or an enterprise; its custody accounts open with it."""
        name = ops.check_name(name)
        kind = check_choice(kind, "party kind", ops.KINDS)
        return self._p.runner.run(
            "parties.register",
            lambda tx: ops.register(tx, name, kind),
            key=key,
            actor=actor,
            subject=Subject("party", ""),
            payload=[name, kind],
            result_type=PartyRecord,
        )

    def set_check(
        self,
        party_id: str,
        check: str,
        state: str,
        detail: str = "",
        key: str | None = None,
        actor: Actor | str | None = None,
    ) -> PartyRecord:
        """Record one verification check (id_card, phone, email, documents) as pending/verified/rejected."""
        party_id = check_id(party_id, "party")
        check = check_choice(check, "verification check", ops.CHECKS)
        state = check_choice(state, "verification state", ops.CHECK_STATES)
        detail = check_text(
            detail, "check detail", ops.MAX_DETAIL_LENGTH, allow_empty=True, multiline=True
        )
        return self._p.runner.run(
            "parties.set_check",
            lambda tx: ops.set_check(tx, party_id, check, state, detail),
            key=key,
            actor=actor,
            subject=Subject("party", party_id),
            payload=[party_id, check, state, detail],
            result_type=PartyRecord,
        )

    def verify(
        self, party_id: str, key: str | None = None, actor: Actor | str | None = None
    ) -> PartyRecord:
        """Mark every verification check of the party verified."""
        party_id = check_id(party_id, "party")
        return self._p.runner.run(
            "parties.verify",
            lambda tx: ops.verify(tx, party_id),
            key=key,
            actor=actor,
            subject=Subject("party", party_id),
            payload=[party_id],
            result_type=PartyRecord,
        )

    def list(
        self,
        *,
        kind: str | None = None,
        verified: bool | None = None,
        after: str | None = None,
        limit: int = 50,
    ) -> Page[PartyRecord]:
        """Parties, oldest first, a page at a time (``after``: the previous page's ``next``),
        optionally of one kind and verified (every required check passed) or not."""
        if kind is not None:
            kind = check_choice(kind, "party kind", ops.KINDS)
        if verified is not None:
            verified = check_bool(verified, "verified")
        after = None if after is None else check_id(after, "page cursor")
        limit = check_limit(limit)
        return self._p.runner.run(
            "parties.list",
            lambda tx: servicing.list_parties(
                tx, kind=kind, verified=verified, after=after, limit=limit
            ),
        )

    def get(self, party_id: str) -> PartyRecord:
        """One party."""
        party_id = check_id(party_id, "party")
        return self._p.runner.run("parties.get", lambda tx: ops.load_party(tx, party_id))

    def add_rating_report(
        self,
        party_id: str,
        agency: str,
        grade: str,
        key: str | None = None,
        actor: Actor | str | None = None,
    ) -> bool:
        """File a third-party rating report; it counts only if ``agency`` is whitelisted.

        Returns whether the report was accepted.
        """
        party_id = check_id(party_id, "party")
        grade = check_choice(grade, "grade", GRADES)
        agency = ops.check_name(agency, "rating agency", ops.MAX_AGENCY_LENGTH)
        return self._p.runner.run(
            "parties.add_rating_report",
            lambda tx: ops.add_rating_report(tx, party_id, agency, grade),
            key=key,
            actor=actor,
            subject=Subject("party", party_id),
            payload=[party_id, agency, grade],
            result_type=bool,
        )

    def assess(
        self, party_id: str, key: str | None = None, actor: Actor | str | None = None
    ) -> CreditAssessment:
        """Score the party (the ``lendkit_assess_credit`` hook; default scorecard last)."""
        party_id = check_id(party_id, "party")
        return self._p.runner.run(
            "parties.assess",
            lambda tx: ops.assess(tx, party_id),
            key=key,
            actor=actor,
            subject=Subject("party", party_id),
            payload=[party_id],
            result_type=CreditAssessment,
        )

    def set_risk_level(
        self,
        party_id: str,
        answers: Sequence[int] | Mapping[str, int],
        key: str | None = None,
        actor: Actor | str | None = None,
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
        return self._p.runner.run(
            "parties.set_risk_level",
            lambda tx: ops.set_risk_level(tx, party_id, values),
            key=key,
            actor=actor,
            subject=Subject("party", party_id),
            payload=[party_id, values],
            result_type=int,
        )
