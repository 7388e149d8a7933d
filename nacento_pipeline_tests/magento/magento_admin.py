"""What Magento itself does to a gallery, done in SQL so tests can act as Magento after our write.

Each function follows the Magento 2.4.8 method named in its docstring (module Magento_Catalog unless said
otherwise), so a test can check that the shop is still right when an admin edits a product the pipeline wrote.
The admin saves in the default scope (store 0) unless a function takes a `store_id`. The product is taken to
be in every store view of the store table, as on a shop with one website (Magento reads
catalog_product_website).
"""

from __future__ import annotations

import sqlalchemy as sa

from nacento_pipeline.core.frames import NO_SELECTION
from nacento_pipeline.core.paths import object_key
from nacento_pipeline.magento.database import PRODUCT_ENTITY_TYPE, MagentoDatabase
from nacento_pipeline.magento.schema import media_image_attribute_ids
from nacento_pipeline.storage.adapters.base import ObjectStore

# Model\Product\Gallery\CreateHandler::$mediaAttributesWithLabels: the roles that have a `*_label` attribute.
MEDIA_ATTRIBUTES_WITH_LABELS = ("image", "small_image", "thumbnail")
# Model\ResourceModel\Product\Gallery::getProductImages: the roles it reads (swatch_image is not among them).
PRODUCT_IMAGES_ROLES = ("image", "small_image", "thumbnail")


class RemovalRefused(Exception):
    """Magento kept the image: `DeleteValidator::validate` returned errors, so `CreateHandler::execute`
    cleared the image's `removed` flag (the admin sees no error; the image is simply still there)."""


def link_of(db: MagentoDatabase, sku: str) -> int:
    """The product's link field value: entity_id on Open Source, row_id on content staging.

    As `EntityManager\\MetadataPool::getMetadata(ProductInterface)->getLinkField()` gives it; the staged tests
    read rows by row_id themselves.
    """
    t = db.tables
    with db.engine.connect() as conn:
        return int(conn.execute(sa.select(t.product.c[t.link]).where(t.product.c.sku == sku)).scalar())


def media_attribute_ids(conn: sa.Connection, db: MagentoDatabase) -> dict[str, int]:
    """`Product\\Media\\Config::getMediaAttributeCodes`: every catalog_product attribute whose frontend input
    is `media_image` (custom ones included), code -> attribute_id (the pipeline's own reading of them)."""
    return media_image_attribute_ids(conn, db.tables)


def _attribute_ids(conn: sa.Connection, db: MagentoDatabase, codes: tuple[str, ...]) -> dict[str, int]:
    """`Eav\\Model\\Config::getAttribute('catalog_product', code)` for these codes: code -> attribute_id."""
    t = db.tables
    query = (
        sa.select(t.attribute.c.attribute_code, t.attribute.c.attribute_id)
        .join(t.entity_type, t.entity_type.c.entity_type_id == t.attribute.c.entity_type_id)
        .where(
            t.entity_type.c.entity_type_code == PRODUCT_ENTITY_TYPE, t.attribute.c.attribute_code.in_(codes)
        )
    )
    return {str(code): int(aid) for code, aid in conn.execute(query)}


def product_store_ids(conn: sa.Connection, db: MagentoDatabase) -> list[int]:
    """`Model\\Product::getStoreIds`: the store views of the product's websites (here: every store view)."""
    store = db.tables.store
    return [int(s) for (s,) in conn.execute(sa.select(store.c.store_id).where(store.c.store_id != 0))]


def product_images(conn: sa.Connection, db: MagentoDatabase, link: int, store_ids: list[int]) -> list[str]:
    """`ResourceModel\\Product\\Gallery::getProductImages`: the values of image, small_image and thumbnail of
    the product in these stores (the value as stored)."""
    vc = db.tables.varchar
    ids = list(_attribute_ids(conn, db, PRODUCT_IMAGES_ROLES).values())
    query = sa.select(vc.c.value).where(
        vc.c[db.tables.link] == link, vc.c.store_id.in_(store_ids), vc.c.attribute_id.in_(ids)
    )
    return [str(v) for (v,) in conn.execute(query) if v is not None]


def delete_validator_errors(
    conn: sa.Connection, db: MagentoDatabase, link: int, path: str, store_id: int = 0
) -> list[str]:
    """`Product\\Gallery\\DeleteValidator::validate`: when the product is in more than one store view and
    `path` is a role's image in a store other than the one saved (store 0 counted, the saved one left out),
    the removal is refused with Magento's message."""
    stores = product_store_ids(conn, db)
    if len(stores) <= 1:
        return []
    others = sorted((set(stores) | {0}) - {store_id})
    if path in product_images(conn, db, link, others):
        return ["The image cannot be removed as it has been assigned to the other image role"]
    return []


