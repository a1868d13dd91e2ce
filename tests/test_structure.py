"""The layering, proven with the import system rather than by searching text.

- The planner (bridge.plan) and the plain data (bridge.model) stay pure: importing every one of their
  modules in a fresh interpreter loads no HTTP, SQL, template or SMTP library and none of the layers that
  do I/O. A test of the planner can then run without servers, and a change there cannot reach the shop.
- SQL lives in bridge/state/ only: no other module imports sqlalchemy (or alembic, which drives it).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BRIDGE = ROOT / "bridge"
PURE_PACKAGES = ("plan", "model")
# What a pure module must not load, directly or through anything it imports.
IO_MODULES = (
    "requests",
    "sqlalchemy",
    "jinja2",
    "smtplib",
    "bridge.shop",
    "bridge.state",
    "bridge.delivery",
    "bridge.cycle",
    "bridge.web",
    "bridge.commands",
)
SQL_LIBRARIES = frozenset({"sqlalchemy", "alembic"})

# Run in a fresh interpreter: imports the modules named in argv one by one and reports, for every
# forbidden module loaded at the end, the first pure module whose import brought it in.
_PROBE = """
import importlib, json, sys
forbidden = json.loads(sys.argv[1])
blamed = {}
for name in sys.argv[2:]:
    before = set(sys.modules)
    importlib.import_module(name)
    for loaded in set(sys.modules) - before:
        for bad in forbidden:
            if loaded == bad or loaded.startswith(bad + "."):
                blamed.setdefault(bad, name)
left = sorted(bad for bad in forbidden if any(m == bad or m.startswith(bad + ".") for m in sys.modules))
print(json.dumps({"loaded": left, "blamed": blamed}))
"""


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def pure_modules() -> list[str]:
    return sorted(module_name(path) for package in PURE_PACKAGES for path in (BRIDGE / package).rglob("*.py"))


def sql_imports(path: Path) -> list[str]:
    """`file:line module` for each import of a SQL library in the file (relative imports cannot be one)."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        rel = path.relative_to(ROOT)
        found += [f"{rel}:{node.lineno} {name}" for name in names if name.split(".")[0] in SQL_LIBRARIES]
    return found


def test_the_planner_and_the_plain_data_load_no_io_library_and_no_io_layer() -> None:
    modules = pure_modules()
    assert {"bridge.plan.orders", "bridge.plan.carts", "bridge.model.records"} <= set(modules)
    probe = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(IO_MODULES), *modules],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr
    report = json.loads(probe.stdout)
    blamed = ", ".join(f"{bad} (first loaded by {who})" for bad, who in sorted(report["blamed"].items()))
    assert report["loaded"] == [], f"pure modules load I/O modules: {blamed}"


def test_only_the_state_store_imports_sqlalchemy() -> None:
    state = BRIDGE / "state"
    outside = [
        found
        for path in sorted(BRIDGE.rglob("*.py"))
        if not path.is_relative_to(state)
        for found in sql_imports(path)
    ]
    assert outside == [], "SQL outside bridge/state/:\n" + "\n".join(outside)


def test_the_sql_import_check_does_see_the_state_stores_imports() -> None:
    """Guards the check above against passing for the wrong reason (a scan that finds nothing at all)."""
    assert any(
        "sqlalchemy" in found for path in (BRIDGE / "state").rglob("*.py") for found in sql_imports(path)
    )
