"""The engine's shape (issue 11, part 1): operations on a unit of work that holds no Platform,
facades that only run operations.

* ``lendkit.uow.UnitOfWork`` and ``Environment`` have no ``platform``: what units of work share
  is the environment (configuration, hooks, products, account cache, clock).
* No module below the Platform (operations, unit of work, store, core, plugins) names a
  ``Platform`` at run time or calls ``.using(...)``; no facade (``lendkit/services``) calls
  another facade (``self._p.loans...``) or the platform's ``using``.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import lendkit
from lendkit import uow

PACKAGE = Path(lendkit.__file__).parent
ROOT = PACKAGE.parent
FACADES = ("parties", "custody", "listings", "bidding", "loans", "cob", "reports")
BELOW_PLATFORM = [
    *sorted(
        p
        for sub in ("ops", "store", "core")
        for p in (PACKAGE / sub).rglob("*.py")
        if "migrations" not in p.parts
    ),
    PACKAGE / "uow.py",
]


def facade_calls(source: str) -> list[tuple[int, str]]:
    """``self._p.<facade>`` / ``platform.<facade>`` / ``.using(...)`` in ``source``."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in FACADES:
            owner = node.value
            if (isinstance(owner, ast.Attribute) and owner.attr in ("_p", "platform")) or (
                isinstance(owner, ast.Name) and owner.id in ("platform", "view", "p")
            ):
                found.append((node.lineno, ast.unparse(node)))
        elif isinstance(node, ast.Attribute) and node.attr == "using":
            found.append((node.lineno, ast.unparse(node)))
    return found


def test_unit_of_work_holds_no_platform() -> None:
    names = set(inspect.signature(uow.UnitOfWork).parameters) | {
        f.name for f in uow.Environment.__attrs_attrs__
    }
    assert "platform" not in names
    code = {
        n.id if isinstance(n, ast.Name) else n.attr
        for n in ast.walk(ast.parse(inspect.getsource(uow)))
        if isinstance(n, ast.Name | ast.Attribute)
    }
    assert not code & {"platform", "Platform", "_p"}


@pytest.mark.parametrize(
    "path",
    sorted((PACKAGE / "services").glob("*.py")) + BELOW_PLATFORM,
    ids=lambda p: p.relative_to(ROOT).as_posix(),
)
def test_no_facade_calls_another_facade(path: Path) -> None:
    bad = facade_calls(path.read_text(encoding="utf-8"))
    assert not bad, f"{path.relative_to(ROOT)} goes through a facade or the platform: {bad}"


def test_the_check_sees_a_facade_call() -> None:
    source = "def f(self):\n    self._p.custody.expire_holds()\n    platform.using(c).loans\n"
    assert [line for line, _ in facade_calls(source)] == [2, 3]
