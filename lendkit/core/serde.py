"""lendkit's one private cattrs converter: structure config and payloads, refuse extra keys."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs import Converter

from lendkit.core.errors import ConfigError, LendkitError
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
        details = "; ".join(cattrs.transform_error(exc, path=what, format_exception=_own_error))
        raise ConfigError(f"invalid {what}: {details}") from None
    except TypeError as exc:
        raise ConfigError(f"invalid {what}: {exc}") from None


def _own_error(exc: BaseException, _type: Any) -> str:
    """A validator's own message (``LendkitError``), else cattrs' wording."""
    if isinstance(exc, LendkitError):
        return str(exc)
    return cattrs.v.format_exception(exc, _type)


#: plugins' settings: a field with a converter gets the raw value (the converter parses it)
settings_converter = Converter(forbid_extra_keys=True, prefer_attrib_converters=True)
settings_converter.register_structure_hook(Decimal, lambda v, _t: to_decimal(v, "decimal setting"))


def _settings_error(exc: BaseException, _type: Any) -> str:
    if isinstance(exc, LendkitError | ValueError | TypeError):
        return str(exc)
    return cattrs.v.format_exception(exc, _type)


def structure_settings(plugin: str, cls: type[T], raw: Any) -> T:
    """``config.plugins[plugin]`` structured into the plugin's settings class ``cls``.

    ``ConfigError`` naming the key and what is allowed: unknown keys (listing the allowed ones),
    a value a field's converter or validator refuses (its message), a value of the wrong type.
    """
    where = f"plugins.{plugin}"
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a mapping of settings, not {type(raw).__name__}")
    allowed = [a.name for a in attrs.fields(cls)]  # type: ignore[arg-type]
    unknown = sorted(str(k) for k in set(raw) - set(allowed))
    if unknown:
        raise ConfigError(
            f"{where} has unknown keys {unknown}; allowed: {', '.join(allowed) or 'none'}"
        )
    try:
        return settings_converter.structure(raw, cls)
    except (cattrs.ClassValidationError, cattrs.BaseValidationError) as exc:
        details = "; ".join(
            cattrs.transform_error(exc, path=where, format_exception=_settings_error)
        )
        raise ConfigError(f"invalid {where}: {details}") from None
    except (LendkitError, ValueError, TypeError) as exc:
        raise ConfigError(f"{where}: {exc}") from None
