"""Pure online (纯线上, 信用标): the platform only matches and informs; investors bear losses.

The default product. No guarantee and no reserve; overdue loans move through collection stages
(phone, SMS, visit, legal) which this plugin records.
"""

from __future__ import annotations

from collections.abc import Sequence

import lendkit
from lendkit.core.records import Product

PRODUCT = "online"


@lendkit.hookimpl
def lendkit_register_products() -> Sequence[Product]:
    """The default credit-listing product."""
    return [Product(name=PRODUCT, description="pure online credit listing; investors bear losses")]
