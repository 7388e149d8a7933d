"""Magento's indexer tables (indexer_state, mview_state, `<view>_cl` changelogs): schema, reads and writes.

Set-based: one query per table to read the states, one per changelog for its backlog, and a constant
number of statements per chunk of entity ids when appending to a changelog.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from nacento_pipeline.core.chunks import chunked
from nacento_pipeline.core.reindex.decision import (
    DEFAULT_PURPOSES,
    IndexerState,
    Purpose,
    ReindexDecision,
    ThresholdSource,
    decide_reindex,
)

CHANGELOG_CHUNK = 1000  # Magento's mview applies changelogs in chunks of 1,000 ids too

# Which gallery/role tables each view subscribes to (Magento's mview.xml), with the column whose value
# the trigger writes into the changelog. `_media_gallery` hands over value_id, as Magento does.
SUBSCRIPTIONS: Mapping[str, Mapping[str, str]] = {
    "catalog_product_flat": {
        "catalog_product_entity_media_gallery_value": "entity_id",
        "catalog_product_entity_varchar": "entity_id",
    },
    "catalog_product_attribute": {"catalog_product_entity_varchar": "entity_id"},
    "catalogsearch_fulltext": {"catalog_product_entity_varchar": "entity_id"},
    "catalogrule_product": {
        "catalog_product_entity_media_gallery_value": "entity_id",
        "catalog_product_entity_media_gallery": "value_id",
        "catalog_product_entity_varchar": "entity_id",
    },
}
TRIGGER_EVENTS = ("insert", "update", "delete")
# The mview views whose changelog a gallery write reaches (the keys above): what the demo schema creates.
# Not the managed *indexers* (config.DEFAULT_INDEXERS); an indexer's view is named in read_indexer_states'
# view_map.
SUBSCRIBED_VIEWS = tuple(SUBSCRIPTIONS)

_UINT = sa.Integer().with_variant(mysql.INTEGER(unsigned=True), "mysql", "mariadb")


class IndexerSchemaError(RuntimeError):
    """The indexer tables cannot be used as expected (names the table or view)."""


def changelog_name(prefix: str, view_id: str) -> str:
    """The changelog table of a view, `<prefix><view_id>_cl`."""
    return f"{prefix}{view_id}_cl"


class IndexerTables:
    """SQLAlchemy Core tables of the indexer schema for one table prefix."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self.metadata = sa.MetaData()
        self.indexer_state = sa.Table(
            f"{prefix}indexer_state",
            self.metadata,
            sa.Column("state_id", _UINT, primary_key=True, autoincrement=True),
            sa.Column("indexer_id", sa.String(255), nullable=True, unique=True),
            sa.Column("status", sa.String(16), nullable=True, server_default="invalid"),
            sa.Column("updated", sa.DateTime, nullable=True),
            sa.Column("hash_config", sa.String(32), nullable=True),
        )
        self.mview_state = sa.Table(
            f"{prefix}mview_state",
            self.metadata,
            sa.Column("state_id", _UINT, primary_key=True, autoincrement=True),
            sa.Column("view_id", sa.String(255), nullable=True, unique=True),
            sa.Column("mode", sa.String(16), nullable=True, server_default="disabled"),
            sa.Column("status", sa.String(16), nullable=True, server_default="idle"),
            sa.Column("updated", sa.DateTime, nullable=True),
            sa.Column("version_id", _UINT, nullable=True),
        )
        self._changelogs: dict[str, sa.Table] = {}

    def changelog(self, view_id: str) -> sa.Table:
        """The `<view_id>_cl` table: version_id (auto) and the entity_id the triggers wrote."""
        if view_id not in self._changelogs:
            self._changelogs[view_id] = sa.Table(
                changelog_name(self.prefix, view_id),
                self.metadata,
                sa.Column("version_id", _UINT, primary_key=True, autoincrement=True),
                sa.Column("entity_id", _UINT, nullable=False, server_default="0"),
            )
        return self._changelogs[view_id]


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


