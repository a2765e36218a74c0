"""Plugins act only through the context: no ``platform.using(...)`` and no facade
(``platform.loans``, ``view.listings.get``...) anywhere in ``lendkit/plugins``.

A plugin command starts with ``platform.command(name, fn, key=..., payload=...)`` and ``fn``
uses only ``ctx`` (``ctx.loan``, ``ctx.repay``, ``ctx.apply_listing``...); hooks get ``ctx``.
Checked through the AST, so docstrings and comments may still show the integrator's calls.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import lendkit

PLUGINS = Path(lendkit.__file__).parent / "plugins"
MODULES = sorted(PLUGINS.rglob("*.py"))
#: the Platform's facades: a plugin never reaches through them
FACADES = frozenset(
    {"parties", "custody", "listings", "bidding", "loans", "market", "reports", "cob", "runner"}
)


def facade_uses(source: str) -> list[tuple[int, str]]:
    """Every ``<x>.using(...)`` call and ``<x>.<facade>`` attribute in ``source``."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        using = (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "using"
        )
        if using or (isinstance(node, ast.Attribute) and node.attr in FACADES):
            found.append((node.lineno, ast.unparse(node)))
    return found


def test_the_checker_finds_what_it_should() -> None:
    source = (
        "def run(ctx):\n"
        "    view = platform.using(ctx.conn)\n"
        "    view.loans.repay(loan_id)\n"
        "    platform.listings.get(x)\n"
        "    ctx.loan(loan_id)\n"
        "    platform.command('a.b', run)\n"
        "    '''platform.loans.get(x) in a docstring is fine'''\n"
    )
    assert [line for line, _ in facade_uses(source)] == [2, 3, 4]


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
