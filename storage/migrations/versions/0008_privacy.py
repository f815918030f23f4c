"""Privacy: who a queued message names (outbox_mentions), for /mesdonnees and /oublier.

A report card sent to the crisis cell, a poll's results sent to its author, a questionnaire's
CSV… carry someone else's name. Each such outbox row records whom it names, so /mesdonnees can
list these messages and /oublier can take the name out of them. Rows go with their message
(ON DELETE CASCADE, outbox retention included).

Messages queued before this revision are backfilled where the name they carry can be told from
the database: a report card names the report's sender, a poll's intro and a questionnaire's
invitation their author, a questionnaire's CSV its respondents, a date poll's results its
answerers. (A crisis kit's directory cannot be rebuilt: its PDF leaves with the outbox retention.)

Revision ID: 0008_privacy
Revises: 0007_delivery
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_privacy"
down_revision = "0007_delivery"
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
    for purpose, source, person in BACKFILL:
        statement = (
            f"INSERT INTO outbox_mentions (outbox_id, user_id) SELECT DISTINCT o.id, {person}"
            f" FROM {source} JOIN outbox o ON o.purpose = {purpose}"
            f" WHERE {person} IS NOT NULL AND {person} <> o.chat_id"
        )
        op.execute(sa.text(statement.replace(":", "\\:")))  # ':cell' is text, not a bound parameter


# (outbox purpose built from the source row, source tables, the person the message names)
BACKFILL = [
    ("'report:' || r.id || ':cell'", "crisis_reports r", "r.user_id"),
    ("'poll:' || p.id || ':intro'", "polls p", "p.created_by"),
    ("'poll:' || p.id || ':ask'", "(SELECT * FROM polls WHERE kind = 'form') p", "p.created_by"),  # dates: no author
    ("'poll:' || a.poll_id || ':csv'", "poll_text_answers a", "a.user_id"),
    ("'poll:' || p.id || ':summary'", "polls p JOIN poll_votes v ON v.poll_id = p.id AND p.kind = 'dates'",
     "v.user_id"),
]


def downgrade() -> None:
    with op.batch_alter_table("outbox_mentions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_mentions_user_id"))
    op.drop_table("outbox_mentions")
