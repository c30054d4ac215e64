"""The Store on PostgreSQL (asyncpg): several whistle processes on one database."""

from whistle.store.postgres.store import PostgresStore

__all__ = ["PostgresStore"]
