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
