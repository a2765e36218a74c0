"""Every hookspec is documented in its docstring (every argument with ``:param name:``) and listed
in ``docs/hooks.md`` with its signature."""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lendkit.core import hookspecs
from lendkit.core.hooks import Hooks
from lendkit.plugin_manager import BUILTIN

DOCS = Path(__file__).resolve().parents[2] / "docs" / "hooks.md"
HOOK_NAME = re.compile(r"`(lendkit_\w+)`")
SIGNATURE = re.compile(r"`(lendkit_\w+)\(([^)`]*)\)`")
ABBREVIATIONS = re.compile(r"\b(?:e\.g|i\.e|etc|vs)\.", re.IGNORECASE)
SENTENCE_END = re.compile(r"[.!?](?=\s|$)")


def hookspec_functions() -> dict[str, Callable[..., Any]]:
    return {
        name: obj
        for name, obj in vars(hookspecs).items()
        if name.startswith("lendkit_") and inspect.isfunction(obj)
    }


HOOKS = hookspec_functions()


def count_sentences(text: str) -> int:
    prose = ABBREVIATIONS.sub("eg", text)
    prose = re.sub(r"``[^`]*``", "code", prose)  # dots inside literals end nothing
    return len(SENTENCE_END.findall(prose))


def section(markdown: str, heading: str) -> str:
    """The text under ``## heading`` up to the next heading of the same level."""
    match = re.search(rf"^## {re.escape(heading)}\s*$(.*?)(?=^## |\Z)", markdown, re.M | re.S)
    assert match, f"{DOCS.name} has no '## {heading}' section"
    return match.group(1)


def hook_rows() -> dict[str, str]:
    rows: dict[str, str] = {}
    for line in section(DOCS.read_text(encoding="utf-8"), "Hook list").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        found = HOOK_NAME.fullmatch(cells[0]) if cells else None
        if found:
            assert found.group(1) not in rows, f"{found.group(1)} is listed twice"
            rows[found.group(1)] = line
    return rows


def signature_rows() -> dict[str, list[str]]:
    """The ``## Signatures`` table: hook name -> the argument names it shows, in order."""
    rows: dict[str, list[str]] = {}
    for line in section(DOCS.read_text(encoding="utf-8"), "Signatures").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        found = SIGNATURE.fullmatch(cells[0]) if cells else None
        if found:
            name, args = found.groups()
            assert name not in rows, f"{name}'s signature is shown twice"
            rows[name] = [a.strip() for a in args.split(",") if a.strip()]
    return rows


def test_hookspecs_found() -> None:
    assert len(HOOKS) >= 20
    assert "lendkit_register_products" in HOOKS
    for name, fn in HOOKS.items():
        assert hasattr(fn, f"{hookspecs.PROJECT}_spec"), f"{name} is not marked @hookspec"


def test_sentence_counter() -> None:
    assert count_sentences("Notification: a deposit arrived (same transaction).") == 1
    assert count_sentences('Return a ``Decimal`` (e.g. ``Decimal("0.1")``) or ``None``.') == 1
    assert count_sentences("One thing happens. Then ``x`` reacts.\n\nExample::") == 2


@pytest.mark.parametrize("name", sorted(HOOKS))
def test_hookspec_docstring_has_two_sentences(name: str) -> None:
    doc = inspect.getdoc(HOOKS[name]) or ""
    assert count_sentences(doc) >= 2, (
        f"{name}: the docstring needs at least 2 sentences (what it is for, when it is called,"
        f" what to return or which models use it); it has: {doc!r}"
    )


@pytest.mark.parametrize("name", sorted(HOOKS))
def test_hookspec_listed_in_docs(name: str) -> None:
    rows = hook_rows()
    assert name in rows, f"{name} is missing from the hook list in {DOCS}"
    cells = [c.strip() for c in rows[name].strip().strip("|").split("|")]
    assert len(cells) == 4 and all(cells), f"{name}: every column needs text: {rows[name]!r}"


def test_docs_list_no_unknown_hooks() -> None:
    listed = set(hook_rows())
    mentioned = set(HOOK_NAME.findall(DOCS.read_text(encoding="utf-8")))
    assert listed - set(HOOKS) == set(), "docs/hooks.md lists hooks that do not exist"
    assert mentioned - set(HOOKS) == set(), "docs/hooks.md mentions hooks that do not exist"


@pytest.mark.parametrize("name", sorted(HOOKS))
def test_models_named_in_docstring_appear_in_docs(name: str) -> None:
    doc = inspect.getdoc(HOOKS[name]) or ""
    named = {m for m in BUILTIN if f"``{m}``" in doc}
    used_by = hook_rows()[name].strip().strip("|").split("|")[-1]
    missing = {m for m in named if not re.search(rf"\b{m}\b", used_by)}
    assert not missing, f"{name}: docstring names {sorted(missing)}, docs/hooks.md does not"


def test_every_model_has_a_row() -> None:
    by_model = section(DOCS.read_text(encoding="utf-8"), "By business model")
    for model in BUILTIN:
        assert re.search(rf"^\| {model} \|", by_model, re.M), f"{model} missing from the table"


@pytest.mark.parametrize("name", sorted(HOOKS))
def test_every_argument_has_a_param_line(name: str) -> None:
    doc = inspect.getdoc(HOOKS[name]) or ""
    missing = [
        arg for arg in inspect.signature(HOOKS[name]).parameters if f":param {arg}:" not in doc
    ]
    assert not missing, (
        f"{name}: the docstring documents no ':param {missing[0]}:' (every argument needs one,"
        f" saying what it is); missing: {missing}"
    )


@pytest.mark.parametrize("name", sorted(HOOKS))
def test_docs_show_every_argument(name: str) -> None:
    shown = signature_rows()
    assert name in shown, f"{name} has no row in the Signatures table of {DOCS}"
    spec = list(inspect.signature(HOOKS[name]).parameters)
    assert shown[name] == spec, (
        f"{DOCS.name} shows {name}({', '.join(shown[name])}), the hookspec is"
        f" {name}({', '.join(spec)})"
    )
    row = next(
        line
        for line in section(DOCS.read_text(encoding="utf-8"), "Signatures").splitlines()
        if f"`{name}(" in line
    )
    assert all(c.strip() for c in row.strip().strip("|").split("|")), f"empty cell: {row!r}"


def test_docs_show_no_unknown_signatures() -> None:
    assert set(signature_rows()) - set(HOOKS) == set(), "docs/hooks.md shows unknown hooks"


def test_hooks_are_called_with_keywords_and_every_argument() -> None:
    """The typed facade calls each hook with keywords only and passes every argument the
    hookspec names (an implementation may take fewer; pluggy hands it the ones it takes)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(Hooks)))
    called: dict[str, list[list[str]]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            if isinstance(owner, ast.Attribute) and owner.attr == "_h":
                assert not node.args, f"{node.func.attr} is called with positional arguments"
                called.setdefault(node.func.attr, []).append(
                    [k.arg for k in node.keywords if k.arg is not None]
                )
    assert "lendkit_recovery_received" in called and "lendkit_cob_day" in called
    for name, calls in called.items():
        for passed in calls:
            assert passed == list(inspect.signature(HOOKS[name]).parameters), (name, passed)
