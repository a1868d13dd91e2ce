"""The owner's low-stock alerts: which stock rows were told low, so each fall is told once.

One row per stock_availables row the bridge has seen at or below the threshold: `low` while it stays there
(told once), cleared when it rises above; `falls` counts the falls told, and names the next one's alert.
Only a table is added.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bridge.state.store import UTCDateTime

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "owner_low_stock",
        sa.Column("stock_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("id_product", sa.Integer(), nullable=False),
        sa.Column("id_product_attribute", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("low", sa.Integer(), nullable=False),
        sa.Column("falls", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("stock_id", name=op.f("pk_owner_low_stock")),
    )


def downgrade() -> None:
    op.drop_table("owner_low_stock")
