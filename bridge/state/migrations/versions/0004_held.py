"""The `held` outbox status: an order email whose shop event is older than MAX_EMAIL_AGE waits for the owner.

Only the CHECK constraint on `outbox.status` changes. SQLite cannot alter a constraint, so batch mode
recreates the table with its rows; dropping the old table would cascade to the attempt log
(`outbox_attempts.outbox_id` is ON DELETE CASCADE and the store runs with foreign keys on, which cannot be
switched off inside the migration's transaction), so the log is kept aside and put back.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEFORE = "('queued', 'sending', 'sent', 'retry', 'failed', 'unknown', 'skipped', 'cancelled')"
AFTER = "('queued', 'sending', 'sent', 'retry', 'failed', 'unknown', 'skipped', 'cancelled', 'held')"


def upgrade() -> None:
    _status_check(AFTER)


def downgrade() -> None:
    # A held email has not been sent: going back, it becomes what the older bridge knows as waiting for
    # the owner, a cancelled email with its reason kept (`bridge outbox retry ID` queues it again).
    op.execute("UPDATE outbox SET status = 'cancelled' WHERE status = 'held'")
    _status_check(BEFORE)


def _status_check(statuses: str) -> None:
    """Replace the status CHECK constraint, keeping every attempt of the log."""
    op.execute("CREATE TEMPORARY TABLE kept_attempts AS SELECT * FROM outbox_attempts")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_constraint(op.f("ck_outbox_status"), type_="check")
        batch.create_check_constraint(op.f("ck_outbox_status"), f"status IN {statuses}")
    op.execute(
        "INSERT INTO outbox_attempts SELECT * FROM kept_attempts"
        " WHERE id NOT IN (SELECT id FROM outbox_attempts)"
    )
    op.execute("DROP TABLE kept_attempts")
