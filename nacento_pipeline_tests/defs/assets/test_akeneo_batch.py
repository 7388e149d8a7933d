"""An Akeneo export folder dropped into the S3 server, end to end: sensor, job, Magento's tables (MariaDB)."""

import pandas as pd
import pytest
import sqlalchemy as sa

from nacento_pipeline.core.akeneo.media import placed_value
from nacento_pipeline.core.paths import object_key
from nacento_pipeline.defs.local_runner import tick_and_run
from nacento_pipeline.storage.drop.akeneo_sample import drop_export, sample_export
from nacento_pipeline.storage.drop.samples import DEMO_SKUS
from nacento_pipeline_tests.defs.harness import materializations

pytestmark = pytest.mark.every_s3_server  # moto and the JuiceFS gateway (MinIO's CopyObject)

SKUS = DEMO_SKUS[:4]
MAPPING = {
    "akeneo_locales": {"en_US": ("default",), "de_DE": ("de",)},
    "akeneo_roles": {
        "image": "picture",
        "small_image": "picture",
        "thumbnail": "picture",
        "swatch_image": "image",
    },
}


def _store_rows(p) -> pd.DataFrame:
    t = p.db.tables
    v, g, prod, s = t.media_gallery_value, t.media_gallery, t.product, t.store
    query = (
        sa.select(prod.c.sku, s.c.code, g.c.value, v.c.label, v.c.disabled)
        .join(g, g.c.value_id == v.c.value_id)
        .join(prod, prod.c[t.link] == v.c[t.link])
        .join(s, s.c.store_id == v.c.store_id)
        .where(v.c.store_id != 0)
    )
    with p.db.engine.connect() as conn:
        return pd.DataFrame(conn.execute(query).all(), columns=["sku", "store", "value", "label", "disabled"])


def _media_objects(p) -> dict[str, tuple[str, object]]:
    return {o.key: (o.etag, o.last_modified) for o in p.store.list(p.settings.media_prefix)}


def test_an_export_folder_becomes_galleries_roles_and_store_view_labels(s3_mariadb_factory, instance):
    p = s3_mariadb_factory(**MAPPING)
    files = sample_export(SKUS)
    drop_export(p.store, p.settings.drop_prefix, "akeneo_20261203-1200", files)
    before = _media_objects(p)

    outcome = tick_and_run(p.defs, instance)
    [result] = outcome.results
    assert result.success
    assert outcome.requested == ("akeneo_20261203-1200",)

    # every exported file is now under the media prefix at its placed value, copied with its content
    folder = f"{p.settings.drop_prefix}import-akeneo_20261203-1200/"
    etag_of = {path: _md5(data) for path, data in files.items() if path.startswith("files/")}

    def value(path: str) -> str:
        return placed_value(etag_of[path], path)

    after = _media_objects(p)
    placed = {object_key(value(path), p.settings.media_prefix) for path in etag_of}
    assert placed <= set(after) and not placed & set(before)
    assert all(
        after[object_key(value(path), p.settings.media_prefix)][0] == etag for path, etag in etag_of.items()
    )

    sku = "NAC-1001"
    front = value(f"files/{sku}/picture/nac-1001-front.png")
    detail = value(f"files/{sku}/image/en_US/ecommerce/nac-1001-detail.png")
    detail_de = value(f"files/{sku}/image/de_DE/ecommerce/nac-1001-detail-de.png")
    gallery = p.gallery()
    mine = gallery[gallery["sku"] == sku]
    assert mine["value"].tolist() == [
        front,
        detail,
        detail_de,
    ]  # attribute order, then the store view's own file
    assert mine["position"].tolist() == [1, 2, 3]
    assert mine["disabled"].tolist() == [0, 0, 1]  # the German detail shows in the German store view only
    assert mine["label"].tolist() == [f"{sku} shoe"] * 3  # the default locale's name is the alt text
    assert set(gallery["sku"]) == set(SKUS)
    assert not any("print" in v for v in gallery["value"])  # the print channel maps to no website

    roles = p.roles()
    mine_roles = dict(roles.loc[roles["sku"] == sku, ["role", "value"]].itertuples(index=False))
    assert mine_roles == {"image": front, "small_image": front, "thumbnail": front, "swatch_image": detail}

    stores = _store_rows(p)
    german = stores[(stores["sku"] == sku) & (stores["store"] == "de")].set_index("value")
    assert german.loc[front, "label"] == f"{sku} Schuh"
    assert german.loc[detail_de, "disabled"] == 0 and german.loc[detail, "disabled"] == 1
    assert stores[stores["store"] == "default"].empty  # en_US is the default locale: nothing to override

    meta = materializations(result)
    assert meta["pim_batch"]["format"] == "Akeneo export folder"
    assert meta["pim_batch"]["rejected"] == 0
    assert meta["magento_gallery"]["inserted"] == 3 * len(SKUS)

    # the drop folder leaves the drop prefix on the next tick, once its partition is registered
    tick_and_run(p.defs, instance)
    # (a file-system backed server may keep empty folder markers `.../`: they are no files)
    assert [o.key for o in p.store.list(folder) if not o.key.endswith("/")] == []

    # the same export dropped again: no object copied, no row written
    snapshot, media = p.table_snapshot(), _media_objects(p)
    drop_export(p.store, p.settings.drop_prefix, "akeneo_20261203-1300", files)
    outcome = tick_and_run(p.defs, instance)
    [again] = outcome.results
    assert again.success
    assert _media_objects(p) == media  # no copy: every object keeps its ETag and its time
    plan, written = materializations(again)["gallery_delta"], materializations(again)["magento_gallery"]
    assert plan["skus"] == 0 and plan["unchanged_skus"] == len(SKUS)  # every SKU's digest is the one applied
    assert all(
        written[k] == 0
        for k in ("inserted", "updated_value", "updated_meta", "purged", "roles_assigned", "store_values")
    )
    # no Magento row changes; only the pipeline's own tables note the newer batch (sync state, digests, and
    # the journal keeping their before-images): 4 statements in all
    assert written["write_statements"] == 4
    assert p.table_snapshot() == snapshot and _store_rows(p).equals(stores)


def _md5(data: bytes) -> str:
    import hashlib

    return hashlib.md5(data).hexdigest()
