"""Fail when a package installed in the project's environment has a known vulnerability (pip-audit).

    .venv/bin/python tools/audit.py                  # run pip-audit on this environment (.ci/run does)
    .venv/bin/python tools/audit.py --report F.json  # judge a saved `pip-audit --format json` report
    AUDIT_REQUIRED=1 .venv/bin/python tools/audit.py # an audit that could not check everything fails

pip-audit asks a vulnerability service (PyPI's JSON API by default) about each installed package. Where
that service cannot be reached (a machine behind a package mirror, a network without PyPI), pip-audit
skips the package ("Dependency not found on PyPI and could not be audited") and still says "No known
vulnerabilities found": a pass for nothing checked. This script never says that. Its verdict:

- a vulnerability in any package: one line per vulnerability, exit 1;
- every package checked and none vulnerable: "audit passed: N packages checked", exit 0;
- some packages not checked: a loud line `AUDIT INCOMPLETE: N of M packages could not be checked, the
  vulnerability data was not reachable: …`, exit 0 so that a machine without the data can still run CI,
  or exit 3 when AUDIT_REQUIRED=1 (set it where the data is reachable, so that losing it fails the run);
- pip-audit did not run or gave no report: the same INCOMPLETE line for every package, exit 0 or 3.

The project itself (installed editable, not published) is not a dependency and is not counted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EXIT_VULNERABLE = 1
EXIT_INCOMPLETE = 3
EDITABLE = "distribution marked as editable"
PIP_AUDIT = [
    "-m",
    "pip_audit",
    "--format",
    "json",
    "--progress-spinner",
    "off",
    "--desc",
    "off",
    "--skip-editable",
    "--timeout",
    "30",
]


@dataclass
class Verdict:
    """What a pip-audit report says, in the terms CI needs."""

    checked: list[str] = field(default_factory=list)
    vulnerabilities: list[str] = field(default_factory=list)  # one line each
    unchecked: dict[str, str] = field(default_factory=dict)  # name -> why
    problem: str = ""  # pip-audit gave no usable report


def judge(report: dict[str, Any]) -> Verdict:
    """Sort the report's dependencies into checked, vulnerable and not checked."""
    verdict = Verdict()
    for dependency in report.get("dependencies", []):
        name = str(dependency.get("name", "?"))
        reason = dependency.get("skip_reason")
        if reason is not None:
            if str(reason) != EDITABLE:
                verdict.unchecked[name] = str(reason)
            continue
        verdict.checked.append(name)
        for vulnerability in dependency.get("vulns") or []:
            aliases = ", ".join(vulnerability.get("aliases") or [])
            fixed = ", ".join(vulnerability.get("fix_versions") or []) or "no fixed version yet"
            verdict.vulnerabilities.append(
                f"VULNERABLE: {name} {dependency.get('version', '?')}: {vulnerability.get('id', '?')}"
                + (f" ({aliases})" if aliases else "")
                + f", fixed in {fixed}"
            )
    return verdict


def read_report(text: str) -> dict[str, Any] | None:
    """pip-audit's JSON report, or None when the text is not one."""
    try:
        report = json.loads(text)
    except json.JSONDecodeError:
        return None
    return report if isinstance(report, dict) and isinstance(report.get("dependencies"), list) else None


def run_pip_audit() -> tuple[dict[str, Any] | None, str]:
    """Run pip-audit on this interpreter's environment: (its report or None, what it said on stderr)."""
    try:
        done = subprocess.run(  # noqa: S603 - a fixed argument list, no shell
            [sys.executable, *PIP_AUDIT], capture_output=True, text=True, timeout=900, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return None, str(error)
    said = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
    return read_report(done.stdout), said


def verdict_lines(verdict: Verdict, *, required: bool) -> tuple[list[str], int]:
    """The lines to print and the exit code."""
    lines = list(verdict.vulnerabilities)
    total = len(verdict.checked) + len(verdict.unchecked)
    if verdict.problem:
        lines.append(
            "AUDIT INCOMPLETE: no package could be checked, pip-audit gave no report "
            f"(the vulnerability data was not reachable, or pip-audit failed): {verdict.problem}"
        )
    elif verdict.unchecked:
        names = sorted(verdict.unchecked)
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        lines.append(
            f"AUDIT INCOMPLETE: {len(names)} of {total} packages could not be checked, the vulnerability "
            f"data was not reachable: {shown} (pip-audit: {verdict.unchecked[names[0]]})"
        )
    incomplete = bool(verdict.problem or verdict.unchecked)
    if verdict.vulnerabilities:
        lines.append(f"audit FAILED: {len(verdict.vulnerabilities)} known vulnerabilities (upgrade them)")
        return lines, EXIT_VULNERABLE
    if incomplete:
        if required:
            lines.append("audit FAILED: AUDIT_REQUIRED=1 and the audit is incomplete")
            return lines, EXIT_INCOMPLETE
        lines.append("audit NOT PASSED: incomplete (set AUDIT_REQUIRED=1 to make this fail)")
        return lines, 0
    lines.append(f"audit passed: {len(verdict.checked)} packages checked, no known vulnerabilities")
    return lines, 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--report", type=Path, help="judge this saved `pip-audit --format json` output")
    args = parser.parse_args(argv)
    if args.report is not None:
        text = args.report.read_text(encoding="utf-8")
        report, said = read_report(text), f"{args.report} is not a pip-audit JSON report"
    else:
        report, said = run_pip_audit()
    verdict = judge(report) if report is not None else Verdict(problem=said)
    lines, code = verdict_lines(verdict, required=os.environ.get("AUDIT_REQUIRED", "") == "1")
    print("\n".join(lines), file=sys.stderr if code else sys.stdout)
    return code


if __name__ == "__main__":
    sys.exit(main())
