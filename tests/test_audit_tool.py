"""tools/audit.py judges pip-audit's JSON report: a vulnerability fails, an audit that checked nothing
never passes.

The reports in tests/data/pip-audit/: `unreachable.json` was recorded on a machine whose package mirror
answers 404 to pip-audit's per-version questions (every package skipped, and pip-audit itself said "No
known vulnerabilities found"); `clean.json` and `vulnerable.json` are the same environment in pip-audit's
format with every package checked, and with jinja2 3.1.5 and requests 2.32.3 carrying their advisories.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REPORTS = ROOT / "tests" / "data" / "pip-audit"
TOOL = ROOT / "tools" / "audit.py"


def audit(report: Path, *, required: bool = False) -> tuple[int, str]:
    """Exit code and everything the tool printed, for `report`."""
    env = {key: value for key, value in os.environ.items() if key != "AUDIT_REQUIRED"}
    if required:
        env["AUDIT_REQUIRED"] = "1"
    done = subprocess.run(
        [sys.executable, str(TOOL), "--report", str(report)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


@pytest.mark.parametrize("required", [False, True], ids=["default", "required"])
def test_a_known_vulnerability_fails_and_is_named_with_its_fix(required: bool) -> None:
    code, said = audit(REPORTS / "vulnerable.json", required=required)

    assert code == 1
    lines = said.splitlines()
    assert "VULNERABLE: jinja2 3.1.5: GHSA-cpwx-vrp4-4pq7 (CVE-2025-27516), fixed in 3.1.6" in lines
    assert "VULNERABLE: requests 2.32.3: GHSA-9hjg-9r4m-mvj7 (CVE-2024-47081), fixed in 2.32.4" in lines
    assert lines[-1] == "audit FAILED: 3 known vulnerabilities (upgrade them)"
    assert "passed" not in said


def test_a_clean_report_passes_and_counts_what_it_checked() -> None:
    code, said = audit(REPORTS / "clean.json", required=True)

    assert code == 0
    assert said == "audit passed: 64 packages checked, no known vulnerabilities\n"  # the project is not one


@pytest.mark.parametrize(("required", "exit_code"), [(False, 0), (True, 3)], ids=["default", "required"])
def test_an_audit_that_reached_no_data_says_so_loudly_and_never_passes(
    required: bool, exit_code: int
) -> None:
    report = json.loads((REPORTS / "unreachable.json").read_text(encoding="utf-8"))
    assert all("skip_reason" in dependency for dependency in report["dependencies"])  # what pip-audit gave

    code, said = audit(REPORTS / "unreachable.json", required=required)

    assert code == exit_code
    first, verdict = said.splitlines()
    assert first.startswith(
        "AUDIT INCOMPLETE: 64 of 64 packages could not be checked, the vulnerability data was not reachable: "
        "aiosmtpd, alembic, apscheduler"
    )
    assert "passed:" not in said and "No known vulnerabilities" not in said
    assert verdict.startswith("audit FAILED" if required else "audit NOT PASSED")


def test_a_partly_reachable_audit_reports_both_the_vulnerability_and_the_gap(tmp_path: Path) -> None:
    report = json.loads((REPORTS / "vulnerable.json").read_text(encoding="utf-8"))
    report["dependencies"][0] = {"name": "aiosmtpd", "skip_reason": "Dependency not found on PyPI: aiosmtpd"}
    mixed = tmp_path / "mixed.json"
    mixed.write_text(json.dumps(report), encoding="utf-8")

    code, said = audit(mixed)

    assert code == 1
    assert "AUDIT INCOMPLETE: 1 of 64 packages could not be checked" in said
    assert said.count("VULNERABLE:") == 3


@pytest.mark.parametrize("required", [False, True], ids=["default", "required"])
def test_no_report_at_all_is_an_incomplete_audit_not_a_pass(tmp_path: Path, required: bool) -> None:
    broken = tmp_path / "stdout.txt"
    broken.write_text("pip-audit: error: Connection refused\n", encoding="utf-8")

    code, said = audit(broken, required=required)

    assert code == (3 if required else 0)
    assert said.startswith("AUDIT INCOMPLETE: no package could be checked")
    assert "passed:" not in said
