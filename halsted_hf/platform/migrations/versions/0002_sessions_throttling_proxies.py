"""Browser sessions (web_sessions), the client of each sign-in attempt (throttling per client), and the
browser-playable proxy of a video.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: Union[str, None] = "0001"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # batch_alter_table: SQLite cannot ALTER most things in place; on PostgreSQL it is a plain ALTER.
    with op.batch_alter_table("login_attempts") as batch:
        batch.add_column(sa.Column("client", sa.String(100), nullable=True))
        batch.create_index("ix_login_attempts_client_at", ["client", "at"])
    with op.batch_alter_table("videos") as batch:
        batch.add_column(sa.Column("proxy_path", sa.String(500), nullable=True))
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("surgeon_id", sa.Integer(), sa.ForeignKey("surgeons.id", ondelete="CASCADE"), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=True, unique=True),
        sa.Column("grant_hash", sa.String(64), nullable=True, unique=True),
        sa.Column("grant_expires_at", sa.DateTime(), nullable=True),
        sa.Column("device_hash", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_web_sessions_surgeon_id", "web_sessions", ["surgeon_id"])
    op.create_index("ix_web_sessions_device_hash", "web_sessions", ["device_hash"])


def downgrade() -> None:
    op.drop_table("web_sessions")
    with op.batch_alter_table("videos") as batch:
        batch.drop_column("proxy_path")
    with op.batch_alter_table("login_attempts") as batch:
        batch.drop_index("ix_login_attempts_client_at")
        batch.drop_column("client")
