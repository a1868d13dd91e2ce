"""An index on the outbox's recipient address.

`bridge campaign send --yes` asks, for each batch of 500 customers, which of their addresses already have
the campaign's email (one email per address: a guest checkout and a later account often share one).
Without the index each batch scanned the whole outbox, so a campaign's queueing grew with the square of
its size and with every email the store ever kept (benchmarks/campaigns.py (a)).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(op.f("ix_outbox_recipient_email"), "outbox", ["recipient_email"])


def downgrade() -> None:
    op.drop_index(op.f("ix_outbox_recipient_email"), table_name="outbox")
