"""State machines of listings, bids, loans and installments (pure; the services enforce them)."""

from __future__ import annotations

from typing import Final

from lendkit.core.errors import InvalidState

# -- listing (标的) ---------------------------------------------------------------------------------
APPLIED: Final = "applied"
APPROVED: Final = "approved"
REJECTED: Final = "rejected"
PUBLISHED: Final = "published"
FUNDED: Final = "funded"  # 满标
FAILED: Final = "failed"  # 流标
DISBURSED: Final = "disbursed"
CANCELLED: Final = "cancelled"

LISTING_TRANSITIONS: Final[dict[str, tuple[str, ...]]] = {
    APPLIED: (APPROVED, REJECTED, CANCELLED),
    APPROVED: (PUBLISHED, CANCELLED),
    PUBLISHED: (FUNDED, FAILED, CANCELLED),
    FUNDED: (DISBURSED,),
    REJECTED: (),
    FAILED: (),
    DISBURSED: (),
    CANCELLED: (),
}

# -- loan ----------------------------------------------------------------------------------------
ACTIVE: Final = "active"
OVERDUE: Final = "overdue"
DEFAULTED: Final = "defaulted"
SETTLED: Final = "settled"
WRITTEN_OFF: Final = "written_off"

LOAN_TRANSITIONS: Final[dict[str, tuple[str, ...]]] = {
    ACTIVE: (OVERDUE, SETTLED, DEFAULTED),
    OVERDUE: (ACTIVE, DEFAULTED, SETTLED),
    DEFAULTED: (SETTLED, WRITTEN_OFF),
    SETTLED: (),
    WRITTEN_OFF: (),
}
OPEN_LOAN_STATES: Final = (ACTIVE, OVERDUE, DEFAULTED)

# -- bid -----------------------------------------------------------------------------------------
BID_OPEN: Final = "open"
BID_WON: Final = "won"
BID_LOST: Final = "lost"
BID_VOIDED: Final = "voided"
BID_POSTED: Final = "posted"

# -- why a bid's hold went back to its investor (``reason`` of ``lendkit_bid_released``) ---------
#: the listing failed (流标: closed short, by ``close`` or close of business): the whole hold
RELEASE_LISTING_FAILED: Final = "listing_failed"
#: the auction cleared without this bid (its rate was too high): the whole hold
RELEASE_AUCTION_LOST: Final = "auction_lost"
#: the auction cleared this bid in part (the marginal bid): the unfilled remainder
RELEASE_AUCTION_TRIMMED: Final = "auction_trimmed"
RELEASE_REASONS: Final = (RELEASE_LISTING_FAILED, RELEASE_AUCTION_LOST, RELEASE_AUCTION_TRIMMED)

# -- installment -----------------------------------------------------------------------------------
INST_PENDING: Final = "pending"
INST_OVERDUE: Final = "overdue"
INST_PAID: Final = "paid"
INST_CANCELLED: Final = "cancelled"  # replaced by a prepayment


def check_transition(
    machine: dict[str, tuple[str, ...]], what: str, obj_id: str, current: str, target: str
) -> None:
    """Raise ``InvalidState`` naming the object, its state and the allowed moves."""
    allowed = machine.get(current, ())
    if target not in allowed:
        moves = ", ".join(allowed) or "none (final state)"
        raise InvalidState(
            f"{what} {obj_id} is {current}; it cannot become {target} (allowed: {moves})"
        )


def overdue_bucket(days: int) -> str:
    """The overdue bucket of ``days`` past due: ``current``, ``1-30``, ``31-60``, ``61-90``, ``90+``."""
    if days <= 0:
        return "current"
    if days <= 30:
        return "1-30"
    if days <= 60:
        return "31-60"
    if days <= 90:
        return "61-90"
    return "90+"
