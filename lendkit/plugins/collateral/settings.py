"""The collateral plugin's settings: ``config.plugins["collateral"]``, structured when the Platform opens."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import cast

from attrs import field, frozen

from lendkit.core.errors import (
    InvalidValue,
)
from lendkit.core.money import parse_rate
from lendkit.plugins.collateral.records import DEFAULT_LTV_CAPS, ExternalRegistry


def _ltv_caps(raw: object) -> Mapping[str, Decimal]:
    if raw is None:
        return dict(DEFAULT_LTV_CAPS)
    if not isinstance(raw, Mapping) or not raw:
        raise InvalidValue(
            f"collateral ltv_caps must map asset kinds to caps, e.g. {{'vehicle': '0.6'}}: {raw!r}"
        )
    return {str(k): parse_rate(v, f"LTV cap of {k}") for k, v in raw.items()}


def _registry(raw: object) -> Callable[[str, str, str], str | None] | None:
    if raw is None:
        return None
    if isinstance(raw, ExternalRegistry):
        return raw.check_pledge
    if callable(raw):
        return cast("Callable[[str, str, str], str | None]", raw)
    raise InvalidValue(
        "collateral external_registry must have check_pledge(kind, identifier, owner_id)"
        f" or be callable; got {type(raw).__name__}"
    )


@frozen
class Settings:
    """``config.plugins["collateral"]``, structured when the Platform opens: ``ltv_caps`` (asset
    kind -> cap) and ``external_registry`` (kept as its check: ``check_pledge`` or the callable).
    """

    ltv_caps: Mapping[str, Decimal] = field(default=None, converter=_ltv_caps)
    external_registry: Callable[[str, str, str], str | None] | None = field(
        default=None, converter=_registry
    )
