"""Delivery you can trust: chats that moved (a group upgraded to a supergroup gets a new id).

`chat_moves` maps an old chat id to the new one Telegram gave (400 "group chat was upgraded
to a supergroup chat" with parameters.migrate_to_chat_id, or the migrate_to/migrate_from
service messages), so configured chats, groups and queued messages follow it in every process.

Revision ID: 0007_delivery
Revises: 0006_groups
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0007_delivery"
down_revision = "0006_groups"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chat_moves",
        sa.Column("old_chat_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("new_chat_id", sa.BigInteger(), nullable=False),
        sa.Column("moved_at", storage.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("old_chat_id", name=op.f("pk_chat_moves")),
    )


def downgrade() -> None:
    op.drop_table("chat_moves")
