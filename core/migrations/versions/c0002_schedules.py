"""schedules, rosters, booking policy, API tokens, idempotency

Revision ID: c0002
Revises: c0001
Create Date: 2026-11-25 02:55:30.157908
"""

import secrets

import sqlalchemy as sa
from alembic import op

_CODE_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789'


revision = 'c0002'
down_revision = 'c0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_api_tokens_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_tokens_token_hash'))
    )
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_tokens_user_id'), ['user_id'], unique=False)
    op.create_table('idempotency_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('scope', sa.String(length=120), nullable=False),
    sa.Column('key', sa.String(length=128), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('status', sa.SmallInteger(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('content_type', sa.String(length=80), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_idempotency_keys')),
    sa.UniqueConstraint('scope', 'key', name='uq_idempotency_keys_scope_key')
    )
    op.create_table('rosters',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('store_id', sa.Integer(), nullable=False),
    sa.Column('week_start', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('gaps', sa.JSON(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('generated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status in ('draft','published')", name=op.f('ck_rosters_status')),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_rosters_store_id_stores'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rosters')),
    sa.UniqueConstraint('store_id', 'week_start', name='uq_rosters_store_week')
    )
    op.create_table('availability_overrides',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('store_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('available', sa.Boolean(), nullable=False),
    sa.Column('start_min', sa.SmallInteger(), nullable=True),
    sa.Column('end_min', sa.SmallInteger(), nullable=True),
    sa.CheckConstraint('(available and start_min is not null and end_min is not null and start_min >= 0 and end_min <= 1440 and start_min < end_min) or (not available)', name=op.f('ck_availability_overrides_interval')),
    sa.ForeignKeyConstraint(['staff_id'], ['staff_profiles.id'], name=op.f('fk_availability_overrides_staff_id_staff_profiles'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_availability_overrides_store_id_stores'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_availability_overrides'))
    )
    with op.batch_alter_table('availability_overrides', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_availability_overrides_staff_id'), ['staff_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_availability_overrides_store_id'), ['store_id'], unique=False)

    op.create_table('coverage_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('store_id', sa.Integer(), nullable=False),
    sa.Column('weekday', sa.SmallInteger(), nullable=True),
    sa.Column('start_min', sa.SmallInteger(), nullable=False),
    sa.Column('end_min', sa.SmallInteger(), nullable=False),
    sa.Column('min_staff', sa.SmallInteger(), nullable=False),
    sa.Column('service_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('min_staff between 1 and 100', name=op.f('ck_coverage_rules_min_staff')),
    sa.CheckConstraint('start_min >= 0 and end_min <= 1440 and start_min < end_min', name=op.f('ck_coverage_rules_interval')),
    sa.CheckConstraint('weekday is null or weekday between 0 and 6', name=op.f('ck_coverage_rules_weekday')),
    sa.ForeignKeyConstraint(['service_id'], ['services.id'], name=op.f('fk_coverage_rules_service_id_services'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_coverage_rules_store_id_stores'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_coverage_rules'))
    )
    with op.batch_alter_table('coverage_rules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_coverage_rules_store_id'), ['store_id'], unique=False)

    op.create_table('roster_shifts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('roster_id', sa.Integer(), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('start_min', sa.SmallInteger(), nullable=False),
    sa.Column('end_min', sa.SmallInteger(), nullable=False),
    sa.CheckConstraint('start_min >= 0 and end_min <= 1440 and start_min < end_min', name=op.f('ck_roster_shifts_interval')),
    sa.ForeignKeyConstraint(['roster_id'], ['rosters.id'], name=op.f('fk_roster_shifts_roster_id_rosters'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['staff_id'], ['staff_profiles.id'], name=op.f('fk_roster_shifts_staff_id_staff_profiles'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_roster_shifts')),
    sa.UniqueConstraint('roster_id', 'staff_id', 'day', name='uq_roster_shifts_staff_day')
    )
    with op.batch_alter_table('roster_shifts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_roster_shifts_roster_id'), ['roster_id'], unique=False)

    op.create_table('time_off',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('start_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('end_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status in ('requested','approved','rejected')", name=op.f('ck_time_off_status')),
    sa.CheckConstraint('start_at < end_at', name=op.f('ck_time_off_interval')),
    sa.ForeignKeyConstraint(['staff_id'], ['staff_profiles.id'], name=op.f('fk_time_off_staff_id_staff_profiles'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_time_off'))
    )
    with op.batch_alter_table('time_off', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_time_off_staff_id'), ['staff_id'], unique=False)

    op.create_table('weekly_availability',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('store_id', sa.Integer(), nullable=False),
    sa.Column('weekday', sa.SmallInteger(), nullable=False),
    sa.Column('start_min', sa.SmallInteger(), nullable=False),
    sa.Column('end_min', sa.SmallInteger(), nullable=False),
    sa.CheckConstraint('start_min >= 0 and end_min <= 1440 and start_min < end_min', name=op.f('ck_weekly_availability_interval')),
    sa.CheckConstraint('weekday between 0 and 6', name=op.f('ck_weekly_availability_weekday')),
    sa.ForeignKeyConstraint(['staff_id'], ['staff_profiles.id'], name=op.f('fk_weekly_availability_staff_id_staff_profiles'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], name=op.f('fk_weekly_availability_store_id_stores'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_weekly_availability'))
    )
    with op.batch_alter_table('weekly_availability', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_weekly_availability_staff_id'), ['staff_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_weekly_availability_store_id'), ['store_id'], unique=False)

    # New NOT NULL columns on existing tables: server defaults for plain values, and a
    # fill-then-constrain step for the random per-row secrets.
    with op.batch_alter_table('stores', schema=None) as batch_op:
        batch_op.add_column(sa.Column('acceptance_required', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('acceptance_timeout_min', sa.Integer(), nullable=False, server_default='60'))
        batch_op.add_column(sa.Column('acceptance_timeout_action', sa.String(length=16), nullable=False, server_default='decline'))
        batch_op.add_column(sa.Column('cancel_window_min', sa.Integer(), nullable=False, server_default='120'))
        batch_op.add_column(sa.Column('reschedule_window_min', sa.Integer(), nullable=False, server_default='120'))
        batch_op.add_column(sa.Column('slot_step_min', sa.SmallInteger(), nullable=False, server_default='15'))
        batch_op.add_column(sa.Column('min_notice_min', sa.Integer(), nullable=False, server_default='60'))
        batch_op.add_column(sa.Column('horizon_days', sa.SmallInteger(), nullable=False, server_default='60'))
        batch_op.create_check_constraint('timeout_action', "acceptance_timeout_action in ('decline','reassign')")
        batch_op.create_check_constraint('slot_step', 'slot_step_min in (5, 10, 15, 20, 30, 60)')
        batch_op.create_check_constraint('horizon', 'horizon_days between 1 and 365')

    with op.batch_alter_table('staff_profiles', schema=None) as batch_op:
        batch_op.add_column(sa.Column('max_minutes_week', sa.Integer(), nullable=False, server_default='2400'))
        batch_op.add_column(sa.Column('min_rest_days', sa.Integer(), nullable=False, server_default='1'))
        batch_op.add_column(sa.Column('calendar_token', sa.String(length=43), nullable=True))
    with op.batch_alter_table('bookings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('code', sa.String(length=12), nullable=True))

    conn = op.get_bind()
    for (staff_id,) in conn.execute(sa.text('SELECT id FROM staff_profiles')).all():
        conn.execute(sa.text('UPDATE staff_profiles SET calendar_token = :t WHERE id = :i'),
                     {'t': secrets.token_urlsafe(32), 'i': staff_id})
    for (booking_id,) in conn.execute(sa.text('SELECT id FROM bookings')).all():
        code = ''.join(secrets.choice(_CODE_ALPHABET) for _ in range(8))
        conn.execute(sa.text('UPDATE bookings SET code = :c WHERE id = :i'),
                     {'c': code, 'i': booking_id})

    with op.batch_alter_table('staff_profiles', schema=None) as batch_op:
        batch_op.alter_column('calendar_token', existing_type=sa.String(length=43), nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_staff_profiles_calendar_token'), ['calendar_token'])
    with op.batch_alter_table('bookings', schema=None) as batch_op:
        batch_op.alter_column('code', existing_type=sa.String(length=12), nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_bookings_code'), ['code'])

    # Never double-booked on PostgreSQL: the database itself refuses two active bookings
    # whose blocked ranges (service plus buffers) overlap for one staff member; the
    # booking service maps SQLSTATE 23P01 to "slot taken" (HTTP 409). SQLite serialises
    # writers with BEGIN IMMEDIATE instead.
    if conn.dialect.name == 'postgresql':
        op.execute('CREATE EXTENSION IF NOT EXISTS btree_gist')
        op.execute(
            "ALTER TABLE bookings ADD CONSTRAINT bookings_no_overlap EXCLUDE USING gist "
            "(staff_id WITH =, tstzrange(block_start, block_end, '[)') WITH &&) "
            "WHERE (status IN ('pending', 'confirmed'))"
        )

    # ### end Alembic commands ###


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER TABLE bookings DROP CONSTRAINT IF EXISTS bookings_no_overlap')
    with op.batch_alter_table('stores', schema=None) as batch_op:
        batch_op.drop_column('horizon_days')
        batch_op.drop_column('min_notice_min')
        batch_op.drop_column('slot_step_min')
        batch_op.drop_column('reschedule_window_min')
        batch_op.drop_column('cancel_window_min')
        batch_op.drop_column('acceptance_timeout_action')
        batch_op.drop_column('acceptance_timeout_min')
        batch_op.drop_column('acceptance_required')

    with op.batch_alter_table('staff_profiles', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_staff_profiles_calendar_token'), type_='unique')
        batch_op.drop_column('calendar_token')
        batch_op.drop_column('min_rest_days')
        batch_op.drop_column('max_minutes_week')

    with op.batch_alter_table('bookings', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_bookings_code'), type_='unique')
        batch_op.drop_column('code')

    with op.batch_alter_table('weekly_availability', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_weekly_availability_store_id'))
        batch_op.drop_index(batch_op.f('ix_weekly_availability_staff_id'))

    op.drop_table('weekly_availability')
    with op.batch_alter_table('time_off', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_time_off_staff_id'))

    op.drop_table('time_off')
    with op.batch_alter_table('roster_shifts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_roster_shifts_roster_id'))

    op.drop_table('roster_shifts')
    with op.batch_alter_table('coverage_rules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_coverage_rules_store_id'))

    op.drop_table('coverage_rules')
    with op.batch_alter_table('availability_overrides', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_availability_overrides_store_id'))
        batch_op.drop_index(batch_op.f('ix_availability_overrides_staff_id'))

    op.drop_table('availability_overrides')
    op.drop_table('rosters')
    op.drop_table('idempotency_keys')
    op.drop_table('api_tokens')
    # ### end Alembic commands ###
