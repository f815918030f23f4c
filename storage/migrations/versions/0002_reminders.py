"""Reminders: per-(session, offset) marks and calendar-file holders.

Revision ID: 0002_reminders
Revises: 0001_core
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types


revision = '0002_reminders'
down_revision = '0001_core'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('reminder_marks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('offset_min', sa.Integer(), nullable=False),
    sa.Column('due_at', storage.types.UTCDateTime(), nullable=False),
    sa.Column('starts_at', storage.types.UTCDateTime(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('send_id', sa.Integer(), nullable=True),
    sa.Column('recipients', sa.Integer(), nullable=False),
    sa.Column('created_at', storage.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['send_id'], ['sends.id'], name=op.f('fk_reminder_marks_send_id_sends'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['session_id'], ['meeting_sessions.id'], name=op.f('fk_reminder_marks_session_id_meeting_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reminder_marks')),
    sa.UniqueConstraint('session_id', 'offset_min', name=op.f('uq_reminder_marks_session_id_offset_min'))
    )
    op.create_table('calendar_copies',
    sa.Column('user_id', sa.BigInteger(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('sent_at', storage.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['session_id'], ['meeting_sessions.id'], name=op.f('fk_calendar_copies_session_id_meeting_sessions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_calendar_copies_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'session_id', name=op.f('pk_calendar_copies'))
    )
    with op.batch_alter_table('calendar_copies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_calendar_copies_session_id'), ['session_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('calendar_copies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_calendar_copies_session_id'))
    op.drop_table('calendar_copies')
    op.drop_table('reminder_marks')
