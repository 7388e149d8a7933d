"""Magento's database (MariaDB/MySQL in production, SQLite for the embedded default)."""

from __future__ import annotations

import dagster as dg
from pydantic import PrivateAttr

from nacento_pipeline.core.modes import DEFAULT_SYNC_MODE
from nacento_pipeline.magento.database import MagentoDatabase


class MagentoDatabaseResource(dg.ConfigurableResource):
    """A SQLAlchemy URL (a secret: pass it as EnvVar) plus how the sync engine writes."""

    url: str
    table_prefix: str = ""
    sync_mode: str = DEFAULT_SYNC_MODE
    chunk_size: int = 500
    unknown_sku_severity: str = "warn"
    create_own_tables: bool = True

    _db: MagentoDatabase | None = PrivateAttr(default=None)

    def get_database(self) -> MagentoDatabase:
        if self._db is None:
            db = MagentoDatabase(self.url, prefix=self.table_prefix)
            if self.create_own_tables:
                db.ensure_own_tables()
            self._db = db
        return self._db

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._db is not None:
            self._db.dispose()
            self._db = None
