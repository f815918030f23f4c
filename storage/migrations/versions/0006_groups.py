"""Groups from nothing: a group can be archived (hidden from pickers and invitations, its data kept).

Coordinators now create, rename and archive groups in the bot (/groupes); archiving sets
`groups.archived_at` instead of deleting, so meetings, registrations and memberships stay.

Revision ID: 0006_groups
Revises: 0005_perf
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.types import UTCDateTime

revision = "0006_groups"
down_revision = "0005_perf"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("groups", schema=None) as batch_op:
        batch_op.add_column(sa.Column("archived_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("groups", schema=None) as batch_op:
        batch_op.drop_column("archived_at")
