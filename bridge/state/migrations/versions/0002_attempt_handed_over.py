"""Record when a message was handed to the SMTP server (the point of no return of an attempt).

A process that dies before that moment never gave the server the message, so its email can be
queued again safely; one that dies after it leaves the email `unknown`.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bridge.state.store import UTCDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_attempts") as batch:
        batch.add_column(sa.Column("handed_over_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox_attempts") as batch:
        batch.drop_column("handed_over_at")
