"""Margin (股票配资): stock margin lending on a controlled trading account.

A trader puts up margin and borrows 1 to N times it from investors (``max_leverage``, 5 by
default; never more) through an open-ended loan (:func:`open_account`): the borrowed funds go
to a controlled trading account, never to the trader's free balance; interest accrues daily and
is charged monthly from the trading account; the trader repays principal at any time
(:func:`repay_principal`). Positions are valued from a price feed (``lendkit_margin_price``, a
hook of this plugin's own; prices older than a window refused); at close of business and on
every price push (:func:`push_prices`) an account below the warning line is warned
(``lendkit_margin_warning``; withdrawals, unpledges and buys refused) and one at the liquidation
line is sold (``lendkit_margin_liquidate``), the proceeds repaying the investors first, then the
platform's fee, then the trader. See docs/plugins/margin.md.
"""

from __future__ import annotations

from pathlib import Path

from lendkit.migrations import PluginSchema
from lendkit.plugins.margin import hookspecs as lendkit_hookspecs
from lendkit.plugins.margin.commands import (
    METHOD,
    PRODUCT,
    add_margin,
    buy,
    get_account,
    open_account,
    pledge,
    push_prices,
    repay_principal,
    sell,
    unpledge,
    value,
    withdraw,
)
from lendkit.plugins.margin.hooks import (
    TERMS,
    lendkit_cob_day,
    lendkit_cob_loans_of_interest,
    lendkit_collection_sources,
    lendkit_disbursement_account,
    lendkit_disclosures,
    lendkit_listing_failed,
    lendkit_listing_withdrawn,
    lendkit_loan_closed,
    lendkit_loan_disbursed,
    lendkit_margin_liquidate,
    lendkit_margin_price,
    lendkit_register_products,
    lendkit_register_settings,
    lendkit_subject_owner,
    lendkit_validate_listing,
)
from lendkit.plugins.margin.records import (
    Fill,
    Liquidation,
    MarginAccount,
    Position,
    Quote,
    Valuation,
)
from lendkit.plugins.margin.settings import MarginSettings
from lendkit.plugins.margin.tables import metadata

__all__ = [
    "METHOD",
    "PRODUCT",
    "TERMS",
    "Fill",
    "Liquidation",
    "MarginAccount",
    "MarginSettings",
    "Position",
    "Quote",
    "Valuation",
    "add_margin",
    "buy",
    "get_account",
    "lendkit_cob_day",
    "lendkit_cob_loans_of_interest",
    "lendkit_collection_sources",
    "lendkit_disbursement_account",
    "lendkit_disclosures",
    "lendkit_hookspecs",
    "lendkit_listing_failed",
    "lendkit_listing_withdrawn",
    "lendkit_loan_closed",
    "lendkit_loan_disbursed",
    "lendkit_margin_liquidate",
    "lendkit_margin_price",
    "lendkit_register_products",
    "lendkit_register_settings",
    "lendkit_schema",
    "lendkit_subject_owner",
    "lendkit_validate_listing",
    "open_account",
    "pledge",
    "push_prices",
    "repay_principal",
    "sell",
    "unpledge",
    "value",
    "withdraw",
]

lendkit_schema = PluginSchema("margin", metadata, Path(__file__).parent / "migrations")
