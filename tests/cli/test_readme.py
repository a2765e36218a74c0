"""The README's first steps work as written: a clone, the postgres extra, a re-runnable snippet."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import lendkit

README = Path(__file__).resolve().parents[2] / "README.md"


def section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def test_set_up_starts_from_a_clone_and_shows_the_postgres_extra() -> None:
    setup = section("Set-up")
    commands = re.findall(r"```sh\n(.*?)```", setup, re.S)[0].splitlines()
    assert commands[0].startswith("git clone ") and commands[0].endswith("&& cd lendkit")
    assert "pip install -e '.[postgres]'" in setup


def test_embedding_snippet_runs_twice_on_the_same_database(tmp_path: Path) -> None:
    snippet = re.findall(r"```python\n(.*?)```", section("Embedding"), re.S)[0]
    assert 'Platform.open("sqlite:///lending.db"' in snippet
    checkout = Path(lendkit.__file__).resolve().parents[1]
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-c", snippet],
            cwd=tmp_path,
            env={"PYTHONPATH": str(checkout), "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("PositionRecord(")
