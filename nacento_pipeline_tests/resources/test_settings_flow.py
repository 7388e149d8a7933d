"""A setting flows env -> Settings -> SettingsResource -> thin resource -> adapter, no default restated."""

from __future__ import annotations

from dataclasses import MISSING, field, fields, make_dataclass

import dagster as dg
import sqlalchemy as sa

from nacento_pipeline.config import VARIABLES, Settings
from nacento_pipeline.magento.reindex_trigger import CommandTrigger
from nacento_pipeline.resources import resources_from_settings
from nacento_pipeline.resources.cache import CacheResource
from nacento_pipeline.resources.magento_db import MagentoDatabaseResource
from nacento_pipeline.resources.object_store import ObjectStoreResource
from nacento_pipeline.resources.reindex import ReindexResource
from nacento_pipeline.resources.settings import SECRET_FIELDS, SettingsResource
from nacento_pipeline.storage.adapters.s3 import S3ObjectStore


def test_env_values_reach_the_adapters(tmp_path, sqlite_url):
    settings = Settings.from_env(
        {
            "NACENTO_S3_BUCKET": "catalog",
            "NACENTO_S3_ENDPOINT_URL": "http://127.0.0.1:9",
            "NACENTO_HEAD_CONCURRENCY": "40",
            "NACENTO_VAR_DIR": str(tmp_path),
            "NACENTO_TABLE_PREFIX": "mg_",
            "NACENTO_REINDEX_TRIGGER": "command",
            "NACENTO_REINDEX_TIMEOUT_SECONDS": "7",
            "NACENTO_CACHE_BACKEND": "varnish",
            "NACENTO_CACHE_HOSTS": "v1:6081",
            "NACENTO_CACHE_TIMEOUT_SECONDS": "4",
            "NACENTO_CSV_LIST_SEPARATOR": "|",
        }
    )
    resources = resources_from_settings(settings)
    store = resources["object_store"].get_store()
    assert isinstance(store, S3ObjectStore) and store.bucket == "catalog"
    assert store._client.meta.config.max_pool_connections == 80  # 40 threads: not capped at 32
    engine = sa.create_engine(sqlite_url)
    trigger = resources["reindex"].trigger(engine)
    assert isinstance(trigger, CommandTrigger) and trigger.timeout_seconds == 7
    assert trigger.changelog is not None and trigger.changelog.prefix == "mg_"
    backend = resources["cache"].get_backend()
    assert [(h.host, h.port) for h in backend.hosts] == [("v1", 6081)] and backend.timeout == 4.0
    assert resources["magento"].settings.csv_list_separator == "|"  # policy comes from the one model
    engine.dispose()


def test_a_default_changed_in_the_model_is_what_the_adapters_get(tmp_path, sqlite_url):
    """Change two defaults on the model only: the store's pool and the trigger's timeout follow."""
    changed = make_dataclass(
        "ChangedDefaults",
        [
            ("head_concurrency", int, field(default=24)),
            ("reindex_timeout_seconds", int, field(default=11)),
            ("reindex_trigger", str, field(default="command")),
        ],
        bases=(Settings,),
        frozen=True,
    )
    settings = changed(s3_bucket="catalog", s3_endpoint_url="http://127.0.0.1:9", var_dir=tmp_path).validate()
    resources = resources_from_settings(settings)
    assert resources["object_store"].get_store()._client.meta.config.max_pool_connections == 48
    engine = sa.create_engine(sqlite_url)
    assert resources["reindex"].trigger(engine).timeout_seconds == 11
    engine.dispose()


def test_resources_hold_no_setting_of_their_own():
    """Every setting is in SettingsResource; the thin resources only point at it."""
    assert set(ObjectStoreResource.model_fields) == {"nacento"}
    assert set(ReindexResource.model_fields) == {"nacento"}
    assert set(CacheResource.model_fields) == {"nacento"}
    assert set(MagentoDatabaseResource.model_fields) == {"nacento", "create_own_tables"}
    assert set(SettingsResource.model_fields) == {"values", *SECRET_FIELDS}
    assert set(SECRET_FIELDS) == {v.attr for v in VARIABLES if v.secret}


def test_the_resource_round_trips_every_setting(tmp_path):
    settings = Settings.from_env(
        {
            "NACENTO_VAR_DIR": str(tmp_path),
            "NACENTO_INDEXER_VIEWS": "catalog_product_flat=flat_view",
            "NACENTO_REINDEX_THRESHOLDS": "catalogsearch_fulltext=5000",
            "NACENTO_ALERT_EMAIL_TO": "a@x, b@x",
            "NACENTO_LOCAL_BUCKET_DIR": str(tmp_path / "b"),
            "NACENTO_CACHE_REDIS_URL": "redis://:pw@r:6379/1",
        }
    )
    resource = SettingsResource.from_settings(settings)
    assert isinstance(resource.cache_redis_url, dg.EnvVar)  # a secret from the environment: never shown
    assert resource.get().with_overrides(cache_redis_url=settings.cache_redis_url) == settings
    assert SettingsResource.from_settings(Settings()).get() == Settings()


def test_every_optional_setting_defaults_to_unset():
    """SettingsResource leaves None values out of its config map: only right if None is the default."""
    nullable = [f for f in fields(Settings) if "None" in str(f.type)]
    assert nullable and all(f.default is None for f in nullable)
    assert all(f.default is not MISSING or f.default_factory is not MISSING for f in fields(Settings))
