"""Personal data has a lifetime: how far each outbox row was purged, and the store's key for keyed hashes.

`outbox.purged` (NULL, "links", "retention" or "forget") and `outbox.purged_at` say what was removed from a
row and when (bridge.state.retention); the index finds the rows a purge still has to visit. The `privacy`
table holds one row, written at the first purge or `bridge forget`: the store's random HMAC key, which turns
an address the store must forget into a hash nobody without the store can reverse, and when personal data
was last purged. Only columns, an index and a table are added: no table is recreated, so the attempt log
is untouched.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-10
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bridge.state.store import UTCDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("purged", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("purged_at", UTCDateTime(), nullable=True))
        batch.create_index(op.f("ix_outbox_purge"), ["purged", "kind", "updated_at"], unique=False)
    op.create_table(
        "privacy",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("hash_key", sa.String(length=64), nullable=False),
        sa.Column("last_purge_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_privacy_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy")),
    )


def downgrade() -> None:
    # A purged row stays purged: an older bridge reads its empty context and hashed address as they are,
    # and never sends it again (it is finished). Only the bookkeeping goes.
    # Dropping columns recreates the outbox on SQLite, which would cascade to the attempt log: it is kept
    # aside and put back, as in 0004.
    op.drop_table("privacy")
    op.execute("CREATE TEMPORARY TABLE kept_attempts AS SELECT * FROM outbox_attempts")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index(op.f("ix_outbox_purge"))
        batch.drop_column("purged_at")
        batch.drop_column("purged")
    op.execute(
        "INSERT INTO outbox_attempts SELECT * FROM kept_attempts"
        " WHERE id NOT IN (SELECT id FROM outbox_attempts)"
    )
    op.execute("DROP TABLE kept_attempts")
