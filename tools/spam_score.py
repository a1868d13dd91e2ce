#!/usr/bin/env python3
"""Scores every email kind × language with SpamAssassin, offline, as a template lint.

    .venv/bin/python tools/spam_score.py [--keep DIR] [--spamassassin PATH]

Each sample of each kind is rendered exactly as the bridge sends it (text + HTML, Date, Message-ID,
Reply-To, Auto-Submitted, and List-Unsubscribe on marketing kinds with sample links; From is the sample
shop's Gmail address) into an `.eml` file and scored with

    spamassassin -x -L -t --cf="use_bayes 0"

(local tests only, no Bayes, no user configuration), as `nobody` when this runs as root (SpamAssassin
writes into the home directory of whoever runs it). The per-rule scores come from a header added for the
purpose (`_TESTSSCORES_`), so 0.001-point rules are told apart from the 0.1-point ones that SpamAssassin's
own report also prints as 0.0.

Fails (exit status 1) when a rule worth 0.1 points or more fires on what the templates control. Two kinds
of rules are reported but not counted:

- RELAY_ONLY: rules that only say the test message never went through Gmail. Gmail adds its Received
  headers and DKIM signature when it relays the message; a file on disk has neither.
- below INFORMATIONAL (0.1 points): informational and testing rules (HTML_MESSAGE, FREEMAIL_FROM,
  T_REMOTE_IMAGE …), scored 0.001 or 0.01 by SpamAssassin precisely so that they never matter.

PrestaShop's own order_conf, payment and shipped templates score 0.0 on content this way; ours must too.
Offline scoring cannot see SPF, DKIM, DMARC, blocklists or Gmail's reputation models
(docs/email-facts.md §10): it catches spammy content, it does not promise the inbox.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from bridge.mail.lint import PLAIN_SHOP, SAMPLE_SHOP, SHIPPED_LANGUAGES
from bridge.mail.render import Renderer
from bridge.model.headers import make_address
from bridge.model.kinds import KINDS, SAMPLE_UNSUBSCRIBE

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
INFORMATIONAL: Final = 0.1  # points: below this, a rule is informational (SpamAssassin shows it as 0.0)
RELAY_ONLY: Final[Mapping[str, str]] = {
    "FORGED_GMAIL_RCVD": "From is a gmail.com address and no Gmail Received header is there: Gmail adds "
    "them when it relays the message",
    "NO_RECEIVED": "no Received header at all: the file was never relayed",
    "NO_RELAYS": "no relay at all: the file was never relayed",
    "RDNS_NONE": "the (absent) relay has no reverse DNS: Gmail's relays have it",
    "DKIM_ADSP_CUSTOM_MED": "no DKIM signature: Gmail signs the message when it relays it",
    "DKIM_ADSP_NXDOMAIN": "no DKIM signature: Gmail signs the message when it relays it",
    "NML_ADSP_CUSTOM_MED": "no DKIM signature: Gmail signs the message when it relays it",
    "SPF_NONE": "no SPF result without a relay: Gmail's relay passes gmail.com's SPF",
    "SPF_HELO_NONE": "no SPF result without a relay: Gmail's relay passes gmail.com's SPF",
}
RULES_HEADER = "X-Spam-Rules"
COMMAND: Final = (
    "-x",  # no per-user configuration
    "-L",  # local tests only: no DNS blocklists, no Razor/Pyzor
    "-t",  # test mode: the message comes back with the report
    "--cf=use_bayes 0",
    f"--cf=add_header all {RULES_HEADER.removeprefix('X-Spam-')} _TESTSSCORES(,)_",
)


def out(line: str = "") -> None:
    sys.stdout.write(line + "\n")


@dataclass(frozen=True)
class Score:
    kind: str
    language: str
    rules: dict[str, float]
    descriptions: dict[str, str]

    @property
    def total(self) -> float:
        return sum(self.rules.values())

    @property
    def relay_only(self) -> dict[str, float]:
        return {rule: points for rule, points in self.rules.items() if rule in RELAY_ONLY}

    @property
    def content(self) -> float:
        """The points the templates are answerable for: everything but the never-relayed rules."""
        return sum(points for rule, points in self.rules.items() if rule not in RELAY_ONLY)

    @property
    def counted(self) -> dict[str, float]:
        """Rules that make the check fail: on content, worth 0.1 points or more."""
        return {
            rule: points
            for rule, points in self.rules.items()
            if rule not in RELAY_ONLY and points >= INFORMATIONAL
        }

    @property
    def informational(self) -> dict[str, float]:
        return {
            rule: points
            for rule, points in self.rules.items()
            if rule not in RELAY_ONLY and points < INFORMATIONAL
        }


def render_all(
    folder: Path, languages: tuple[str, ...], templates: Path | None
) -> list[tuple[str, str, Path]]:
    """Every sample of every kind × language, written as the bridge would hand it to Gmail. A sample after
    the main one is named `kind#n`: the optional branches (a discount code, a guest order) score too; and
    `kind#plain` is the main one for a shop with no branding or legal settings (no logo, default colour)."""
    renderer = Renderer(templates)
    recipient = make_address("Zofia Żółkiewska", "zofia.zolkiewska@example.com")
    written = []
    variants = [(kind, index, SAMPLE_SHOP) for kind in KINDS.values() for index in range(len(kind.samples))]
    variants += [(kind, -1, PLAIN_SHOP) for kind in KINDS.values()]  # the main sample, with no branding
    for kind, index, shop in variants:
        name = {0: kind.name, -1: f"{kind.name}#plain"}.get(index, f"{kind.name}#{index}")
        for language in languages:
            rendered = renderer.render(
                kind.name,
                language,
                kind.sample(max(index, 0)),
                shop=shop,
                message_id=message_id_of(name, language),
                recipient=recipient,
                now=NOW,
                unsubscribe=SAMPLE_UNSUBSCRIBE,  # marketing kinds need it; transactional ones ignore it
            )
            path = folder / f"{name.replace('#', '-')}-{language}.eml"
            path.write_bytes(rendered.message.as_bytes())
            written.append((name, language, path))
    return written


def unprivileged(command: list[str]) -> list[str]:
    """As root, run as `nobody`: SpamAssassin would otherwise write into root's home directory."""
    if os.geteuid() != 0:
        return command
    if runuser := shutil.which("runuser"):
        return [runuser, "-u", "nobody", "--", *command]
    if setpriv := shutil.which("setpriv"):
        return [setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--", *command]
    raise SystemExit("spam_score: running as root, and neither runuser nor setpriv is there to drop it")


def parse_report(report: str) -> tuple[dict[str, float], dict[str, str]]:
    """Rule → points (from the _TESTSSCORES_ header), rule → description (from the report table)."""
    head = report.split("\n\n", 1)[0]
    header = re.search(rf"^{RULES_HEADER}:(.*(?:\n[ \t].*)*)", head, re.MULTILINE)
    if header is None:
        raise ValueError(f"no {RULES_HEADER} header in SpamAssassin's answer:\n{report[:2000]}")
    rules: dict[str, float] = {}
    for item in re.sub(r"\s+", "", header.group(1)).split(","):
        if item and item != "none":
            rule, _, points = item.partition("=")
            rules[rule] = float(points)
    descriptions: dict[str, str] = {}
    table = report.split("---- ----------------------", 1)
    if len(table) == 2:
        for line in table[1].splitlines()[1:]:
            match = re.match(r"\s*-?\d+\.\d+\s+([A-Z0-9_]+)\s+(.*)", line)
            if match:
                descriptions[match.group(1)] = match.group(2).strip()
            elif not line.startswith(" "):
                break
    return rules, descriptions


MBOX_SEPARATOR: Final = b"From spam-score@localhost Fri Nov 27 09:00:00 2026"


def as_mbox(paths: list[Path]) -> bytes:
    """The messages as one mboxrd stream: one SpamAssassin process (its start-up compiles every rule,
    two seconds) scores them all. LF line ends and `>From ` escaping, as local delivery would store them."""
    chunks = []
    for path in paths:
        lines = path.read_bytes().replace(b"\r\n", b"\n").split(b"\n")
        escaped = [b">" + line if re.match(rb">*From ", line) else line for line in lines]
        chunks.append(MBOX_SEPARATOR + b"\n" + b"\n".join(escaped).rstrip(b"\n") + b"\n\n")
    return b"".join(chunks)


def score_all(spamassassin: str, messages: list[tuple[str, str, Path]], home: Path) -> list[Score]:
    """Score every message in one run; answers are matched to messages by Message-ID."""
    command = unprivileged([spamassassin, "--mbox", *COMMAND])
    done = subprocess.run(  # noqa: S603 - a fixed argument list, no shell
        command,
        input=as_mbox([path for _kind, _language, path in messages]),
        capture_output=True,
        check=False,
        env={**os.environ, "HOME": str(home)},
        cwd=home,
    )
    if done.returncode != 0:
        raise SystemExit(f"spam_score: spamassassin failed:\n{done.stderr.decode(errors='replace')}")
    reports: dict[str, str] = {}
    for chunk in re.split(rb"^" + re.escape(MBOX_SEPARATOR) + rb"\n", done.stdout, flags=re.MULTILINE):
        found = re.search(rb"^Message-ID:\s*(<[^>]+>)", chunk, re.MULTILINE | re.IGNORECASE)
        if found:
            reports[found.group(1).decode()] = chunk.decode("utf-8", "replace")
    scores = []
    for kind, language, path in messages:
        message_id = message_id_of(kind, language)
        if message_id not in reports:
            raise SystemExit(f"spam_score: SpamAssassin gave no answer for {path}")
        rules, descriptions = parse_report(reports[message_id])
        scores.append(Score(kind, language, rules, descriptions))
    return scores


def message_id_of(kind: str, language: str) -> str:
    return f"<1764234300.{kind}.{language}@{SAMPLE_SHOP.domain}>"


def listed(rules: Mapping[str, float]) -> str:
    return " ".join(f"{rule}={points:g}" for rule, points in sorted(rules.items())) or "-"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spamassassin", default=shutil.which("spamassassin") or "/usr/bin/spamassassin")
    parser.add_argument("--keep", type=Path, help="write the .eml files here (default: a temporary folder)")
    parser.add_argument("--languages", default=",".join(SHIPPED_LANGUAGES))
    parser.add_argument(
        "--templates", type=Path, help="an owner's TEMPLATES_DIR, searched before the shipped templates"
    )
    args = parser.parse_args(argv)
    if not Path(args.spamassassin).exists():
        out(f"spam_score: no SpamAssassin at {args.spamassassin} (apt-get install spamassassin)")
        return 2
    with tempfile.TemporaryDirectory(prefix="spam-score-") as temporary:
        home = Path(temporary) / "home"
        home.mkdir()
        os.chmod(temporary, 0o755)  # noqa: S103 - `nobody` must reach its scratch home; nothing secret here
        os.chmod(home, 0o777)  # noqa: S103
        folder: Path = args.keep or Path(temporary) / "eml"
        folder.mkdir(parents=True, exist_ok=True)
        messages = render_all(folder, tuple(args.languages.split(",")), args.templates)
        scores = score_all(args.spamassassin, messages, home)

    out(f"{'kind':<20}{'lang':<6}{'total':>7}{'content':>9}  counted (≥ {INFORMATIONAL} on content)")
    out("-" * 100)
    for s in scores:
        out(f"{s.kind:<20}{s.language:<6}{s.total:>7.1f}{s.content:>9.1f}  {listed(s.counted)}")
    out("-" * 100)
    relay = sorted({rule for s in scores for rule in s.relay_only})
    info = sorted({rule for s in scores for rule in s.informational})
    out("Reported, not counted:")
    for rule in relay:
        seen = {s.rules[rule] for s in scores if rule in s.rules}
        out(f"  {rule} ({', '.join(f'{p:g}' for p in sorted(seen))}): {RELAY_ONLY[rule]}")
    for rule in info:
        seen = {s.rules[rule] for s in scores if rule in s.rules}
        description = next((s.descriptions[rule] for s in scores if rule in s.descriptions), "")
        out(f"  {rule} ({', '.join(f'{p:g}' for p in sorted(seen))}): informational — {description}")
    failures = [s for s in scores if s.counted]
    for s in failures:
        for rule, points in sorted(s.counted.items()):
            out(f"FAIL {s.kind} ({s.language}): {rule} {points:g} — {s.descriptions.get(rule, '')}")
    out(
        f"{len(scores)} emails scored offline by SpamAssassin: "
        + (
            f"{len(failures)} with spam signals in their content"
            if failures
            else "content scores 0.0 everywhere"
        )
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
