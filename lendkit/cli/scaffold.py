"""``lendkit new`` and ``lendkit new-plugin``: scaffold a lending platform or a third-party plugin.

The file trees are templates shipped inside the package (``lendkit/cli/templates/<kind>/``) as
``*-tpl`` files, so they are never imported, byte-compiled, linted or collected by pytest. They are
rendered with :class:`string.Template` (``$name``; a literal dollar is ``$$``). In template paths a
folder ``__package__`` becomes the project's module name, a ``-tpl`` suffix is dropped and a
``dot-`` prefix becomes ``.``.

Nothing is overwritten: an existing, non-empty target folder is refused unless ``--force``, and
then only the template's own files are written again. Everything is validated and rendered before
the first file is written. The answers are saved as ``.lendkit-answers.json`` in the generated
folder, so ``--answers FILE`` can generate the same project again later.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import keyword
import re
import sys
import textwrap
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from string import Template
from typing import Any

import click
from click.core import ParameterSource

import lendkit
from lendkit.cli.base import fail, main, parse_plugins
from lendkit.core.errors import InvalidValue
from lendkit.core.money import CURRENCIES
from lendkit.plugin_manager import available_plugins

__all__ = [
    "ANSWERS_FILE",
    "Rendered",
    "hook_reference",
    "new_command",
    "new_plugin_command",
    "render",
    "template_files",
    "validate_name",
    "write",
]

ANSWERS_FILE = ".lendkit-answers.json"
TEMPLATE_SUFFIX = "-tpl"
PACKAGE_DIR = "__package__"
DEFAULT_PLUGINS = ("online",)
DEFAULT_CURRENCY = "CNY"

_NAME = re.compile(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*")
_MAX_NAME = 40
#: names that would shadow what a lendkit project imports (beyond the standard library)
_RESERVED = frozenset(
    {"lendkit", "pytest", "pluggy", "sqlalchemy", "alembic", "attrs", "cattrs", "click", "tests"}
)


# -- names and answers ----------------------------------------------------------------------------


def validate_name(name: str, what: str, target: Path) -> str:
    """Check ``name`` (an identifier-like slug) and return its module name (``-`` -> ``_``).

    Refused: anything but lowercase letters, digits and single ``-``/``_`` separators starting with
    a letter; Python keywords; standard-library and lendkit's own dependencies' names; a module
    that is importable from somewhere other than ``target`` (it would be shadowed, or shadow it).
    """
    example = "e.g. acme or acme-lending"
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidValue(
            f"{what} name {str(name)[:60]!r} is not valid: use lowercase letters, digits and"
            f" single '-' or '_' between them, starting with a letter ({example})"
        )
    if len(name) > _MAX_NAME:
        raise InvalidValue(f"{what} name {name!r} is longer than {_MAX_NAME} characters")
    module = name.replace("-", "_")
    if keyword.iskeyword(module) or keyword.issoftkeyword(module):
        raise InvalidValue(f"{what} name {name!r} is a Python keyword: choose another ({example})")
    if module in sys.stdlib_module_names or module in _RESERVED:
        raise InvalidValue(
            f"{what} name {name!r} would shadow the module {module!r} that Python or lendkit"
            f" imports: choose another ({example})"
        )
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        spec = None
    origin = spec.origin if spec is not None else None
    if origin and not Path(origin).resolve().is_relative_to(target.resolve()):
        raise InvalidValue(
            f"{what} name {name!r} is already the importable module {module!r} ({origin}):"
            f" choose another ({example})"
        )
    return module


def parse_currency(code: str) -> str:
    """An ISO code lendkit knows (case-insensitive); ``InvalidValue`` naming the known ones."""
    upper = code.strip().upper()
    if upper not in CURRENCIES:
        raise InvalidValue(
            f"currency {code[:20]!r} is not known: use one of {', '.join(sorted(CURRENCIES))}"
        )
    return upper


def check_plugins(names: list[str]) -> list[str]:
    """Refuse plugins that cannot be enabled here, listing the ones that can."""
    available = available_plugins()
    unknown = [n for n in names if n not in available]
    if unknown:
        raise InvalidValue(
            f"unknown plugin{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))};"
            f" available: {', '.join(sorted(available)) or 'none'} (see `lendkit plugins`)"
        )
    return names


def check_db_url(url: str) -> str:
    """A SQLite file or PostgreSQL URL SQLAlchemy can parse; ``InvalidValue`` otherwise."""
    from sqlalchemy.engine import make_url

    from lendkit.store.db import normalize_url

    try:
        parsed = make_url(normalize_url(url.strip()))
    except Exception:
        raise InvalidValue(
            f"database URL {url[:80]!r} is not valid: e.g. sqlite:///acme.db or"
            " postgresql+psycopg://user:password@host/acme"
        ) from None
    backend = parsed.get_backend_name()
    if backend not in {"sqlite", "postgresql"}:
        raise InvalidValue(
            f"database backend {backend!r} is not supported: use sqlite or postgresql"
        )
    if backend == "sqlite" and parsed.database in (None, "", ":memory:"):
        raise InvalidValue(
            "in-memory SQLite is not supported: use a file URL such as sqlite:///acme.db"
        )
    return url.strip()


def load_answers(path: Path, template: str) -> dict[str, Any]:
    """The answers saved by an earlier ``lendkit new``/``new-plugin`` for ``template``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidValue(f"answers file {str(path)!r} cannot be read: {exc.strerror}") from None
    except ValueError as exc:
        raise InvalidValue(f"answers file {str(path)!r} is not JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("answers"), dict):
        raise InvalidValue(f"answers file {str(path)!r} has no 'answers' object")
    if data.get("template") != template:
        raise InvalidValue(
            f"answers file {str(path)!r} is for the template {data.get('template')!r},"
            f" not {template!r}"
        )
    return dict(data["answers"])


def answers_json(template: str, answers: Mapping[str, Any]) -> str:
    payload = {"template": template, "lendkit_version": lendkit.__version__, "answers": answers}
    return json.dumps(payload, indent=2, ensure_ascii=False) + "\n"


# -- templates ------------------------------------------------------------------------------------


def _template_root(kind: str) -> Traversable:
    return files("lendkit.cli").joinpath("templates", kind)


def _walk(
    node: Traversable, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], Traversable]]:
    for child in sorted(node.iterdir(), key=lambda c: c.name):
        if child.is_dir():
            if child.name != "__pycache__":
                yield from _walk(child, (*prefix, child.name))
        elif child.name.endswith(TEMPLATE_SUFFIX):
            yield (*prefix, child.name), child


