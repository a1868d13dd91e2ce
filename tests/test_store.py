"""The state store: a private SQLite file in WAL mode, migrated by Alembic, that never loses what it holds."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.exc import IntegrityError, StatementError

from bridge.clock import ManualClock
from bridge.errors import StoreError
from bridge.model.cursors import IdCursor, OrderCursors, PollRecord
from bridge.model.memory import SeenOrder
from bridge.state import cursors
from bridge.state.orders import get_seen_orders, put_seen_order
from bridge.state.store import Store, Tx, metadata, open_store


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "bridge.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    with open_store(str(db_path)) as opened:
        yield opened


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def an_order(order_id: int = 1042, **changes: object) -> SeenOrder:
    values: dict[str, object] = {
        "order_id": order_id,
        "reference": "XKBKNABJK",
        "current_state": 2,
        "last_history_id": 5531,
        "tracking_number": None,
        "total_paid_real": Decimal("129.90"),
        "date_upd": datetime(2026, 11, 27, 9, 30, tzinfo=timezone(timedelta(hours=1))),
    }
    values.update(changes)
    return SeenOrder(**values)  # type: ignore[arg-type]


def record_poll(conn: Tx, error: str, now: datetime) -> None:
    """Any write will do for these tests: the poll record is the simplest typed one."""
    cursors.save_poll(conn, PollRecord(last_at=now, last_error=error), now=now)


def last_error(conn: Tx) -> str:
    return cursors.load(conn).poll.last_error


def test_a_new_store_is_a_private_file_in_a_new_private_directory(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "bridge.db"
    previous = os.umask(0)  # SQLite alone would then create a world-readable file
    try:
        with open_store(f"sqlite:///{path}") as store:
            assert store.path == path
            with store.transaction() as conn:
                record_poll(conn, "", ManualClock().now())
            wal = path.with_name("bridge.db-wal")
            assert wal.exists()
            assert mode_of(wal) == 0o600
    finally:
        os.umask(previous)
    assert mode_of(path) == 0o600
    assert mode_of(path.parent) == 0o700


def test_an_existing_store_readable_by_others_is_made_private_again(db_path: Path) -> None:
    open_store(str(db_path)).close()
    db_path.chmod(0o644)
    with open_store(str(db_path)) as writer:
        with writer.transaction() as conn:
            record_poll(conn, "x", ManualClock().now())
        assert mode_of(db_path) == 0o600
        wal = db_path.with_name("bridge.db-wal")
        wal.chmod(0o644)
        open_store(str(db_path)).close()
        assert mode_of(wal) == 0o600


def test_the_store_runs_in_wal_mode_with_a_busy_timeout_and_foreign_keys(store: Store, db_path: Path) -> None:
    with store.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10_000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    # WAL is a property of the file: any other program opening it sees it too.
    raw = sqlite3.connect(db_path)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        raw.close()


def test_a_writer_waits_for_the_write_lock_at_begin_while_readers_go_on(db_path: Path) -> None:
    first = open_store(str(db_path))
    impatient = open_store(str(db_path), busy_timeout=timedelta(0))
    try:
        with first.transaction() as conn:
            record_poll(conn, "committed", ManualClock().now())
        with first.transaction():
            # Nothing written yet: only BEGIN IMMEDIATE can make the second writer wait here.
            with pytest.raises(StoreError, match=r"bridge\.db: database is locked"), impatient.transaction():
                pass
            with impatient.read() as conn:
                assert last_error(conn) == "committed"
    finally:
        first.close()
        impatient.close()


def test_reopening_the_store_keeps_cursors_and_seen_orders(db_path: Path, clock: ManualClock) -> None:
    moved = OrderCursors(
        baseline_at=clock.now(),
        baseline_order_id=1000,
        histories=IdCursor(5531, frozenset({5530, 5531})),
        orders=IdCursor(1042),
        payments=IdCursor(12),
    )
    with open_store(str(db_path)) as store, store.transaction() as conn:
        cursors.save_orders(conn, OrderCursors(), moved, now=clock.now())
        put_seen_order(conn, an_order(), now=clock.now())
    with open_store(str(db_path)) as store, store.read() as conn:
        assert cursors.load(conn).orders == moved
        assert get_seen_orders(conn, [1042])[1042].total_paid_real == Decimal("129.90")


def test_moving_a_cursor_again_replaces_its_value_and_leaves_the_others(
    store: Store, clock: ManualClock
) -> None:
    first = OrderCursors(baseline_at=clock.now(), payments=IdCursor(10))
    with store.transaction() as conn:
        cursors.save_orders(conn, OrderCursors(), first, now=clock.now())
    clock.advance(60)
    later = OrderCursors(baseline_at=first.baseline_at, payments=IdCursor(12, frozenset({11, 12})))
    with store.transaction() as conn:
        cursors.save_orders(conn, first, later, now=clock.now())
    with store.read() as conn:
        assert cursors.load(conn).orders == later
        assert cursors.load(conn).carts.changed_up_to is None  # never set
        moved = dict(conn.exec_driver_sql("SELECT name, updated_at FROM cursors").all())
    assert moved["order_payments.id"] == "2026-11-27T09:01:00.000000+00:00"
    assert moved["order_histories.id"] == "2026-11-27T09:00:00.000000+00:00"  # unchanged: not written


def test_a_seen_order_keeps_its_first_sighting_when_updated(store: Store, clock: ManualClock) -> None:
    first_seen = clock.now()
    with store.transaction() as conn:
        put_seen_order(conn, an_order(), now=first_seen)
    clock.advance(timedelta(hours=2))
    with store.transaction() as conn:
        put_seen_order(conn, an_order(current_state=4, tracking_number="RR123456789PL"), now=clock.now())
    with store.read() as conn:
        seen = get_seen_orders(conn, [1042, 7, 1042])
    assert list(seen) == [1042]
    order = seen[1042]
    assert (order.current_state, order.tracking_number) == (4, "RR123456789PL")
    assert order.first_seen_at == first_seen
    assert order.updated_at == clock.now()


def test_timestamps_come_back_as_the_same_instant_in_utc(store: Store, clock: ManualClock) -> None:
    warsaw_morning = datetime(2026, 11, 27, 9, 30, tzinfo=timezone(timedelta(hours=1)))
    with store.transaction() as conn:
        put_seen_order(conn, an_order(date_upd=warsaw_morning), now=clock.now())
    with store.read() as conn:
        date_upd = get_seen_orders(conn, [1042])[1042].date_upd
        stored = conn.exec_driver_sql("SELECT date_upd FROM orders_seen").scalar()
    assert date_upd == warsaw_morning
    assert date_upd.tzinfo == UTC
    assert stored == "2026-11-27T08:30:00.000000+00:00"  # fixed width: text order is time order


def test_a_naive_datetime_is_refused(store: Store, clock: ManualClock) -> None:
    naive = datetime(2026, 11, 27, 9, 30)  # noqa: DTZ001 - the point of the test
    with pytest.raises(StatementError, match="timezone-aware"), store.transaction() as conn:
        put_seen_order(conn, an_order(date_upd=naive), now=clock.now())


def test_rows_written_at_revision_0001_survive_the_upgrade_to_head(db_path: Path) -> None:
    with open_store(str(db_path), schema_revision="0001") as old, old.transaction() as conn:
        # Raw SQL in the shape revision 0001 created, so this test keeps meaning after later revisions.
        conn.exec_driver_sql(
            "INSERT INTO cursors (name, value, updated_at) "
            "VALUES ('orders.date_upd', '2026-11-27 10:30:00', '2026-11-27T09:00:00.000000+00:00')"
        )
        conn.exec_driver_sql(
            "INSERT INTO outbox (idempotency_key, kind, category, priority, status, recipient_email,"
            " language, context, message_id, created_at, not_before, attempts, updated_at) VALUES"
            " ('order_confirmation:order:1042', 'order_confirmation', 'transactional', 0, 'queued',"
            " 'ann@example.com', 'pl', '{}', '<abc@shop.example>', '2026-11-27T09:00:00.000000+00:00',"
            " '2026-11-27T09:00:00.000000+00:00', 0, '2026-11-27T09:00:00.000000+00:00')"
        )
    with open_store(str(db_path)) as upgraded, upgraded.read() as conn:
        kept = conn.exec_driver_sql("SELECT value FROM cursors WHERE name = 'orders.date_upd'").scalar()
        assert kept == "2026-11-27 10:30:00"
        queued = conn.exec_driver_sql("SELECT idempotency_key, status, message_id FROM outbox").all()
    assert queued == [("order_confirmation:order:1042", "queued", "<abc@shop.example>")]


def test_rows_written_at_revision_0003_keep_their_attempt_log_and_may_be_held_after_the_upgrade(
    db_path: Path,
) -> None:
    """0004 recreates the outbox to widen its status check; the attempt log (ON DELETE CASCADE) stays."""
    with open_store(str(db_path), schema_revision="0003") as old, old.transaction() as conn:
        conn.exec_driver_sql(
            "INSERT INTO outbox (idempotency_key, kind, category, priority, status, recipient_email,"
            " language, context, message_id, created_at, not_before, attempts, updated_at, customer_id)"
            " VALUES ('order_confirmation:order:1042', 'order_confirmation', 'transactional', 0, 'sent',"
            " 'ann@example.com', 'pl', '{}', '<abc@shop.example>', '2026-11-27T09:00:00.000000+00:00',"
            " '2026-11-27T09:00:00.000000+00:00', 1, '2026-11-27T09:00:00.000000+00:00', 7)"
        )
        conn.exec_driver_sql(
            "INSERT INTO outbox_attempts (outbox_id, started_at, finished_at, outcome, smtp_code) VALUES"
            " (1, '2026-11-27T09:00:00.000000+00:00', '2026-11-27T09:00:01.000000+00:00', 'sent', 250)"
        )
    with open_store(str(db_path)) as upgraded, upgraded.transaction() as conn:
        kept = conn.exec_driver_sql("SELECT status, message_id, customer_id FROM outbox").all()
        attempts = conn.exec_driver_sql("SELECT outbox_id, outcome, smtp_code FROM outbox_attempts").all()
        conn.exec_driver_sql("UPDATE outbox SET status = 'held'")
        with pytest.raises(IntegrityError):
            conn.exec_driver_sql("UPDATE outbox SET status = 'on hold'")
    assert kept == [("sent", "<abc@shop.example>", 7)]
    assert attempts == [(1, "sent", 250)]


def test_the_migrations_build_exactly_the_schema_the_code_uses(store: Store) -> None:
    with store.read() as conn:
        differences = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), metadata
        )
    assert differences == []


def test_a_store_written_by_a_newer_bridge_is_refused(db_path: Path) -> None:
    with open_store(str(db_path)) as store, store.transaction() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0042'")
    with pytest.raises(StoreError, match="this state store was written by a newer bridge") as raised:
        open_store(str(db_path))
    assert str(db_path) in str(raised.value)
    assert "0042" in str(raised.value)


def test_a_corrupt_file_is_a_store_error_naming_the_file(db_path: Path) -> None:
    db_path.parent.mkdir()
    db_path.write_bytes(b"this is an order export, not a database\n" * 200)
    with pytest.raises(StoreError, match="file is not a database") as raised:
        open_store(str(db_path))
    assert str(db_path) in str(raised.value)


def test_an_unusable_location_is_a_store_error_naming_the_path(tmp_path: Path) -> None:
    blocker = tmp_path / "state"
    blocker.write_text("a file where the directory should be")
    with pytest.raises(StoreError) as raised:
        open_store(str(blocker / "bridge.db"))
    assert str(blocker / "bridge.db") in str(raised.value)


def test_a_postgresql_password_never_appears_in_errors() -> None:
    with pytest.raises(StoreError) as raised:
        open_store("postgresql://bridge:s3cret-pw@127.0.0.1:1/shop")
    assert "s3cret-pw" not in str(raised.value)
    assert "bridge:***@127.0.0.1:1/shop" in str(raised.value)
    with pytest.raises(StoreError) as heroku_style:
        open_store("postgres://bridge:s3cret-pw@127.0.0.1:1/shop")
    assert "bridge:***@127.0.0.1:1/shop" in str(heroku_style.value)
    assert "only SQLite files and PostgreSQL" not in str(heroku_style.value)
    with pytest.raises(StoreError) as garbled:
        open_store("postgresql://bridge:s3cret-pw@127.0.0.1:port/shop")
    assert "s3cret-pw" not in str(garbled.value)


def test_an_in_memory_database_is_refused() -> None:
    with pytest.raises(StoreError, match="SQLite file path"):
        open_store("sqlite://")


def test_the_schema_revision_the_store_trusts_is_alembics_newest() -> None:
    from alembic.script import ScriptDirectory

    from bridge.state.store import SCHEMA_REVISION, alembic_config

    assert ScriptDirectory.from_config(alembic_config()).get_heads() == [SCHEMA_REVISION]


def test_reopening_an_up_to_date_store_does_not_need_alembic(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "state.sqlite3"
    open_store(f"sqlite:///{path}").close()
    probe = (
        "import sys\n"
        "from bridge.state.store import open_store\n"
        f"open_store({str(path)!r}).close()\n"
        "print('alembic' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
