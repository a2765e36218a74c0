"""lendkit's one private cattrs converter: structure config and payloads, refuse extra keys."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar

import cattrs
from cattrs import Converter

from lendkit.core.errors import ConfigError
from lendkit.core.money import Money, to_decimal

T = TypeVar("T")

converter = Converter(forbid_extra_keys=True)
converter.register_structure_hook(Decimal, lambda v, _t: to_decimal(v, "decimal setting"))
converter.register_unstructure_hook(Decimal, str)
converter.register_unstructure_hook(Money, lambda m: [m.format(), m.currency])
converter.register_structure_hook(Money, lambda v, _t: Money.of(v[0], v[1]))
converter.register_unstructure_hook(date, date.isoformat)
converter.register_structure_hook(date, lambda v, _t: date.fromisoformat(v))
converter.register_unstructure_hook(datetime, datetime.isoformat)
converter.register_structure_hook(datetime, lambda v, _t: datetime.fromisoformat(v))


def structure(data: Any, cls: type[T], what: str = "configuration") -> T:
    """Structure ``data`` into ``cls``; errors become one ``ConfigError`` naming each path."""
    try:
        return converter.structure(data, cls)
    except (cattrs.ClassValidationError, cattrs.BaseValidationError) as exc:
        details = "; ".join(cattrs.transform_error(exc, path=what))
        raise ConfigError(f"invalid {what}: {details}") from None
    except TypeError as exc:
        raise ConfigError(f"invalid {what}: {exc}") from None
