"""Settings from the environment: defaults, parsing, and clear errors naming the variable."""

import pytest

from nacento_pipeline.config import ConfigError, Settings


def test_embedded_defaults():
    s = Settings.from_env({})
    assert s.uses_local_bucket and s.magento_url.startswith("sqlite:///")
    assert (s.drop_prefix, s.archive_prefix, s.rejected_prefix) == (
        "pim-drop/",
        "pim-archive/",
        "pim-rejected/",
    )
    assert s.sync_mode == "replace_owned" and s.reindex_trigger == "changelog"
    assert not s.magento_db_url_from_env


def test_values_are_parsed_and_normalised():
    s = Settings.from_env(
        {
            "NACENTO_S3_BUCKET": "catalog",
            "NACENTO_DROP_PREFIX": "/incoming//",
            "NACENTO_CHUNK_SIZE": "250",
            "NACENTO_S3_PATH_STYLE": "yes",
            "NACENTO_REINDEX_THRESHOLDS": "catalogsearch_fulltext=5000,x=0.1",
            "NACENTO_INDEXERS": "a, b",
            "NACENTO_MAGENTO_DB_URL": "mysql+pymysql://u:p@h/m",
        }
    )
    assert s.drop_prefix == "incoming/" and s.chunk_size == 250 and s.s3_path_style
    assert s.threshold_for("catalogsearch_fulltext") == 5000 and s.threshold_for("other") == 0.2
    assert s.indexers == ("a", "b") and s.magento_db_url_from_env


@pytest.mark.parametrize(
    "env, variable",
    [
        ({"NACENTO_CHUNK_SIZE": "many"}, "NACENTO_CHUNK_SIZE"),
        ({"NACENTO_SYNC_MODE": "merge"}, "NACENTO_SYNC_MODE"),
        ({"NACENTO_S3_PATH_STYLE": "maybe"}, "NACENTO_S3_PATH_STYLE"),
        ({"NACENTO_REINDEX_THRESHOLDS": "a=-1"}, "NACENTO_REINDEX_THRESHOLDS"),
        ({"NACENTO_REINDEX_PURPOSES": "on-save,bogus"}, "NACENTO_REINDEX_PURPOSES"),
        ({"NACENTO_INDEXERS": "catalog;rm -rf /"}, "NACENTO_INDEXERS"),
        ({"NACENTO_DROP_PREFIX": "pim-archive"}, "prefixes"),
    ],
)
def test_bad_values_name_the_variable(env, variable):
    with pytest.raises(ConfigError, match=variable):
        Settings.from_env(env)


def test_catchup_minutes_must_fit_a_cron_minute_step():
    assert Settings.from_env({"NACENTO_CATCHUP_MINUTES": "15"}).catchup_minutes == 15
    with pytest.raises(ConfigError, match="NACENTO_CATCHUP_MINUTES"):
        Settings.from_env({"NACENTO_CATCHUP_MINUTES": "90"})


def test_cache_settings_from_env_and_backend_registry():
    from nacento_pipeline.cache.varnish import VarnishHost
    from nacento_pipeline.resources.build import cache_resource

    s = Settings.from_env(
        {
            "NACENTO_CACHE_BACKEND": "Varnish",
            "NACENTO_CACHE_HOSTS": "v1:6081, v2",
            "NACENTO_CACHE_RETRIES": "5",
        }
    )
    assert (s.cache_backend, s.cache_hosts, s.cache_retries) == ("varnish", ("v1:6081", "v2"), 5)
    backend = cache_resource(s).get_backend()
    assert backend.hosts == (VarnishHost("v1", 6081), VarnishHost("v2", 80))
    assert Settings().indexers == ("catalog_product_flat", "catalogrule_product")
    with pytest.raises(ConfigError, match="NACENTO_CACHE_BACKEND"):
        Settings.from_env({"NACENTO_CACHE_BACKEND": "memcached"})
    with pytest.raises(ConfigError, match="NACENTO_CACHE_HOSTS"):
        Settings.from_env({"NACENTO_CACHE_BACKEND": "varnish"})
    secret = Settings.from_env(
        {"NACENTO_CACHE_BACKEND": "redis", "NACENTO_CACHE_REDIS_URL": "redis://:pw@r:6379/1"}
    )
    assert secret.cache_redis_urls_from_env
    assert "pw" not in repr(cache_resource(secret).redis_url)


def test_drop_events_settings():
    assert Settings.from_env({}).drop_events == "off"
    s = Settings.from_env(
        {
            "NACENTO_S3_BUCKET": "catalog",
            "NACENTO_DROP_EVENTS": "SQS",
            "NACENTO_DROP_EVENTS_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/1/drops",
            "NACENTO_DROP_EVENTS_RECONCILE_MINUTES": "30",
        }
    )
    assert (s.drop_events, s.drop_events_queue_url, s.drop_events_reconcile_minutes) == (
        "sqs",
        "https://sqs.eu-west-1.amazonaws.com/1/drops",
        30,
    )
    with pytest.raises(ConfigError, match="NACENTO_DROP_EVENTS="):
        Settings.from_env({"NACENTO_DROP_EVENTS": "kafka"})
    with pytest.raises(ConfigError, match="NACENTO_DROP_EVENTS_QUEUE_URL"):
        Settings.from_env({"NACENTO_S3_BUCKET": "catalog", "NACENTO_DROP_EVENTS": "sqs"})
    with pytest.raises(ConfigError, match="NACENTO_DROP_EVENTS_RECONCILE_MINUTES"):
        Settings.from_env({"NACENTO_DROP_EVENTS_RECONCILE_MINUTES": "0"})


def test_media_feed_settings():
    off = Settings.from_env({})
    assert (off.media_feed_queue_url, off.media_feed_full_hours) == (None, 24)
    s = Settings.from_env(
        {
            "NACENTO_S3_BUCKET": "catalog",
            "NACENTO_MEDIA_FEED_QUEUE_URL": " https://sqs/1/media ",
            "NACENTO_MEDIA_FEED_FULL_HOURS": "6",
        }
    )
    assert (s.media_feed_queue_url, s.media_feed_full_hours) == ("https://sqs/1/media", 6)
    with pytest.raises(ConfigError, match="NACENTO_MEDIA_FEED_QUEUE_URL needs NACENTO_S3_BUCKET"):
        Settings.from_env({"NACENTO_MEDIA_FEED_QUEUE_URL": "https://sqs/1/media"})
    with pytest.raises(ConfigError, match="NACENTO_MEDIA_FEED_FULL_HOURS"):
        Settings.from_env({"NACENTO_MEDIA_FEED_FULL_HOURS": "0"})
