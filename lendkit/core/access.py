"""Who may do what: actors, the subjects they act on, roles and the audit trail's records (pure).

Every mutating command runs for an **actor**: a party acting for itself, a staff member with
roles, or ``system`` (lendkit's own automation: close of business, gateway callbacks, and code
the integrator trusts, which is the default actor when none is given). An **action** is the
command's name (``listings.approve``, ``reserve.seed``); a role grants actions by name or by
pattern (``reserve.*``, ``*``). The decision is taken by ``lendkit_authorize`` if a plugin
implements it, else by the default policy (:func:`default_decision`), and refused with
``PermissionDenied``; four-eyes rules are checked after it either way.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import Any

from attrs import field, frozen

from lendkit.core.errors import InvalidValue
from lendkit.core.ledger import GENESIS_HASH

PARTY = "party"
STAFF = "staff"
SYSTEM = "system"
ACTOR_KINDS = (PARTY, STAFF, SYSTEM)

#: the staff roles of ../DOMAIN.md and what each may do by default (``PlatformConfig.roles``
#: replaces a role's list or adds a role). Patterns match action names (``fnmatch``).
DEFAULT_ROLES: Mapping[str, tuple[str, ...]] = {
    # 客服: opens accounts, releases loans after full funding, distributes repayments
    "customer_service": (
        "parties.register",
        "parties.set_check",
        "custody.deposit",
        "loans.disburse",
        "loans.repay",
        "loans.repay_principal",
        "loans.prepay",
        "loans.settle",
    ),
    # 风控 / 审核: reviews applications, sets grade and line
    "reviewer": (
        "parties.verify",
        "parties.set_check",
        "parties.add_rating_report",
        "parties.assess",
        "parties.set_risk_level",
        "listings.approve",
        "listings.reject",
        "guarantee.guarantee_listing",
        "guarantee.release_listing",
        "insurance.insure_*",
        "collateral.pledge",
        "collateral.revalue",
        "bills.verify_bill",
        "supplychain.confirm_receivable",
    ),
    # 财务: reconciles deposits and withdrawals, manages the reserve fund and third-party deposits
    "finance": (
        "custody.*",
        "reserve.*",
        "guarantee.fund_deposit",
        "guarantee.withdraw_deposit",
        "insurance.fund_insurer",
        "loans.request_write_off",
        "loans.write_off",
    ),
    # 催收: overdue follow-up, recoveries, write-off proposals
    "collections": (
        "loans.repay",
        "loans.settle",
        "loans.request_write_off",
        "loans.write_off",
        "collateral.record_sale",
        "leasing.record_sale",
        "leasing.buy_back",
    ),
    # the platform's operations desk: the listing calendar, close of business, plugins' registers
    "operator": (
        "listings.publish",
        "listings.close",
        "listings.cancel",
        "cob.run",
        "market.cancel",
        "custody.expire_holds",
        "custody.flush",
        "*.register_*",
    ),
    "admin": ("*",),
}

#: what a party may do for itself (on its own accounts, listings, loans and positions)
DEFAULT_PARTY_ACTIONS: tuple[str, ...] = (
    "parties.register",
    "listings.apply",
    "listings.cancel",
    "bidding.bid",
    "bidding.add_rule",
    "bidding.disable_rule",
    "custody.deposit",
    "custody.withdraw",
    "loans.repay",
    "loans.repay_principal",
    "loans.prepay",
    "loans.settle",
    "market.offer",
    "market.buy",
    "market.cancel",
)

#: the actions four-eyes rules concern
APPROVE_LISTING = "listings.approve"
DISBURSE = "loans.disburse"
REQUEST_WRITE_OFF = "loans.request_write_off"
WRITE_OFF = "loans.write_off"
MANAGE_STAFF = "staff.*"


def _roles(value: Iterable[str]) -> frozenset[str]:
    return frozenset(value)


@frozen
class Actor:
    """Who runs a command: ``Actor.party(id)``, ``Actor.staff(id)`` or ``Actor.system()``.

    A staff actor's ``roles`` are looked up in the platform's staff register
    (``platform.staff``) unless given: a host that keeps roles in its own identity system
    passes them (it is trusted code, like the ``system`` actor).
    """

    kind: str
    id: str
    roles: frozenset[str] = field(factory=frozenset, converter=_roles)

    @classmethod
    def party(cls, party_id: str) -> Actor:
        """A borrower or investor acting for itself."""
        return cls(PARTY, party_id)

    @classmethod
    def staff(cls, staff_id: str, roles: Iterable[str] = ()) -> Actor:
        """A staff member (roles from the staff register unless given)."""
        return cls(STAFF, staff_id, frozenset(roles))

    @classmethod
    def system(cls, name: str = SYSTEM) -> Actor:
        """lendkit's own automation, or code the integrator trusts (may do everything)."""
        return cls(SYSTEM, name)

    @property
    def label(self) -> str:
        """``party:P1``, ``staff:alice``, ``system`` (``system:NAME`` for a named one)."""
        if self.kind == SYSTEM and self.id == SYSTEM:
            return SYSTEM
        return f"{self.kind}:{self.id}"

    def __str__(self) -> str:
        return self.label


