"""The ledger's rules as pure domain code: accounts, legs, balance checks and the hash chain.

Sign convention: a posting's amount is the change of its account's balance as the account's owner
sees it (money in is positive). Every journal entry's postings sum to zero per currency. Accounts
that may not go negative (every user account) are guarded in the same statement that changes them.

The hash chain: entry ``n`` stores
``hash = sha256(prev_hash | n | kind | reference | postings [| detail])`` with ``prev_hash`` the
hash of entry ``n-1`` (``GENESIS_HASH`` for the first). Sequence numbers are gapless, so an
edited, deleted or inserted journal or posting row breaks the chain at that entry. A kept anchor
(a sequence number and its hash, printed by ``lendkit verify``) also catches a consistent rewrite
of everything after an edit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from attrs import frozen

from lendkit.core.errors import LedgerError

GENESIS_HASH = "0" * 64

# Account purposes
AVAILABLE = "available"
FROZEN = "frozen"
GATEWAY = "gateway"  # the custodian bank's side: money that entered or left the platform
REVENUE = "revenue"  # the platform's own fee income
LISTING = "listing"  # a listing's escrow: holds post into it, disbursement empties it
LOAN = "loan"  # a loan's clearing account: repayments pass through it to investors
PLUGIN = "plugin"  # accounts a plugin owns (reserve fund, guarantor deposit, ...)


@frozen
class AccountRef:
    """What the ledger needs to know about an account to post to it (accounts never change these)."""

    id: int
    code: str
    currency: str
    allow_negative: bool


@frozen
class Leg:
    """One side of a movement: ``amount`` minor units into (positive) or out of ``account``."""

    account: AccountRef
    amount: int


def account_code(owner_kind: str, owner_id: str, purpose: str, currency: str) -> str:
    """The unique, human-readable code of an account, e.g. ``party:p_1:available:CNY``."""
    return f"{owner_kind}:{owner_id}:{purpose}:{currency}"


#: owner kinds core keeps to itself or guards: users, listing escrows, loans' clearing accounts
PARTY_OWNER, LISTING_OWNER, LOAN_OWNER, PLATFORM_OWNER = "party", "listing", "loan", "platform"


def split_code(code: str) -> tuple[str, str, str, str]:
    """``(owner_kind, owner_id, purpose, currency)`` of an account code."""
    parts = code.split(":")
    return parts[0], ":".join(parts[1:-2]), parts[-2], parts[-1]


def plugin_movement_violation(legs: Sequence[Leg]) -> str | None:
    """Why a plugin may not book ``legs`` (None if it may).

    A plugin moves money to and from its own and third parties' accounts (guarantors, insurers,
    its funds) and the platform's (revenue), pays into a loan's clearing account, and takes from
    or pays to a user's available balance; it never moves money from one user's account to
    another user's, never touches a user's frozen money (holds are core's), a listing's escrow,
    money leaving a loan's clearing account, or the platform's gateway (money enters and leaves
    through the custody gateway only). Investors are paid through ``pay_investors``.
    """
    debited: set[str] = set()
    credited: set[str] = set()
    for leg in legs:
        if leg.amount == 0:
            continue
        kind, owner, purpose, _cur = split_code(leg.account.code)
        if kind == LISTING_OWNER:
            return f"a plugin may not move a listing's escrow ({leg.account.code})"
        if kind == LOAN_OWNER and leg.amount < 0:
            return (
                f"a plugin may pay into a loan's clearing account, not take from it"
                f" ({leg.account.code}); pay investors with ctx.pay_investors"
            )
        if kind == PLATFORM_OWNER and purpose == GATEWAY:
            return (
                f"a plugin may not book on the platform's gateway account ({leg.account.code}):"
                " money enters and leaves through custody"
            )
        if kind == PARTY_OWNER:
            if purpose != AVAILABLE:
                return (
                    f"a plugin may move a user's available money only, not {leg.account.code}"
                    " (holds are resolved by lendkit)"
                )
            (debited if leg.amount < 0 else credited).add(owner)
    if debited and credited and len(debited | credited) > 1:
        return (
            f"a plugin may not move money from one user's account to another's (from"
            f" {', '.join(sorted(debited))} to {', '.join(sorted(credited - debited or credited))})"
        )
    return None


def merge_legs(legs: Iterable[Leg]) -> list[Leg]:
    """Merge legs on the same account, drop zero legs, and order by account id.

    Ordering by id is also the lock order on PostgreSQL, so two movements touching the same
    accounts never deadlock.
    """
    by_id: dict[int, tuple[AccountRef, int]] = {}
    for leg in legs:
        if isinstance(leg.amount, bool) or not isinstance(leg.amount, int):
            raise TypeError(f"leg amount must be int minor units, got {leg.amount!r}")
        ref, total = by_id.get(leg.account.id, (leg.account, 0))
        by_id[leg.account.id] = (ref, total + leg.amount)
    return [Leg(ref, total) for _, (ref, total) in sorted(by_id.items()) if total != 0]


def check_balanced(legs: Sequence[Leg]) -> None:
    """Raise ``LedgerError`` unless the legs sum to zero in every currency."""
    sums: dict[str, int] = {}
    for leg in legs:
        sums[leg.account.currency] = sums.get(leg.account.currency, 0) + leg.amount
    bad = {cur: s for cur, s in sums.items() if s != 0}
    if bad:
        raise LedgerError(f"journal entry does not balance: sums per currency {bad} (must be 0)")


def entry_hash(
    prev_hash: str,
    seq: int,
    kind: str,
    reference: str,
    postings: Iterable[tuple[int, int]],
    detail: str = "",
) -> str:
    """The chained hash of one entry; ``postings`` are ``(account_id, amount)`` in id order.

    ``detail`` (e.g. a hold's routing on its freeze entry) is hashed when not empty, so entries
    written without one keep the hash they always had.
    """
    body = ";".join(f"{a}:{m}" for a, m in postings)
    text = f"{prev_hash}|{seq}|{kind}|{reference}|{body}"
    if detail:
        text += f"|{detail}"
    return hashlib.sha256(text.encode()).hexdigest()


def hold_routing(
    owner_id: str, currency: str, amount: int, source_id: int, frozen_id: int, destination_id: int
) -> str:
    """The canonical text of a hold's routing, recorded (and hashed) on the entry that froze it."""
    return (
        f"hold owner={owner_id} amount={amount} {currency} source={source_id}"
        f" frozen={frozen_id} destination={destination_id}"
    )
