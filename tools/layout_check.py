#!/usr/bin/env python3
"""Every email kind × language in headless Chromium at 600, 375 and 320 px, in the light and the dark colour
scheme: no horizontal overflow, and every piece of text readable (contrast at least 4.5:1).

    .venv/bin/python tools/layout_check.py [--chromium PATH] [--out layout-screenshots]
        [--widths 600,375,320] [--schemes light,dark] [--kinds shipped,order_confirmation]

Renders the HTML part exactly as it is sent (CSS inlined) for every sample of every kind, plus a "long"
variant in which every text field from the shop is a 10 000-character word (the hostile-data case: a
product name with no space in it must wrap, not widen the table). Each page is loaded in one headless
Chromium driven over the DevTools protocol on a pipe (stdlib only; `--window-size` cannot go below 500 px
in new headless mode, device-metrics emulation can), offline (every host name resolves to nothing, so
remote images fail fast, as in a client that blocks them). A page overflows when
`document.documentElement.scrollWidth` exceeds the viewport width; the widest elements are named.

Every kind is rendered with the sample shop's own branding (a logo, a teal accent, the legal footer: every
sample) and with the defaults (no logo, the default accent, no legal details: the first sample). The dark
scheme is Chromium's `prefers-color-scheme: dark` emulation, which applies the layout's @media rules as
Apple Mail and the Gmail app do. In each scheme the colour of every visible element holding text is
compared with the background it sits on (the nearest ancestor with one): under 4.5:1 fails (WCAG AA).
The long variants are checked for overflow in the light scheme only: their colours are the samples'.
Screenshots land in `layout-screenshots/` (git-ignored). Exit status 1 on any overflow or low contrast.
"""

from __future__ import annotations

import argparse
import base64
import copy
import dataclasses
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bridge.mail.lint import PLAIN_SHOP, SAMPLE_SHOP, SHIPPED_LANGUAGES
from bridge.mail.render import Renderer
from bridge.model.headers import make_address
from bridge.model.kinds import KINDS, SAMPLE_UNSUBSCRIBE

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
LONG_WORD = "Ż" * 10_000
SHOT_HEIGHT = 4000  # px: the viewport's height, and the most a screenshot shows
# Fields whose values are not free text from the shop (the renderer formats or filters them).
NOT_TEXT = frozenset(
    {"amount", "currency", "date", "sent_at", "email", "security", "url", "image_url", "tracking_url"}
    | {"percent", "valid_until", "minimum_amount"}
)
MEASURE = """(() => {
  const width = window.innerWidth;
  const sticksOut = e => e.getBoundingClientRect().right > width + 0.5;
  const culprits = [...document.querySelectorAll('body *')]
    .filter(e => sticksOut(e) && ![...e.children].some(sticksOut))
    .map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : '')
         + ' right=' + Math.round(e.getBoundingClientRect().right)
         + ' "' + (e.textContent || '').replace(/\\s+/g, ' ').trim().slice(0, 50) + '"');
  const rgba = text => (text.match(/[\\d.]+/g) || ['0', '0', '0', '0']).map(Number).concat([1]).slice(0, 4);
  const background = e => {
    for (let node = e; node; node = node.parentElement) {
      const c = rgba(getComputedStyle(node).backgroundColor);
      if (c[3] > 0) return c;
    }
    return [255, 255, 255, 1];
  };
  const lum = c => {
    const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
  };
  const ratio = (a, b) => {
    const x = lum(a), y = lum(b);
    return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05);
  };
  const low = [];
  for (const e of (CHECK_CONTRAST ? document.querySelectorAll('body *') : [])) {
    const own = [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    const r = e.getBoundingClientRect();
    const style = getComputedStyle(e);
    const hidden = r.width === 0 || r.height === 0 || style.visibility === 'hidden';
    if (!own || hidden || e.closest('.preheader')) continue;
    const bg = background(e), fg = rgba(style.color);
    const mixed = fg.slice(0, 3).map((v, i) => v * fg[3] + bg[i] * (1 - fg[3]));
    const value = ratio(mixed, bg);
    if (value < 4.5) low.push(e.tagName.toLowerCase() + (e.className ? '.' + e.className : '') + ' '
      + value.toFixed(2) + ':1 ' + style.color + ' on rgb(' + bg.slice(0, 3).join(', ') + ') "'
      + e.textContent.replace(/\\s+/g, ' ').trim().slice(0, 40) + '"');
  }
  return JSON.stringify({
    scrollWidth: document.documentElement.scrollWidth,
    viewport: width,
    height: Math.ceil(document.body.getBoundingClientRect().bottom),
    wide: culprits.slice(0, 4),
    low: low.slice(0, 6),
  });
})()"""
MIN_CONTRAST = 4.5


