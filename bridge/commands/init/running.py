"""How the bridge will run where `bridge init` was started: the bridge's container image, a systemd machine
(installed as a service with the owner's consent, as root), or cron for everyone else.

The choice decides one setting before the `.env` is written (STATE_DIR: the image's volume, systemd's
StateDirectory, or a `state` folder beside the `.env`) and the one command the wizard ends with.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from bridge.commands.cron import cron_line, log_path
from bridge.commands.systemd import unit_text
from bridge.errors import ConfigError

Way = Literal["container", "systemd", "cron"]
# Set by the Dockerfile: the bridge runs from its own image (any other container is just a Linux host).
IMAGE_VARIABLE: Final = "BRIDGE_IMAGE"
SERVICE_USER: Final = "prestashop-mail-bridge"
SERVICE_STATE: Final = "/var/lib/prestashop-mail-bridge"
SERVICE_CONFIG: Final = "/etc/prestashop-mail-bridge"
SERVICE_ENV: Final = f"{SERVICE_CONFIG}/bridge.env"
UNIT_PATH: Final = "/etc/systemd/system/bridge.service"
CONTAINER_VOLUME: Final = "prestashop-mail-bridge-state"

Runner = Callable[[list[str]], None]


@dataclass(frozen=True)
class Host:
    """What the wizard found about the machine it runs on."""

    image: str | None  # the bridge's container image, when running inside it
    systemd: bool  # booted with systemd (sd_booted: /run/systemd/system exists)
    root: bool

    @classmethod
    def detect(cls, environ: Mapping[str, str] | None = None) -> Host:
        environ = os.environ if environ is None else environ
        return cls(
            image=environ.get(IMAGE_VARIABLE) or None,
            systemd=Path("/run/systemd/system").is_dir(),
            root=os.geteuid() == 0,
        )

    @property
    def can_install_service(self) -> bool:
        return self.image is None and self.systemd and self.root


def state_dir_for(way: Way, env_file: Path) -> str | None:
    """STATE_DIR for the `.env`: None in the image (its environment sets it, and wins over the file)."""
    if way == "container":
        return None
    if way == "systemd":
        return SERVICE_STATE
    return str(env_file.absolute().parent / "state")


def container_command(image: str) -> str:
    return (
        f"docker run -d --name prestashop-mail-bridge --restart unless-stopped --env-file .env"
        f" -v {CONTAINER_VOLUME}:{SERVICE_STATE} {shlex.quote(image)}"
    )


def cron_lines(env_file: Path) -> tuple[str, str]:
    """The crontab line, and where its log goes."""
    return cron_line(env_file), str(log_path(env_file))


def run_command(argv: list[str]) -> None:
    """Run one installation step as given; its failure stops the installation with the step named."""
    try:
        subprocess.run(argv, check=True)  # noqa: S603 - fixed commands with absolute paths of our own
    except (OSError, subprocess.CalledProcessError) as error:
        raise ConfigError(f"installing the service failed at `{shlex.join(argv)}`: {error}") from None


def install_service(
    env_file: Path, *, run: Runner = run_command, user_exists: bool | None = None
) -> list[str]:
    """Install `bridge.service` as the guide's section 7 does, step by step; return the steps run.

    The `.env` (written with STATE_DIR=/var/lib/prestashop-mail-bridge) is copied to /etc, readable by
    root and the service's group only; the unit is this installation's (`bridge systemd-unit`).
    """
    steps: list[list[str]] = []
    if not (_user_exists() if user_exists is None else user_exists):
        steps.append(
            [
                *("useradd", "--system", "--user-group", "--home-dir", SERVICE_STATE),
                *("--shell", "/usr/sbin/nologin", SERVICE_USER),
            ]
        )
    steps.append(["install", "-d", "-m", "0750", "-g", SERVICE_USER, SERVICE_CONFIG])
    steps.append(["install", "-m", "0640", "-g", SERVICE_USER, str(env_file.absolute()), SERVICE_ENV])
    with tempfile.TemporaryDirectory() as folder:
        unit = Path(folder) / "bridge.service"
        unit.write_text(unit_text("bridge.service"), encoding="utf-8")
        steps.append(["install", "-m", "0644", str(unit), UNIT_PATH])
        steps.append(["systemctl", "daemon-reload"])
        steps.append(["systemctl", "enable", "--now", "bridge.service"])
        for step in steps:
            run(step)
    return [shlex.join(step) for step in steps]


def _user_exists() -> bool:
    import pwd

    try:
        pwd.getpwnam(SERVICE_USER)
    except KeyError:
        return False
    return True
