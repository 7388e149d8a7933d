"""SQLAlchemy Core tables of Magento 2.4.8 the pipeline touches, plus our own tables, with a table prefix.

Types follow Magento's declarative schema (UNSIGNED through MySQL variants). `link_column` is `entity_id`
on Magento Open Source and `row_id` on Adobe Commerce with content staging.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from nacento_pipeline.core.delta.roles import ordered_roles

LINK_COLUMNS = ("entity_id", "row_id")

UInt = sa.Integer().with_variant(mysql.INTEGER(unsigned=True), "mysql", "mariadb")
USmallInt = sa.SmallInteger().with_variant(mysql.SMALLINT(unsigned=True), "mysql", "mariadb")
SmallInt = sa.SmallInteger()
# Microseconds kept: batch times are compared for staleness and equality (plain DATETIME would round them).
PreciseDateTime = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


class SchemaError(RuntimeError):
    """Magento's schema lacks something the pipeline needs (names the table/attribute)."""

    def __init__(self, table: str, message: str) -> None:
        super().__init__(f"{table}: {message}")
        self.table = table


def _short_name(constraint: sa.Constraint | sa.Index, table: sa.Table) -> str:
    """Index/constraint names within MySQL's 64 characters, unique per database (SQLite has one namespace)."""
    # every Constraint we name is a ColumnCollectionConstraint
    columns = "_".join(c.name for c in constraint.columns)  # type: ignore[union-attr]
    digest = hashlib.md5(f"{table.name}:{columns}".encode()).hexdigest()[:12].upper()
    return f"{table.name[:36]}_{digest}"


NAMING_CONVENTION: dict[str, Any] = {
    "nacento_short": _short_name,
    "ix": "IX_%(nacento_short)s",
    "uq": "UQ_%(nacento_short)s",
    "fk": "FK_%(nacento_short)s",  # MariaDB's own `<table>_ibfk_N` overflows 64 characters with long prefixes
}


def _timestamp_default(dialect_name: str, on_update: bool) -> sa.TextClause:
    if on_update and dialect_name in ("mysql", "mariadb"):
        return sa.text("CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP")
    return sa.text("CURRENT_TIMESTAMP")


@dataclass(frozen=True)
class MagentoTables:
    """The tables, named with the prefix; `link` is the value tables' product column name."""

    metadata: sa.MetaData
    prefix: str
    link: str
    product: sa.Table
    entity_type: sa.Table
    attribute: sa.Table
    store: sa.Table
    website: sa.Table
    media_gallery: sa.Table
    media_gallery_value: sa.Table
    value_to_entity: sa.Table
    varchar: sa.Table
    gallery_meta: sa.Table
    sku_sync_state: sa.Table
    sku_digest: sa.Table
    batch_journal: sa.Table
    media_feed_event: sa.Table
    media_etag: sa.Table
    media_feed_state: sa.Table

    @property
    def magento_tables(self) -> list[sa.Table]:
        """The Magento tables the pipeline reads or writes."""
        return [
            self.store,
            self.entity_type,
            self.attribute,
            self.product,
            self.media_gallery,
            self.media_gallery_value,
            self.value_to_entity,
            self.varchar,
        ]

    @property
    def own_tables(self) -> list[sa.Table]:
        """The pipeline's own tables (never Magento's)."""
        return [
            self.gallery_meta,
            self.sku_sync_state,
            self.sku_digest,
            self.batch_journal,
            self.media_feed_event,
            self.media_etag,
            self.media_feed_state,
        ]

    def name(self, bare: str) -> str:
        """A table name with the install's prefix."""
        return f"{self.prefix}{bare}"


