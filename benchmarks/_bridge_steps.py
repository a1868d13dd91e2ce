"""The bridge process of benchmarks/campaigns.py: one measured step, run as `python _bridge_steps.py STEP
SPEC-JSON` by the benchmark, which holds the shop.

The process opens the store and the shop client, prepares what the step does not measure, prints READY,
waits for a line on stdin (the benchmark marks the shop's request log meanwhile), runs the step and prints
one JSON line: wall time, peak RSS before and after, and what the step did.

Peak RSS is `VmHWM` from /proc/self/status (`ru_maxrss` where there is none): `ru_maxrss` survives the
`exec`, so it would report the benchmark process this one was forked from, the shop and its customers.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from _common import bridge_settings, peak_rss_bytes, shop_client

from bridge.clock import ManualClock
from bridge.config import Settings
from bridge.shop.client import ShopClient
from bridge.state.store import Store

MARKETING: Final = {"UNSUBSCRIBE_URL": "https://sklep.example.com/bridge-unsubscribe"}


def settings_for(url: str, state_dir: Path, **extra: str) -> Settings:
    """The benchmark's bridge: marketing mail on, MAIL_TRANSPORT=file unless `extra` says otherwise."""
    return bridge_settings(url, state_dir, **MARKETING, **extra)


def peak_rss() -> int:
    """This process's peak RSS (VmHWM on Linux: see the module's docstring)."""
    try:
        status = Path("/proc/self/status").read_text(encoding="ascii")
    except OSError:
        return peak_rss_bytes()
    found = next((line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")), None)
    return int(found) * 1024 if found is not None else peak_rss_bytes()


def child(phase: str, spec: dict[str, Any]) -> int:
    """The bridge process: open the store and the client, say READY, wait for GO, run `phase`, report."""
    from bridge.state.store import open_store

    settings = settings_for(spec["url"], Path(spec["state_dir"]), **spec.get("env", {}))
    clock = ManualClock(datetime.fromisoformat(spec["now"]))
    with open_store(settings.database_url) as store, shop_client(spec["url"]) as client:
        work = PHASES[phase](client, store, settings, clock, spec)
        next(work)  # imports and anything not measured
        ready = peak_rss()
        print("READY", flush=True)
        sys.stdin.readline()
        started = time.perf_counter()
        result = next(work)
        seconds = time.perf_counter() - started
    report = {"ready": ready, "peak": peak_rss(), "seconds": seconds, **result}
    print(json.dumps(report), flush=True)
    return 0


def _campaign(
    client: ShopClient, store: Store, settings: Settings, clock: ManualClock, spec: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    """`bridge campaign send FILE [--yes]`, everything it reads included."""
    from bridge.commands.campaign.send import send_campaign

    yield {}  # ready: what follows is measured
    lines = list(send_campaign(client, store, settings, clock, Path(spec["file"]), yes=spec["yes"]))
    queued = next((line.split()[1] for line in lines if line.startswith("Queued ")), "0")
    recipients = next(line for line in lines if line.startswith("  Recipients: "))
    yield {"queued": int(queued), "recipients": int(recipients.split()[1]), "lines": lines}


def _deliver(
    client: ShopClient, store: Store, settings: Settings, clock: ManualClock, spec: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    """`Cycle.deliver` until nothing is due: the gate, the personal code, render, send, record."""
    from bridge.cycle import Cycle
    from bridge.delivery.transports import build_transport
    from bridge.mail.render import get_renderer

    transport = build_transport(settings)
    cycle = Cycle(client, store, transport, get_renderer(settings.templates_dir), settings, clock)
    yield {}  # ready: what follows is measured
    sent = failed = 0
    while True:
        result = cycle.deliver()
        sent, failed = sent + result.sent, failed + result.failed
        if not result.sent and not result.failed:
            break
    transport.close()
    yield {"sent": sent, "failed": failed, "paused": result.paused or ""}


def _digest(
    client: ShopClient, store: Store, settings: Settings, clock: ManualClock, spec: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    """The new-product pass a poll at a time (a minute apart) until the digest is queued for everyone; the
    profile and time zone were read by the order pass before it, as in a cycle."""
    from bridge.cycle import news
    from bridge.shop.profile import load_profile

    client.shop_timezone()
    profile = load_profile(client, settings)
    yield {}  # ready: what follows is measured
    queued = skipped = passes = 0
    slowest = 0.0
    while passes < 1000:
        started = time.perf_counter()
        done = news.after_poll(client, store, settings, now=clock.now(), profile=profile)
        slowest = max(slowest, time.perf_counter() - started)
        passes += 1
        if done is None:
            raise RuntimeError("the new-product pass failed: see its log line")
        queued, skipped = queued + done.queued, skipped + done.skipped
        if done.finished or (done.day is None and not done.queued):
            break
        clock.advance(60)
    yield {"queued": queued, "skipped": skipped, "passes": passes, "slowest": slowest}


Phase = Callable[[ShopClient, Store, Settings, ManualClock, dict[str, Any]], Iterator[dict[str, Any]]]
PHASES: Final[dict[str, Phase]] = {"campaign": _campaign, "deliver": _deliver, "digest": _digest}


if __name__ == "__main__":
    sys.exit(child(sys.argv[1], json.loads(sys.argv[2])))
