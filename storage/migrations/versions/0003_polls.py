"""Quick polls, date polls and questionnaires.

Revision ID: 0003_polls
Revises: 0002_reminders
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types


revision = '0003_polls'
down_revision = '0002_reminders'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('polls',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('question', sa.Text(), nullable=False),
    sa.Column('multiple', sa.Boolean(), nullable=False),
    sa.Column('anonymous', sa.Boolean(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('audience', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('closes_at', storage.types.UTCDateTime(), nullable=False),
    sa.Column('closed_at', storage.types.UTCDateTime(), nullable=True),
    sa.Column('meeting_id', sa.Integer(), nullable=True),
    sa.Column('send_id', sa.Integer(), nullable=True),
    sa.Column('created_by', sa.BigInteger(), nullable=True),
    sa.Column('created_at', storage.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'], name=op.f('fk_polls_group_id_groups'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['meeting_id'], ['meetings.id'], name=op.f('fk_polls_meeting_id_meetings'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['send_id'], ['sends.id'], name=op.f('fk_polls_send_id_sends'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_polls'))
    )
    op.create_index(op.f('ix_polls_group_id'), 'polls', ['group_id'], unique=False)
    op.create_index('ix_polls_status_closes', 'polls', ['status', 'closes_at'], unique=False)
    op.create_table('poll_options',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('poll_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.SmallInteger(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('starts_at', storage.types.UTCDateTime(), nullable=True),
    sa.Column('ends_at', storage.types.UTCDateTime(), nullable=True),
    sa.Column('has_time', sa.Boolean(), nullable=False),
    sa.Column('choices', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['poll_id'], ['polls.id'], name=op.f('fk_poll_options_poll_id_polls'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_poll_options'))
    )
    op.create_index(op.f('ix_poll_options_poll_id'), 'poll_options', ['poll_id'], unique=False)
    op.create_table('poll_recipients',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('poll_id', sa.Integer(), nullable=False),
    sa.Column('chat_id', sa.BigInteger(), nullable=False),
    sa.Column('user_id', sa.BigInteger(), nullable=True),
    sa.Column('tg_poll_id', sa.String(length=64), nullable=True),
    sa.Column('message_id', sa.BigInteger(), nullable=True),
    sa.Column('counts', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['poll_id'], ['polls.id'], name=op.f('fk_poll_recipients_poll_id_polls'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_poll_recipients')),
    sa.UniqueConstraint('poll_id', 'chat_id', name=op.f('uq_poll_recipients_poll_id_chat_id')),
    sa.UniqueConstraint('tg_poll_id', name=op.f('uq_poll_recipients_tg_poll_id'))
    )
    op.create_index(op.f('ix_poll_recipients_user_id'), 'poll_recipients', ['user_id'], unique=False)
    op.create_table('poll_text_answers',
    sa.Column('poll_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('option_id', sa.Integer(), nullable=False),
    sa.Column('choice', sa.SmallInteger(), nullable=True),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('answered_at', storage.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['option_id'], ['poll_options.id'], name=op.f('fk_poll_text_answers_option_id_poll_options'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['poll_id'], ['polls.id'], name=op.f('fk_poll_text_answers_poll_id_polls'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('poll_id', 'user_id', 'option_id', name=op.f('pk_poll_text_answers'))
    )
    op.create_table('poll_votes',
    sa.Column('poll_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('option_id', sa.Integer(), nullable=False),
    sa.Column('value', sa.SmallInteger(), nullable=False),
    sa.Column('answered_at', storage.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['option_id'], ['poll_options.id'], name=op.f('fk_poll_votes_option_id_poll_options'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['poll_id'], ['polls.id'], name=op.f('fk_poll_votes_poll_id_polls'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('poll_id', 'user_id', 'option_id', name=op.f('pk_poll_votes'))
    )
    op.create_table('poll_unmatched_answers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tg_poll_id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.BigInteger(), nullable=False),
    sa.Column('option_ids', sa.JSON(), nullable=False),
    sa.Column('received_at', storage.types.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_poll_unmatched_answers'))
    )
    op.create_index(op.f('ix_poll_unmatched_answers_tg_poll_id'), 'poll_unmatched_answers', ['tg_poll_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_poll_unmatched_answers_tg_poll_id'), table_name='poll_unmatched_answers')
    op.drop_table('poll_unmatched_answers')
    op.drop_table('poll_votes')
    op.drop_table('poll_text_answers')
    op.drop_index(op.f('ix_poll_recipients_user_id'), table_name='poll_recipients')
    op.drop_table('poll_recipients')
    op.drop_index(op.f('ix_poll_options_poll_id'), table_name='poll_options')
    op.drop_table('poll_options')
    op.drop_index('ix_polls_status_closes', table_name='polls')
    op.drop_index(op.f('ix_polls_group_id'), table_name='polls')
    op.drop_table('polls')
