"""The systemd units shipped with the bridge: they verify, they sandbox, and they point at this bridge.

`systemd-analyze verify` needs the systemd package (CI: `apt-get install -y systemd`); it checks every
directive and that ExecStart's binary exists, which is why each unit is verified as `unit_text` prints it
for this installation. Running the service under systemd itself needs a machine booted with systemd;
tests/test_service.py runs `bridge run` as a subprocess and sends it SIGTERM instead.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from bridge.commands.systemd import SHIPPED_EXECUTABLE, UNITS, bridge_command, unit_text


def directives(text: str) -> dict[str, list[str]]:
    """`Key` → every value it is given (systemd allows a key more than once), comments skipped."""
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None and not os.environ.get("CI"),
    reason="systemd-analyze is not installed here (.ci/run installs it, and in CI this check never skips)",
)
@pytest.mark.parametrize("name", UNITS)
def test_each_shipped_unit_verifies_without_a_single_warning(name: str, tmp_path: Path) -> None:
    for unit in UNITS:  # the timer is verified next to the service it starts
        (tmp_path / unit).write_text(unit_text(unit))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / name)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # verify exits 0 on unknown keys and bad values, and only warns: a warning is a failure here.
    assert (result.returncode, result.stderr, result.stdout) == (0, "", "")


def test_the_printed_unit_starts_this_installations_bridge() -> None:
    [exec_start] = directives(unit_text("bridge.service"))["ExecStart"]
    command = shlex.split(exec_start)
    assert command[-1] == "run" and SHIPPED_EXECUTABLE not in exec_start
    assert Path(command[0]).is_absolute() and os.access(command[0], os.X_OK)
    assert exec_start == f"{bridge_command()} run"
    [sync_start] = directives(unit_text("bridge-sync.service"))["ExecStart"]
    assert sync_start == f"{bridge_command()} sync"


def test_the_service_is_sandboxed_and_restarts_except_after_a_configuration_error() -> None:
    unit = directives(unit_text("bridge.service"))
    expected = {
        "ProtectSystem": ["strict"],
        "ProtectHome": ["yes"],
        "PrivateTmp": ["yes"],
        "NoNewPrivileges": ["yes"],
        "User": ["prestashop-mail-bridge"],
        "RestrictAddressFamilies": ["AF_INET AF_INET6 AF_UNIX"],
        "Restart": ["on-failure"],
        "RestartPreventExitStatus": ["78"],
        "StateDirectory": ["prestashop-mail-bridge"],
        "StateDirectoryMode": ["0700"],
        "EnvironmentFile": ["/etc/prestashop-mail-bridge/bridge.env"],
    }
    assert {key: unit.get(key) for key in expected} == expected
    assert "Type" in unit and unit["Type"] == ["exec"]


def test_the_timer_runs_sync_as_the_same_user_with_the_same_state_and_lock() -> None:
    service = directives(unit_text("bridge.service"))
    sync = directives(unit_text("bridge-sync.service"))
    timer = directives(unit_text("bridge-sync.timer"))
    for key in ("User", "Group", "StateDirectory", "EnvironmentFile", "ProtectSystem"):
        assert sync[key] == service[key]
    assert sync["Type"] == ["oneshot"]
    assert sync["SuccessExitStatus"] == ["75"]  # "another bridge is running" is not a failed unit
    assert timer["OnUnitInactiveSec"] == ["5min"] and timer["WantedBy"] == ["timers.target"]


def test_both_units_take_the_per_shop_lock_in_one_runtime_folder_that_outlives_each_run() -> None:
    # PrivateTmp gives each unit its own /tmp: the shop lock must live where both units see it.
    for name in ("bridge.service", "bridge-sync.service"):
        unit = directives(unit_text(name))
        assert unit["PrivateTmp"] == ["yes"]
        assert unit["RuntimeDirectory"] == ["prestashop-mail-bridge"]
        assert unit["RuntimeDirectoryMode"] == ["0700"]
        assert unit["RuntimeDirectoryPreserve"] == ["yes"]  # a finished sync must not remove run's lock
        assert unit["Environment"] == ["XDG_RUNTIME_DIR=%t"]


def test_a_bridge_installed_under_a_home_directory_may_still_read_it_and_only_read_it() -> None:
    unit = directives(unit_text("bridge.service", command="/home/zofia/.venv/bin/bridge"))
    assert unit["ExecStart"] == ["/home/zofia/.venv/bin/bridge run"]
    assert unit["ProtectHome"] == ["read-only"]
    assert directives(unit_text("bridge.service", command="/opt/bridge/bin/bridge"))["ProtectHome"] == ["yes"]


def test_asking_for_a_unit_that_does_not_exist_names_the_ones_that_do() -> None:
    with pytest.raises(ValueError, match=r"bridge\.service, bridge-sync\.service, bridge-sync\.timer"):
        unit_text("bridge.socket")
