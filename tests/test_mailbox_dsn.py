"""Delivery status notifications parsed from recorded samples (tests/data/dsn/): pure, no server."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.mailbox.dsn import parse_dsn

SAMPLES = Path(__file__).parent / "data" / "dsn"
ORIGINAL = "<ORIGINAL-MESSAGE-ID@sklep.example.pl>"


@pytest.mark.parametrize(
    ("sample", "address", "status"),
    [
        ("rfc3464_permanent.eml", "jan.kowalski@example.org", "5.1.1"),
        ("gmail_failure.eml", "anna.nowak@example.com", "5.1.1"),
        ("gmail_failure_text_only.eml", "ewa@example.com", "5.7.1"),
        ("soft_delay.eml", "piotr@example.net", "4.2.2"),
    ],
)
def test_each_sample_names_our_message_the_address_and_its_status(
    sample: str, address: str, status: str
) -> None:
    bounce = parse_dsn((SAMPLES / sample).read_bytes())
    assert bounce is not None
    assert ORIGINAL in bounce.message_ids
    [failure] = bounce.failures
    assert (failure.address, failure.status) == (address, status)
    assert failure.permanent is status.startswith("5.")
    assert status in failure.reason


def test_the_original_headers_come_before_in_reply_to() -> None:
    raw = (SAMPLES / "rfc3464_permanent.eml").read_bytes()  # no In-Reply-To: only the original's headers
    bounce = parse_dsn(raw)
    assert bounce is not None and bounce.message_ids == (ORIGINAL,)


@pytest.mark.parametrize(
    "raw",
    [
        b"From: Jan <jan@example.org>\nSubject: Re: order\nIn-Reply-To: <a@b.pl>\n\nThanks, 5.1.1 is my flat",
        b"From: Jan <jan@example.org>\nSubject: Out of office\nAuto-Submitted: auto-replied\n\nAway today.",
        b"From: MAILER-DAEMON@mx.example.org\nSubject: Warning\n\nNo status code and no recipient here.\n",
    ],
)
def test_replies_and_auto_replies_are_not_bounces(raw: bytes) -> None:
    assert parse_dsn(raw) is None
