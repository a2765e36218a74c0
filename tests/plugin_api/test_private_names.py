"""No ``lendkit`` module uses another module's underscore names, and only ``core/hooks.py``
touches ``pm.hook``.

The same rule as ruff's SLF001 (enabled in pyproject), checked here through the AST so that it
holds whatever the linter configuration says: ``x._name`` where ``x`` is not ``self`` or
``cls``, ``from m import _name``, and ``getattr(x, "_name")``. The public API of SQLAlchemy rows
and namedtuples that happens to start with an underscore is allowed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import lendkit

PACKAGE = Path(lendkit.__file__).parent
ROOT = PACKAGE.parent
MODULES = sorted(PACKAGE.rglob("*.py"))
#: underscore names that are public API: SQLAlchemy ``Row._mapping``, namedtuple methods
ALLOWED = frozenset({"_mapping", "_asdict", "_replace", "_fields"})
#: the typed facade over the plugin manager: the only module that may call ``pm.hook``
HOOKS_FACADE = PACKAGE / "core" / "hooks.py"


def is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__") and name not in ALLOWED


def private_uses(source: str) -> list[tuple[int, str]]:
    """Every use of another object's or module's underscore name in ``source``."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and is_private(node.attr):
            owner = node.value
            if not (isinstance(owner, ast.Name) and owner.id in ("self", "cls")):
                found.append((node.lineno, ast.unparse(node)))
        elif isinstance(node, ast.ImportFrom):
            found.extend(
                (node.lineno, f"from {node.module} import {alias.name}")
                for alias in node.names
                if is_private(alias.name)
            )
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "setattr", "hasattr", "delattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and is_private(node.args[1].value)
        ):
            found.append((node.lineno, ast.unparse(node)))
    return found


def hook_calls(source: str) -> list[tuple[int, str]]:
    """Every ``<...>pm.hook`` in ``source`` (the plugin manager's untyped hook relay)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr == "hook":
            owner = node.value
            name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", "")
            if name == "pm" or name.endswith("_pm"):
                found.append((node.lineno, ast.unparse(node)))
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_module_uses_no_other_modules_private_names(path: Path) -> None:
    bad = private_uses(path.read_text(encoding="utf-8"))
    assert not bad, f"{path.relative_to(ROOT)} uses underscore names of another module: {bad}"


def test_only_the_hooks_facade_calls_pm_hook() -> None:
    bad = {
        path.relative_to(ROOT).as_posix(): found
        for path in MODULES
        if path != HOOKS_FACADE and (found := hook_calls(path.read_text(encoding="utf-8")))
    }
    assert not bad, f"pm.hook outside lendkit/core/hooks.py (use lendkit.core.hooks.Hooks): {bad}"
    assert hook_calls(HOOKS_FACADE.read_text(encoding="utf-8")), "the facade itself uses pm.hook"


def test_the_checkers_catch_violations() -> None:
    source = (
        "from lendkit.services.loans import _owed, investors_owed\n"
        "from __future__ import annotations\n"
        "class A:\n"
        "    def f(self, other, row, ctx):\n"
        "        self._mine()\n"
        "        cls._also_mine\n"
        "        other._theirs()\n"
        "        ctx.platform.loans._apply(ctx)\n"
        "        getattr(other, '_hidden')\n"
        "        getattr(other, 'visible')\n"
        "        row._mapping, row._asdict(), other.__class__\n"
        "        self.platform.pm.hook.lendkit_x()\n"
        "        hooks = pm.hook\n"
        "        self.hooks.hook\n"
    )
    assert sorted(text for _, text in private_uses(source)) == [
        "ctx.platform.loans._apply",
        "from lendkit.services.loans import _owed",
        "getattr(other, '_hidden')",
        "other._theirs",
    ]
    assert sorted(text for _, text in hook_calls(source)) == ["pm.hook", "self.platform.pm.hook"]
