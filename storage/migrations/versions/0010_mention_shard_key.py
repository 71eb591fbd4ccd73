"""Mention shard key: a fixed hash of the mention id that splits enrichment into disjoint shards.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07

``shard_key`` = the first 31 bits of SHA-256 of the mention id (``storage.ingest.shard_key``, copied
here so that this revision never changes); enrichment shard ``k`` of ``n`` holds the mentions with
``shard_key % n = k``. Existing rows are filled in batches; the column's server default only exists
because SQLite cannot add a NOT NULL column without one.
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_BATCH = 1000


def _shard_key(mention_id: str) -> int:
    return int.from_bytes(hashlib.sha256(mention_id.encode("utf-8", "surrogatepass")).digest()[:4], "big") >> 1


def upgrade() -> None:
    op.add_column("mention", sa.Column("shard_key", sa.Integer(), nullable=False, server_default=sa.text("0")))
    conn = op.get_bind()
    mention = sa.table("mention", sa.column("id", sa.String(32)), sa.column("shard_key", sa.Integer()))
    update = mention.update().where(mention.c.id == sa.bindparam("b_id")).values(shard_key=sa.bindparam("b_key"))
    after = ""
    while ids := conn.execute(
        sa.select(mention.c.id).where(mention.c.id > after).order_by(mention.c.id).limit(_BATCH)
    ).scalars().all():
        conn.execute(update, [{"b_id": mention_id, "b_key": _shard_key(mention_id)} for mention_id in ids])
        after = ids[-1]


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite >= 3.35): a batch rebuild would drop the mention table, and with it (ON DELETE
    # CASCADE) every annotation.
    op.drop_column("mention", "shard_key")
