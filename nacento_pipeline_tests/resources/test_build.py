"""A setting flows env -> Settings -> the resource's own typed fields -> adapter, no default restated.

No resource carries the Settings object; secrets from the environment reach Dagster as EnvVar only.
"""

from __future__ import annotations

import json
from dataclasses import field, make_dataclass
from pathlib import Path

import dagster as dg
import sqlalchemy as sa

from nacento_pipeline.config import VARIABLES, Settings
from nacento_pipeline.definitions import build_definitions
from nacento_pipeline.defs.constants import BATCH_JOB
from nacento_pipeline.magento.reindex_trigger import CommandTrigger
from nacento_pipeline.resources import build_resources
from nacento_pipeline.storage.adapters.s3 import S3ObjectStore

SECRET_ENV = {
    "NACENTO_MAGENTO_DB_URL": "mysql+pymysql://u:db-secret@db/magento",
    "NACENTO_CACHE_BACKEND": "redis",
    "NACENTO_CACHE_REDIS_URL": "redis://:redis-secret@r:6379/1",
    "NACENTO_CACHE_REDIS_DEFAULT_URL": "redis://:default-secret@r:6379/0",
}


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
            "NACENTO_MAX_FIELD_CHARS": "99",
        }
    )
    resources = build_resources(settings)
    store = resources["object_store"].get_store()
    assert isinstance(store, S3ObjectStore) and store.bucket == "catalog"
    assert store._client.meta.config.max_pool_connections == 80  # 40 threads: not capped at 32
    engine = sa.create_engine(sqlite_url)
    trigger = resources["reindex"].trigger(engine, resources["magento"].table_prefix)
    assert isinstance(trigger, CommandTrigger) and trigger.timeout_seconds == 7
    assert trigger.changelog is not None and trigger.changelog.prefix == "mg_"
    backend = resources["cache"].get_backend()
    assert [(h.host, h.port) for h in backend.hosts] == [("v1", 6081)] and backend.timeout == 4.0
    assert resources["drop_zone"].limits.field_chars == 99
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
    resources = build_resources(settings)
    assert resources["object_store"].get_store()._client.meta.config.max_pool_connections == 48
    engine = sa.create_engine(sqlite_url)
    assert resources["reindex"].trigger(engine, "").timeout_seconds == 11
    engine.dispose()


def _configurable_resources(defs: dg.Definitions) -> dict[str, dg.ConfigurableResource]:
    found = {k: v for k, v in (defs.resources or {}).items() if isinstance(v, dg.ConfigurableResource)}
    assert {"object_store", "drop_zone", "magento", "reindex", "cache"} <= set(found)
    return found


def test_no_resource_of_the_definitions_carries_the_settings(tmp_path):
    """Each resource has typed fields of its own: none is a Settings, a mapping of them, or exposes one."""
    defs = build_definitions(Settings.from_env({"NACENTO_VAR_DIR": str(tmp_path), **SECRET_ENV}))
    for key, resource in _configurable_resources(defs).items():
        for name, info in type(resource).model_fields.items():
            assert "Settings" not in str(info.annotation), (key, name)
            assert not isinstance(getattr(resource, name), Settings), (key, name)
            assert not (isinstance(getattr(resource, name), dict) and name == "values"), (key, name)
        assert not any(isinstance(getattr(resource, a, None), Settings) for a in ("settings", "nacento")), key


def test_secrets_from_the_environment_reach_dagster_as_env_vars_never_shown(tmp_path):
    settings = Settings.from_env({"NACENTO_VAR_DIR": str(tmp_path), **SECRET_ENV})
    defs = build_definitions(settings)
    resources = defs.resources or {}
    magento, cache = resources["magento"], resources["cache"]
    assert isinstance(magento.url, dg.EnvVar) and magento.url.env_var_name == "NACENTO_MAGENTO_DB_URL"
    assert isinstance(cache.redis_url, dg.EnvVar) and isinstance(cache.redis_default_url, dg.EnvVar)
    job = defs.resolve_job_def(BATCH_JOB)
    shown = job.run_config_schema.config_type.fields["resources"].default_value
    assert shown["magento"]["config"]["url"] == {"env": "NACENTO_MAGENTO_DB_URL"}
    assert shown["cache"]["config"]["redis_url"] == {"env": "NACENTO_CACHE_REDIS_URL"}
    text = json.dumps(shown) + repr(magento) + repr(cache)
    assert not any(word in text for word in ("db-secret", "redis-secret", "default-secret"))


def test_secrets_set_in_code_stay_plain_values(tmp_path):
    """Only a value the environment set becomes an EnvVar (a test's or the CLI's own value is used as is)."""
    settings = Settings(var_dir=tmp_path, magento_db_url="sqlite:///x.sqlite")
    magento = build_resources(settings)["magento"]
    assert magento.url == "sqlite:///x.sqlite" and not isinstance(magento.url, dg.EnvVar)


def test_the_docs_say_where_every_setting_lands():
    """docs/configuration.md's "Where each setting lands in Dagster" names every variable."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    section = doc.split("## Where each setting lands in Dagster", 1)[1].split("\n## ", 1)[0]
    assert [v.name for v in VARIABLES if f"`{v.name}`" not in section] == []
