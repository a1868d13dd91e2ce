"""The credentials a login pause was recorded with, as a fingerprint (never the password): delivery compares
it with the credentials it is given now, and tries a changed password at once instead of waiting out the
pause.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sender_state") as batch:
        batch.add_column(sa.Column("pause_credentials", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sender_state") as batch:
        batch.drop_column("pause_credentials")
