"""``lendkit new`` and ``lendkit new-plugin``: exact file sets, generated tests pass, refusals."""

from __future__ import annotations

import configparser
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

import lendkit
import lendkit.plugin_manager as plugin_manager
from lendkit.cli import main
from lendkit.cli.scaffold import ANSWERS_FILE, hook_reference, template_files
from lendkit.core.config import PlatformConfig
from lendkit.core.serde import structure
from lendkit.plugin_manager import BUILTIN, available_plugins
from tests.conftest import PG_URL, _pg_available

TEMPLATES = Path(lendkit.__file__).parent / "cli" / "templates"

PROJECT_FILES = {
    ".gitignore",
    ".lendkit-answers.json",
    "README.md",
    "acme/__init__.py",
    "acme/__main__.py",
    "acme/hooks.py",
    "acme/platform.py",
    "pyproject.toml",
    "settings.toml",
    "tests/conftest.py",
    "tests/test_platform.py",
    "tox.ini",
}
PLUGIN_FILES = {
    ".gitignore",
    ".lendkit-answers.json",
    "README.md",
    "pyproject.toml",
    "src/acme_scoring/__init__.py",
    "src/acme_scoring/py.typed",
    "tests/conftest.py",
    "tests/test_plugin.py",
    "tox.ini",
}


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for a generated project's own pytest run (none of this suite's settings)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST_", "LENDKIT_TEST_", "LENDKIT_REQUIRE"))
    }
    env.update(extra)
    return env


def pytest_in(folder: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=folder,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=300,
    )


def postgres_env() -> dict[str, str]:
    """``LENDKIT_TEST_POSTGRES_URL`` for the generated tests when this suite's server is up."""
    return {} if _pg_available() else {"LENDKIT_TEST_POSTGRES_URL": PG_URL}


def assert_one_line_error(result: Result, *fragments: str) -> str:
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


# -- templates -------------------------------------------------------------------------------------