def out(line: str = "") -> None:
    sys.stdout.write(line + "\n")


# --- what to render ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    name: str  # "shipped-pl-s1", "shipped-pl-long"
    html: str


def long_text(value: Any, key: str | None = None) -> Any:
    """The context with every free-text string replaced by one 10 000-character word."""
    if isinstance(value, dict):
        return {k: long_text(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [long_text(v, key) for v in value]
    if isinstance(value, str) and key not in NOT_TEXT:
        return LONG_WORD
    return value


def pages(languages: tuple[str, ...], templates: Path | None) -> Iterator[Page]:
    renderer = Renderer(templates)
    recipient = make_address("Zofia Żółkiewska", "zofia@example.com")
    long_shop = dataclasses.replace(
        SAMPLE_SHOP,
        name=LONG_WORD,
        address_lines=(LONG_WORD, LONG_WORD),
        footer_text=LONG_WORD,
        legal_company=LONG_WORD,
        legal_registration=LONG_WORD,
    )
    for kind in KINDS.values():
        for language in languages:
            if not renderer.has_kind(kind.name, language):
                out(f"layout_check: {kind.name} has no {language} templates yet: not checked")
                continue
            contexts = [(f"s{i}", kind.sample(i), SAMPLE_SHOP) for i in range(len(kind.samples))]
            contexts.append(("plain", kind.sample(0), PLAIN_SHOP))
            contexts.append(("long", long_text(copy.deepcopy(kind.sample(0))), long_shop))
            for label, context, shop in contexts:
                rendered = renderer.render(
                    kind.name,
                    language,
                    context,
                    shop=shop,
                    message_id=f"<layout.{kind.name}.{language}@{SAMPLE_SHOP.domain}>",
                    recipient=recipient,
                    now=NOW,
                    unsubscribe=SAMPLE_UNSUBSCRIBE,  # marketing kinds need it; transactional ones ignore it
                )
                yield Page(f"{kind.name}-{language}-{label}", rendered.html)


# --- a minimal DevTools-protocol client over --remote-debugging-pipe -----------------------------------


class DevTools:
    """Commands as NUL-terminated JSON on fd 3 of Chromium, answers and events on its fd 4."""

    def __init__(self, process: subprocess.Popen[bytes], to_browser: int, from_browser: int) -> None:
        self.process = process
        self.to_browser = to_browser
        self.from_browser = from_browser
        self.buffer = b""
        self.events: list[dict[str, Any]] = []
        self.next_id = 0

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("Chromium did not answer in time")
            ready, _, _ = select.select([self.from_browser], [], [], left)
            if ready:
                chunk = os.read(self.from_browser, 1 << 20)
                if not chunk:
                    raise RuntimeError("Chromium closed the DevTools pipe")
                self.buffer += chunk
        raw, _, self.buffer = self.buffer.partition(b"\0")
        message: dict[str, Any] = json.loads(raw)
        return message

    def call(self, method: str, params: dict[str, Any] | None = None, *, session: str | None = None) -> Any:
        self.next_id += 1
        command: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            command["sessionId"] = session
        os.write(self.to_browser, json.dumps(command).encode() + b"\0")
        deadline = time.monotonic() + 60
        while True:
            message = self._read_message(deadline)
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)

    def wait_for(self, event: str, *, session: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            for i, message in enumerate(self.events):
                if message.get("method") == event and message.get("sessionId") == session:
                    del self.events[: i + 1]
                    return
            self.events.clear()
            message = self._read_message(deadline)
            if "method" in message:
                self.events.append(message)


@contextmanager
def chromium(path: str) -> Iterator[DevTools]:
    commands_r, commands_w = os.pipe()
    answers_r, answers_w = os.pipe()
    profile = tempfile.mkdtemp(prefix="layout-check-")

    def wire_pipes() -> None:  # in the child: its fd 3 reads our commands, its fd 4 carries answers
        os.dup2(commands_r, 3)  # pipes are numbered in order, so answers_w (≥ 6) survives this
        os.dup2(answers_w, 4)
        os.set_inheritable(3, True)  # dup2 onto itself keeps close-on-exec
        os.set_inheritable(4, True)

    args = [
        path,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
        "--host-resolver-rules=MAP * ~NOTFOUND",  # offline: remote images fail at once
        f"--user-data-dir={profile}",
        "--remote-debugging-pipe",
        "about:blank",
    ]
    process = subprocess.Popen(  # noqa: S603 - a fixed argument list, no shell
        args,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=wire_pipes,  # the script runs no threads, so preexec_fn is safe
        close_fds=False,
    )
    os.close(commands_r)
    os.close(answers_w)
    try:
        yield DevTools(process, commands_w, answers_r)
    finally:
        with suppress(OSError):
            os.write(commands_w, json.dumps({"id": 0, "method": "Browser.close"}).encode() + b"\0")
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        os.close(commands_w)
        os.close(answers_r)
        shutil.rmtree(profile, ignore_errors=True)


# --- the check -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    page: str
    width: int
    scheme: str  # "light" or "dark"
    scroll_width: int
    height: int
    wide: list[str]
    low: list[str]  # text under 4.5:1 against its background
    seconds: float

    @property
    def overflows(self) -> bool:
        return self.scroll_width > self.width

    @property
    def failed(self) -> bool:
        return self.overflows or bool(self.low)


def check(
    devtools: DevTools, files: list[tuple[str, Path]], widths: list[int], schemes: list[str], shots: Path
) -> list[Result]:
    target = devtools.call("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = devtools.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    devtools.call("Page.enable", session=session)
    results = []
    for scheme in schemes:
        devtools.call(
            "Emulation.setEmulatedMedia",
            {"features": [{"name": "prefers-color-scheme", "value": scheme}]},
            session=session,
        )
        for width in widths:
            devtools.call(
                "Emulation.setDeviceMetricsOverride",
                # A phone width is a phone: the viewport meta tag and touch layout apply.
                # Tall enough for a screenshot without captureBeyondViewport, which resizes the page to its
                # full height first: 200 000 px for the long variants, minutes of work.
                {"width": width, "height": SHOT_HEIGHT, "deviceScaleFactor": 1, "mobile": width < 500},
                session=session,
            )
            for name, path in files:
                long = name.endswith("-long")
                if long and scheme != "light":
                    continue  # the long variants' colours are the samples': overflow is what they test
                view = View(name, path, width, scheme)
                results.append(measure(devtools, session, view, shots, contrast=not long))
    return results


@dataclass(frozen=True)
class View:
    name: str
    path: Path
    width: int
    scheme: str


def measure(devtools: DevTools, session: str, view: View, shots: Path, *, contrast: bool) -> Result:
    began = time.monotonic()
    devtools.call("Page.navigate", {"url": view.path.as_uri()}, session=session)
    devtools.wait_for("Page.loadEventFired", session=session)
    expression = MEASURE.replace("CHECK_CONTRAST", "true" if contrast else "false")
    value = devtools.call(
        "Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=session
    )["result"]["value"]
    measured = json.loads(value)
    result = Result(
        view.name,
        view.width,
        view.scheme,
        measured["scrollWidth"],
        measured["height"],
        measured["wide"],
        measured["low"],
        time.monotonic() - began,
    )
    # The long variants are very tall, an overflowing page can be 100 000 px wide: the top-left
    # corner shows the wrap (or the overflow) well enough.
    height = min(result.height, SHOT_HEIGHT)
    clip_width = min(max(view.width, result.scroll_width), 2 * view.width)
    shot = devtools.call(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": clip_width > view.width,
            "clip": {"x": 0, "y": 0, "width": clip_width, "height": height, "scale": 1},
        },
        session=session,
    )
    suffix = "" if view.scheme == "light" else f"-{view.scheme}"
    (shots / f"{view.name}-{view.width}{suffix}.png").write_bytes(base64.b64decode(shot["data"]))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    parser.add_argument("--out", type=Path, default=ROOT / "layout-screenshots")
    parser.add_argument("--widths", default="600,375,320")
    parser.add_argument("--schemes", default="light,dark")
    parser.add_argument("--languages", default=",".join(SHIPPED_LANGUAGES))
    parser.add_argument("--kinds", default="", help="only these kinds (comma-separated); default: all")
    parser.add_argument(
        "--templates", type=Path, help="an owner's TEMPLATES_DIR, searched before the shipped templates"
    )
    args = parser.parse_args(argv)
    if not Path(args.chromium).exists():
        out(f"layout_check: no Chromium at {args.chromium} (apt-get install chromium)")
        return 2
    widths = [int(w) for w in args.widths.split(",")]
    schemes = [scheme for scheme in args.schemes.split(",") if scheme]
    kinds = {kind for kind in args.kinds.split(",") if kind}
    shots: Path = args.out
    shots.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="layout-html-") as folder:
        files = []
        for page in pages(tuple(args.languages.split(",")), args.templates):
            if kinds and page.name.rsplit("-", 2)[0] not in kinds:
                continue
            path = Path(folder) / f"{page.name}.html"
            path.write_text(page.html, encoding="utf-8")
            files.append((page.name, path))
        started = time.monotonic()
        with chromium(args.chromium) as devtools:
            results = check(devtools, files, widths, schemes, shots)
        elapsed = time.monotonic() - started
    return report(results, widths, schemes, elapsed, shots)


def report(results: list[Result], widths: list[int], schemes: list[str], elapsed: float, shots: Path) -> int:
    columns = [(scheme, width) for scheme in schemes for width in widths]
    by_page: dict[str, dict[tuple[str, int], Result]] = {}
    for result in results:
        by_page.setdefault(result.page, {})[(result.scheme, result.width)] = result
    header = f"{'page':<34}" + "".join(f"{f'{w} {s}':>12}" for s, w in columns) + "  result"
    out(header)
    out("-" * len(header))
    for name, row in by_page.items():
        cells = "".join(f"{_cell(row.get(column)):>12}" for column in columns)
        bad = [result for result in row.values() if result.failed]
        took = sum(result.seconds for result in row.values())
        out(f"{name:<34}{cells}  {'FAIL' if bad else 'ok'}  {took:.1f} s")
        for result in bad:
            for element in result.wide if result.overflows else []:
                out(f"    overflow at {result.width} px ({result.scheme}): {element}")
            for element in result.low:
                out(f"    contrast at {result.width} px ({result.scheme}): {element}")
    overflowing = sum(result.overflows for result in results)
    unreadable = sum(bool(result.low) for result in results)
    out("-" * len(header))
    out(
        f"{len(by_page)} pages, {len(results)} views in {elapsed:.1f} s: {overflowing} overflow(s), "
        f"{unreadable} with text under {MIN_CONTRAST}:1; screenshots in {shots}"
    )
    return 1 if overflowing or unreadable else 0


def _cell(result: Result | None) -> str:
    if result is None:
        return "-"
    return "LOW" if result.low else str(result.scroll_width)


if __name__ == "__main__":
    sys.exit(main())
