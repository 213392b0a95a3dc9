"""Idempotent submissions (a key per press of Submit, unique, so a retried write is stored
once) and the app's own keys (the secret that signs the resume-code cookie).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("attempts") as batch:
        batch.add_column(sa.Column("submission_key", sa.String(64), nullable=True))
    op.create_index("ux_attempts_submission_key", "attempts", ["submission_key"], unique=True)
    op.create_table(
        "app_keys",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("app_keys")
    op.drop_index("ux_attempts_submission_key", table_name="attempts")
    with op.batch_alter_table("attempts") as batch:
        batch.drop_column("submission_key")