def test_templates_are_data_never_python() -> None:
    found = [p for p in TEMPLATES.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    assert found
    for path in found:
        assert path.name.endswith("-tpl"), path
        assert not path.name.endswith((".py", ".pyc")), path


def test_template_files_match_the_generated_set() -> None:
    assert set(template_files("project", "acme")) == PROJECT_FILES
    assert set(template_files("plugin", "acme_scoring")) == PLUGIN_FILES


def test_hook_reference_names_every_hookspec() -> None:
    from lendkit.core import hookspecs

    text = hook_reference()
    for name in dir(hookspecs):
        if name.startswith("lendkit_"):
            assert f"#   {name}(" in text
    assert all(line.startswith("#") for line in text.splitlines())


# -- lendkit new -----------------------------------------------------------------------------------


def test_new_creates_exactly_the_project(here: Path) -> None:
    result = run("new", "acme", "--plugins", "online")
    assert result.exit_code == 0, result.output
    project = here / "acme"
    assert files_under(project) == PROJECT_FILES
    assert "Created acme/ (12 files)" in result.stdout
    answers = json.loads((project / ANSWERS_FILE).read_text())
    assert answers == {
        "template": "project",
        "lendkit_version": lendkit.__version__,
        "answers": {
            "name": "acme",
            "plugins": ["online"],
            "currency": "CNY",
            "db": "sqlite:///acme.db",
        },
    }
    settings = tomllib.loads((project / "settings.toml").read_text())
    assert settings["platform"] == {"database_url": "sqlite:///acme.db", "plugins": ["online"]}
    assert isinstance(structure(settings["config"], PlatformConfig, "config"), PlatformConfig)
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["dependencies"] == [f"lendkit>={lendkit.__version__}"]
    assert pyproject["tool"]["setuptools"]["packages"] == ["acme"]
    readme = (project / "README.md").read_text()
    assert 'pip install -e ".[test]" && python -m acme' in readme
    assert "python -m pytest" in readme
    for path in project.rglob("*.py"):
        compile(path.read_text(), str(path), "exec")  # valid Python, nothing left unsubstituted


def test_generated_project_tests_pass(here: Path) -> None:
    assert run("new", "acme", "--plugins", "online").exit_code == 0
    env = postgres_env()
    done = pytest_in(here / "acme", **env)
    assert done.returncode == 0, done.stdout + done.stderr
    expected = 4 if env else 2  # each test on SQLite, and on PostgreSQL when configured
    assert f"{expected} passed" in done.stdout, done.stdout


BUILTIN_PLUGINS = [name for name in BUILTIN if name in available_plugins()]


@pytest.mark.parametrize(
    "plugins", [*BUILTIN_PLUGINS, ",".join(BUILTIN_PLUGINS)], ids=lambda p: p.replace(",", "+")
)
def test_generated_tests_pass_for_every_builtin_plugin(here: Path, plugins: str) -> None:
    """Alone or all together: the tests set up what each product needs (guarantor, pledge...)."""
    result = run("new", "acme", "--plugins", plugins)
    assert result.exit_code == 0, result.output
    enabled = tomllib.loads((here / "acme" / "settings.toml").read_text())["platform"]["plugins"]
    for name in plugins.split(","):
        assert name in enabled
    env = postgres_env()
    done = pytest_in(here / "acme", **env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{4 if env else 2} passed" in done.stdout, done.stdout


def test_a_plugin_set_without_a_product_gets_online(here: Path) -> None:
    result = run("new", "acme", "--plugins", "reserve,insurance")
    assert result.exit_code == 0, result.output
    assert "online added: reserve, insurance register no loan product" in result.stdout
    settings = tomllib.loads((here / "acme" / "settings.toml").read_text())
    assert settings["platform"]["plugins"] == ["online", "reserve", "insurance"]
    run("new", "plain", "--plugins", "collateral")
    plain = tomllib.loads((here / "plain" / "settings.toml").read_text())
    assert plain["platform"]["plugins"] == ["collateral"]  # it has a product: left as given


def test_tox_installs_the_lendkit_that_made_the_project(here: Path) -> None:
    """lendkit is not on the package index: tox.ini installs it from where it runs now."""
    checkout = Path(lendkit.__file__).resolve().parents[1]
    assert (checkout / "pyproject.toml").is_file()  # this suite runs from a source checkout
    for url, extra in (("sqlite:///acme.db", ""), ("postgresql://u:p@h/acme", "[postgres]")):
        assert run("new", "acme", "--db", url, "--force").exit_code == 0
        tox = configparser.ConfigParser()
        tox.read(here / "acme" / "tox.ini")
        assert tox["testenv"]["deps"].split() == [f"{checkout}{extra}"]
    pyproject = tomllib.loads((checkout / "pyproject.toml").read_text())
    assert pyproject["project"]["name"] == "lendkit"


def test_generated_project_opens_from_its_settings(here: Path) -> None:
    result = run("new", "acme-lending", "--currency", "usd", "--db", "sqlite:///data/books.db")
    assert result.exit_code == 0, result.output
    project = here / "acme-lending"
    (project / "data").mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "acme_lending"],
        cwd=project,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert f"acme-lending on sqlite:///{project / 'data' / 'books.db'}" in done.stdout
    assert "plugins:  online, acme_lending.hooks" in done.stdout
    assert "currency: USD" in done.stdout
    assert "ledger:   verified" in done.stdout
    answers = json.loads((project / ANSWERS_FILE).read_text())["answers"]
    assert answers["currency"] == "USD" and answers["db"] == "sqlite:///data/books.db"


def test_postgres_url_adds_the_driver_extra(here: Path) -> None:
    url = "postgresql+psycopg://app:secret@db.internal/acme"
    assert run("new", "acme", "--db", url).exit_code == 0
    pyproject = tomllib.loads((here / "acme" / "pyproject.toml").read_text())
    assert pyproject["project"]["dependencies"] == [f"lendkit[postgres]>={lendkit.__version__}"]
    settings = tomllib.loads((here / "acme" / "settings.toml").read_text())
    assert settings["platform"]["database_url"] == url


def test_force_writes_template_files_and_keeps_others(here: Path) -> None:
    assert run("new", "acme").exit_code == 0
    project = here / "acme"
    (project / "settings.toml").write_text("# edited\n")
    (project / "notes.txt").write_text("mine")
    refused = run("new", "acme")
    assert_one_line_error(refused, "already exists", "--force")
    assert (project / "settings.toml").read_text() == "# edited\n"
    assert run("new", "acme", "--force").exit_code == 0
    assert "[platform]" in (project / "settings.toml").read_text()
    assert (project / "notes.txt").read_text() == "mine"


def test_regenerates_from_recorded_answers(here: Path) -> None:
    assert run("new", "acme", "--currency", "EUR", "--db", "sqlite:///ledger.db").exit_code == 0
    project = here / "acme"
    before = {p: (project / p).read_text() for p in PROJECT_FILES}
    shutil.copy(project / ANSWERS_FILE, here / "answers.json")
    shutil.rmtree(project)
    assert run("new", "--answers", "answers.json").exit_code == 0
    assert {p: (project / p).read_text() for p in PROJECT_FILES} == before
    # an option given on the command line overrides the recorded answer
    assert run("new", "--answers", "answers.json", "--currency", "JPY", "--force").exit_code == 0
    assert 'currency = "JPY"' in (project / "settings.toml").read_text()


def test_existing_empty_folder_is_used(here: Path) -> None:
    (here / "acme").mkdir()
    assert run("new", "acme").exit_code == 0
    assert files_under(here / "acme") == PROJECT_FILES


# -- refusals ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("Acme", "is not valid"),
        ("1acme", "is not valid"),
        ("ac me", "is not valid"),
        ("acme--x", "is not valid"),
        ("acme-", "is not valid"),
        ("../evil", "is not valid"),
        ("a" * 41, "longer than 40"),
        ("class", "Python keyword"),
        ("json", "would shadow"),
        ("lendkit", "would shadow"),
        ("tests", "would shadow"),
        ("sqlalchemy", "would shadow"),
        ("hypothesis", "already the importable module"),
    ],
)
def test_bad_names_are_refused(here: Path, name: str, fragment: str) -> None:
    assert_one_line_error(run("new", name), fragment)
    assert_one_line_error(run("new-plugin", name), fragment)
    assert list(here.iterdir()) == []


