"""Dagster's production storage is PostgreSQL: partitions, runs, checks and the pool work on it."""

import dagster as dg
import sqlalchemy as sa

from nacento_pipeline.defs.constants import PARTITIONS_NAME
from nacento_pipeline.defs.local_runner import tick_and_run
from nacento_pipeline.storage.drop.samples import drop_sample_batch


def test_pipeline_runs_on_a_postgres_backed_instance(local_pipeline, postgres_url, tmp_path):
    p = local_pipeline
    batch = drop_sample_batch(p.store, p.settings.drop_prefix)
    overrides = {
        "storage": {"postgres": {"postgres_url": postgres_url}},
        "concurrency": {"pools": {"default_limit": 1}},
    }
    home = tmp_path / "pg_home"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home), overrides=overrides) as instance:
        outcome = tick_and_run(p.defs, instance)
        [result] = outcome.results
        assert result.success
        assert instance.get_dynamic_partitions(PARTITIONS_NAME) == [batch.batch_key]
        assert instance.get_materialized_partitions(dg.AssetKey("magento_gallery")) == {batch.batch_key}
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
    engine = sa.create_engine(postgres_url)
    with engine.connect() as conn:
        runs = conn.execute(sa.text("SELECT count(*) FROM runs WHERE status = 'SUCCESS'")).scalar()
    engine.dispose()
    assert runs == 1
    assert len(p.gallery()) == 36
