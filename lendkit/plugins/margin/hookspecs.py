"""The hooks ``margin`` defines for integrators (added to the plugin manager when the ``margin``
plugin is registered: its ``lendkit_hookspecs``).

``margin`` answers the two decisions itself, last (``trylast``): the price is the last one
pushed with ``margin.push_prices``; a forced liquidation sells every position at its current
price. An integrator replaces them with its market data and its broker's executions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pluggy

from lendkit.core.context import HookContext
from lendkit.core.hookspecs import PROJECT

hookspec = pluggy.HookspecMarker(PROJECT)


@hookspec(firstresult=True)
def lendkit_margin_price(ctx: HookContext, symbol: str) -> Any:
    """Decision: the current price of one share of ``symbol`` (the price feed).

    Return a :class:`lendkit.plugins.margin.Quote` (price and the timezone-aware time it was
    observed) or ``None`` for the next implementation; ``margin``'s own (last) answers the price
    last pushed with ``margin.push_prices``. The answer is checked: a price that is not a
    positive finite ``Decimal`` is refused (``InvalidValue``), one older than
    ``price_max_age_seconds`` is stale (``InvalidState``); a valuation, withdrawal, unpledge or
    buy needing it is refused with nothing changed, and close of business leaves the account
    unvalued that day.

    :param ctx: the current unit of work.
    :param symbol: the security's symbol as the account holds it (upper case).
    """


@hookspec(firstresult=True)
def lendkit_margin_liquidate(
    ctx: HookContext, account: Any, positions: Sequence[Any], quotes: Sequence[Any]
) -> Sequence[Any] | None:
    """Decision: the sell orders a forced liquidation executed (the integrator's broker).

    Called once when an account's ratio falls to the liquidation line, inside the transaction
    that pays the investors. Return the executions as :class:`lendkit.plugins.margin.Fill`
    records (each at most the shares held, at a positive price) or ``None`` for the next
    implementation; ``margin``'s own (last) sells every position at its current quote. Shares
    left unsold go back to the trader once investors and the fee are paid; a sale too small to
    pay the investors while shares are left unsold is a ``PluginError`` (nothing changes).

    :param ctx: the current unit of work.
    :param account: the account (:class:`lendkit.plugins.margin.MarginAccount`).
    :param positions: its positions (:class:`lendkit.plugins.margin.Position`).
    :param quotes: the current quote of each position's symbol, in the same order.
    """


@hookspec
def lendkit_margin_warning(ctx: HookContext, account: Any, valuation: Any) -> None:
    """Notification: an account's ratio fell below the warning line (预警线).

    Called once per crossing (again only after the ratio recovered above the line), in the
    transaction of the close of business or price push that saw it; from then on withdrawals,
    unpledges and new buys are refused until the ratio recovers. Tell the trader in
    ``ctx.after_commit``.

    :param ctx: the current unit of work.
    :param account: the account (:class:`lendkit.plugins.margin.MarginAccount`).
    :param valuation: what the account was worth (:class:`lendkit.plugins.margin.Valuation`).
    """


@hookspec
def lendkit_margin_liquidated(ctx: HookContext, account: Any, liquidation: Any) -> None:
    """Notification: an account was liquidated (平仓) and the proceeds distributed.

    Called once per account, in the transaction that sold and paid; ``liquidation`` says who
    received what and the shortfall investors are still owed.

    :param ctx: the current unit of work.
    :param account: the account as it is after the liquidation.
    :param liquidation: :class:`lendkit.plugins.margin.Liquidation`.
    """
