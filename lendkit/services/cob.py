"""Placeholder until the lifecycle issue lands."""

from __future__ import annotations

from typing import Any


class CobService:
    def __init__(self, platform: Any) -> None:
        self._p = platform
