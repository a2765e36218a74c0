"""``platform.staff``: the staff register (who may act as ``staff:ID`` and with which roles)."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import TYPE_CHECKING

from lendkit.core.access import Actor, Subject
from lendkit.core.inputs import check_bool, check_id
from lendkit.ops import access
from lendkit.ops.access import StaffRecord

if TYPE_CHECKING:
    from lendkit.platform import Platform

__all__ = ["StaffRecord", "StaffService"]


def _roles(roles: object) -> list[object]:
    if isinstance(roles, str):
        return [r.strip() for r in roles.split(",") if r.strip()]
    if not isinstance(roles, Sequence | frozenset | set):
        return [roles]
    return list(roles)


class StaffService:
    """``platform.staff``: add staff members, change their roles, deactivate them.

    Changing the register is the ``staff.add`` / ``staff.set_roles`` / ``staff.set_active``
    action (the ``admin`` role, or ``system``); every change has its audit row.
    """

    def __init__(self, platform: Platform) -> None:
        self._p = platform

    def add(
        self,
        staff_id: str,
        name: str,
        roles: Sequence[str] | str,
        key: str | None = None,
        actor: Actor | str | None = None,
    ) -> StaffRecord:
        """Register ``staff_id`` with ``roles`` (names from ``PlatformConfig.roles`` and the
        defaults: customer_service, reviewer, finance, collections, operator, admin)."""
        staff_id = check_id(staff_id, "staff member")
        chosen = _roles(roles)
        return self._p.runner.run(
            "staff.add",
            lambda tx: access.add_staff(tx, staff_id, name, chosen),
            key=key,
            actor=actor,
            subject=Subject("staff", staff_id),
            payload=[staff_id, name, sorted(map(str, chosen))],
            result_type=StaffRecord,
        )

    def set_roles(
        self,
        staff_id: str,
        roles: Sequence[str] | str,
        key: str | None = None,
        actor: Actor | str | None = None,
    ) -> StaffRecord:
        """Replace a staff member's roles."""
        staff_id = check_id(staff_id, "staff member")
        chosen = _roles(roles)
        return self._p.runner.run(
            "staff.set_roles",
            lambda tx: access.set_staff(tx, staff_id, roles=chosen),
            key=key,
            actor=actor,
            subject=Subject("staff", staff_id),
            payload=[staff_id, sorted(map(str, chosen))],
            result_type=StaffRecord,
        )

    def set_active(
        self,
        staff_id: str,
        active: bool,
        key: str | None = None,
        actor: Actor | str | None = None,
    ) -> StaffRecord:
        """Deactivate (``False``) or reactivate a staff member; a deactivated one may not act."""
        staff_id = check_id(staff_id, "staff member")
        flag = check_bool(active, "active")
        return self._p.runner.run(
            "staff.set_active",
            lambda tx: access.set_staff(tx, staff_id, active=flag),
            key=key,
            actor=actor,
            subject=Subject("staff", staff_id),
            payload=[staff_id, flag],
            result_type=StaffRecord,
        )

    def get(self, staff_id: str) -> StaffRecord:
        """One staff member (``NotFound`` if not registered)."""
        staff_id = check_id(staff_id, "staff member")
        return self._p.runner.run("staff.get", lambda tx: access.load_staff(tx, staff_id))

    def list(self) -> builtins.list[StaffRecord]:
        """Every staff member, by id."""
        return self._p.runner.run("staff.list", access.list_staff)
