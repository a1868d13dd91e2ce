"""UNSUBSCRIBE_SECRET signs every unsubscribe link: a weak one is refused when the settings load.

The rule (docs/design.md §5.3, config.example.env): 32 or more characters, 10 or more of them different,
and 128 bits or more estimated as the length times log2 of the character classes used. The refusal is one
line that says how to make a good one and never shows the secret, nor its length.
"""

from __future__ import annotations

import math
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.config import Settings
from bridge.config.parse import MAKE_A_SECRET, estimated_bits
from bridge.errors import ConfigError

SHOP = {
    "PRESTASHOP_URL": "https://sklep.example.pl",
    "PRESTASHOP_API_KEY": "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345",
    "SMTP_USERNAME": "zofia@gmail.com",
    "SMTP_PASSWORD": "abcdwxyzefghstuv",
}
WEAK = {
    "short": "short",
    "a_word_of_20": "podpis-linkow-wypisu",
    "one_letter": "a" * 48,
    "two_letters": "ab" * 24,
    "nine_different": "abcdefghi" * 5,
    "38_digits": "12345678901234567890123456789012345678",
}


def problems(secret: str, *, as_file: Path | None = None) -> list[str]:
    mapping = {**SHOP, "UNSUBSCRIBE_SECRET": secret}
    if as_file is not None:
        as_file.write_text(secret + "\n", encoding="utf-8")
        mapping = {**SHOP, "UNSUBSCRIBE_SECRET_FILE": str(as_file)}
    try:
        Settings.from_mapping(mapping)
    except ConfigError as error:
        return error.problems
    return []


@pytest.mark.parametrize("secret", WEAK.values(), ids=WEAK.keys())
def test_a_weak_secret_is_refused_in_one_line_that_says_how_to_make_one(secret: str) -> None:
    [problem] = problems(secret)

    assert problem.startswith("UNSUBSCRIBE_SECRET: is too weak to sign with")
    assert MAKE_A_SECRET in problem and "\n" not in problem
    assert problem == problems("x")[0]  # the same words for every weak secret: nothing of it is shown


def test_a_weak_secret_in_a_file_is_refused_too(tmp_path: Path) -> None:
    [problem] = problems("podpis-linkow-wypisu", as_file=tmp_path / "unsubscribe-secret")

    assert problem.startswith("UNSUBSCRIBE_SECRET: is too weak") and "podpis" not in problem


@pytest.mark.parametrize(
    "secret",
    [
        secrets.token_urlsafe(32),  # what the message suggests: 43 characters, 256 bits
        secrets.token_hex(16),  # `openssl rand -hex 16`: 32 hex digits, 128 bits
        "123456789012345678901234567890123456789012",  # 42 digits: 139 bits by the estimate
        "Zażółć gęślą jaźń, mój sklep ma 12 kotów!",
    ],
    ids=["token_urlsafe", "hex_16_bytes", "42_digits", "polish_sentence"],
)
def test_a_strong_secret_is_taken(secret: str) -> None:
    assert len(set(secret)) >= 10 or secret.isdigit()
    assert problems(secret) == []
    assert Settings.from_mapping({**SHOP, "UNSUBSCRIBE_SECRET": secret}).unsubscribe_secret is not None


def test_no_secret_is_still_fine_the_bridge_keeps_a_random_key() -> None:
    assert Settings.from_mapping(SHOP).unsubscribe_secret is None


def test_the_estimate_is_length_times_log2_of_the_classes_used() -> None:
    assert estimated_bits("a" * 32) == pytest.approx(32 * math.log2(26))  # lower-case letters
    assert estimated_bits("aB3" * 11) == pytest.approx(33 * math.log2(62))  # 26 + 26 + 10
    assert estimated_bits("") == 0


def test_the_suggested_command_makes_a_secret_that_is_taken() -> None:
    made = subprocess.run(
        [sys.executable, "-c", MAKE_A_SECRET.split(" -c ", 1)[1].strip('"')],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.strip()

    assert problems(made) == []