# --- Schema (demo and tests) ------------------------------------------------------------------------------


def create_indexer_tables(
    engine: sa.Engine,
    prefix: str = "",
    views: Sequence[str] = SUBSCRIBED_VIEWS,
    with_triggers: bool = False,
) -> list[str]:
    """Create indexer_state, mview_state and a changelog per view, seeded like a fresh Magento install.

    Seeds (when missing) indexer_state 'valid' and mview_state mode 'enabled', status 'idle', version_id 0.
    With `with_triggers`, also creates Magento-style triggers on the subscribed gallery/role tables that
    already exist (see SUBSCRIPTIONS). Returns the names of the triggers created. Idempotent.
    """
    tables = IndexerTables(prefix)
    for view in views:
        tables.changelog(view)
    tables.metadata.create_all(engine, checkfirst=True)
    now = _now()
    with engine.begin() as conn:
        have = set(conn.execute(sa.select(tables.indexer_state.c.indexer_id)).scalars())
        missing = [v for v in views if v not in have]
        if missing:
            conn.execute(
                tables.indexer_state.insert(),
                [{"indexer_id": v, "status": "valid", "updated": now, "hash_config": None} for v in missing],
            )
        have = set(conn.execute(sa.select(tables.mview_state.c.view_id)).scalars())
        missing = [v for v in views if v not in have]
        if missing:
            conn.execute(
                tables.mview_state.insert(),
                [
                    {"view_id": v, "mode": "enabled", "status": "idle", "updated": now, "version_id": 0}
                    for v in missing
                ],
            )
    if not with_triggers:
        return []
    return create_changelog_triggers(engine, prefix, views)


def create_changelog_triggers(engine: sa.Engine, prefix: str, views: Sequence[str]) -> list[str]:
    """(Re)create one trigger per subscribed table and event writing into the views' changelogs.

    Like Magento, one trigger per (table, event) holds the inserts for every subscribed view, and an UPDATE
    writes to the changelogs only when some column's value really changed (`NOT(NEW.c <=> OLD.c) OR ...`,
    Magento's Mview View/Subscription::buildStatement).
    Tables that do not exist yet are skipped. MariaDB/MySQL and SQLite.
    """
    dialect = engine.dialect.name
    if dialect not in ("mysql", "mariadb", "sqlite"):
        raise IndexerSchemaError(f"changelog triggers are not supported on {dialect}")
    inspector = sa.inspect(engine)
    existing = set(inspector.get_table_names())
    by_table: dict[str, list[tuple[str, str]]] = {}
    for view in views:
        for table, column in SUBSCRIPTIONS.get(view, {}).items():
            by_table.setdefault(table, []).append((view, column))
    ignore = "INSERT IGNORE INTO" if dialect != "sqlite" else "INSERT OR IGNORE INTO"
    created = []
    with engine.begin() as conn:
        for table, targets in by_table.items():
            full_table = f"{prefix}{table}"
            if full_table not in existing:
                continue
            columns = {c["name"] for c in inspector.get_columns(full_table)}
            for event in TRIGGER_EVENTS:
                row = "OLD" if event == "delete" else "NEW"
                name = f"trg_{full_table}_after_{event}"
                body = " ".join(
                    f"{ignore} {changelog_name(prefix, view)} (entity_id) "
                    + _changelog_source(prefix, row, column, columns)
                    for view, column in targets
                )
                when = ""
                if event == "update":  # Magento's Mview Subscription: only when some column really changed
                    ordered = [c["name"] for c in inspector.get_columns(full_table)]
                    if dialect == "sqlite":
                        when = " WHEN " + " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in ordered)
                    else:
                        body = (
                            "IF ("
                            + " OR ".join(f"NOT(NEW.`{c}` <=> OLD.`{c}`)" for c in ordered)
                            + f") THEN {body} END IF;"
                        )
                conn.execute(sa.text(f"DROP TRIGGER IF EXISTS {name}"))
                conn.execute(
                    sa.text(
                        f"CREATE TRIGGER {name} AFTER {event.upper()} ON {full_table} "
                        f"FOR EACH ROW{when} BEGIN {body} END"
                    )
                )
                created.append(name)
    return created