def load_gallery(db: MagentoDatabase, sku: str, store_id: int = 0) -> list[tuple]:
    """What Magento's reader shows of a product in a store (`ResourceModel\\Product\\Gallery::
    createBatchBaseSelect` through `loadProductGalleryByAttributeId`, `removeDuplicates` not applied): every
    media_gallery row of the product not disabled at row level (`main.disabled = 0`), label, position and
    disabled as `IFNULL(store value, default value)`, in position order (ties by value_id here): tuples of
    (file, label, position, disabled, media_type, value_id)."""
    t = db.tables
    mg, vte, val = t.media_gallery, t.value_to_entity, t.media_gallery_value
    store = val.alias("store_value")
    default = val.alias("default_value")
    link = link_of(db, sku)
    position = sa.func.coalesce(store.c.position, default.c.position)
    query = (
        sa.select(
            mg.c.value,
            sa.func.coalesce(store.c.label, default.c.label),
            position,
            sa.func.coalesce(store.c.disabled, default.c.disabled),
            mg.c.media_type,
            mg.c.value_id,
        )
        .join(vte, vte.c.value_id == mg.c.value_id)
        .outerjoin(
            store,
            sa.and_(
                store.c.value_id == mg.c.value_id,
                store.c.store_id == store_id,
                store.c[t.link] == vte.c[t.link],
            ),
        )
        .outerjoin(
            default,
            sa.and_(
                default.c.value_id == mg.c.value_id,
                default.c.store_id == 0,
                default.c[t.link] == vte.c[t.link],
            ),
        )
        .where(
            vte.c[t.link] == link, mg.c.attribute_id == db.attribute_ids().media_gallery, mg.c.disabled == 0
        )
        .order_by(position, mg.c.value_id)
    )
    with db.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(query)]


def count_image_uses(conn: sa.Connection, db: MagentoDatabase, path: str) -> int:
    """`ResourceModel\\Product\\Gallery::countImageUses`: media_gallery rows whose value is the path (compared
    by the database, under the column's collation)."""
    mg = db.tables.media_gallery
    return int(conn.execute(sa.select(sa.func.count()).select_from(mg).where(mg.c.value == path)).scalar())


def admin_remove_image(
    db: MagentoDatabase,
    sku: str,
    path: str,
    store: ObjectStore | None = None,
    media_prefix: str = "media/catalog/product/",
    *,
    store_id: int = 0,
) -> bool:
    """The admin removes `path` from a product and saves in `store_id`'s scope (`Gallery\\UpdateHandler`, run
    through `CreateHandler::execute`):

    - `DeleteValidator::validate` first: a refused removal raises RemovalRefused and changes nothing;
    - `CreateHandler::processMediaAttributes`: every media_image attribute (`getMediaAttributeCodes`) whose
      value in the saved scope names the file becomes no_selection there, and the `*_label` of image,
      small_image and thumbnail (`processMediaAttributeLabel`) is emptied (its row deleted);
    - `UpdateHandler::processDeletedImages`: `deleteMediaAttributeValues` deletes every media_image value
      naming the file, in every store (compared as stored), `Gallery::deleteGallery` deletes the media_gallery
      row (the foreign keys cascade to every product linked to it), and `canDeleteImage` deletes the file from
      storage when it exists and `countImageUses(path) <= 1`, counted before the row went.

    Returns whether the file was deleted from storage."""
    t = db.tables
    link = link_of(db, sku)
    vte, mg, vc = t.value_to_entity, t.media_gallery, t.varchar
    with db.engine.begin() as conn:
        value_id = conn.execute(
            sa.select(mg.c.value_id)
            .join(vte, vte.c.value_id == mg.c.value_id)
            .where(vte.c[t.link] == link, mg.c.value == path)
        ).scalar()
        assert value_id is not None, f"{sku} has no gallery row for {path}"
        errors = delete_validator_errors(conn, db, link, path, store_id)
        if errors:
            raise RemovalRefused(f"{sku}: {path}: {errors[0]}")
        uses = count_image_uses(conn, db, path)
        media = media_attribute_ids(conn, db)
        labels = _attribute_ids(conn, db, tuple(f"{c}_label" for c in MEDIA_ATTRIBUTES_WITH_LABELS))
        held = [
            a
            for (a,) in conn.execute(
                sa.select(vc.c.attribute_id).where(
                    vc.c[t.link] == link,
                    vc.c.store_id == store_id,
                    vc.c.attribute_id.in_(list(media.values())),
                    vc.c.value == path,
                )
            )
        ]
        conn.execute(
            sa.delete(vc).where(
                vc.c[t.link] == link, vc.c.attribute_id.in_(list(media.values())), vc.c.value == path
            )
        )
        code_of = {aid: code for code, aid in media.items()}
        for attribute_id in held:
            conn.execute(
                vc.insert().values(
                    attribute_id=attribute_id, store_id=store_id, value=NO_SELECTION, **{t.link: link}
                )
            )
            label = labels.get(f"{code_of[attribute_id]}_label")
            if label is not None:
                conn.execute(
                    sa.delete(vc).where(
                        vc.c[t.link] == link, vc.c.attribute_id == label, vc.c.store_id == store_id
                    )
                )
        # deleteGallery: DELETE FROM media_gallery WHERE value_id IN (...); the FKs cascade.
        conn.execute(
            sa.delete(t.gallery_meta).where(
                t.gallery_meta.c.record_id.in_(
                    sa.select(t.media_gallery_value.c.record_id).where(
                        t.media_gallery_value.c.value_id == value_id
                    )
                )
            )
        )
        conn.execute(sa.delete(t.media_gallery_value).where(t.media_gallery_value.c.value_id == value_id))
        conn.execute(sa.delete(vte).where(vte.c.value_id == value_id))
        conn.execute(sa.delete(mg).where(mg.c.value_id == value_id))
    key = object_key(path, media_prefix)
    if store is not None and uses <= 1 and store.head(key) is not None:
        store.delete([key])
        return True
    return False


