"""Where the bridge keeps what it must not forget: the state directory, the store, the dry-run mail files,
and how long it keeps the personal details of emails it has finished with.

Under systemd, `StateDirectory=` names the directory; the store and the mail files default to inside it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypedDict

from bridge.config.parse import parse_database_url, parse_directory, parse_int
from bridge.config.reader import Reader, Setting

STATE_DIR = Setting(
    "STATE_DIR",
    "./state",
    parse_directory,
    "Where the bridge keeps its state. Default: $STATE_DIRECTORY under systemd, else ./state.",
)
DATABASE_URL = Setting(
    "DATABASE_URL", "", parse_database_url, "The state store. Empty: sqlite:///<STATE_DIR>/bridge.sqlite3."
)
RETENTION_DAYS = Setting(
    "RETENTION_DAYS",
    "90",
    parse_int(1, 3650),
    "Days the store keeps a finished email's personal details (address, name, content); after that only"
    " its record stays, so it is never sent twice. Waiting emails are never purged.",
)
MAIL_FILE_DIR = Setting(
    "MAIL_FILE_DIR", "", parse_directory, "Where MAIL_TRANSPORT=file writes. Empty: STATE_DIR/outbox-eml."
)


class StateFields(TypedDict):
    state_dir: Path
    database_url: str
    retention_days: int
    mail_file_dir: Path


def state_fields(reader: Reader) -> StateFields:
    """Asked once there is no problem."""
    state_dir = reader.read(STATE_DIR)
    if STATE_DIR.name not in reader.given:
        # systemd's StateDirectory= sets this (a colon-separated list when several are configured).
        systemd_state = reader.raw("STATE_DIRECTORY").split(":")[0]
        state_dir = Path(systemd_state) if systemd_state else state_dir
    state_dir = state_dir or Path(STATE_DIR.default)
    return StateFields(
        state_dir=state_dir,
        database_url=reader.read(DATABASE_URL) or f"sqlite:///{state_dir / 'bridge.sqlite3'}",
        retention_days=reader.value(RETENTION_DAYS),
        mail_file_dir=reader.read(MAIL_FILE_DIR) or state_dir / "outbox-eml",
    )
