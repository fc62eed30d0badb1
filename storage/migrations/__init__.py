"""Alembic migrations, written by hand. Run them with `storage.db.migrate(url)`."""
