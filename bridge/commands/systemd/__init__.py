"""The systemd units shipped with the bridge, printed by `bridge systemd-unit` for this installation."""

from __future__ import annotations

import shutil
import sys
from importlib.resources import files
from pathlib import Path
from typing import Final

UNITS: Final = ("bridge.service", "bridge-sync.service", "bridge-sync.timer")
# The path the shipped files name; `unit_text` puts this installation's bridge in its place.
SHIPPED_EXECUTABLE: Final = "/usr/local/bin/bridge"
HOMES: Final = ("/home/", "/root/", "/run/user/")


def bridge_command() -> str:
    """The absolute command that starts this installation's bridge (systemd needs an absolute path).

    The `bridge` script next to this interpreter first (a virtualenv or pipx install), then the one on
    PATH, else this interpreter with `-m bridge`. Symlinks are kept: resolving a virtualenv's python
    would leave the virtualenv.
    """
    beside = Path(sys.executable).parent / "bridge"
    if beside.is_file():
        return str(beside.absolute())
    found = shutil.which("bridge")
    if found:
        return str(Path(found).absolute())
    return f"{Path(sys.executable).absolute()} -m bridge"


def unit_text(name: str, *, command: str | None = None) -> str:
    """The unit file `name` (one of UNITS) with ExecStart pointing at `command` (default: this bridge).

    A bridge installed under a home directory (a virtualenv in ~) could not start with ProtectHome=yes,
    so the printed unit lets it read (only read) the homes then.
    """
    if name not in UNITS:
        raise ValueError(f"no unit {name!r}; one of {', '.join(UNITS)}")
    command = command or bridge_command()
    text = files(__package__).joinpath(name).read_text(encoding="utf-8")
    text = text.replace(f"ExecStart={SHIPPED_EXECUTABLE} ", f"ExecStart={command} ")
    if command.startswith(HOMES):
        text = text.replace(
            "ProtectHome=yes\n",
            "# The bridge is installed under a home directory: readable, not writable, by the service.\n"
            "ProtectHome=read-only\n",
        )
    return text
