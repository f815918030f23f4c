"""Updates already handled (Telegram's update_id, and which handler): delivered twice, handled once.

Revision ID: 0009_updates
Revises: 0008_privacy
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0009_updates"
down_revision = "0008_privacy"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "processed_updates",
        sa.Column("update_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("handler", sa.String(length=64), nullable=False),
        sa.Column("handled_at", storage.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("update_id", "handler", name=op.f("pk_processed_updates")),
    )


def downgrade() -> None:
    op.drop_table("processed_updates")
