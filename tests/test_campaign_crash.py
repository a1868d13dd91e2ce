"""`bridge campaign` as the owner runs it: the real command line, and a `send --yes` process killed in the
middle of its queueing, then run again.

The kill is at a named point, never after a delay: the shop has more customers than one batch
(bridge.shop.audience.BATCH), and the simulator holds its answer to the second page of customers, which
the command asks for only after the first batch's transaction committed. The re-run must queue every
consenting customer exactly once; no code exists yet (personal codes are made when each email is sent).
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from bridge.cli import main
from bridge.model.campaign_kinds import CAMPAIGN
from bridge.shop.audience import BATCH
from bridge.state import campaigns
from bridge.state.outbox import list_rows
from bridge.state.store import open_store
from tests.test_campaigns import PERSONAL
from tests.test_cart_reminders import UNSUBSCRIBE_URL
from tests.test_crash import WAIT, Rig, Run, holding_smtp, rig, started  # noqa: F401 - the crash tests' fixtures

CUSTOMERS = BATCH + 20  # two pages of customers
PAGE_TWO = "/api/customers"


def campaign(run_in: Rig, *arguments: str) -> tuple[int, str, str]:
    """`bridge campaign …` in this process: exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--env-file", str(run_in.env_file), "campaign", *arguments])
    return code, out.getvalue(), err.getvalue()


def start_send(run_in: Rig, path: Path) -> Run:
    """`bridge campaign send FILE --yes` as its own process."""
    number = len(run_in.runs) + 1
    stdout, stderr = run_in.tmp_path / f"campaign{number}.out", run_in.tmp_path / f"campaign{number}.err"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bridge",
                "--env-file",
                str(run_in.env_file),
                "campaign",
                "send",
                str(path),
                "--yes",
            ],
            cwd=run_in.tmp_path,
            env=dict(os.environ),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
        )
    run = Run(process, stdout, stderr)
    run_in.runs.append(run)
    return run


def campaign_keys(run_in: Rig) -> Counter[str]:
    with open_store(run_in.database) as store:
        return Counter(r.idempotency_key for r in list_rows(store, limit=5000) if r.kind == CAMPAIGN)


@pytest.fixture
def crowded(rig: Rig) -> Rig:  # noqa: F811 (the fixture imported above)
    """Marketing on, the bridge's first run done, and more customers than one batch, all subscribed."""
    rig.write_env(UNSUBSCRIBE_URL=UNSUBSCRIBE_URL)
    started(rig)
    for number in range(CUSTOMERS):
        rig.shop.register_customer("Jan", f"Nowak{number}", f"jan.nowak{number}@example.com", newsletter=True)
    return rig


def test_a_send_killed_between_two_batches_resumes_without_a_duplicate(crowded: Rig) -> None:
    rig = crowded  # noqa: F811 (a name, not the fixture)
    path = rig.tmp_path / "campaign.toml"
    path.write_text(PERSONAL, encoding="utf-8")
    faults = rig.shop_server.faults
    faults.timeout_hold = 2 * WAIT  # released at once when the simulator stops
    faults.next("timeout", resource="customers", after=1)  # the second page: the first batch is committed
    run = start_send(rig, path)
    rig.kill_when(run, lambda: any(PAGE_TWO in p for _, p in faults.injected), "reading the second page")
    faults.let_go()

    first = campaign_keys(rig)
    # The demo shop's two subscribers and the new ones with ids in the first page; nothing past it.
    assert 0 < len(first) < CUSTOMERS and set(first.values()) == {1}
    with open_store(rig.database) as store, store.read() as conn:
        record = campaigns.load(conn, "black-friday-2026")
    assert record is not None and record.status == campaigns.QUEUEING

    code, out, err = campaign(rig, "list")
    assert code == 0 and "the last `send --yes` stopped before its end" in out, err
    code, out, err = campaign(rig, "send", str(path), "--yes")
    assert code == 0, err
    assert f"Already queued or sent by an earlier run: {len(first)} (not sent again)" in out
    assert f"Queued {CUSTOMERS + 2 - len(first)} email(s)" in out
    assert "The last run stopped before its end: this one went on from there, with no duplicate." in out
    keys = campaign_keys(rig)
    assert len(keys) == CUSTOMERS + 2 and set(keys.values()) == {1}
    assert rig.shop.state.rows("cart_rules") == []  # codes come when each email is sent, not before


def test_the_command_line_dry_run_refusals_and_list(crowded: Rig) -> None:
    rig = crowded  # noqa: F811 (a name, not the fixture)
    path = rig.tmp_path / "campaign.toml"
    path.write_text(PERSONAL, encoding="utf-8")
    code, out, err = campaign(rig, "send", str(path))
    assert code == 0, err
    assert f"  Recipients: {CUSTOMERS + 2} (en: 1, pl: {CUSTOMERS + 1})" in out
    assert "Nothing was queued (a dry run)" in out and campaign_keys(rig) == Counter()
    assert campaign(rig, "send", str(path), "--dry-run", "--yes")[0] == 65

    path.write_text(PERSONAL.replace('audience = "newsletter"', 'audience = "everyone"'), encoding="utf-8")
    code, out, err = campaign(rig, "send", str(path))
    assert code == 65 and err.startswith("bridge: campaign.toml: audience: 'everyone' is not an audience;")
    assert "\n" not in err.strip()

    code, out, _ = campaign(rig, "list")
    assert code == 0 and out.startswith("No campaign yet")
