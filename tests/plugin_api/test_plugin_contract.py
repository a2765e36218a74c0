"""Plugins act only through the context, and the engine has one shape (issue 11, part 1).

* No ``platform.using(...)`` and no facade (``platform.loans``, ``view.listings.get``...)
  anywhere in ``lendkit/plugins``, in the operations (``lendkit/ops``), the unit of work, store
  or core; no facade (``lendkit/services``) calls another facade (``self._p.custody...``).
* ``lendkit.uow.UnitOfWork`` and its ``Environment`` hold no ``Platform``.

A plugin command starts with ``platform.command(name, fn, key=..., payload=...)`` and ``fn``
uses only ``ctx`` (``ctx.loan``, ``ctx.repay``, ``ctx.apply_listing``...); hooks get ``ctx``.
Checked through the AST, so docstrings and comments may still show the integrator's calls.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import lendkit
from lendkit import uow

PACKAGE = Path(lendkit.__file__).parent
PLUGINS = PACKAGE / "plugins"
MODULES = sorted(PLUGINS.rglob("*.py"))
#: the engine below the facades, and the facades themselves
ENGINE = [
    *sorted(
        p
        for sub in ("ops", "store", "core", "services")
        for p in (PACKAGE / sub).rglob("*.py")
        if "migrations" not in p.parts
    ),
    PACKAGE / "uow.py",
]
#: the Platform's facades: a plugin never reaches through them
FACADES = frozenset(
    {"parties", "custody", "listings", "bidding", "loans", "market", "reports", "cob", "runner"}
)


#: names that hold a Platform (or a view of one) in lendkit's code
PLATFORM_NAMES = frozenset({"platform", "view", "p", "_p", "plat"})


def _holds_platform(owner: ast.expr) -> bool:
    if isinstance(owner, ast.Name):
        return owner.id in PLATFORM_NAMES
    if isinstance(owner, ast.Attribute):
        return owner.attr in PLATFORM_NAMES
    return isinstance(owner, ast.Call)  # platform.using(conn).loans


def facade_uses(source: str, facades: frozenset[str] = FACADES) -> list[tuple[int, str]]:
    """Every ``<x>.using(...)`` call and ``<platform>.<facade>`` attribute in ``source``."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        using = (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "using"
        )
        facade = (
            isinstance(node, ast.Attribute) and node.attr in facades and _holds_platform(node.value)
        )
        if using or facade:
            found.append((node.lineno, ast.unparse(node)))
    return found


def test_the_checker_finds_what_it_should() -> None:
    source = (
        "def run(ctx):\n"
        "    view = platform.using(ctx.conn)\n"
        "    view.loans.repay(loan_id)\n"
        "    platform.listings.get(x)\n"
        "    ctx.loan(loan_id)\n"
        "    stress.loans\n"
        "    self._p.custody.expire_holds()\n"
        "    platform.command('a.b', run)\n"
        "    '''platform.loans.get(x) in a docstring is fine'''\n"
    )
    assert [line for line, _ in facade_uses(source)] == [2, 3, 4, 7]


def test_plugins_found() -> None:
    assert {p.parent.name for p in MODULES} >= {"guarantee", "insurance", "collateral", "reserve"}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PLUGINS)))
def test_plugin_uses_no_facade(path: Path) -> None:
    found = facade_uses(path.read_text(encoding="utf-8"))
    assert not found, (
        f"{path.relative_to(PLUGINS)} reaches through the platform (use ctx.loan, ctx.listing,"
        " ctx.party, ctx.repay, ctx.apply_listing... inside the command or hook): "
        + "; ".join(f"line {line}: {text}" for line, text in found)
    )


@pytest.mark.parametrize("path", ENGINE, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_engine_module_goes_through_no_facade(path: Path) -> None:
    # a facade runs its operation through the platform's runner; nothing else of the platform
    found = facade_uses(path.read_text(encoding="utf-8"), FACADES - {"runner"})
    assert not found, f"{path.relative_to(PACKAGE)} goes through a facade or the platform: {found}"


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