def admin_set_store_value(
    db: MagentoDatabase,
    sku: str,
    path: str,
    store_id: int,
    *,
    label: str | None = None,
    position: int | None = None,
    disabled: int = 0,
) -> None:
    """The admin edits the image in a store view scope (`CreateHandler::processNewAndExistingImages` with the
    product's store id, `saveGalleryStoreValue`): a store-level value row for the product's own gallery row.
    """
    t = db.tables
    link = link_of(db, sku)
    vte, mg = t.value_to_entity, t.media_gallery
    with db.engine.begin() as conn:
        value_id = conn.execute(
            sa.select(mg.c.value_id)
            .join(vte, vte.c.value_id == mg.c.value_id)
            .where(vte.c[t.link] == link, mg.c.value == path)
        ).scalar()
        conn.execute(
            t.media_gallery_value.insert().values(
                value_id=value_id,
                store_id=store_id,
                label=label,
                position=position,
                disabled=disabled,
                **{t.link: link},
            )
        )


def admin_set_role(db: MagentoDatabase, sku: str, role: str, path: str, store_id: int) -> None:
    """The admin picks a role image in a store view scope (`CreateHandler::processMediaAttribute` with that
    store id: a store-level value of the media_image attribute)."""
    t = db.tables
    with db.engine.begin() as conn:
        attribute_id = media_attribute_ids(conn, db)[role]
        conn.execute(
            t.varchar.insert().values(
                attribute_id=attribute_id, store_id=store_id, value=path, **{t.link: link_of(db, sku)}
            )
        )


def admin_add_image(
    db: MagentoDatabase,
    sku: str,
    path: str,
    label: str | None = None,
    position: int = 9,
    media_type: str = "image",
) -> None:
    """The admin uploads an image (`UpdateHandler::processNewImage`, then `saveGalleryStoreValue`): a
    media_gallery row of the product's own, its link and a store-0 value row; no ETag row (the pipeline did
    not write it). `media_type="external-video"` adds a video the same way (Magento_ProductVideo)."""
    t = db.tables
    link = link_of(db, sku)
    with db.engine.begin() as conn:
        value_id = conn.execute(
            t.media_gallery.insert().values(
                attribute_id=db.attribute_ids().media_gallery, value=path, media_type=media_type
            )
        ).inserted_primary_key[0]
        conn.execute(t.value_to_entity.insert().values(value_id=value_id, **{t.link: link}))
        conn.execute(
            t.media_gallery_value.insert().values(
                value_id=value_id, store_id=0, label=label, position=position, disabled=0, **{t.link: link}
            )
        )


def connector_shared_row(
    db: MagentoDatabase, skus: list[str], path: str, etag: str, role: str | None = "image"
) -> int:
    """What the PHP connector wrote for the same path on several products: ONE media_gallery row linked to
    all of them, a store-0 value row and an ETag row per product, and a role pointing at it (not Magento's
    code: the rows our audit splits)."""
    t = db.tables
    ids = db.attribute_ids()
    with db.engine.begin() as conn:
        value_id = conn.execute(
            t.media_gallery.insert().values(attribute_id=ids.media_gallery, value=path, media_type="image")
        ).inserted_primary_key[0]
        for sku in skus:
            link = int(conn.execute(sa.select(t.product.c[t.link]).where(t.product.c.sku == sku)).scalar())
            conn.execute(t.value_to_entity.insert().values(value_id=value_id, **{t.link: link}))
            record_id = conn.execute(
                t.media_gallery_value.insert().values(
                    value_id=value_id,
                    store_id=0,
                    label=f"{sku} label",
                    position=1,
                    disabled=0,
                    **{t.link: link},
                )
            ).inserted_primary_key[0]
            conn.execute(t.gallery_meta.insert().values(record_id=record_id, s3_etag=etag))
            if role is not None:
                conn.execute(
                    t.varchar.insert().values(
                        attribute_id=ids.roles[role], store_id=0, value=path, **{t.link: link}
                    )
                )
    return int(value_id)
