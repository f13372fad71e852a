"""durable jobs: the database is the source of truth for work to do

* ``jobs`` is the outbox of both runners (in process and rq): ``handed_at`` says when a
  row was handed to rq (status ``enqueued``), ``started_at`` when the running attempt
  claimed it (``run_at`` no longer doubles as the claim time, and ``attempts`` now counts
  the claims, the running one included);
* one index (status, run_at) serves every runner query (due rows, rows handed over or
  running, finished rows to purge) and replaces the two single-column ones.

Revision ID: c0012
Revises: c0011
Create Date: 2026-12-02 19:10:00
"""

from alembic import op
import sqlalchemy as sa


revision = 'c0012'
down_revision = 'c0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('handed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('started_at', sa.DateTime(timezone=True),
                                      nullable=True))
        batch_op.drop_index(batch_op.f('ix_jobs_status'))
        batch_op.drop_index(batch_op.f('ix_jobs_run_at'))
        batch_op.create_index('ix_jobs_status_run_at', ['status', 'run_at'], unique=False)
    # a row running at the upgrade was claimed at its run_at, and its attempt is counted now
    op.execute("UPDATE jobs SET started_at = run_at, attempts = attempts + 1 "
               "WHERE status = 'running'")


def downgrade() -> None:
    op.execute("UPDATE jobs SET run_at = started_at, attempts = attempts - 1 "
               "WHERE status = 'running' AND started_at IS NOT NULL")
    op.execute("UPDATE jobs SET status = 'queued' WHERE status = 'enqueued'")
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_jobs_status_run_at')
        batch_op.create_index(batch_op.f('ix_jobs_run_at'), ['run_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_jobs_status'), ['status'], unique=False)
        batch_op.drop_column('started_at')
        batch_op.drop_column('handed_at')
