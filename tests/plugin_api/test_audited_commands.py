"""Every mutating command is authorized and audited: a facade's ``runner.run`` that takes an
idempotency key (what makes it a command) passes ``actor=`` and ``subject=``, and every plugin
command (``platform.command``) passes its caller's ``actor=``. Parsed with ast, so a new
command that forgets them fails here."""

from __future__ import annotations

import ast
from pathlib import Path

LENDKIT = Path(__file__).resolve().parents[2] / "lendkit"


def calls(path: Path, attribute: str) -> list[ast.Call]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == attribute
    ]


def keywords(call: ast.Call) -> set[str]:
    return {k.arg for k in call.keywords if k.arg is not None}


def test_facade_commands_pass_actor_and_subject() -> None:
    missing = []
    commands = 0
    for path in sorted((LENDKIT / "services").glob("*.py")):
        for call in calls(path, "run"):
            names = keywords(call)
            if "key" not in names:
                continue
            commands += 1
            if not {"actor", "subject"} <= names:
                missing.append(f"{path.name}:{call.lineno}")
    assert commands >= 30  # the checker sees the facades' commands
    assert not missing, f"commands without actor= and subject=: {missing}"


def test_plugin_commands_pass_the_callers_actor_and_reads_take_no_key() -> None:
    missing, keyed_reads = [], []
    commands = 0
    for path in sorted((LENDKIT / "plugins").rglob("*.py")):
        for call in calls(path, "command"):
            if not (isinstance(call.func.value, ast.Name) and call.func.value.id == "platform"):  # type: ignore[attr-defined]
                continue
            commands += 1
            if "actor" not in keywords(call):
                missing.append(f"{path.relative_to(LENDKIT)}:{call.lineno}")
        for call in calls(path, "query"):
            if "key" in keywords(call):
                keyed_reads.append(f"{path.relative_to(LENDKIT)}:{call.lineno}")
    assert commands >= 40
    assert not missing, f"plugin commands without actor=: {missing}"
    assert not keyed_reads, f"queries are reads and take no idempotency key: {keyed_reads}"
