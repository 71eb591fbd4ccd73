"""Coaching examples and reviews keyed by (mention, stage); examples carry score, reason and playbook suggestion.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07

Before, one library row per mention meant that pulling a mention under another stage moved an
already reviewed example there. Existing rows keep their stage; each review gets the stage of the
example it was made on. ``coaching_review`` is copied aside and rebuilt (on SQLite rebuilding the
example table would otherwise cascade-delete the reviews). Downgrading keeps, per mention, the most
recently selected example and the reviews made on it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=False)
_ASIDE = "_coaching_review_0005"
_REVIEW_FIELDS = "mention_id, action, new_label, reviewer, note, decided_at"


def _review_table(*, per_stage: bool) -> None:
    key = ["mention_id", "stage"] if per_stage else ["mention_id"]
    op.create_table(
        "coaching_review",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("mention_id", sa.String(32), nullable=False),
        *([sa.Column("stage", sa.String(100), nullable=False)] if per_stage else []),
        sa.Column("action", sa.String(10), nullable=False),
        sa.Column("new_label", sa.String(10), nullable=True),
        sa.Column("reviewer", sa.String(200), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("decided_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(key, [f"coaching_example.{c}" for c in key],
                                name="fk_coaching_review_mention_id_coaching_example", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_coaching_review"),
    )
    op.create_index(f"ix_coaching_review_{'_'.join(key)}", "coaching_review", key)


def upgrade() -> None:
    op.execute(
        f"CREATE TABLE {_ASIDE} AS SELECT r.id AS id, r.mention_id AS mention_id, e.stage AS stage, r.action AS action, "
        "r.new_label AS new_label, r.reviewer AS reviewer, r.note AS note, r.decided_at AS decided_at "
        "FROM coaching_review r JOIN coaching_example e ON e.mention_id = r.mention_id"
    )
    op.drop_index("ix_coaching_review_mention_id", table_name="coaching_review")
    op.drop_table("coaching_review")
    with op.batch_alter_table("coaching_example") as batch:
        batch.drop_constraint("pk_coaching_example", type_="primary")
        batch.create_primary_key("pk_coaching_example", ["mention_id", "stage"])
        batch.add_column(sa.Column("exit_signal", sa.String(100), nullable=True))
        batch.add_column(sa.Column("score", sa.Float(), nullable=False, server_default="0"))
        for name, length in (("reason", None), ("playbook_rule", 100), ("suggested_action", None),
                             ("suggested_reply", None)):
            column_type = sa.String(length) if length else sa.Text()
            batch.add_column(sa.Column(name, column_type, nullable=False, server_default=""))
    with op.batch_alter_table("coaching_example") as batch:  # the defaults only filled existing rows
        for name in ("score", "reason", "playbook_rule", "suggested_action", "suggested_reply"):
            batch.alter_column(name, server_default=None)
    _review_table(per_stage=True)
    op.execute(f"INSERT INTO coaching_review (mention_id, stage, action, new_label, reviewer, note, decided_at) "
               f"SELECT mention_id, stage, action, new_label, reviewer, note, decided_at FROM {_ASIDE} ORDER BY id")
    op.drop_table(_ASIDE)


def downgrade() -> None:
    # Keep one example per mention: the most recently selected (then the first stage by name).
    op.execute(
        "DELETE FROM coaching_example WHERE EXISTS (SELECT 1 FROM coaching_example newer "
        "WHERE newer.mention_id = coaching_example.mention_id AND (newer.selected_at > coaching_example.selected_at "
        "OR (newer.selected_at = coaching_example.selected_at AND newer.stage < coaching_example.stage)))"
    )
    op.execute(
        f"CREATE TABLE {_ASIDE} AS SELECT r.id AS id, r.mention_id AS mention_id, r.action AS action, "
        "r.new_label AS new_label, r.reviewer AS reviewer, r.note AS note, r.decided_at AS decided_at "
        "FROM coaching_review r JOIN coaching_example e ON e.mention_id = r.mention_id AND e.stage = r.stage"
    )
    op.drop_index("ix_coaching_review_mention_id_stage", table_name="coaching_review")
    op.drop_table("coaching_review")
    with op.batch_alter_table("coaching_example") as batch:
        for name in ("exit_signal", "score", "reason", "playbook_rule", "suggested_action", "suggested_reply"):
            batch.drop_column(name)
        batch.drop_constraint("pk_coaching_example", type_="primary")
        batch.create_primary_key("pk_coaching_example", ["mention_id"])
    _review_table(per_stage=False)
    op.execute(f"INSERT INTO coaching_review ({_REVIEW_FIELDS}) SELECT {_REVIEW_FIELDS} FROM {_ASIDE} ORDER BY id")
    op.drop_table(_ASIDE)
