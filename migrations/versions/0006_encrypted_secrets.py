"""secrets at rest: encrypt every stored secret value with the install's Fernet key

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 10:00:00.000000

Data only, the schema is unchanged (the columns stay JSON): a run's secret values
(``executions.secret_params``) and a schedule's params become one Fernet token each (a JSON
string); a secret parameter's default in ``scripts.parameters`` and ``script_versions.parameters``
becomes ``{"encrypted": token}`` (see backend/services/secretbox.py and backend/models/encrypted.py).

The key is the app's (``current_app.extensions["scriptman.secretbox"]``: SCRIPTMAN_SECRETS_KEY, else
``data/secrets.key`` under SCRIPTMAN_HOME, made now if missing), never stored in the database.
Values already encrypted are left alone, so a re-run after an interruption finishes the job.
Downgrade decrypts them back to plain values.

This walks its own fixed list of columns rather than the live one in
backend/services/secret_storage.py, so that later changes there cannot change what this does.
"""
from flask import current_app
from alembic import op
import sqlalchemy as sa

from backend.secretbox import EXTENSION, SEALED, is_sealed_default, map_secret_defaults


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

BATCH = 500
WHOLE = (('executions', 'secret_params'), ('schedules', 'params'))
DEFINITIONS = (('scripts', 'parameters'), ('script_versions', 'parameters'))


def _box():
    return current_app.extensions[EXTENSION]


def _walk(table_name, column_name, change):
    """Apply ``change`` to every non-null stored value; write back the ones it changed."""
    bind = op.get_bind()
    table = sa.table(table_name, sa.column('id', sa.Integer), sa.column(column_name, sa.JSON))
    column = table.c[column_name]
    last = 0
    while True:
        rows = bind.execute(
            sa.select(table.c.id, column).where(table.c.id > last).order_by(table.c.id).limit(BATCH)
        ).all()
        if not rows:
            return
        for row_id, value in rows:
            if value is not None:
                new = change(value)
                if new != value:
                    bind.execute(sa.update(table).where(table.c.id == row_id).values({column_name: new}))
        last = rows[-1][0]


def _zero_freed_space():
    """SQLite keeps what an UPDATE replaced in free space unless told to zero it (secure_delete).

    On for this connection while the rows are rewritten, so the replaced plain values are zeroed;
    env.py then truncates the WAL, whose older frames still hold them.
    """
    bind = op.get_bind()
    if bind.dialect.name == 'sqlite':
        bind.exec_driver_sql('PRAGMA secure_delete=ON')


def upgrade():
    box = _box()
    _zero_freed_space()

    def seal_whole(value):
        return value if isinstance(value, str) else box.encrypt_json(value)

    def seal_default(default):
        return default if is_sealed_default(default) else {SEALED: box.encrypt_json(default)}

    def seal_definitions(value):
        return map_secret_defaults(value, seal_default) if isinstance(value, list) else value

    for table_name, column_name in WHOLE:
        _walk(table_name, column_name, seal_whole)
    for table_name, column_name in DEFINITIONS:
        _walk(table_name, column_name, seal_definitions)


def downgrade():
    box = _box()
    _zero_freed_space()

    def open_whole(value):
        return box.decrypt_json(value) if isinstance(value, str) else value

    def open_default(default):
        return box.decrypt_json(default[SEALED]) if is_sealed_default(default) else default

    def open_definitions(value):
        return map_secret_defaults(value, open_default) if isinstance(value, list) else value

    for table_name, column_name in WHOLE:
        _walk(table_name, column_name, open_whole)
    for table_name, column_name in DEFINITIONS:
        _walk(table_name, column_name, open_definitions)