def test_unknown_plugin_is_refused_listing_the_available_ones(here: Path) -> None:
    line = assert_one_line_error(
        run("new", "acme", "--plugins", "online,acme-magic"), "unknown plugin 'acme-magic'"
    )
    assert f"available: {', '.join(sorted(available_plugins()))}" in line
    assert not (here / "acme").exists()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--currency", "XYZ"], "currency 'XYZ' is not known: use one of CNY, EUR, GBP, JPY, USD"),
        (["--db", "mysql://x/y"], "backend 'mysql' is not supported"),
        (["--db", "not a url"], "is not valid"),
        (["--db", "sqlite://"], "in-memory SQLite"),
        (["--plugins", ","], "names no plugin"),
    ],
)
def test_bad_options_are_refused(here: Path, args: list[str], fragment: str) -> None:
    assert_one_line_error(run("new", "acme", *args), fragment)
    assert not (here / "acme").exists()


def test_name_or_answers_required(here: Path) -> None:
    assert_one_line_error(run("new"), "give the project NAME")
    assert_one_line_error(run("new-plugin"), "give the plugin NAME")
    (here / "bad.json").write_text("{}")
    assert_one_line_error(run("new", "--answers", "bad.json"), "has no 'answers' object")
    assert run("new-plugin", "acme-scoring").exit_code == 0
    answers = "acme-scoring/.lendkit-answers.json"
    assert_one_line_error(run("new", "--answers", answers), "template 'plugin', not 'project'")


def test_existing_file_is_refused(here: Path) -> None:
    (here / "acme").write_text("a file")
    assert_one_line_error(run("new", "acme"), "is not a folder")