def _output_path(parts: tuple[str, ...], module: str) -> str:
    out = []
    for part in parts:
        part = module if part == PACKAGE_DIR else part
        part = part.removesuffix(TEMPLATE_SUFFIX)
        if part.startswith("dot-"):
            part = "." + part[len("dot-") :]
        out.append(part)
    return "/".join(out)


def template_files(kind: str, module: str = PACKAGE_DIR) -> list[str]:
    """The relative paths ``kind`` (``project`` or ``plugin``) generates, answers file included."""
    return sorted(
        [_output_path(p, module) for p, _ in _walk(_template_root(kind))] + [ANSWERS_FILE]
    )


@dataclass(frozen=True)
class Rendered:
    """One generated file: its path relative to the project folder and its text."""

    path: str
    text: str


def render(kind: str, module: str, variables: Mapping[str, str]) -> list[Rendered]:
    """Every file of template ``kind`` rendered with ``variables`` (``string.Template``)."""
    rendered = []
    for parts, source in _walk(_template_root(kind)):
        try:
            text = Template(source.read_text(encoding="utf-8")).substitute(variables)
        except (KeyError, ValueError) as exc:  # a template bug, not the user's
            raise RuntimeError(f"template {'/'.join(parts)} of {kind!r}: {exc!r}") from exc
        rendered.append(Rendered(_output_path(parts, module), text))
    return rendered


