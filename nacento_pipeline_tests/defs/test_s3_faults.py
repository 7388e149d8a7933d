"""S3 faults through a loopback proxy in front of moto: a whole sensor tick and run (archive copies, LIST,
HEAD, GET, the post-write check) with 5xx, throttling, dropped connections and delays on ~35% of requests
ends in the tables of a run without faults, every fault absorbed by the retries."""

from __future__ import annotations

import dagster as dg

from nacento_pipeline.definitions import build_definitions
from nacento_pipeline.defs.constants import BATCH_JOB, PARTITIONS_NAME
from nacento_pipeline.defs.local_runner import tick_and_run
from nacento_pipeline.storage.drop.samples import drop_sample_batch
from nacento_pipeline_tests.faults.s3_fault_proxy import S3FaultProxy


def test_s3_faults_are_absorbed_and_the_tables_equal_a_clean_run(s3_mariadb_factory, moto_endpoint):
    faulty, clean = s3_mariadb_factory(), s3_mariadb_factory()
    batch = drop_sample_batch(faulty.store, faulty.settings.drop_prefix)
    proxy = S3FaultProxy(moto_endpoint, rate=0.35).start()
    try:
        settings = faulty.settings.with_overrides(s3_endpoint_url=proxy.url).validate()
        with dg.instance_for_test() as instance:
            outcome = tick_and_run(build_definitions(settings), instance)
        assert outcome.requested == (batch.batch_key,)
        assert [r.success for r in outcome.results] == [True]
    finally:
        proxy.stop()
    assert set(proxy.injected) >= {"503", "500", "drop_before", "drop_after"}, (
        proxy.requests,
        proxy.injected,
    )

    # The same drop, archived once: the clean pipeline runs the same partition without the proxy.
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(PARTITIONS_NAME, [batch.batch_key])
        job = clean.defs.resolve_job_def(BATCH_JOB)
        assert job.execute_in_process(instance=instance, partition_key=batch.batch_key).success
    assert faulty.table_snapshot() == clean.table_snapshot()
    assert len(faulty.gallery()) > 0
