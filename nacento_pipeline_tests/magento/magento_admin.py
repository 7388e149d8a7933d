"""What Magento itself does to a gallery, done in SQL so tests can act as Magento after our write.

Each function follows the Magento 2.4.8 code path named in its docstring, so a test can check that the shop
is still right when an admin edits a product the pipeline wrote.
"""

from __future__ import annotations

import sqlalchemy as sa

from nacento_pipeline.core.frames import NO_SELECTION, ROLE_CODES, ROLE_LABEL_CODES
from nacento_pipeline.core.paths import object_key
from nacento_pipeline.magento.database import MagentoDatabase
from nacento_pipeline.storage.base import ObjectStore


def link_of(db: MagentoDatabase, sku: str) -> int:
    t = db.tables
    with db.engine.connect() as conn:
        return int(conn.execute(sa.select(t.product.c[t.link]).where(t.product.c.sku == sku)).scalar())


def count_image_uses(conn: sa.Connection, db: MagentoDatabase, path: str) -> int:
    """`Gallery::countImageUses`: media_gallery rows whose value is the path."""
    mg = db.tables.media_gallery
    return int(conn.execute(sa.select(sa.func.count()).select_from(mg).where(mg.c.value == path)).scalar())


def admin_remove_image(db: MagentoDatabase, sku: str, path: str, store: ObjectStore | None = None,
                       media_prefix: str = "media/catalog/product/") -> bool:
    """The admin removes `path` from a product and saves (`Gallery/UpdateHandler::execute`):
    `processMediaAttributes` sets the store-0 roles naming the file to no_selection and empties their labels,
    `deleteMediaAttributeValues` deletes role values naming it in every store, `deleteGallery` deletes the
    product's media_gallery row (the foreign keys cascade to every product linked to it), and the file is
    deleted from storage when `countImageUses(path) <= 1`. Returns whether the file was deleted."""
    t = db.tables
    ids = db.attribute_ids()
    link = link_of(db, sku)
    vte, mg, vc = t.value_to_entity, t.media_gallery, t.varchar
    with db.engine.begin() as conn:
        value_id = conn.execute(
            sa.select(mg.c.value_id).join(vte, vte.c.value_id == mg.c.value_id)
            .where(vte.c[t.link] == link, mg.c.value == path)).scalar()
        assert value_id is not None, f"{sku} has no gallery row for {path}"
        uses = count_image_uses(conn, db, path)
        role_ids = [ids.roles[c] for c in ROLE_CODES]
        held = [a for (a,) in conn.execute(sa.select(vc.c.attribute_id).where(
            vc.c[t.link] == link, vc.c.store_id == 0, vc.c.attribute_id.in_(role_ids), vc.c.value == path))]
        conn.execute(sa.delete(vc).where(vc.c[t.link] == link, vc.c.attribute_id.in_(role_ids), vc.c.value == path))
        code_of = {aid: code for code, aid in ids.roles.items()}
        for attribute_id in held:
            conn.execute(vc.insert().values(attribute_id=attribute_id, store_id=0, value=NO_SELECTION, **{t.link: link}))
            label = ids.labels.get(ROLE_LABEL_CODES.get(code_of[attribute_id], ""))
            if label is not None:
                conn.execute(sa.delete(vc).where(vc.c[t.link] == link, vc.c.attribute_id == label, vc.c.store_id == 0))
        # deleteGallery: DELETE FROM media_gallery WHERE value_id IN (...); the FKs cascade.
        conn.execute(sa.delete(t.gallery_meta).where(t.gallery_meta.c.record_id.in_(
            sa.select(t.media_gallery_value.c.record_id).where(t.media_gallery_value.c.value_id == value_id))))
        conn.execute(sa.delete(t.media_gallery_value).where(t.media_gallery_value.c.value_id == value_id))
        conn.execute(sa.delete(vte).where(vte.c.value_id == value_id))
        conn.execute(sa.delete(mg).where(mg.c.value_id == value_id))
    if store is not None and uses <= 1:
        store.delete([object_key(path, media_prefix)])
        return True
    return False


def admin_set_store_value(db: MagentoDatabase, sku: str, path: str, store_id: int, *, label: str | None = None,
                          position: int | None = None, disabled: int = 0) -> None:
    """The admin edits the image in a store view scope (`processExistingImages` with a store id): a
    store-level value row for the product's own gallery row."""
    t = db.tables
    link = link_of(db, sku)
    vte, mg = t.value_to_entity, t.media_gallery
    with db.engine.begin() as conn:
        value_id = conn.execute(sa.select(mg.c.value_id).join(vte, vte.c.value_id == mg.c.value_id)
                                .where(vte.c[t.link] == link, mg.c.value == path)).scalar()
        conn.execute(t.media_gallery_value.insert().values(value_id=value_id, store_id=store_id, label=label,
                                                           position=position, disabled=disabled, **{t.link: link}))


def admin_set_role(db: MagentoDatabase, sku: str, role: str, path: str, store_id: int) -> None:
    """The admin picks a role image in a store view scope (a store-level varchar row)."""
    t = db.tables
    with db.engine.begin() as conn:
        conn.execute(t.varchar.insert().values(attribute_id=db.attribute_ids().varchar_codes()[role],
                                               store_id=store_id, value=path, **{t.link: link_of(db, sku)}))


def admin_add_image(db: MagentoDatabase, sku: str, path: str, label: str | None = None, position: int = 9) -> None:
    """The admin uploads an image (`CreateHandler::processNewImage`): a media_gallery row of the product's
    own, its link and a store-0 value row; no ETag row (the pipeline did not write it)."""
    t = db.tables
    link = link_of(db, sku)
    with db.engine.begin() as conn:
        value_id = conn.execute(t.media_gallery.insert().values(
            attribute_id=db.attribute_ids().media_gallery, value=path, media_type="image")).inserted_primary_key[0]
        conn.execute(t.value_to_entity.insert().values(value_id=value_id, **{t.link: link}))
        conn.execute(t.media_gallery_value.insert().values(value_id=value_id, store_id=0, label=label,
                                                           position=position, disabled=0, **{t.link: link}))


def connector_shared_row(db: MagentoDatabase, skus: list[str], path: str, etag: str, role: str | None = "image") -> int:
    """What the PHP connector wrote for the same path on several products: ONE media_gallery row linked to
    all of them, a store-0 value row and an ETag row per product, and a role pointing at it."""
    t = db.tables
    ids = db.attribute_ids()
    with db.engine.begin() as conn:
        value_id = conn.execute(t.media_gallery.insert().values(
            attribute_id=ids.media_gallery, value=path, media_type="image")).inserted_primary_key[0]
        for sku in skus:
            link = int(conn.execute(sa.select(t.product.c[t.link]).where(t.product.c.sku == sku)).scalar())
            conn.execute(t.value_to_entity.insert().values(value_id=value_id, **{t.link: link}))
            record_id = conn.execute(t.media_gallery_value.insert().values(
                value_id=value_id, store_id=0, label=f"{sku} label", position=1, disabled=0,
                **{t.link: link})).inserted_primary_key[0]
            conn.execute(t.gallery_meta.insert().values(record_id=record_id, s3_etag=etag))
            if role is not None:
                conn.execute(t.varchar.insert().values(attribute_id=ids.roles[role], store_id=0, value=path,
                                                       **{t.link: link}))
    return int(value_id)
