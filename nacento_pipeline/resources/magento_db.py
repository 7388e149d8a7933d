"""Magento's database (MariaDB/MySQL in production, SQLite for the embedded default)."""

from __future__ import annotations

import dagster as dg
from pydantic import Field, PrivateAttr

from nacento_pipeline.magento.database import MagentoDatabase
from nacento_pipeline.resources.wiring import make_database, resolved


class MagentoDatabaseResource(dg.ConfigurableResource):
    """The database NACENTO_MAGENTO_DB_URL names, its table prefix, session timeouts and write chunks.

    `url` is a secret: an `EnvVar` when it came from the environment, so the UI never shows it.
    """

    url: str = Field(description="SQLAlchemy URL of Magento's database (a secret).")
    table_prefix: str = Field(description="Magento's table prefix.")
    connect_timeout_seconds: int = Field(description="MySQL/MariaDB: timeout of opening a connection.")
    read_timeout_seconds: int = Field(description="MySQL/MariaDB: longest wait for a server's answer.")
    write_timeout_seconds: int = Field(description="MySQL/MariaDB: longest wait for sending a statement.")
    lock_wait_timeout_seconds: int = Field(description="MySQL/MariaDB: every session's lock-wait timeouts.")
    chunk_size: int = Field(description="SKUs per transaction (the batch write and the revert).")
    journal_retention_days: int = Field(
        description="Days the undo journal keeps a batch's before-images (the revert and the audit's prune)."
    )
    create_own_tables: bool = Field(default=True, description="Create the pipeline's own tables if missing.")

    _db: MagentoDatabase | None = PrivateAttr(default=None)

    def get_database(self) -> MagentoDatabase:
        """The database (built once per resource instance; own tables created unless told not to)."""
        if self._db is None:
            self._db = make_database(
                resolved(self.url),
                prefix=self.table_prefix,
                connect_timeout=self.connect_timeout_seconds,
                read_timeout=self.read_timeout_seconds,
                write_timeout=self.write_timeout_seconds,
                lock_wait_timeout=self.lock_wait_timeout_seconds,
                create_own_tables=self.create_own_tables,
            )
        return self._db

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        """Dispose of the connection pool after the step."""
        if self._db is not None:
            self._db.dispose()
            self._db = None
