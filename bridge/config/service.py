"""How `bridge run` behaves over time: how often it polls, how much it logs, whom it alerts and when."""

from __future__ import annotations

from datetime import timedelta
from email.headerregistry import Address
from typing import TypedDict

from bridge.config.parse import parse_address, parse_choice, parse_duration
from bridge.config.reader import Reader, Setting

ADMIN_EMAIL = Setting(
    "ADMIN_EMAIL",
    "",
    parse_address,
    "Who gets the owner's alerts (sending paused, the shop unreachable). Empty: nobody; `bridge status`"
    " still shows them.",
)
ALERT_AFTER = Setting(
    "ALERT_AFTER",
    "15m",
    parse_duration(timedelta(minutes=1), timedelta(days=1)),
    "How long the shop may stay unreachable before ADMIN_EMAIL is told (a sending pause is told at once).",
)
POLL_INTERVAL = Setting(
    "POLL_INTERVAL",
    "60s",
    parse_duration(timedelta(seconds=10), timedelta(seconds=86400)),
    "How often `bridge run` polls.",
)
LOG_LEVEL = Setting(
    "LOG_LEVEL", "INFO", parse_choice("DEBUG", "INFO", "WARNING", "ERROR"), "How much the bridge logs."
)


class ServiceFields(TypedDict):
    admin_email: Address | None
    alert_after: timedelta
    poll_interval: timedelta
    log_level: str


def service_fields(reader: Reader) -> ServiceFields:
    """Asked once there is no problem."""
    return ServiceFields(
        admin_email=reader.read(ADMIN_EMAIL),
        alert_after=reader.value(ALERT_AFTER),
        poll_interval=reader.value(POLL_INTERVAL),
        log_level=reader.value(LOG_LEVEL),
    )
