"""The state store: what the bridge has seen of the shop, its cursors and the outbox, in one database.

SQLite by default (one private file, WAL, write transactions that take the write lock at BEGIN, deleted
content zeroed on disk), with portable SQL so PostgreSQL can follow: the only SQLite-specific statements
live in the connect and begin hooks below and in `Store.flush_wal`. The schema is migrated with Alembic
at every open, so an upgrade never loses the outbox. Callers get plain dataclasses, never SQLAlchemy rows.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeAlias

from sqlalchemy import (
    CheckConstraint,
    Column,
    Connection,
    DateTime,
    Dialect,
    Engine,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    create_engine,
    event,
    inspect,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeEngine

from bridge.errors import StoreError

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
FILE_MODE = 0o600
DIRECTORY_MODE = 0o700
DEFAULT_BUSY_TIMEOUT = timedelta(seconds=10)

# Every status an outbox row can have; see bridge.state.outbox for what each one means.
OUTBOX_STATUSES = (
    "queued",
    "sending",
    "sent",
    "retry",
    "failed",
    "unknown",
    "skipped",
    "cancelled",
    "held",  # an order email older than MAX_EMAIL_AGE: waits for `bridge outbox release` (migration 0004)
)
CATEGORIES = ("transactional", "marketing")


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on every backend.

    SQLite has no time zone type, so it stores fixed-width ISO 8601 text ending in +00:00: string order is
    then time order, and `not_before <= :now` works in SQL. PostgreSQL gets a real `timestamptz`.
    Naive datetimes are refused: inside the bridge every time is aware.
    """

    impl = String(32)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(DateTime(timezone=True))
        return dialect.type_descriptor(String(32))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"the state store only takes timezone-aware datetimes, got {value!r}")
        utc = value.astimezone(UTC)
        if dialect.name == "postgresql":
            return utc
        return utc.isoformat(timespec="microseconds")

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        parsed = value if isinstance(value, datetime) else datetime.fromisoformat(value)
        if parsed.tzinfo is None:  # only a hand-edited row could be naive; it was written as UTC
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)


# Named constraints, so later migrations (SQLite batch mode recreates tables) can refer to them.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _in(values: Iterable[str]) -> str:
    return "(" + ", ".join(f"'{value}'" for value in values) + ")"