def test_refusal_from_the_real_command_line_has_no_traceback(here: Path) -> None:
    (here / "acme").mkdir()
    (here / "acme" / "keep.txt").write_text("x")
    for args in (["new", "Bad Name"], ["new", "acme"], ["new", "ok", "--plugins", "nope"]):
        done = subprocess.run(
            [sys.executable, "-c", "from lendkit.cli import main; main()", *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert sorted(p.name for p in here.iterdir()) == ["acme"]
    assert files_under(here / "acme") == {"keep.txt"}


# -- lendkit new-plugin -------------------------------------------------------------------------------


def test_new_plugin_creates_exactly_the_package(here: Path) -> None:
    result = run("new-plugin", "acme-scoring")
    assert result.exit_code == 0, result.output
    package = here / "acme-scoring"
    assert files_under(package) == PLUGIN_FILES
    pyproject = tomllib.loads((package / "pyproject.toml").read_text())
    assert pyproject["project"]["name"] == "acme-scoring"
    assert pyproject["project"]["entry-points"]["lendkit.plugins"] == {
        "acme-scoring": "acme_scoring"
    }
    source = (package / "src" / "acme_scoring" / "__init__.py").read_text()
    compile(source, "__init__.py", "exec")
    assert 'lendkit_plugin_name = "acme-scoring"' in source
    assert "lendkit.core.hookspecs" in source
    assert "#   lendkit_assess_credit(ctx, party_id, verified, reports)" in source
    answers = json.loads((package / ANSWERS_FILE).read_text())
    assert answers["template"] == "plugin" and answers["answers"] == {"name": "acme-scoring"}


def test_generated_plugin_tests_pass(here: Path) -> None:
    assert run("new-plugin", "acme-scoring").exit_code == 0
    env = postgres_env()
    done = pytest_in(here / "acme-scoring", **env)
    assert done.returncode == 0, done.stdout + done.stderr
    expected = 12 if env else 6
    assert f"{expected} passed" in done.stdout, done.stdout


def test_generated_plugin_loads_by_name_without_installing(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run("new-plugin", "acme-scoring").exit_code == 0
    monkeypatch.syspath_prepend(str(here / "acme-scoring" / "src"))
    monkeypatch.delitem(sys.modules, "acme_scoring", raising=False)
    try:
        loads_by_name(here, monkeypatch)
    finally:
        sys.modules.pop("acme_scoring", None)


def loads_by_name(here: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ep = importlib.metadata.EntryPoint(
        name="acme-scoring", value="acme_scoring", group=plugin_manager.ENTRY_POINT_GROUP
    )
    monkeypatch.setattr(plugin_manager, "entry_points", lambda *, group: [ep])
    listed = json.loads(run("plugins", "--json").stdout)
    assert listed["acme-scoring"] == {
        "module": "acme_scoring",
        "builtin": False,
        "source": "entry point",
    }
    with lendkit.Platform.open(
        f"sqlite:///{here / 'x.db'}", plugins=["online", "acme-scoring"]
    ) as platform:
        assert platform.pm.has_plugin("acme-scoring")
        assert "acme-scoring" in platform.products
    # the same name again is taken now
    assert_one_line_error(run("new-plugin", "online"), "already taken by lendkit.plugins.online")


@pytest.mark.slow
def test_fresh_virtualenv_as_a_new_user(tmp_path: Path) -> None:
    """The issue's walk-through: new project + README commands; new plugin, installed, listed.

    The virtualenv sees nothing outside itself (no system site-packages): lendkit is installed
    into it from the checkout under test, then the scaffolded project, as a new user would. Run
    inside tox, the "system" site-packages would be the base interpreter's, which on a fresh
    machine has no lendkit.
    """
    env_dir = tmp_path / "venv"
    venv.create(env_dir, system_site_packages=False, with_pip=True)
    python = str(env_dir / "bin" / "python")
    env = clean_env(VIRTUAL_ENV=str(env_dir), PATH=f"{env_dir / 'bin'}:{os.environ['PATH']}")
    env.pop("PYTHONPATH", None)

    def sh(*args: str, cwd: Path = tmp_path) -> str:
        done = subprocess.run(
            list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, f"{args}\n{done.stdout}\n{done.stderr}"
        return done.stdout

    checkout = Path(lendkit.__file__).resolve().parents[1]
    assert "not importable" in sh(
        python,
        "-c",
        "import importlib.util as u; print(u.find_spec('lendkit') or 'not importable')",
    )
    sh(python, "-m", "pip", "install", "-q", "-e", str(checkout), "pytest>=8")
    assert sh(python, "-c", "import lendkit; print(lendkit.__file__)").startswith(str(checkout))
    cli = [python, "-c", "from lendkit.cli import main; main()"]
    sh(*cli, "new", "acme", "--plugins", "online")
    sh(python, "-m", "pip", "install", "-q", "-e", ".", cwd=tmp_path / "acme")
    assert "acme on sqlite:///" in sh(python, "-m", "acme", cwd=tmp_path / "acme")
    assert "2 passed" in sh(
        python, "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=tmp_path / "acme"
    )

    sh(*cli, "new-plugin", "acme-scoring")
    sh(python, "-m", "pip", "install", "-q", "--no-deps", "-e", ".", cwd=tmp_path / "acme-scoring")
    listed = json.loads(sh(*cli, "plugins", "--json"))
    assert listed["acme-scoring"]["source"] == "entry point"
    check = "import lendkit; p = lendkit.Platform.open('sqlite:///t.db', ['online', 'acme-scoring']); print(sorted(p.products))"
    assert "acme-scoring" in sh(python, "-c", check)


def test_cli_reference_documents_every_command() -> None:
    reference = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text()
    for name, command in main.commands.items():
        if isinstance(command, click.Group):
            for sub in command.commands:
                assert f"lendkit {name} {sub}" in reference, (
                    f"docs/cli.md lacks `lendkit {name} {sub}`"
                )
        else:
            assert f"\n## lendkit {name}\n" in reference, f"docs/cli.md lacks `## lendkit {name}`"


def test_root_db_option_is_honoured_but_not_the_environment(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``new`` opens no database: its --db is the URL written into the new project's settings.

    ``lendkit --db URL new NAME`` means the same as ``new NAME --db URL``, but
    ``LENDKIT_DATABASE_URL`` names the database one works on now, not the new project's, so it is
    not used (tests/cli/test_db_option.py lists ``new`` among the commands that open none).
    """
    monkeypatch.setenv("LENDKIT_DATABASE_URL", "sqlite:///from-env.db")
    assert run("--db", "sqlite:///root.db", "new", "one").exit_code == 0
    assert run("new", "two").exit_code == 0
    urls = [
        tomllib.loads((here / n / "settings.toml").read_text())["platform"]["database_url"]
        for n in ("one", "two")
    ]
    assert urls == ["sqlite:///root.db", "sqlite:///two.db"]