def parse_actor(value: object) -> Actor:
    """An :class:`Actor`, or its text: ``party:ID``, ``staff:ID`` or ``system``."""
    if isinstance(value, Actor):
        return value
    allowed = "party:ID, staff:ID or system"
    if not isinstance(value, str) or not value.strip():
        raise InvalidValue(f"actor {str(value)[:60]!r} is not valid: use {allowed}")
    text = value.strip()
    if text == SYSTEM:
        return Actor.system()
    kind, sep, ident = text.partition(":")
    if not sep or kind not in ACTOR_KINDS or not ident or len(ident) > 40 or ":" in ident:
        raise InvalidValue(f"actor {text[:60]!r} is not valid: use {allowed}")
    if not ident.isprintable() or ident != ident.strip():
        raise InvalidValue(f"actor {text[:60]!r} has an invalid id: use {allowed}")
    return Actor.system(ident) if kind == SYSTEM else Actor(kind, ident)


@frozen
class Subject:
    """What a command acts on (``listing:L1``), and the party it acts for when the arguments
    say so (a bid's investor, a deposit's party); otherwise the owner is looked up (a listing's
    or a loan's borrower, a hold's owner, a transfer's seller)."""

    kind: str
    id: str
    owner: str | None = None

    @property
    def label(self) -> str:
        """``listing:L1`` (``listing:new`` for what the command creates, before it has an id)."""
        return f"{self.kind}:{self.id or 'new'}"

    def created(self, result: object) -> Subject:
        """This subject named by the id of what the command created (a subject without an id
        becomes ``listing:<the new listing's id>``); unchanged otherwise."""
        made = getattr(result, "id", None)
        if self.id or not isinstance(made, str) or not made:
            return self
        return Subject(self.kind, made, self.owner)


@frozen
class AccessDecision:
    """A ``lendkit_authorize`` answer: allowed, or refused naming the missing permission."""

    allowed: bool
    missing: str = ""
    reason: str = ""

    @classmethod
    def allow(cls) -> AccessDecision:
        return cls(True)

    @classmethod
    def deny(cls, missing: str, reason: str = "") -> AccessDecision:
        return cls(False, missing, reason)


def role_permits(roles_of: Mapping[str, Sequence[str]], roles: Iterable[str], action: str) -> bool:
    """Whether any of ``roles`` grants ``action`` (patterns as ``fnmatch``, case-sensitive)."""
    return any(fnmatchcase(action, pattern) for role in roles for pattern in roles_of.get(role, ()))


def default_decision(
    actor: Actor,
    roles: Iterable[str],
    action: str,
    owner: str | None,
    *,
    roles_of: Mapping[str, Sequence[str]],
    party_actions: Sequence[str],
) -> AccessDecision:
    """The default policy: ``system`` may do everything; a staff member what its roles grant;
    a party the self-service actions (``party_actions``) on what it owns."""
    if actor.kind == SYSTEM:
        return AccessDecision.allow()
    if actor.kind == STAFF:
        if role_permits(roles_of, roles, action):
            return AccessDecision.allow()
        held = ", ".join(sorted(roles)) or "none"
        return AccessDecision.deny(action, f"no role of theirs grants it (roles: {held})")
    if not any(fnmatchcase(action, p) for p in party_actions):
        return AccessDecision.deny(action, "a party may not do this for itself")
    if owner is None or owner != actor.id:
        whose = "no party's" if owner is None else f"party {owner}'s"
        return AccessDecision.deny(action, f"it acts on {whose} accounts, not its own")
    return AccessDecision.allow()


# -- the audit trail ------------------------------------------------------------------------------

#: chains the audit trail is spread over (by subject), so writers on different subjects never wait
AUDIT_CHAINS = 64
OK = "ok"
REFUSED = "refused"
REPLAYED = "replayed"
AUDIT_OUTCOMES = (OK, REFUSED, REPLAYED)


@frozen
class AuditEntry:
    """One row of the audit trail: a mutating command, refused or not."""

    id: int
    chain: int
    seq: int
    at: datetime
    actor: str
    action: str
    subject: str
    args_digest: str
    outcome: str
    error_type: str | None
    idempotency_key: str | None
    hash: str


def audit_chain_of(subject: str) -> int:
    """The chain a subject's rows go to (1..``AUDIT_CHAINS``): a subject's history is one chain."""
    return int.from_bytes(hashlib.sha256(subject.encode()).digest()[:4], "big") % AUDIT_CHAINS + 1


#: the fields of an audit row its hash covers, in order (with the previous row's hash first)
AUDIT_HASHED = (
    "chain",
    "seq",
    "at",
    "actor",
    "action",
    "subject",
    "args_digest",
    "outcome",
    "error_type",
    "idempotency_key",
)


def audit_hash(prev: str, fields: Mapping[Any, Any]) -> str:
    """The hash of one audit row (``fields``: at least :data:`AUDIT_HASHED`), chained to the
    previous row's (``GENESIS_HASH`` first). Times count as UTC to the microsecond."""
    values: list[object] = [prev]
    for name in AUDIT_HASHED:
        value = fields[name]
        if isinstance(value, datetime):
            value = value.astimezone(UTC).isoformat(timespec="microseconds")
        values.append(value)
    body = json.dumps(values, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()


__all__ = [
    "ACTOR_KINDS",
    "AUDIT_CHAINS",
    "AUDIT_HASHED",
    "DEFAULT_PARTY_ACTIONS",
    "DEFAULT_ROLES",
    "GENESIS_HASH",
    "AccessDecision",
    "Actor",
    "AuditEntry",
    "Subject",
    "audit_chain_of",
    "audit_hash",
    "default_decision",
    "parse_actor",
    "role_permits",
]