def build_tables(prefix: str = "", *, link: str = "entity_id", dialect_name: str = "sqlite") -> MagentoTables:
    """Table objects for `prefix`; `dialect_name` only shapes DDL defaults (ON UPDATE CURRENT_TIMESTAMP)."""
    if link not in LINK_COLUMNS:
        raise ValueError(f"link={link!r}: expected one of {LINK_COLUMNS}")
    md = sa.MetaData(naming_convention=NAMING_CONVENTION)
    p = prefix

    def fk(table: str, column: str) -> sa.ForeignKey:
        return sa.ForeignKey(f"{p}{table}.{column}", ondelete="CASCADE")

    store = sa.Table(
        f"{p}store",
        md,
        sa.Column("store_id", USmallInt, primary_key=True, autoincrement=True),
        sa.Column("code", sa.String(32), unique=True),
        sa.Column("website_id", USmallInt, nullable=False, server_default="0"),
        sa.Column("group_id", USmallInt, nullable=False, server_default="0"),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("sort_order", USmallInt, nullable=False, server_default="0"),
        sa.Column("is_active", USmallInt, nullable=False, server_default="0"),
    )
    website = sa.Table(  # the websites the store views belong to (an Akeneo channel maps to one)
        f"{p}store_website",
        md,
        sa.Column("website_id", USmallInt, primary_key=True, autoincrement=True),
        sa.Column("code", sa.String(32), unique=True),
        sa.Column("name", sa.String(64)),
    )
    entity_type = sa.Table(
        f"{p}eav_entity_type",
        md,
        sa.Column("entity_type_id", USmallInt, primary_key=True, autoincrement=True),
        sa.Column("entity_type_code", sa.String(50), nullable=False),
        sa.Column("entity_model", sa.String(255), nullable=False, server_default=""),
        sa.Column("entity_table", sa.String(255)),
    )
    attribute = sa.Table(
        f"{p}eav_attribute",
        md,
        sa.Column("attribute_id", USmallInt, primary_key=True, autoincrement=True),
        sa.Column(
            "entity_type_id",
            USmallInt,
            fk("eav_entity_type", "entity_type_id"),
            nullable=False,
            server_default="0",
        ),
        sa.Column("attribute_code", sa.String(255), nullable=False),
        sa.Column("backend_type", sa.String(8), nullable=False, server_default="static"),
        sa.Column("frontend_input", sa.String(50)),
        sa.Column("frontend_label", sa.String(255)),
        sa.UniqueConstraint("entity_type_id", "attribute_code"),
    )
    product_columns: list[sa.Column] = []
    if link == "row_id":
        product_columns += [
            sa.Column("row_id", UInt, primary_key=True, autoincrement=True),
            sa.Column("entity_id", UInt, nullable=False, index=True),
            sa.Column("created_in", sa.BigInteger, nullable=False, server_default="1"),
            sa.Column("updated_in", sa.BigInteger, nullable=False, server_default="2147483647"),
        ]
    else:
        product_columns.append(sa.Column("entity_id", UInt, primary_key=True, autoincrement=True))
    product = sa.Table(
        f"{p}catalog_product_entity",
        md,
        *product_columns,
        sa.Column("attribute_set_id", USmallInt, nullable=False, server_default="0"),
        sa.Column("type_id", sa.String(32), nullable=False, server_default="simple"),
        sa.Column("sku", sa.String(64), nullable=False, index=True),
        sa.Column("has_options", SmallInt, nullable=False, server_default="0"),
        sa.Column("required_options", USmallInt, nullable=False, server_default="0"),
        sa.Column(
            "created_at", sa.TIMESTAMP, nullable=False, server_default=_timestamp_default(dialect_name, False)
        ),
        sa.Column(
            "updated_at", sa.TIMESTAMP, nullable=False, server_default=_timestamp_default(dialect_name, True)
        ),
    )
    media_gallery = sa.Table(
        f"{p}catalog_product_entity_media_gallery",
        md,
        sa.Column("value_id", UInt, primary_key=True, autoincrement=True),
        sa.Column(
            "attribute_id",
            USmallInt,
            fk("eav_attribute", "attribute_id"),
            nullable=False,
            server_default="0",
            index=True,
        ),
        sa.Column("value", sa.String(255)),
        sa.Column("media_type", sa.String(32), nullable=False, server_default="image"),
        sa.Column("disabled", USmallInt, nullable=False, server_default="0"),
    )
    media_gallery_value = sa.Table(
        f"{p}catalog_product_entity_media_gallery_value",
        md,
        sa.Column(
            "value_id",
            UInt,
            fk("catalog_product_entity_media_gallery", "value_id"),
            nullable=False,
            server_default="0",
            index=True,
        ),
        sa.Column(
            "store_id", USmallInt, fk("store", "store_id"), nullable=False, server_default="0", index=True
        ),
        sa.Column(
            link, UInt, fk("catalog_product_entity", link), nullable=False, server_default="0", index=True
        ),
        sa.Column("label", sa.String(255)),
        sa.Column("position", UInt),
        sa.Column("disabled", USmallInt, nullable=False, server_default="0"),
        sa.Column("record_id", UInt, primary_key=True, autoincrement=True),
        sa.Index(None, link, "value_id", "store_id"),
    )
    value_to_entity = sa.Table(
        f"{p}catalog_product_entity_media_gallery_value_to_entity",
        md,
        sa.Column("value_id", UInt, fk("catalog_product_entity_media_gallery", "value_id"), primary_key=True),
        sa.Column(link, UInt, fk("catalog_product_entity", link), primary_key=True, index=True),
    )
    varchar = sa.Table(
        f"{p}catalog_product_entity_varchar",
        md,
        sa.Column("value_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "attribute_id",
            USmallInt,
            fk("eav_attribute", "attribute_id"),
            nullable=False,
            server_default="0",
            index=True,
        ),
        sa.Column(
            "store_id", USmallInt, fk("store", "store_id"), nullable=False, server_default="0", index=True
        ),
        sa.Column(link, UInt, fk("catalog_product_entity", link), nullable=False, server_default="0"),
        sa.Column("value", sa.String(255)),
        sa.UniqueConstraint(link, "attribute_id", "store_id"),
    )
    gallery_meta = sa.Table(
        f"{p}nacento_media_gallery_meta",
        md,
        sa.Column(
            "record_id",
            UInt,
            fk("catalog_product_entity_media_gallery_value", "record_id"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("s3_etag", sa.String(255), nullable=True),
        sa.Column(
            "updated_at", sa.TIMESTAMP, nullable=False, server_default=_timestamp_default(dialect_name, True)
        ),
    )
    sku_sync_state = sa.Table(
        f"{p}nacento_sku_sync_state",
        md,
        sa.Column("sku", sa.String(64), primary_key=True),
        sa.Column("entity_id", UInt, nullable=True),
        sa.Column("last_batch_key", sa.String(255), nullable=True),
        sa.Column("last_batch_time", PreciseDateTime, nullable=True),  # naive UTC: the batch's drop time
        sa.Column("last_status", sa.String(16), nullable=True),
        sa.Column("last_run_id", sa.String(64), nullable=True),
        sa.Column(
            "updated_at", sa.TIMESTAMP, nullable=False, server_default=_timestamp_default(dialect_name, True)
        ),
    )
    sku_digest = sa.Table(  # what was applied per SKU (magento.gallery.digest)
        f"{p}nacento_sku_gallery_digest",
        md,
        sa.Column("sku", sa.String(64), primary_key=True),
        sa.Column("link_id", UInt, nullable=False),  # the product's link (entity_id, or row_id) when applied
        sa.Column("plan_digest", sa.String(32), nullable=False),  # core.gallery_digest.planned_digests
        sa.Column("product_updated_at", sa.TIMESTAMP, nullable=True),  # the product's updated_at right after
        sa.Column("gallery_checksum", sa.BigInteger, nullable=True),  # its gallery rows right after
        sa.Column("batch_key", sa.String(255), nullable=True),
        sa.Column(
            "updated_at", sa.TIMESTAMP, nullable=False, server_default=_timestamp_default(dialect_name, True)
        ),
    )
    # The undo journal: per batch and product, the compressed before-image of every row the batch's write
    # touched (magento.journal), and the fingerprint of what the write left. No foreign key: it outlives the
    # rows.
    batch_journal = sa.Table(
        f"{p}nacento_batch_journal",
        md,
        sa.Column(
            "journal_id",
            sa.BigInteger()
            .with_variant(mysql.BIGINT(unsigned=True), "mysql", "mariadb")
            .with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("batch_key", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False, server_default="batch"),  # batch | revert
        sa.Column(
            "scope", sa.String(8), nullable=False, server_default="gallery"
        ),  # gallery | sync (magento.journal)
        sa.Column("sku", sa.String(64), nullable=False),
        sa.Column("entity_id", UInt, nullable=False),
        sa.Column("link_id", UInt, nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False, server_default=""),
        sa.Column(
            "before_image",
            sa.LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb"),
            nullable=False,
        ),
        sa.Column("after_fingerprint", sa.String(32), nullable=False),
        sa.Column("reverted_by", sa.String(64), nullable=True),
        sa.Column(
            "created_at", sa.TIMESTAMP, nullable=False, server_default=_timestamp_default(dialect_name, False)
        ),
        sa.UniqueConstraint("batch_key", "link_id"),
        sa.Index(None, "created_at"),
    )
    # The media change feed (magento.media_feed): the bucket's events for the media prefix, the last known
    # state of every media key a snapshot looked up, and when the last full snapshot ran. Object keys of
    # Magento's layout (prefix + a 255-character gallery value) fit 512 characters; no foreign key, they
    # describe the bucket.
    media_feed_event = sa.Table(
        f"{p}nacento_media_feed_event",
        md,
        sa.Column(
            "event_id",
            sa.BigInteger()
            .with_variant(mysql.BIGINT(unsigned=True), "mysql", "mariadb")
            .with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("object_key", sa.String(512), nullable=False),
        sa.Column("created", sa.Boolean, nullable=False),  # ObjectCreated (True) or ObjectRemoved
        sa.Column("etag", sa.String(255), nullable=True),  # when the event carries it
        sa.Column("event_time", PreciseDateTime, nullable=True),  # naive UTC, the event's own
        sa.Column(
            "received_at", PreciseDateTime, nullable=False
        ),  # naive UTC, when the snapshot step drained it
        sa.Index(None, "received_at"),
    )
    media_etag = sa.Table(
        f"{p}nacento_media_etag",
        md,
        sa.Column("object_key", sa.String(512), primary_key=True),
        sa.Column("present", sa.Boolean, nullable=False),
        sa.Column("etag", sa.String(255), nullable=False, server_default=""),
        sa.Column("size", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("content_type", sa.String(255), nullable=False, server_default=""),
        sa.Column("seen_at", PreciseDateTime, nullable=False),  # naive UTC, the snapshot that looked it up
    )
    media_feed_state = sa.Table(
        f"{p}nacento_media_feed_state",
        md,
        sa.Column("name", sa.String(64), primary_key=True),  # "last_full_snapshot"
        sa.Column("value_time", PreciseDateTime, nullable=True),
    )
    return MagentoTables(
        metadata=md,
        prefix=prefix,
        link=link,
        product=product,
        entity_type=entity_type,
        attribute=attribute,
        store=store,
        website=website,
        media_gallery=media_gallery,
        media_gallery_value=media_gallery_value,
        value_to_entity=value_to_entity,
        varchar=varchar,
        gallery_meta=gallery_meta,
        sku_sync_state=sku_sync_state,
        sku_digest=sku_digest,
        batch_journal=batch_journal,
        media_feed_event=media_feed_event,
        media_etag=media_etag,
        media_feed_state=media_feed_state,
    )


MEDIA_IMAGE_INPUT = "media_image"


def media_image_attribute_ids(conn: sa.Connection, tables: MagentoTables) -> dict[str, int]:
    r"""The shop's role attributes, code -> attribute_id.

    Every catalog_product attribute whose frontend input is `media_image`, custom ones included (Magento's
    `Catalog\Model\Product\Media\Config::getMediaAttributeCodes`). swatch_image is among them only while
    Magento_Swatches is installed. The one place the list of roles is read; in core.delta.roles.ordered_roles
    order (the four standard roles first).
    """
    attribute, entity_type = tables.attribute, tables.entity_type
    query = (
        sa.select(attribute.c.attribute_code, attribute.c.attribute_id)
        .join(entity_type, entity_type.c.entity_type_id == attribute.c.entity_type_id)
        .where(
            entity_type.c.entity_type_code == "catalog_product",
            attribute.c.frontend_input == MEDIA_IMAGE_INPUT,
        )
    )
    found = {str(code): int(aid) for code, aid in conn.execute(query)}
    return {code: found[code] for code in ordered_roles(found)}


def detect_link_column(engine: sa.Engine, prefix: str = "") -> str:
    """`row_id` when the gallery value table links products by row_id (Adobe Commerce), else `entity_id`."""
    inspector = sa.inspect(engine)
    name = f"{prefix}catalog_product_entity_media_gallery_value"
    if not inspector.has_table(name):
        return "entity_id"
    columns = {column["name"] for column in inspector.get_columns(name)}
    return "row_id" if "row_id" in columns else "entity_id"


MAGENTO_CORE_TABLES = (
    "catalog_product_entity",
    "catalog_product_entity_media_gallery",
    "catalog_product_entity_media_gallery_value",
    "catalog_product_entity_varchar",
)


def require_magento_tables(engine: sa.Engine, prefix: str = "") -> None:
    """SchemaError naming the first of Magento's core catalog tables missing under this prefix."""
    existing = set(sa.inspect(engine).get_table_names())
    for base in MAGENTO_CORE_TABLES:
        name = f"{prefix}{base}"
        if name not in existing:
            raise SchemaError(
                name,
                f"Magento table `{name}` not found (is NACENTO_TABLE_PREFIX={prefix!r} right, and "
                "does the URL name Magento's database?)",
            )


def create_own_tables(engine: sa.Engine, prefix: str = "") -> None:
    """Create our own tables when missing; never Magento's.

    Our own tables are the ETag meta, sync state, per-SKU digests, undo journal and media feed.

    Magento's tables they reference must exist first: a wrong table prefix is reported as the missing
    Magento table, not as the database's complaint about our foreign keys.
    """
    require_magento_tables(engine, prefix)
    tables = build_tables(prefix, link=detect_link_column(engine, prefix), dialect_name=engine.dialect.name)
    tables.metadata.create_all(engine, tables=tables.own_tables, checkfirst=True)
