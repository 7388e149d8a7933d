"""Magento's database (MariaDB/MySQL in production, SQLite for the embedded default)."""

from __future__ import annotations

import dagster as dg
from pydantic import PrivateAttr

from nacento_pipeline.magento.database import MagentoDatabase
from nacento_pipeline.resources.settings import ReadsSettings
from nacento_pipeline.resources.wiring import make_database


class MagentoDatabaseResource(ReadsSettings):
    """The database NACENTO_MAGENTO_DB_URL names (a secret: EnvVar), with NACENTO_TABLE_PREFIX."""

    create_own_tables: bool = True

    _db: MagentoDatabase | None = PrivateAttr(default=None)

    @property
    def url(self) -> str:
        """The URL as configured: an EnvVar when it came from the environment (so it is never shown)."""
        return self.nacento.magento_db_url

    def get_database(self) -> MagentoDatabase:
        if self._db is None:
            self._db = make_database(self.settings, self.create_own_tables)
        return self._db

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._db is not None:
            self._db.dispose()
            self._db = None
