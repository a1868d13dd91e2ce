"""Personal codes: the single-use discount code created for one marketing email just before it is sent.

Only a table is added (bridge.state.codes).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bridge.state.store import UTCDateTime

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "personal_codes",
        sa.Column("outbox_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=254), nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column("cart_rule_id", sa.Integer(), nullable=True),
        sa.Column("valid_until", UTCDateTime(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["outbox_id"], ["outbox.id"], name=op.f("fk_personal_codes_outbox_id_outbox"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("outbox_id", name=op.f("pk_personal_codes")),
        sa.UniqueConstraint("code", name=op.f("uq_personal_codes_code")),
    )


def downgrade() -> None:
    op.drop_table("personal_codes")
