"""The new-product digest: the products the watch knows (live when it began, or announced since).

Only a table is added; where the watch stands is kept in the generic `cursors` table (`news.digest`).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bridge.state.store import UTCDateTime

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "news_products",
        sa.Column("id_product", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("digest", sa.String(length=10), nullable=True),
        sa.Column("seen_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id_product", name=op.f("pk_news_products")),
    )


def downgrade() -> None:
    op.drop_table("news_products")
