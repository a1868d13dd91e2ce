"""bridge.state.blocked answers for a batch of addresses what `unsubscribed` and `is_suppressed` answer for
one: the same rows (as they are, or as the keyed hash `bridge forget` left; the oldest when there are
two), in one statement per table and 250 addresses (the new-product digest asks it per batch)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bridge.state import outbox, unsubscribes
from bridge.state.blocked import blocked
from bridge.state.hashed import ensure_key, hash_address
from bridge.state.store import Store, open_store
from bridge.state.store import unsubscribes as unsubscribes_table

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(f"sqlite:///{tmp_path / 'state.sqlite3'}") as opened:
        yield opened


def test_it_finds_unsubscribes_and_suppressions_plain_and_hashed_as_the_one_address_checks_do(
    store: Store,
) -> None:
    with store.transaction() as conn:
        key = ensure_key(conn, now=NOW)
        unsubscribes.add(conn, "ala@example.com", "one-click", now=NOW)
        unsubscribes.add(conn, hash_address(key, "forgotten@example.com"), "cli", now=NOW)
        outbox.suppress(conn, "ola@example.com", "550 5.1.1 no such user", now=NOW)
        outbox.suppress(conn, hash_address(key, "gone@example.com"), "550 5.1.1 gone", now=NOW)
        unsubscribes.add(conn, "both@example.com", "link", now=NOW)
        outbox.suppress(conn, "both@example.com", "552 5.2.2 full", now=NOW)

    asked = ["Ala@Example.com ", "forgotten@example.com", "OLA@example.com", "gone@example.com"]
    asked += ["both@example.com", "fine@example.com"]
    with store.read() as conn:
        found = blocked(conn, asked)
        expected_gone = {e.strip().lower(): unsubscribes.unsubscribed(conn, e) for e in asked}
        expected_bounced = {e.strip().lower(): outbox.is_suppressed(conn, e) for e in asked}

    assert set(found.unsubscribed) == {"ala@example.com", "forgotten@example.com", "both@example.com"}
    assert set(found.suppressed) == {"ola@example.com", "gone@example.com", "both@example.com"}
    assert found.unsubscribed == {a: u for a, u in expected_gone.items() if u is not None}
    assert found.suppressed == {a: r for a, r in expected_bounced.items() if r is not None}
    assert found.unsubscribed["forgotten@example.com"].source == "cli"


def test_the_oldest_form_wins_and_a_batch_larger_than_a_statement_is_answered_whole(store: Store) -> None:
    addresses = [f"klient.{n}@example.com" for n in range(600)]
    with store.transaction() as conn:
        key = ensure_key(conn, now=NOW)
        for number in range(0, 600, 7):  # in every chunk of 250
            unsubscribes.add(conn, addresses[number], "link", now=NOW + timedelta(minutes=number))
        # an address unsubscribed twice: as it is (later), and as its hash (earlier, kept by `bridge forget`)
        conn.execute(
            unsubscribes_table.insert().values(
                email=hash_address(key, addresses[7]), source="cli", created_at=NOW - timedelta(days=1)
            )
        )

    with store.read() as conn:
        found = blocked(conn, reversed(addresses))

    assert sorted(found.unsubscribed) == sorted(addresses[n] for n in range(0, 600, 7))
    assert found.unsubscribed[addresses[7]].source == "cli"
    assert found.suppressed == {}
