#!/usr/bin/env python3
"""One entry point for people and CI, with nothing but Python 3.11+ installed.

    python3 dev.py demo        run the bridge on the embedded demo shop (no configuration needed)
    python3 dev.py test [ARGS] run the whole test suite (ARGS go to pytest)
    python3 dev.py lint        ruff check, ruff format --check, mypy
    python3 dev.py bench NAME  run benchmarks/NAME.py

Each command creates `.venv` beside this file on first use and reinstalls the project into it
whenever pyproject.toml changes, so a fresh clone needs no other setup step.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("BRIDGE_DEV_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"


def ensure_venv() -> None:
    """Create the virtual environment and install the project (with dev extras) when it is stale."""
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py runs on whatever python3 the machine has
        sys.exit(f"Python 3.11 or newer is needed; this is {sys.version.split()[0]}.")
    stamp = VENV / ".bridge-installed"
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == wanted and PYTHON.exists():
        return
    if not PYTHON.exists():
        print(f"Creating a virtual environment in {VENV} …", file=sys.stderr)
        venv.EnvBuilder(with_pip=True, clear=False).create(VENV)
    print("Installing the bridge and its test tools into it …", file=sys.stderr)
    pip = [str(PYTHON), "-m", "pip", "--disable-pip-version-check", "-q"]
    # setuptools too: the one Python 3.11's venv brings (65.5) has known vulnerabilities (tools/audit.py).
    subprocess.run([*pip, "install", "--upgrade", "pip", "setuptools"], check=True)
    subprocess.run([*pip, "install", "-e", f"{ROOT}[dev]"], check=True)
    stamp.write_text(wanted)


def run(*args: str) -> int:
    return subprocess.run(list(args), cwd=ROOT).returncode


def main(argv: list[str]) -> int:
    command, rest = (argv[0], argv[1:]) if argv else ("help", [])
    if command in {"help", "-h", "--help"}:
        print(__doc__)
        return 0
    ensure_venv()
    if command == "demo":
        return run(str(BIN / "bridge"), "demo", *rest)
    if command == "test":
        return run(str(PYTHON), "-m", "pytest", *rest)
    if command == "lint":
        checks = [
            [str(BIN / "ruff"), "check", "."],
            [str(BIN / "ruff"), "format", "--check", "."],
            [str(BIN / "mypy")],
        ]
        return max(run(*check) for check in checks)
    if command == "bench":
        if not rest:
            names = sorted(p.stem for p in (ROOT / "benchmarks").glob("*.py") if not p.stem.startswith("_"))
            print("benchmarks:", ", ".join(names) or "none")
            return 0
        return run(str(PYTHON), str(ROOT / "benchmarks" / f"{rest[0]}.py"), *rest[1:])
    print(f"unknown command {command!r}\n{__doc__}", file=sys.stderr)
    return 64


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
