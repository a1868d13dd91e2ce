"""The mailbox: a cursor per folder read over IMAP, and the bounces read from the Inbox.

Only tables are added.

Revision ID: 0009
Revises: 0007 (0008 was reserved for a change that needed none)
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bridge.state.store import UTCDateTime

revision: str = "0009"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mailbox_folders",
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("uidvalidity", sa.Integer(), nullable=False),
        sa.Column("last_uid", sa.Integer(), nullable=False),
        sa.Column("looked_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("role", name=op.f("pk_mailbox_folders")),
    )
    op.create_table(
        "mailbox_bounces",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uidvalidity", sa.Integer(), nullable=False),
        sa.Column("uid", sa.Integer(), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=True),
        sa.Column("address_hash", sa.String(length=80), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("permanent", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mailbox_bounces")),
    )
    op.create_index(op.f("ix_mailbox_bounces_outbox_id"), "mailbox_bounces", ["outbox_id"])
    op.create_index(op.f("ix_mailbox_bounces_address_hash"), "mailbox_bounces", ["address_hash"])
    op.create_index(
        "ux_mailbox_bounces_uid", "mailbox_bounces", ["uidvalidity", "uid", "address_hash"], unique=True
    )


def downgrade() -> None:
    op.drop_table("mailbox_bounces")
    op.drop_table("mailbox_folders")
