"""A pipeline under test: settings, Definitions, bucket, seeded Magento database, readers of its tables."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pandas as pd
import sqlalchemy as sa

from nacento_pipeline.config import Settings
from nacento_pipeline.definitions import build_definitions
from nacento_pipeline.defs.constants import DROP_SENSOR, PARTITIONS_NAME, VALIDATE_JOB
from nacento_pipeline.magento.database import MagentoDatabase
from nacento_pipeline.magento.demo import create_demo_schema, seed_demo_products
from nacento_pipeline.resources.build import object_store_resource
from nacento_pipeline.storage.adapters.base import ObjectStore
from nacento_pipeline.storage.drop.registration import register_drops
from nacento_pipeline.storage.drop.samples import DEMO_SKUS, drop_sample_batch, put_demo_images


@dataclass
class Pipeline:
    settings: Settings
    defs: dg.Definitions
    store: ObjectStore
    db: MagentoDatabase

    def tick(self, instance: dg.DagsterInstance, cursor: str | None = None) -> dg.SensorResult:
        """One evaluation of the drop sensor with this pipeline's resources."""
        sensor = self.defs.resolve_sensor_def(DROP_SENSOR)
        with dg.build_sensor_context(
            instance=instance,
            definitions=self.defs,
            sensor_name=DROP_SENSOR,
            resources=dict(self.defs.resources or {}),
            cursor=cursor,
        ) as ctx:
            result = sensor(ctx)
        assert isinstance(result, dg.SensorResult)
        return result

    def register_sample_batch(self, instance: dg.DagsterInstance) -> str:
        """Drop the sample batch, register it (archive) and add its partition: the batch key."""
        batch = drop_sample_batch(self.store, self.settings.drop_prefix)
        register_drops(
            self.store,
            drop_prefix=self.settings.drop_prefix,
            archive_prefix=self.settings.archive_prefix,
            rejected_prefix=self.settings.rejected_prefix,
        )
        instance.add_dynamic_partitions(PARTITIONS_NAME, [batch.batch_key])
        return batch.batch_key

    def validate_sample_batch(self, instance: dg.DagsterInstance) -> tuple[str, dg.ExecuteInProcessResult]:
        """Drop and register the sample batch, then run the validation job on it: (batch key, result)."""
        key = self.register_sample_batch(instance)
        job = self.defs.resolve_job_def(VALIDATE_JOB)
        return key, job.execute_in_process(instance=instance, partition_key=key)

    def gallery(self) -> pd.DataFrame:
        """Store-0 gallery rows: sku, value, label, position, disabled, etag."""
        t = self.db.tables
        v, g, p, m = t.media_gallery_value, t.media_gallery, t.product, t.gallery_meta
        query = (
            sa.select(p.c.sku, g.c.value, v.c.label, v.c.position, v.c.disabled, m.c.s3_etag.label("etag"))
            .join(g, g.c.value_id == v.c.value_id)
            .join(p, p.c[t.link] == v.c[t.link])
            .outerjoin(m, m.c.record_id == v.c.record_id)
            .where(v.c.store_id == 0)
            .order_by(p.c.sku, v.c.position, g.c.value)
        )
        with self.db.engine.connect() as conn:
            return pd.DataFrame(
                conn.execute(query).all(), columns=["sku", "value", "label", "position", "disabled", "etag"]
            )

    def roles(self) -> pd.DataFrame:
        t = self.db.tables
        ids = self.db.attribute_ids().roles
        code = {v: k for k, v in ids.items()}
        query = (
            sa.select(t.product.c.sku, t.varchar.c.attribute_id, t.varchar.c.value)
            .join(t.product, t.product.c[t.link] == t.varchar.c[t.link])
            .where(t.varchar.c.store_id == 0, t.varchar.c.attribute_id.in_(list(ids.values())))
            .order_by(t.product.c.sku, t.varchar.c.attribute_id)
        )
        with self.db.engine.connect() as conn:
            rows = [(s, code[a], v) for s, a, v in conn.execute(query).all()]
        return pd.DataFrame(rows, columns=["sku", "role", "value"])

    def table_snapshot(self) -> dict[str, list[tuple]]:
        """Every row of the tables the pipeline writes, ids left out, for comparing two databases."""
        return {
            "gallery": sorted(map(tuple, self.gallery().astype(str).values.tolist())),
            "roles": sorted(map(tuple, self.roles().astype(str).values.tolist())),
        }


def materializations(result: dg.ExecuteInProcessResult) -> dict[str, dict]:
    """Asset key -> the metadata values of its materialization in a run."""
    out = {}
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization
        out[mat.asset_key.to_user_string()] = {k: v.value for k, v in mat.metadata.items()}
    return out


def make_pipeline(tmp_path: Path, settings: Settings) -> Pipeline:
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    db = MagentoDatabase(settings.magento_url, prefix=settings.table_prefix)
    create_demo_schema(db.engine, settings.table_prefix)
    seed_demo_products(db.engine, list(DEMO_SKUS), settings.table_prefix)
    db.refresh_schema()
    store = object_store_resource(settings).get_store()
    put_demo_images(store, settings.media_prefix)
    return Pipeline(settings=settings, defs=build_definitions(settings), store=store, db=db)
