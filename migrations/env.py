"""Alembic environment for the learner database (see core/store.py).

The app runs migrations through ``LearnerStore.migrate``, which passes its own connection in
``config.attributes["connection"]``. From a shell, for a class database:

    LAB_DATABASE_URL=postgresql+psycopg://user:pw@host/db \\
        python -c "from core.store import LearnerStore; LearnerStore.from_url(__import__('os').environ['LAB_DATABASE_URL']).migrate()"
"""

from alembic import context

from core.store import make_engine, metadata

config = context.config
connection = config.attributes.get("connection")


def run(conn) -> None:
    # render_as_batch: SQLite alters tables by copying them; PostgreSQL ignores it.
    context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if connection is not None:
    run(connection)
else:
    with make_engine(config.get_main_option("sqlalchemy.url")).begin() as conn:
        run(conn)
