"""`bridge cron-line`: the crontab line that runs `bridge sync` for this installation, on a host without
systemd or root (shared hosting with SSH and cron).

The line names everything absolutely (this bridge's executable, the `.env`, the folder it runs in and the
log), because cron starts commands with an almost empty environment. It needs no `flock`: `bridge sync`
takes the state folder's lock itself (`bridge/lock.py`, flock(2) underneath, released by the kernel even
when a run is killed), so a run that starts while the previous one is still busy exits at once with 75
("another bridge is running") and a line in the log; the outbox's row claims keep every email single even
without the lock. The log rotates by size in the line itself (no logrotate on most shared hosts): past
1 MB the file becomes `bridge.log.1`, replacing the older one, so the two never hold more than about 2 MB.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Final

from bridge.commands.systemd import bridge_command

ROTATE_BYTES: Final = 1_000_000
LOG_NAME: Final = "bridge.log"


def bridge_argv() -> list[str]:
    """This installation's bridge as an absolute command, found as `bridge systemd-unit` finds it (the
    script beside this interpreter, else the one on PATH, else this interpreter with `-m bridge`)."""
    command = bridge_command()
    module = " -m bridge"
    return [command.removesuffix(module), "-m", "bridge"] if command.endswith(module) else [command]


def schedule(every_minutes: int) -> str:
    """`*/5 * * * *` for every 5 minutes; `* * * * *` for every minute."""
    if not 1 <= every_minutes <= 59:
        raise ValueError(f"every {every_minutes} minutes: between 1 and 59")
    return "* * * * *" if every_minutes == 1 else f"*/{every_minutes} * * * *"


def log_path(env_file: Path) -> Path:
    return env_file.absolute().parent / LOG_NAME


def cron_line(env_file: Path, *, every_minutes: int = 5, argv: list[str] | None = None) -> str:
    """One crontab line: in the `.env`'s folder, rotate the log if it is over ROTATE_BYTES, then run
    `bridge --env-file ENV sync` with its output appended to the log.

    `%` is escaped (cron would turn it into a newline); everything else is quoted for /bin/sh.
    """
    env = env_file.absolute()
    folder, log = env.parent, log_path(env)
    command = shlex.join([*(argv or bridge_argv()), "--env-file", str(env), "sync"])
    quoted = shlex.quote(str(log))
    rotate = (
        f'if [ -f {quoted} ] && [ "$(wc -c < {quoted})" -gt {ROTATE_BYTES} ];'
        f" then mv -f {quoted} {shlex.quote(str(log) + '.1')} 2>/dev/null; fi"
    )
    run = f"{command} >> {quoted} 2>&1"
    line = f"{schedule(every_minutes)} cd {shlex.quote(str(folder))} && {{ {rotate}; {run}; }}"
    return line.replace("%", "\\%")


def command_of(line: str) -> str:
    """What cron hands to /bin/sh for `line`: the five time fields dropped, `\\%` back to `%`."""
    return line.split(None, 5)[5].replace("\\%", "%")
