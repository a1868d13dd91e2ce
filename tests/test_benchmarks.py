"""The benchmarks keep working: each runs its CI-sized variant (`--small`) and prints its tables.

Figures are never asserted (speed and memory goals live in the benchmarks, not in timed tests); what is
checked is that a benchmark an engineer runs finishes cleanly and prints the tables the README explains.
They run at the same time, as separate processes, to keep the suite quick. reliability.py's own
promises (nothing lost, nothing twice) make it exit 1 when broken; tests/test_reliability.py asserts them.
Its crash loop with IMAP on (`--imap`) needs Dovecot, as tests/test_mailbox.py does: without it that run
is skipped outside CI and fails in CI.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.imap_server import dovecot_available

ROOT = Path(__file__).resolve().parents[1]

EXPECTED: dict[str, list[str]] = {
    "poll_cost": [
        "### (a) one idle poll cycle",
        "### (b) catching up 100 new orders from 30 new customers",
        "### (c) order placed → confirmation accepted by SMTP",
        "### (d) one idle poll cycle with the owner's alerts",
        "| poller ",
        "| requests per order |",
        "| naive poller ",
    ],
    "throughput": [
        "### emails per second",
        "| what ",
        "| emails/s |",
        "| render only ",
        "| render + send (STARTTLS + AUTH) ",
    ],
    "campaigns": [
        "### (a) `bridge campaign send` to N newsletter subscribers",
        "| 200 | dry run ",
        "| 200 | --yes again ",
        "### (b) delivering a campaign with a personal single-use code per email",
        "| MAIL_TRANSPORT=file ",
        "| SMTP sink (STARTTLS + AUTH) ",
        "### (c) the new-product digest",
        "### (d) one poll cycle, nothing new in the shop",
        "| 10:00, NEW_PRODUCTS_HOUR and WINBACK_HOUR ",
    ],
    "memory": [
        "### peak RSS of one bridge process catching up N new orders",
        "| N orders ",
        "| marginal bytes per order |",
        "| 1,000 ",
        "| 3,000 ",
    ],
    "reliability": [
        "### crash loop: `bridge sync` catching up on 60 orders, SIGKILLed 10 times",
        "| UNKNOWN_POLICY=resend | UNKNOWN_POLICY=hold |",
        "| **lost** (must be 0) ",
        "### shop faults: what the bridge did",
        "| **cursor past data it did not process** (must be 0) ",
        "### SMTP faults: what the bridge did (UNKNOWN_POLICY=hold)",
        "### concurrency: what the customers got",
        "Every promise held: nothing lost, nothing sent twice under two Message-IDs.",
    ],
    "reliability_imap": [
        "### crash loop: `bridge sync` catching up on 60 orders, SIGKILLed 10 times",
        "| UNKNOWN_POLICY=hold, IMAP on |",
        "| … settled from the Sent folder: found there, marked sent ",
        "| **`unknown` left held** (must be 0 with IMAP on) ",
        "Every promise held: nothing lost, nothing sent twice under two Message-IDs.",
    ],
}

# memory.py measures each N in its own pair of processes: side by side, they use both cores of a CI runner.
EXTRA: dict[str, list[str]] = {
    "memory": ["--parallel"],
    "reliability_imap": ["--scenario", "crash_loop", "--imap"],
}
SCRIPT: dict[str, str] = {"reliability_imap": "reliability"}  # a second run of one script
NEEDS_DOVECOT: frozenset[str] = frozenset({"reliability_imap"})


def command(name: str) -> list[str]:
    script = ROOT / "benchmarks" / f"{SCRIPT.get(name, name)}.py"
    return [sys.executable, str(script), "--small", *EXTRA.get(name, [])]


@pytest.fixture(scope="module")
def outputs() -> Iterator[dict[str, subprocess.CompletedProcess[str]]]:
    """Every benchmark's `--small` run, started together and waited for."""
    running = {
        name: subprocess.Popen(
            command(name),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in EXPECTED
        if name not in NEEDS_DOVECOT or dovecot_available() is None
    }
    done: dict[str, subprocess.CompletedProcess[str]] = {}
    try:
        for name, process in running.items():
            stdout, stderr = process.communicate(timeout=600)
            done[name] = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
        yield done
    finally:
        for process in running.values():
            if process.poll() is None:
                process.kill()
                process.communicate()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_small_benchmark_finishes_cleanly_and_prints_its_tables(
    name: str, outputs: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    missing_dovecot = dovecot_available() if name in NEEDS_DOVECOT else None
    if missing_dovecot is not None:
        if os.environ.get("CI"):
            pytest.fail(f"{missing_dovecot}; CI installs it (.ci/run)")
        pytest.skip(missing_dovecot)
    run = outputs[name]
    assert run.returncode == 0, run.stderr[-4000:]
    missing = [line for line in EXPECTED[name] if line not in run.stdout]
    assert missing == [], run.stdout