def _changelog_source(prefix: str, row: str, column: str, columns: set[str]) -> str:
    """The VALUES clause of a changelog trigger: NEW.entity_id, or the entity_id of the row_id.

    On a row_id (content staging) table the entity_id is looked up from catalog_product_entity by row_id, like
    Adobe Commerce's triggers.
    """
    if column == "entity_id" and "entity_id" not in columns and "row_id" in columns:
        return f"SELECT entity_id FROM {prefix}catalog_product_entity WHERE row_id = {row}.row_id;"
    return f"VALUES ({row}.{column});"


# --- Reads --------------------------------------------------------------------------------------------------


def catalog_size(engine: sa.Engine, prefix: str = "") -> int:
    """Number of products; thresholds below 1 are a fraction of it.

    catalog_product_entity rows, or distinct entity_ids when the table has row_id (Adobe Commerce content
    staging keeps one row per scheduled version of a product).
    """
    name = f"{prefix}catalog_product_entity"
    columns = {c["name"] for c in sa.inspect(engine).get_columns(name)}
    entity = sa.table(name, sa.column("entity_id"))
    count = sa.func.count(sa.distinct(entity.c.entity_id)) if "row_id" in columns else sa.func.count()
    with engine.connect() as conn:
        return int(conn.execute(sa.select(count).select_from(entity)).scalar_one())


def read_indexer_states(
    engine: sa.Engine,
    prefix: str,
    indexers: Sequence[str],
    view_map: Mapping[str, str] | None = None,
) -> list[IndexerState]:
    """The state of each indexer (in the given order) with its view's mode/status/version and backlog.

    One query on indexer_state, one on mview_state, and one per existing changelog for the backlog
    (distinct entity ids above mview_state.version_id). Missing tables/rows read as not installed /
    no mview row (Update on Save).
    """
    views = {
        indexer: (view_map or {}).get(indexer, indexer) for indexer in indexers
    }  # view id = indexer id unless mapped
    tables = IndexerTables(prefix)
    existing = set(sa.inspect(engine).get_table_names())
    with engine.connect() as conn:
        statuses: dict[str, str] = {}
        if tables.indexer_state.name in existing and indexers:
            t = tables.indexer_state
            rows = conn.execute(
                sa.select(t.c.indexer_id, t.c.status).where(t.c.indexer_id.in_(list(indexers)))
            )
            statuses = {r.indexer_id: r.status or "invalid" for r in rows}
        mviews: dict[str, tuple[str, str, int]] = {}
        if tables.mview_state.name in existing and views:
            t = tables.mview_state
            rows = conn.execute(
                sa.select(t.c.view_id, t.c.mode, t.c.status, t.c.version_id).where(
                    t.c.view_id.in_(sorted(set(views.values())))
                )
            )
            mviews = {r.view_id: (r.mode or "", r.status or "", int(r.version_id or 0)) for r in rows}
        backlogs: dict[str, frozenset[int]] = {}
        for view in dict.fromkeys(views.values()):
            if view not in mviews or changelog_name(prefix, view) not in existing:
                continue
            cl = tables.changelog(view)
            ids = conn.execute(sa.select(cl.c.entity_id).distinct().where(cl.c.version_id > mviews[view][2]))
            backlogs[view] = frozenset(int(i) for i in ids.scalars())
    states = []
    for indexer in indexers:
        view = views[indexer]
        mode, mstatus, version = mviews.get(view, ("", "", 0))
        states.append(
            IndexerState(
                indexer_id=indexer,
                view_id=view,
                installed=indexer in statuses,
                status=statuses.get(indexer, ""),
                mview_mode=mode,
                mview_status=mstatus,
                version_id=version,
                changelog_exists=changelog_name(prefix, view) in existing,
                backlog_ids=backlogs.get(view, frozenset()),
            )
        )
    return states


