"""Privacy: who a queued message names (outbox_mentions), for /mesdonnees and /oublier.

A report card sent to the crisis cell, a poll's results sent to its author, a questionnaire's
CSV… carry someone else's name. Each such outbox row records whom it names, so /mesdonnees can
list these messages and /oublier can take the name out of them. Rows go with their message
(ON DELETE CASCADE, outbox retention included).

Revision ID: 0008_privacy
Revises: 0005_perf
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_privacy"
down_revision = "0005_perf"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox_mentions",
        sa.Column("outbox_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.ForeignKeyConstraint(
            ["outbox_id"], ["outbox.id"], name=op.f("fk_outbox_mentions_outbox_id_outbox"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("outbox_id", "user_id", name=op.f("pk_outbox_mentions")),
    )
    with op.batch_alter_table("outbox_mentions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_mentions_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbox_mentions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_mentions_user_id"))
    op.drop_table("outbox_mentions")
