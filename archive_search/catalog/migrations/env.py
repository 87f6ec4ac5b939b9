"""Alembic environment: runs on the connection handed over by ``archive_search.catalog.db.migrate``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from archive_search.catalog.models import Base

config = context.config
target_metadata = Base.metadata

connection = config.attributes.get("connection")
if connection is not None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
else:  # command-line use: alembic -x url=... upgrade head
    url = context.get_x_argument(as_dictionary=True)["url"]
    engine = create_engine(url)
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
