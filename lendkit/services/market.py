"""``platform.market``: the secondary market (debt transfer, 债权转让), over :mod:`lendkit.ops.market`.

A holder offers all or part of its outstanding principal in a loan at par, a premium or a
discount within the configured bounds; buyers buy it first come, first served, each purchase
settling at once (the buyer's custody hold posted to the seller, the seller's fee to platform
revenue, the position split exactly). See docs/market.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lendkit.core.access import Actor, Subject
from lendkit.core.inputs import check_id, parse_amount
from lendkit.core.records import TransferAgreement, TransferRecord
from lendkit.ops import market

if TYPE_CHECKING:
    from lendkit.platform import Platform


class MarketService:
    """``platform.market``: offer, buy, cancel and list transfers of loans' claims."""

    def __init__(self, platform: Platform) -> None:
        self._p = platform

    def offer(
        self,
        loan_id: str,
        seller_id: str,
        principal: object,
        price: object = None,
        key: str | None = None,
        actor: Actor | str | None = None,
    ) -> TransferRecord:
        """Offer ``principal`` of ``seller_id``'s outstanding principal in ``loan_id`` for
        ``price`` (default: par, the principal itself), open for ``transfer_expiry_days``.

        The principal is a multiple of ``transfer_unit`` or all that the seller may still
        offer; the price lies within ``transfer_price_min``..``transfer_price_max`` times the
        principal. Refused (nothing changes) when the loan is not current, within
        ``transfer_blackout_days`` of a due date, the position was held fewer than
        ``transfer_min_holding_days``, the seller holds less than that free of other offers,
        or a plugin refuses (``lendkit_validate_transfer``). Returns the transfer (``.id``,
        ``.state`` ``open``); the principal offered is locked until it sells, is cancelled or
        expires.
        """
        loan_id = check_id(loan_id, "loan")
        seller_id = check_id(seller_id, "seller")
        cur = self._p.config.currency
        money = parse_amount(principal, cur, "transfer principal")
        asked = None if price is None else parse_amount(price, cur, "transfer price")
        return self._p.runner.run(
            "market.offer",
            lambda tx: market.offer(tx, loan_id, seller_id, money, asked),
            key=key,
            actor=actor,
            subject=Subject("transfer", "", owner=seller_id),
            payload=[loan_id, seller_id, money.format(), asked and asked.format()],
            result_type=TransferRecord,
        )

    def buy(
        self,
        transfer_id: str,
        buyer_id: str,
        principal: object,
        key: str | None = None,
        actor: Actor | str | None = None,
    ) -> TransferAgreement:
        """Buy ``principal`` of an open transfer (trimmed to what remains; otherwise a multiple
        of ``transfer_unit``). Settles at once: the buyer pays its share of the price plus the
        interest accrued since the last due date to the seller (a custody hold posted in the
        same transaction), the seller pays the transfer fee, and the buyer holds the principal
        from today. Returns the transfer agreement."""
        transfer_id = check_id(transfer_id, "transfer")
        buyer_id = check_id(buyer_id, "buyer")
        money = parse_amount(principal, self._p.config.currency, "purchase principal")
        return self._p.runner.run(
            "market.buy",
            lambda tx: market.buy(tx, transfer_id, buyer_id, money),
            key=key,
            actor=actor,
            subject=Subject("transfer", transfer_id, owner=buyer_id),
            payload=[transfer_id, buyer_id, money.format()],
            result_type=TransferAgreement,
        )

    def cancel(
        self, transfer_id: str, key: str | None = None, actor: Actor | str | None = None
    ) -> TransferRecord:
        """Withdraw an open transfer; what it did not sell is free again (what was bought
        stays bought). ``InvalidState`` if it is filled, expired or cancelled already."""
        transfer_id = check_id(transfer_id, "transfer")
        return self._p.runner.run(
            "market.cancel",
            lambda tx: market.cancel(tx, transfer_id),
            key=key,
            actor=actor,
            subject=Subject("transfer", transfer_id),
            payload=[transfer_id],
            result_type=TransferRecord,
        )

    def get(self, transfer_id: str) -> TransferRecord:
        """One transfer as it is now."""
        transfer_id = check_id(transfer_id, "transfer")
        return self._p.runner.run("market.get", lambda tx: market.get_transfer(tx, transfer_id))

    def transfers(
        self,
        loan_id: str | None = None,
        seller_id: str | None = None,
        state: str | None = None,
    ) -> list[TransferRecord]:
        """Transfers, oldest first, optionally of one loan, by one seller, in one state
        (``open``, ``filled``, ``expired``, ``cancelled``)."""
        loan_id = None if loan_id is None else check_id(loan_id, "loan")
        seller_id = None if seller_id is None else check_id(seller_id, "seller")
        state = market.require_transfer_state(state)
        return self._p.runner.run(
            "market.transfers",
            lambda tx: market.find_transfers(tx, loan_id=loan_id, seller_id=seller_id, state=state),
        )

    def agreements(
        self,
        transfer_id: str | None = None,
        loan_id: str | None = None,
        investor_id: str | None = None,
    ) -> list[TransferAgreement]:
        """Transfer agreements (settled purchases), oldest first, optionally of one transfer,
        on one loan, or with one investor as seller or buyer."""
        transfer_id = None if transfer_id is None else check_id(transfer_id, "transfer")
        loan_id = None if loan_id is None else check_id(loan_id, "loan")
        investor_id = None if investor_id is None else check_id(investor_id, "investor")
        return self._p.runner.run(
            "market.agreements",
            lambda tx: market.find_agreements(
                tx, transfer_id=transfer_id, loan_id=loan_id, investor_id=investor_id
            ),
        )


__all__ = ["MarketService"]
