"""``lendkit.core`` is pure: it imports no plugin, service, store, CLI or the Platform facade."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import lendkit.core

CORE = Path(lendkit.core.__file__).parent
FORBIDDEN = (
    "lendkit.plugins",
    "lendkit.cli",
    "lendkit.services",
    "lendkit.store",
    "lendkit.platform",
    "lendkit.plugin_manager",
)
MODULES = sorted(CORE.rglob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(CORE.parent.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(path: Path) -> list[tuple[int, str]]:
    """Every module an ``import`` statement in ``path`` names (see :func:`imports_in`)."""
    package = module_name(path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    return imports_in(path.read_text(encoding="utf-8"), package)


def imports_in(source: str, package: str) -> list[tuple[int, str]]:
    """Every module an ``import`` in ``source`` (code of a module in ``package``) names.

    Relative imports are resolved against ``package``.

    ``from lendkit import x`` yields both ``lendkit`` and ``lendkit.x`` (x may be a submodule).
    Imports under ``if TYPE_CHECKING:`` are included: the rule holds for type hints too.
    """
    tree = ast.parse(source)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            found.extend((node.lineno, f"{module}.{alias.name}") for alias in node.names)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id)
            in {"import_module", "__import__"}
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, node.args[0].value))
    return found


def is_forbidden(name: str) -> bool:
    return any(name == f or name.startswith(f + ".") for f in FORBIDDEN)


def test_core_has_modules() -> None:
    names = {module_name(p) for p in MODULES}
    assert {"lendkit.core.money", "lendkit.core.hookspecs", "lendkit.core.errors"} <= names


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.relative_to(CORE).as_posix())
def test_core_module_imports_nothing_outside_core(path: Path) -> None:
    bad = [f"line {line}: {name}" for line, name in imported_names(path) if is_forbidden(name)]
    assert not bad, f"{module_name(path)} imports outside lendkit.core: {bad}"


def test_the_checker_catches_violations() -> None:
    """The AST walk finds absolute, relative, from-package, TYPE_CHECKING and dynamic imports."""
    source = (
        "from typing import TYPE_CHECKING\n"
        "import importlib\n"
        "from lendkit.core import money\n"
        "from . import errors\n"
        "from .. import store\n"
        "from ..services.custody import CustodyService\n"
        "import lendkit.cli.base\n"
        "from lendkit import platform\n"
        "if TYPE_CHECKING:\n"
        "    from lendkit.plugins import online\n"
        "def later() -> None:\n"
        "    importlib.import_module('lendkit.plugins.guarantee')\n"
    )
    found = {name for _, name in imports_in(source, "lendkit.core")}
    assert {"lendkit.core.money", "lendkit.core.errors"} <= found
    bad = {name for name in found if is_forbidden(name)}
    assert bad == {
        "lendkit.store",
        "lendkit.services.custody",
        "lendkit.services.custody.CustodyService",
        "lendkit.cli.base",
        "lendkit.platform",
        "lendkit.plugins",
        "lendkit.plugins.online",
        "lendkit.plugins.guarantee",
    }
    assert not is_forbidden("lendkit.core.money") and not is_forbidden("lendkit.plugin")


def test_importing_core_loads_no_plugin() -> None:
    code = (
        "import lendkit.core.money, lendkit.core.schedule, lendkit.core.ledger; import sys; "
        "assert not any(m.startswith('lendkit.plugins') for m in sys.modules), "
        "sorted(m for m in sys.modules if m.startswith('lendkit.plugins'))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_importing_every_core_module_loads_no_plugin() -> None:
    names = [module_name(p) for p in MODULES]
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('lendkit.plugins'))\n"
        "assert not loaded, loaded\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