def write(target: Path, files_: list[Rendered], force: bool) -> None:
    """Write ``files_`` under ``target``; refuse a non-empty folder (or a file) unless ``force``."""
    if target.exists() and not target.is_dir():
        raise InvalidValue(f"{str(target)!r} exists and is not a folder: choose another name")
    if target.is_dir() and any(target.iterdir()) and not force:
        raise InvalidValue(
            f"folder {str(target)!r} already exists and is not empty: nothing was written"
            " (--force writes the template's files over it, leaving other files alone)"
        )
    for item in files_:
        path = target / item.path
        if path.is_dir():
            raise InvalidValue(f"{str(path)!r} is a folder where the template writes a file")
    try:
        for item in files_:
            path = target / item.path
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(item.text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {exc.filename or str(target)!r}: {exc.strerror}")


def hook_reference(skip: tuple[str, ...] = ()) -> str:
    """Comment lines naming every hookspec (in lifecycle order), its arguments and its summary."""
    from lendkit.core import hookspecs

    specs = [
        fn
        for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
        if name.startswith("lendkit_") and name not in skip
    ]
    lines = []
    for fn in sorted(specs, key=lambda f: f.__code__.co_firstlineno):
        args = ", ".join(inspect.signature(fn).parameters)
        summary = " ".join((inspect.getdoc(fn) or "").split("\n\n", 1)[0].split())
        lines.append(f"#   {fn.__name__}({args})")
        lines.extend(
            textwrap.wrap(summary, 96, initial_indent="#       ", subsequent_indent="#       ")
        )
    return "\n".join(lines)


def _toml_string(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def _toml_key(value: str) -> str:
    return value if re.fullmatch(r"[A-Za-z0-9_-]+", value) else _toml_string(value)


def _report(target: Path, written: list[Rendered], extra: str, next_steps: list[str]) -> None:
    click.echo(f"Created {target.name}/ ({len(written)} files){extra}")
    for item in sorted(written, key=lambda r: r.path):
        click.echo(f"  {item.path}")
    click.echo("Next:")
    for step in next_steps:
        click.echo(f"  {step}")


# -- lendkit new ------------------------------------------------------------------------------------

#: where each builtin plugin's test set-up goes in the generated tests/test_platform.py: run once
#: (``setup``), to file a listing of its product (``apply``) or for each listing before approval
#: (``before_approval``); templates/snippets/NAME-tpl
SNIPPETS = {
    "bills": "apply",
    "guarantee": "before_approval",
    "collateral": "before_approval",
    "insurance": "before_approval",
    "leasing": "apply",
    "margin": "apply",
    "reserve": "setup",
    "supplychain": "before_approval",
}


def with_a_product(plugins: list[str]) -> tuple[list[str], str]:
    """``plugins``, with ``online`` first if none of them registers a loan product (and why)."""
    from lendkit.core.hooks import Hooks
    from lendkit.plugin_manager import make_plugin_manager

    if Hooks(make_plugin_manager(plugins)).products() or "online" not in available_plugins():
        return plugins, ""
    return ["online", *plugins], (
        f" (online added: {', '.join(plugins)} register{'s' if len(plugins) == 1 else ''}"
        " no loan product)"
    )


def generated_test_parts(plugins: list[str]) -> dict[str, str]:
    """The generated test's per-plugin set-up (a guarantor, a pledged asset, an insurer...)."""
    parts: dict[str, list[str]] = {"setup": [], "apply": [], "before_approval": []}
    used = [name for name in plugins if name in SNIPPETS]
    for name in used:
        text = _template_root("snippets").joinpath(f"{name}{TEMPLATE_SUFFIX}").read_text("utf-8")
        parts[SNIPPETS[name]].append(text.rstrip("\n"))
    imports = f"from lendkit.plugins import {', '.join(sorted(used))}\n" if used else ""
    return {"plugin_imports": imports, **{k: "\n".join(v) for k, v in parts.items()}}


def lendkit_source(extra: str | None) -> str:
    """What the generated tox.ini installs lendkit from: where the running lendkit came from.

    lendkit need not be on a package index: a source checkout or a wheel recorded by pip
    (PEP 610 ``direct_url.json``), else the folder holding this lendkit's ``pyproject.toml``;
    the plain requirement only when neither is known.
    """
    from importlib.metadata import PackageNotFoundError, distribution
    from urllib.parse import unquote, urlparse

    suffix = f"[{extra}]" if extra else ""
    where: Path | None = None
    try:
        recorded = distribution("lendkit").read_text("direct_url.json")
    except PackageNotFoundError:
        recorded = None
    if recorded:
        url = urlparse(json.loads(recorded).get("url", ""))
        if url.scheme == "file" and Path(unquote(url.path)).exists():
            where = Path(unquote(url.path))
    checkout = Path(lendkit.__file__).resolve().parents[1]
    if (checkout / "pyproject.toml").is_file() and (checkout / "lendkit").is_dir():
        where = checkout  # the code running now wins over an older install record
    if where is None:
        return f"lendkit{suffix}>={lendkit.__version__}"
    return f"{where}{suffix}"


def _answer(given: Any, answers: Mapping[str, Any], key: str, default: Any) -> Any:
    if given is not None:
        return given
    return answers.get(key, default)


@main.command("new")
@click.argument("name", required=False)
@click.option(
    "--plugins",
    "plugins_text",
    default=None,
    help="Comma-separated plugins to enable (default: online); `lendkit plugins` lists them.",
)
@click.option("--currency", default=None, help="The platform's currency (default: CNY).")
@click.option(
    "--db",
    "db",
    default=None,
    help="Database URL written to settings.toml (default: sqlite:///NAME.db in the project).",
)
@click.option("--force", is_flag=True, help="Write into an existing, non-empty folder.")
@click.option(
    "--answers",
    "answers_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help=f"Re-generate from a project's {ANSWERS_FILE}; options given override its answers.",
)
def new_command(
    name: str | None,
    plugins_text: str | None,
    currency: str | None,
    db: str | None,
    force: bool,
    answers_path: Path | None,
) -> None:
    """Create a lending platform project in ./NAME: settings, platform.py, hooks.py, tests.

    NAME is an identifier-like slug (acme, acme-lending). Nothing is overwritten without --force.
    """
    saved = load_answers(answers_path, "project") if answers_path else {}
    name = _answer(name, saved, "name", None)
    if name is None:
        raise InvalidValue("give the project NAME (or --answers FILE from an earlier project)")
    root = click.get_current_context().find_root()
    if db is None and root.get_parameter_source("db_url") is ParameterSource.COMMANDLINE:
        db = str(root.params["db_url"])  # ``lendkit --db URL new NAME`` means the same
    target = Path.cwd() / str(name)
    module = validate_name(str(name), "project", target)
    plugins_value = _answer(plugins_text, saved, "plugins", list(DEFAULT_PLUGINS))
    plugins = check_plugins(
        parse_plugins(plugins_value if isinstance(plugins_value, str) else ",".join(plugins_value))
    )
    plugins, note = with_a_product(plugins)
    code = parse_currency(str(_answer(currency, saved, "currency", DEFAULT_CURRENCY)))
    db_url = check_db_url(str(_answer(db, saved, "db", f"sqlite:///{name}.db")))
    postgres = not db_url.startswith("sqlite")
    answers = {"name": name, "plugins": plugins, "currency": code, "db": db_url}
    requirement = f"lendkit{'[postgres]' if postgres else ''}>={lendkit.__version__}"
    variables = {
        "name": name,
        "module": module,
        "env": module.upper(),
        "currency": code,
        "db_url_toml": _toml_string(db_url),
        "plugins_toml": "[" + ", ".join(_toml_string(p) for p in plugins) + "]",
        "plugins_text": ", ".join(f"`{p}`" for p in plugins),
        "plugin_tables": "\n".join(f"[config.plugins.{_toml_key(p)}]" for p in plugins),
        "lendkit_version": lendkit.__version__,
        "lendkit_requirement": requirement,
        "lendkit_source": lendkit_source("postgres" if postgres else None),
        **generated_test_parts(plugins),
    }
    generated = render("project", module, variables)
    generated.append(Rendered(ANSWERS_FILE, answers_json("project", answers)))
    write(target, generated, force)
    _report(
        target,
        generated,
        f": plugins {', '.join(plugins)}, currency {code}{note}",
        [f"cd {name}", f'pip install -e ".[test]" && python -m {module}', "python -m pytest"],
    )


# -- lendkit new-plugin -----------------------------------------------------------------------------


@main.command("new-plugin")
@click.argument("name", required=False)
@click.option("--force", is_flag=True, help="Write into an existing, non-empty folder.")
@click.option(
    "--answers",
    "answers_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help=f"Re-generate from a plugin's {ANSWERS_FILE}.",
)
def new_plugin_command(name: str | None, force: bool, answers_path: Path | None) -> None:
    """Create an installable lendkit plugin package in ./NAME (entry point, hooks, tests).

    NAME (e.g. acme-scoring) is the distribution, the entry-point name in the group
    lendkit.plugins and the plugin name platforms enable; the module is NAME with '_' for '-'.
    """
    saved = load_answers(answers_path, "plugin") if answers_path else {}
    name = _answer(name, saved, "name", None)
    if name is None:
        raise InvalidValue("give the plugin NAME (or --answers FILE from an earlier plugin)")
    target = Path.cwd() / str(name)
    module = validate_name(str(name), "plugin", target)
    taken = available_plugins()
    if name in taken and not force:
        raise InvalidValue(
            f"plugin name {name!r} is already taken by {taken[name]}: choose another"
        )
    variables = {
        "name": name,
        "module": module,
        "lendkit_version": lendkit.__version__,
        "hook_reference": hook_reference(
            skip=(
                "lendkit_register_products",
                "lendkit_register_settings",
                "lendkit_validate_listing",
            )
        ),
    }
    generated = render("plugin", module, variables)
    generated.append(Rendered(ANSWERS_FILE, answers_json("plugin", {"name": name})))
    write(target, generated, force)
    _report(
        target,
        generated,
        f": entry point {name} = {module} (group lendkit.plugins)",
        [f"cd {name}", 'pip install -e ".[test]" && lendkit plugins', "python -m pytest"],
    )
