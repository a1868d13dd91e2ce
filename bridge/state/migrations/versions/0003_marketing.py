"""Marketing mail: unsubscribes, abandoned-cart reminder series, discount codes, consent on the outbox.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bridge.state.store import UTCDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("consent", sa.Text(), nullable=True))
        batch.add_column(sa.Column("customer_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("cart_id", sa.Integer(), nullable=True))
        batch.create_index(op.f("ix_outbox_customer_id"), ["customer_id"], unique=False)
    op.create_table(
        "unsubscribes",
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("email", name=op.f("pk_unsubscribes")),
    )
    op.create_table(
        "cart_series",
        sa.Column("cart_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("cart_updated_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("steps_done", sa.Integer(), nullable=False),
        sa.Column("stop_reason", sa.Text(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("status IN ('open', 'stopped', 'done')", name=op.f("ck_cart_series_status")),
        sa.PrimaryKeyConstraint("cart_id", name=op.f("pk_cart_series")),
    )
    op.create_index(op.f("ix_cart_series_customer_id"), "cart_series", ["customer_id"], unique=False)
    op.create_table(
        "discount_codes",
        sa.Column("customer_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("code", sa.String(length=254), nullable=False),
        sa.Column("cart_rule_id", sa.Integer(), nullable=False),
        sa.Column("cart_id", sa.Integer(), nullable=False),
        sa.Column("valid_until", UTCDateTime(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_discount_codes")),
    )


def downgrade() -> None:
    op.drop_table("discount_codes")
    op.drop_index(op.f("ix_cart_series_customer_id"), table_name="cart_series")
    op.drop_table("cart_series")
    op.drop_table("unsubscribes")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index(op.f("ix_outbox_customer_id"))
        batch.drop_column("cart_id")
        batch.drop_column("customer_id")
        batch.drop_column("consent")
