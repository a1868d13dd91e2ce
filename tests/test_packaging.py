"""The wheel an owner installs with pip carries everything the bridge reads at run time.

Templates and Alembic migrations are data files, not modules: a packaging mistake leaves them out, every
test run from the source tree still passes, and the installed bridge fails on its first email or its first
start. So this test builds the real wheel, installs it into an empty folder and runs the bridge from there,
outside the source tree, with the editable install out of the way.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# What pip prints when it cannot reach PyPI to fetch the build backend (hatchling).
NO_NETWORK = re.compile(
    r"Failed to establish a new connection|Temporary failure in name resolution|Name or service not known"
    r"|Network is unreachable|No matching distribution found for hatchling"
    r"|Could not find a version that satisfies the requirement hatchling|ProxyError|timed out",
    re.IGNORECASE,
)

TEMPLATE_FILES = [
    f"bridge/templates/{language}/order_confirmation.{part}"
    for language in ("pl", "en")
    for part in ("subject.txt", "txt", "html")
] + ["bridge/templates/layout.html"]
MIGRATION_FILES = [
    "bridge/state/migrations/env.py",
    "bridge/state/migrations/script.py.mako",
    "bridge/state/migrations/versions/0001_initial.py",
]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`pip wheel .` exactly as a packager runs it (hatchling fetched into an isolated build env)."""
    out = tmp_path_factory.mktemp("dist")
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--disable-pip-version-check",
            "-w",
            str(out),
            ".",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if build.returncode != 0:
        output = build.stdout + build.stderr
        if NO_NETWORK.search(output):
            last = next((line for line in reversed(output.splitlines()) if line.strip()), "")
            pytest.skip(
                f"cannot build the wheel: pip could not download hatchling from PyPI (no network?): {last}"
            )
        pytest.fail(f"pip wheel failed (exit {build.returncode}):\n{output[-4000:]}")
    wheels = list(out.glob("prestashop_mail_bridge-*.whl"))
    assert len(wheels) == 1, f"expected one wheel, pip wrote {sorted(p.name for p in out.iterdir())}"
    return wheels[0]


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel installed with pip into an empty folder (no dependencies: the venv has them)."""
    site = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "--disable-pip-version-check",
            "--target",
            str(site),
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return site


def wheel_names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def test_the_wheel_carries_the_templates_of_every_shipped_language(wheel: Path) -> None:
    names = wheel_names(wheel)
    missing = [name for name in TEMPLATE_FILES if name not in names]
    assert missing == []


def test_the_wheel_carries_the_alembic_migrations(wheel: Path) -> None:
    names = wheel_names(wheel)
    assert [name for name in MIGRATION_FILES if name not in names] == []
    assert any(re.fullmatch(r"bridge/state/migrations/versions/0002_\w+\.py", name) for name in names)


def test_the_wheel_installs_the_bridge_command(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        [entry_points] = [n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt")]
        text = archive.read(entry_points).decode()
    assert "[console_scripts]" in text
    assert re.search(r"^bridge\s*=\s*bridge\.cli:main\s*$", text, re.MULTILINE), text


def test_the_wheel_ships_no_tests_or_benchmarks(wheel: Path) -> None:
    stray = sorted(n for n in wheel_names(wheel) if n.startswith(("tests/", "benchmarks/", ".venv/")))
    assert stray == []


INSTALLED_CHECK = """
import json, sys
from pathlib import Path
from sqlalchemy import inspect
import bridge, bridge.mail.render, bridge.state.store, bridge.mail.lint
from alembic.script import ScriptDirectory

database = Path(sys.argv[1])
with bridge.state.store.open_store(f"sqlite:///{database}") as store:
    with store.read() as conn:
        tables = sorted(inspect(conn).get_table_names())
print(json.dumps({
    "bridge": bridge.__file__,
    "templates": str(bridge.mail.render.shipped_templates_dir()),
    "migrations": str(bridge.state.store.MIGRATIONS),
    "head": ScriptDirectory.from_config(bridge.state.store.alembic_config()).get_current_head(),
    "problems": [str(problem) for problem in bridge.mail.lint.lint_templates()],
    "tables": tables,
}))
"""


@pytest.fixture(scope="module")
def from_the_wheel(installed: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Import the installed bridge in a fresh interpreter, outside the source tree.

    `-S` keeps site-packages' .pth files out, and with them the editable install that points at the
    source tree; the venv's site-packages is on PYTHONPATH for the dependencies only.
    """
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    venv_site = sysconfig.get_paths()["purelib"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(installed), venv_site])}
    env.pop("PYTHONHOME", None)
    run = subprocess.run(
        [sys.executable, "-S", "-c", INSTALLED_CHECK, str(elsewhere / "x.sqlite3")],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    report: dict[str, object] = json.loads(run.stdout.strip().splitlines()[-1])
    report["database"] = str(elsewhere / "x.sqlite3")
    return report


def test_the_installed_bridge_is_imported_from_the_install_not_the_source_tree(
    installed: Path, from_the_wheel: dict[str, object]
) -> None:
    assert Path(str(from_the_wheel["bridge"])).is_relative_to(installed)


def test_the_installed_bridge_finds_its_templates_inside_the_install(
    installed: Path, from_the_wheel: dict[str, object]
) -> None:
    templates = Path(str(from_the_wheel["templates"]))
    assert templates.is_relative_to(installed)
    assert (templates / "pl" / "order_confirmation.html").is_file()


def test_the_installed_templates_render_every_kind_without_a_problem(
    from_the_wheel: dict[str, object],
) -> None:
    assert from_the_wheel["problems"] == []


def test_the_installed_bridge_creates_and_migrates_its_state_store(
    installed: Path, from_the_wheel: dict[str, object]
) -> None:
    assert Path(str(from_the_wheel["migrations"])).is_relative_to(installed)
    with sqlite3.connect(str(from_the_wheel["database"])) as conn:
        [(version,)] = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    conn.close()
    assert version == from_the_wheel["head"]
    tables = from_the_wheel["tables"]
    assert isinstance(tables, list)
    assert {"cursors", "orders_seen", "outbox", "outbox_attempts"} <= set(tables)