def decide_from_database(
    engine: sa.Engine,
    prefix: str,
    indexers: Sequence[str],
    view_map: Mapping[str, str],
    changed_entity_ids: Iterable[int],
    thresholds: ThresholdSource,
    purposes: Sequence[Purpose] = DEFAULT_PURPOSES,
    default_threshold: float = 0.2,
) -> list[ReindexDecision]:
    """Read `indexers`' states (views in `view_map`) and the catalog size, then run the purpose chain."""
    states = read_indexer_states(engine, prefix, indexers, view_map)
    return decide_reindex(
        changed_entity_ids,
        states,
        catalog_size(engine, prefix),
        thresholds,
        purposes=purposes,
        default_threshold=default_threshold,
    )


# --- Writes -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChangelogAppend:
    """What appending ids to one view's changelog did."""

    view_id: str
    requested: int  # distinct ids asked for
    already_present: int  # already above version_id (written by triggers or an earlier run)
    inserted: int


def append_to_changelog(
    engine: sa.Engine, prefix: str, view_id: str, entity_ids: Iterable[int], chunk_size: int = CHANGELOG_CHUNK
) -> ChangelogAppend:
    """Make sure every id is in `<view>_cl` above the view's version_id, inserting only the missing ones.

    Idempotent: ids the triggers (or an earlier run) already wrote above version_id are not duplicated.
    One query for the version, one range scan for the pending ids (per chunk of ids when there are few,
    once over the whole backlog when there are many), then one multi-row INSERT per chunk, in one transaction.
    """
    ids = sorted({int(i) for i in entity_ids})
    tables = IndexerTables(prefix)
    cl = tables.changelog(view_id)
    mv = tables.mview_state
    present_total = inserted = 0
    with engine.begin() as conn:
        if not sa.inspect(conn).has_table(cl.name):
            raise IndexerSchemaError(f"changelog table {cl.name} of view {view_id} does not exist")
        version = conn.execute(sa.select(mv.c.version_id).where(mv.c.view_id == view_id)).scalar()
        version = int(version or 0)
        pending: set[int] | None = None
        if len(ids) > chunk_size:  # the backlog has no index on entity_id: scan it once, not once per chunk
            pending = set(
                conn.execute(sa.select(cl.c.entity_id).distinct().where(cl.c.version_id > version)).scalars()
            )
        for chunk in chunked(ids, chunk_size):
            if pending is not None:
                present = pending.intersection(chunk)
            else:
                present = set(
                    conn.execute(
                        sa.select(cl.c.entity_id)
                        .distinct()
                        .where(cl.c.version_id > version, cl.c.entity_id.in_(list(chunk)))
                    ).scalars()
                )
            missing = [i for i in chunk if i not in present]
            present_total += len(chunk) - len(missing)
            if missing:
                conn.execute(cl.insert(), [{"entity_id": i} for i in missing])
                inserted += len(missing)
    return ChangelogAppend(view_id, len(ids), present_total, inserted)


def invalidate_indexers(engine: sa.Engine, prefix: str, indexer_ids: Sequence[str]) -> list[str]:
    """Set indexer_state.status='invalid' so Magento's `indexer_reindex_all_invalid` cron rebuilds them.

    Never touches an indexer Magento is rebuilding ('working'). Returns the indexers now invalid.
    """
    if not indexer_ids:
        return []
    t = IndexerTables(prefix).indexer_state
    with engine.begin() as conn:
        conn.execute(
            t.update()
            .where(
                t.c.indexer_id.in_(list(indexer_ids)), sa.or_(t.c.status.is_(None), t.c.status != "working")
            )
            .values(status="invalid", updated=_now())
        )
        rows = conn.execute(
            sa.select(t.c.indexer_id).where(t.c.indexer_id.in_(list(indexer_ids)), t.c.status == "invalid")
        )
        return sorted(rows.scalars())
