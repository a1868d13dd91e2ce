"""The container's health check: healthy while `bridge run` holds its lock and polled the shop recently.

Run with the bridge's own interpreter (/opt/bridge/bin/python in the image). It asks `bridge status
--json` (the owner's own view) and says why in one line when unhealthy. A poll that reached the shop and
failed still counts as a poll: a shop that is down is not cured by restarting the bridge; the owner's
alerts and `bridge status` tell about it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

SLACK_SECONDS = 60  # a poll in flight may take PRESTASHOP_TIMEOUT (20 s) and its retries


def verdict(status: dict[str, Any]) -> str | None:
    """None when healthy, else the reason."""
    if not status.get("exists", True):
        return "no state store yet: the bridge has not polled the shop"
    if not status.get("running"):
        return "no bridge is running on this state folder"
    age = (status.get("last_poll") or {}).get("age_seconds")
    limit = 3 * int(status.get("poll_interval_seconds") or 60) + SLACK_SECONDS
    if age is None or age > limit:
        return f"the last poll was {age} s ago (more than {limit} s)"
    return None


def main() -> int:
    try:
        result = subprocess.run(
            [sys.executable, "-m", "bridge", "status", "--json"],
            capture_output=True,
            text=True,
            timeout=25,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        print(f"unhealthy: bridge status did not answer: {error}")  # noqa: T201
        return 1
    if result.returncode != 0:
        print(f"unhealthy: {result.stderr.strip() or 'bridge status failed'}")  # noqa: T201
        return 1
    reason = verdict(json.loads(result.stdout))
    print(f"unhealthy: {reason}" if reason else "healthy")  # noqa: T201
    return 1 if reason else 0


if __name__ == "__main__":
    sys.exit(main())
