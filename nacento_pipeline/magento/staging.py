r"""Adobe Commerce content staging: which version of a staged product the storefront shows.

On a content-staging schema every product has one `catalog_product_entity` row per version (`row_id`), each
valid for the versions [created_in, updated_in). Magento does not pick the live one by the clock: its version
manager (`Magento\Staging\Model\VersionManager`) serves the *current version*, which the staging cron
(`staging_apply_version`) advances to the newest `staging_update` that has started, and which it keeps in the
`flag` table row with `flag_code` 'staging' (`Magento\Staging\Model\VersionHistory`, a `Framework\Flag`),
under the key `current_version` of its `flag_data`. Until that cron runs, an update whose start time has
passed is not live yet. `Framework\Flag` stores `flag_data` as JSON (2.2 and later) and reads PHP-serialized
values of older installs; both are read here.

Magento_Staging is not in Magento's public repository: the flag code, the key and the version rule are
inferred from what is public (the `flag` table, `Framework\Flag`, `staging_update`, the created_in/updated_in
columns and the live-row condition `created_in <= version < updated_in` of the staged entities' reads).
Without the flag row (or with a value that is no version) the current Unix time is used, as the staging cron
would set it.
"""

from __future__ import annotations

import json
import re
import time

import sqlalchemy as sa

from nacento_pipeline.magento.schema import MagentoTables

STAGING_FLAG_CODE = "staging"
MIN_VERSION, MAX_VERSION = 1, 2_147_483_647
_SERIALIZED = re.compile(r's:15:"current_version";(?:i:(\d+)|s:\d+:"(\d+)")')


def parse_flag_data(flag_data: str | bytes | None) -> int | None:
    """The `current_version` of a staging flag's data (JSON, or PHP-serialized as older installs wrote it).

    None when it holds no version.
    """
    if flag_data is None:
        return None
    text = flag_data.decode("utf-8", "replace") if isinstance(flag_data, bytes) else str(flag_data)
    try:
        data = json.loads(text)
    except ValueError:
        match = _SERIALIZED.search(text)
        return int(match.group(1) or match.group(2)) if match else None
    value = data.get("current_version") if isinstance(data, dict) else None
    if isinstance(value, bool) or value is None:
        return None
    try:
        version = int(str(value).strip())
    except ValueError:
        return None
    return version if MIN_VERSION <= version <= MAX_VERSION else None


def flag_table(tables: MagentoTables) -> sa.TableClause:
    """Magento's `flag` table (flag_code, flag_data), with the prefix."""
    return sa.table(tables.name("flag"), sa.column("flag_code"), sa.column("flag_data"))


def current_version(conn: sa.Connection, tables: MagentoTables) -> int:
    """The staging version the storefront shows: the staging flag's `current_version`, else the time now."""
    if sa.inspect(conn).has_table(tables.name("flag")):
        flag = flag_table(tables)
        data = conn.execute(sa.select(flag.c.flag_data).where(flag.c.flag_code == STAGING_FLAG_CODE)).scalar()
        version = parse_flag_data(data)
        if version is not None:
            return version
    return int(time.time())
