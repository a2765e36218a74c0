"""The ``leasing`` plugin's configuration (``config={"plugins": {"leasing": {...}}}``): one
attrs class that checks its own values, structured once when the Platform opens."""

from __future__ import annotations

from attrs import field, frozen

from lendkit.core.inputs import check_int

PLUGIN = "leasing"
#: the most rents a lease may have missed before the lessor acts
MAX_MISSED = 120


def _missed(value: object) -> int:
    return check_int(value, "default_after_missed", 1, MAX_MISSED)


@frozen
class Settings:
    """What an integrator may set for ``leasing``, structured when the Platform opens
    (``lendkit_register_settings``; a bad value is refused there with a ``ConfigError``). Hooks
    read it with ``ctx.settings("leasing")``.

    * ``default_after_missed``: how many rents may be unpaid past core's grace days at once
      before the lessee is in default (1..120, default 3). At that close of business the lessor
      buys the remaining receivable back from the investors when the lease says so
      (``buy_back=True``), otherwise the asset is repossessed (and later sold with
      :func:`~lendkit.plugins.leasing.record_sale`).
    """

    default_after_missed: int = field(default=3, converter=_missed)