cursors = Table(
    "cursors",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Only what detection needs: no names, no addresses, no secure keys.
orders_seen = Table(
    "orders_seen",
    metadata,
    Column("order_id", Integer, primary_key=True, autoincrement=False),
    Column("reference", String(32), nullable=False),
    Column("current_state", Integer, nullable=False),
    Column("last_history_id", Integer),
    Column("tracking_number", String(64)),
    Column("total_paid_real", String(32), nullable=False),  # Decimal as text: no float rounding
    Column("date_upd", UTCDateTime, nullable=False),
    Column("first_seen_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("idempotency_key", String(200), nullable=False, unique=True),
    Column("kind", String(64), nullable=False),
    Column("category", String(16), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    # Indexed (0013): a campaign asks which of a batch's addresses already have its email (one per address)
    Column("recipient_email", String(320), nullable=False, index=True),
    Column("recipient_name", String(200)),
    Column("language", String(16), nullable=False),
    Column("context", Text, nullable=False),
    Column("message_id", String(200), nullable=False, unique=True),
    Column("order_id", Integer, index=True),
    Column("order_reference", String(32)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("not_before", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime),
    Column("attempts", Integer, nullable=False),
    Column("lease_owner", String(200)),
    Column("lease_until", UTCDateTime),
    Column("sent_at", UTCDateTime, index=True),
    Column("last_error", Text),
    Column("smtp_reply", Text),
    Column("skip_reason", Text),
    Column("updated_at", UTCDateTime, nullable=False),
    # Marketing mail: whose consent it rests on ("newsletter=1 since 2026-05-01…"), and what it is about,
    # so an unsubscribe, an order or a per-customer cap can find it without parsing the context.
    Column("consent", Text),
    Column("customer_id", Integer, index=True),
    Column("cart_id", Integer),
    # Personal data has a lifetime (0006, bridge.state.retention): NULL as queued; "links" once its cart's
    # series ended (the recovery link and the code gone); "retention" or "forget" once the personal details
    # are gone (address → keyed hash, name and context emptied, replies scrubbed). The row stays: its key
    # keeps the email from ever being sent again.
    Column("purged", String(16)),
    Column("purged_at", UTCDateTime),
    CheckConstraint(f"status IN {_in(OUTBOX_STATUSES)}", name="status"),
    CheckConstraint(f"category IN {_in(CATEGORIES)}", name="category"),
    Index("ix_outbox_due", "status", "not_before"),
    Index("ix_outbox_purge", "purged", "kind", "updated_at"),
)

outbox_attempts = Table(
    "outbox_attempts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("outbox_id", Integer, ForeignKey("outbox.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("outcome", String(16)),  # NULL while the attempt is in flight
    Column("smtp_code", Integer),
    Column("smtp_reply", Text),
    Column("error", Text),
    # When the whole message went to the server (the final dot): before it, a crash lost nothing.
    Column("handed_over_at", UTCDateTime),
)

suppressions = Table(
    "suppressions",
    metadata,
    Column("email", String(320), primary_key=True),
    Column("reason", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# Addresses that asked for no more marketing mail (transactional mail still goes: an order confirmation
# is not marketing). `source`: "one-click" (RFC 8058 POST), "link" (the page's button), "mailto", "cli".
unsubscribes = Table(
    "unsubscribes",
    metadata,
    Column("email", String(320), primary_key=True),
    Column("source", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# One abandoned-cart reminder series per cart. `cart_updated_at` is the cart's date_upd the series
# answers: a changed cart starts a fresh series. No cart contents, no names: they are read when a
# reminder is written.
cart_series = Table(
    "cart_series",
    metadata,
    Column("cart_id", Integer, primary_key=True, autoincrement=False),
    Column("customer_id", Integer, nullable=False, index=True),
    Column("cart_updated_at", UTCDateTime, nullable=False),
    Column("status", String(16), nullable=False),
    Column("steps_done", Integer, nullable=False),  # reminders of this series queued (or skipped) so far
    Column("stop_reason", Text),
    Column("updated_at", UTCDateTime, nullable=False),
    CheckConstraint("status IN ('open', 'stopped', 'done')", name="status"),
)

# Single-use discount codes the bridge created in the shop (`cart_rules`), one per customer.
discount_codes = Table(
    "discount_codes",
    metadata,
    Column("customer_id", Integer, primary_key=True, autoincrement=False),
    Column("code", String(254), nullable=False),
    Column("cart_rule_id", Integer, nullable=False),
    Column("cart_id", Integer, nullable=False),  # the cart it was created for
    Column("valid_until", UTCDateTime, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# One row (id = 1), made by migration 0006: the store's own random key for the keyed hash (HMAC-SHA256) that
# replaces an address the store must forget, and when personal data was last purged.
privacy = Table(
    "privacy",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("hash_key", String(64), nullable=False),  # 32 random bytes, hex; never leaves the store
    Column("last_purge_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    CheckConstraint("id = 1", name="single_row"),
)

# One row (id = 1) once SMTP delivery pauses the sender (quota, refused credentials).
sender_state = Table(
    "sender_state",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("paused_until", UTCDateTime),
    Column("pause_reason", Text),
    Column("pause_credentials", String(64)),  # sha256 of a refused login (0005), never the password
    Column("updated_at", UTCDateTime, nullable=False),
    CheckConstraint("id = 1", name="single_row"),
)

# The owner's low-stock alerts (0007, bridge.state.owner): a stock row told low stays `low` until it rises
# above the threshold, so each fall is told once; `falls` names the next fall's alert.
owner_low_stock = Table(
    "owner_low_stock",
    metadata,
    Column("stock_id", Integer, primary_key=True, autoincrement=False),  # stock_availables.id
    Column("id_product", Integer, nullable=False),
    Column("id_product_attribute", Integer, nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("low", Integer, nullable=False),  # 1 while at or below the threshold (told), else 0
    Column("falls", Integer, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# The mailbox (0009, bridge.state.mailbox): where each folder was last read (UIDs count only within one
# UIDVALIDITY), and each bounce read from the Inbox, once (its UID is unique within the folder's
# UIDVALIDITY), with the address as its keyed hash: enough to count soft bounces, nothing to leak.
mailbox_folders = Table(
    "mailbox_folders",
    metadata,
    Column("role", String(16), primary_key=True),  # "inbox", "sent"
    Column("uidvalidity", Integer, nullable=False),
    Column("last_uid", Integer, nullable=False),
    Column("looked_at", UTCDateTime, nullable=False),
)
mailbox_bounces = Table(
    "mailbox_bounces",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("uidvalidity", Integer, nullable=False),
    Column("uid", Integer, nullable=False),
    Column("outbox_id", Integer, index=True),  # our email it reports on
    Column("address_hash", String(80), nullable=False, index=True),
    Column("status", String(16), nullable=False),  # "5.1.1"
    Column("permanent", Integer, nullable=False),  # 1 for 5.x.x
    Column("reason", Text, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Index("ux_mailbox_bounces_uid", "uidvalidity", "uid", "address_hash", unique=True),
)


# Personal discount codes (0010, bridge.state.codes), one per outbox row that asked for one: chosen and
# committed before the shop is asked to create it, so that after a crash the same code is looked up in the
# shop before any second POST. `cart_rule_id` is NULL until the shop's answer (or a lookup) gave it.
personal_codes = Table(
    "personal_codes",
    metadata,
    Column(
        "outbox_id",
        Integer,
        ForeignKey("outbox.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("customer_id", Integer, nullable=False),
    Column("code", String(254), nullable=False, unique=True),
    Column("currency", String(8), nullable=False),  # ISO code of the amounts, the shop's default currency
    Column("cart_rule_id", Integer),
    Column("valid_until", UTCDateTime, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)


# Campaigns (0011, bridge.state.campaigns): one row per campaign name, `bridge campaign send FILE --yes`.
# The hash of the file's normalised content refuses a changed file under the same name; `left_out` counts
# the customers the last pass left out, by reason (JSON), never who they were. The emails themselves are
# outbox rows keyed `campaign:<name>:<customer id>`.
campaigns = Table(
    "campaigns",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("content_hash", String(64), nullable=False),
    Column("status", String(16), nullable=False),  # "queueing" (a pass under way, or cut short), "queued"
    Column("single_use", Integer, nullable=False),  # 1: a personal code per email
    Column("left_out", Text, nullable=False),
    Column("passes", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),  # the last pass that queued every batch
)


# The new-product digest (0012, bridge.state.news): every product the watch knows, so none is announced twice
# and none that was on sale before the watch began is news. `digest` is the day of the digest that announced
# it, NULL for a product already live when the watch began.
news_products = Table(
    "news_products",
    metadata,
    Column("id_product", Integer, primary_key=True, autoincrement=False),
    Column("digest", String(10)),
    Column("seen_at", UTCDateTime, nullable=False),
)


# The state store's transaction handle: pass it to bridge.state functions, never build SQL with it. Modules
# outside bridge.state type-hint `tx: Tx` and so never import SQLAlchemy.
Tx: TypeAlias = Connection


class Store:
    """An open state store. Use `transaction()` for anything that writes, `read()` for reports."""

    def __init__(self, engine: Engine, location: str, path: Path | None) -> None:
        self.engine = engine
        self.location = location  # for messages: the file path, or the URL with its password masked
        self.path = path  # the SQLite file, None for a server database

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One write transaction: commits when the block ends, rolls back if it raises.

        On SQLite it starts with BEGIN IMMEDIATE, so two writers queue at BEGIN (for up to the busy
        timeout) instead of failing half-way with "database is locked".
        """
        with self._translate_errors(), self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only snapshot that never waits for the write lock (WAL readers do not block)."""
        with self._translate_errors(), self.engine.connect() as conn:
            conn.execution_options(bridge_begin="DEFERRED")
            with conn.begin() as trans:
                yield conn
                trans.rollback()

    def flush_wal(self) -> None:
        """SQLite: copy the write-ahead log into the file and empty it, so that the old versions of rows a
        purge rewrote leave the disk as well (`secure_delete` zeroes them in the file itself). Best effort:
        a reader that holds the log back only delays it to the next purge. Nothing for a server database."""
        if self.path is None:
            return
        raw = self.engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            cursor.fetchall()
            cursor.close()
        except sqlite3.Error as error:
            log.debug("state store %s: the log could not be emptied now: %s", self.location, error)
        finally:
            raw.close()

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.location!r})"

    @contextmanager
    def _translate_errors(self) -> Iterator[None]:
        # Operational errors (locked past the busy timeout, disk full, read-only file) are the owner's
        # to fix; anything else (an IntegrityError, a programming error) is a bug and keeps its traceback.
        try:
            yield
        except OperationalError as error:
            raise StoreError(f"state store {self.location}: {_reason(error)}") from error


def open_store(
    database_url: str,
    *,
    busy_timeout: timedelta = DEFAULT_BUSY_TIMEOUT,
    schema_revision: str = "head",
) -> Store:
    """Open (creating if needed) the state store and migrate its schema to `schema_revision`.

    `database_url` is an SQLAlchemy URL (`sqlite:///state/bridge.db`, `postgresql+psycopg://…`) or a plain
    file path. A new SQLite file and its directory are created private to the bridge's user (0600/0700);
    an existing file that others could read is made private again. Raises StoreError naming the
    location, never a password.
    """
    url = _parse_url(database_url)
    location = url.render_as_string(hide_password=True)
    path: Path | None = None
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:" or url.database.startswith("file:"):
            raise StoreError("the state store must be an SQLite file path, e.g. sqlite:///state/bridge.db")
        path = Path(url.database).expanduser().absolute()
        location = str(path)
        _prepare_file(path)
        url = url.set(database=str(path))
    elif url.get_backend_name() != "postgresql":
        raise StoreError(f"state store {location}: only SQLite files and PostgreSQL are supported")

    try:
        engine = _create_engine(url, busy_timeout)
    except ImportError as error:
        raise StoreError(
            f"state store {location}: the database driver is not installed ({error.name})"
        ) from None
    store = Store(engine, location, path)
    try:
        with store.transaction() as conn:
            _migrate(conn, schema_revision, location)
        if path is not None:
            _check_wal(store)
            for sidecar in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
                _make_private(sidecar)
    except SQLAlchemyError as error:  # e.g. "file is not a database", "unable to open database file"
        store.close()
        raise StoreError(f"state store {location}: {_reason(error)}") from error
    except BaseException:
        store.close()
        raise
    return store


def store_exists(database_url: str) -> bool:
    """False only for an SQLite file that does not exist yet: commands that only look (`bridge check`,
    `bridge test-email`) then open nothing rather than create a store. A server database always exists."""
    url = _parse_url(database_url)
    if url.get_backend_name() != "sqlite":
        return True
    return bool(url.database) and Path(url.database or "").expanduser().exists()


if TYPE_CHECKING:
    from alembic.config import Config

# The newest migration in bridge/state/migrations/versions. A store already there opens without importing
# Alembic at all (half a second of every `bridge sync` started by a timer); tests/test_store.py keeps
# this in step with Alembic's own head.
SCHEMA_REVISION: Final = "0013"


def alembic_config(connection: Connection | None = None) -> Config:
    """The Alembic configuration, built in code (no alembic.ini); `connection` is used by env.py.

    Developers write the next revision with
    `command.revision(alembic_config(conn), "what changed", rev_id="0002", autogenerate=True)`.
    """
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


# --- cursors -------------------------------------------------------------------------------------------


def upsert(conn: Connection, table: Table) -> sqlite.Insert | postgresql.Insert:
    """An INSERT that supports ON CONFLICT, in the dialect of `conn` (both spell it the same way)."""
    if conn.dialect.name == "sqlite":
        return sqlite.insert(table)
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    raise StoreError(f"unsupported database dialect {conn.dialect.name}")


# --- opening -------------------------------------------------------------------------------------------


def _parse_url(database_url: str) -> URL:
    if "://" not in database_url:
        return URL.create("sqlite", database=database_url)
    try:
        url = make_url(database_url)
    except (ArgumentError, ValueError):
        # The text may hold a password: never echo it.
        raise StoreError("the state store URL is not a valid database URL") from None
    if url.get_backend_name() == "postgres":  # the Heroku-style spelling SQLAlchemy no longer accepts
        url = url.set(drivername=url.drivername.replace("postgres", "postgresql", 1))
    return url


def _prepare_file(path: Path) -> None:
    """Create the directory and the file (0600) before SQLite does, or make an existing file private."""
    try:
        path.parent.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        except FileExistsError:
            if not path.is_file():
                raise StoreError(f"state store {path}: exists but is not a file") from None
            _make_private(path)
        else:
            try:
                os.fchmod(fd, FILE_MODE)  # whatever the umask left
            finally:
                os.close(fd)
            log.info("created the state store %s", path)
        for sidecar in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            _make_private(sidecar)
    except OSError as error:
        raise StoreError(f"state store {path}: {error.strerror or error}") from None


def _make_private(path: Path) -> None:
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if mode & 0o077:
        log.warning("state store file %s was readable by others (mode %o); making it private", path, mode)
        path.chmod(FILE_MODE)


def _create_engine(url: URL, busy_timeout: timedelta) -> Engine:
    if url.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)

    engine = create_engine(url)
    busy_ms = int(busy_timeout.total_seconds() * 1000)

    # SQLAlchemy's documented recipe: stop pysqlite from issuing its own (deferred, DML-only) BEGIN
    # and issue BEGIN ourselves, so every transaction, DDL included, is a real one.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
            # What a purge or `bridge forget` removes is overwritten with zeros, not left in free pages.
            cursor.execute("PRAGMA secure_delete = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # IMMEDIATE takes the write lock now: a writer waits here (busy_timeout) rather than failing at
        # its first write after having read stale data. `Store.read()` asks for DEFERRED.
        mode = conn.get_execution_options().get("bridge_begin", "IMMEDIATE")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _current_revision(conn: Connection) -> str | None:
    """The store's schema revision by plain SQL (None for a new store)."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    versions = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all()
    return versions[0] if len(versions) == 1 else None


def _migrate(conn: Connection, revision: str, location: str) -> None:
    """Upgrade to `revision`, refusing a database whose schema this bridge does not know."""
    if revision in ("head", SCHEMA_REVISION) and _current_revision(conn) == SCHEMA_REVISION:
        return
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from alembic.util.exc import CommandError

    scripts = ScriptDirectory.from_config(alembic_config())
    for current in MigrationContext.configure(conn).get_current_heads():
        try:
            scripts.get_revision(current)
        except CommandError:
            raise StoreError(
                f"state store {location}: this state store was written by a newer bridge "
                f"(schema revision {current}); install that version or newer"
            ) from None
    command.upgrade(alembic_config(conn), revision)


def _check_wal(store: Store) -> None:
    with store.read() as conn:
        mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
    if str(mode).lower() != "wal":
        log.warning("state store %s: SQLite refused WAL mode (journal_mode=%s)", store.location, mode)


def _reason(error: SQLAlchemyError) -> str:
    """The database's own words, without SQLAlchemy's statement dump (which may quote bound values)."""
    if isinstance(error, DBAPIError) and error.orig is not None:
        return str(error.orig)
    return type(error).__name__
