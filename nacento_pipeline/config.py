"""Typed settings for the whole pipeline, built from `NACENTO_*` environment variables in one place.

The `Settings` dataclass *is* the variables table: each field that a `NACENTO_*` variable sets is declared
with `setting(name, parser, default, help)`, so its name, default and help are stated once; `VARIABLES`,
`--help` and the test of docs/configuration.md read them from the fields. Nothing else in the project reads
`os.environ`. The embedded default runs on a laptop: a local folder as the bucket and a SQLite file as
Magento's database.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import Field, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from nacento_pipeline.core.akeneo.mapping import MODEL_IMAGE_MODES
from nacento_pipeline.core.command_template import CommandTemplateError, environment_names, parse_template
from nacento_pipeline.core.delta.modes import DEFAULT_SYNC_MODE, SyncModeError, normalize_mode
from nacento_pipeline.core.reindex.decision import DEFAULT_PURPOSE_NAMES, PURPOSES, SAFE_INDEXER_NAME
from nacento_pipeline.magento.database import DEFAULT_LOCK_TIMEOUT_SECONDS as WRITER_LOCK_WAIT_SECONDS

# The *indexers* the reindex decision manages unless NACENTO_INDEXERS says otherwise: the ones whose index
# holds or matches on images. Not the mview *views* (magento.indexers.SUBSCRIBED_VIEWS): an indexer's view id
# is its own id unless NACENTO_INDEXER_VIEWS maps it to another.
DEFAULT_INDEXERS = ("catalog_product_flat", "catalogrule_product")
REINDEX_TRIGGERS = ("changelog", "command", "dry-run")
UNKNOWN_SKU_SEVERITIES = ("warn", "error")
CACHE_BACKENDS = ("none", "varnish", "redis", "command")
DROP_EVENT_MODES = ("off", "sqs")
SMTP_TYPES = ("ssl", "starttls", "plain")


class ConfigError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


# --- Parsers: (variable name, raw text) -> typed value, raising ConfigError naming the variable -------------


def _text(name: str, raw: str) -> str:
    return raw


def _stripped(name: str, raw: str) -> str:
    return raw.strip()


def _lower(name: str, raw: str) -> str:
    return raw.strip().lower()


def _path(name: str, raw: str) -> Path:
    return Path(raw)


def _list(name: str, raw: str) -> tuple[str, ...]:
    return tuple(filter(None, (p.strip() for p in raw.split(","))))


def _bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean (use true/false, 1/0, yes/no, on/off)")


def _int(name: str, raw: str, minimum: int = 0) -> int:
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r} is not an integer") from exc
    if value < minimum:
        raise ConfigError(f"{name}={value} must be >= {minimum}")
    return value


def _positive(name: str, raw: str) -> int:
    return _int(name, raw, minimum=1)


def _share(name: str, raw: str) -> float:
    """A fraction 0..1 (0.2 = 20 %); 0 turns the limit off."""
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r} is not a number (a fraction: 0.2 = 20 %)") from exc
    if not 0 <= value <= 1:
        raise ConfigError(f"{name}={raw}: must be a fraction between 0 (off) and 1")
    return value


def _minutes(name: str, raw: str) -> int:
    value = _positive(name, raw)
    if not 1 <= value <= 59:
        raise ConfigError(f"{name}={raw}: must be 1..59 (a cron */N minute step)")
    return value


def _prefix(name: str, raw: str) -> str:
    """Object-store prefixes are kept without a leading slash and with exactly one trailing slash."""
    stripped = raw.strip().strip("/")
    return f"{stripped}/" if stripped else ""


def _sync_mode(name: str, raw: str) -> str:
    try:
        return normalize_mode(raw)
    except SyncModeError as exc:
        raise ConfigError(f"{name}: {exc}") from exc


def parse_thresholds(name: str, raw: str) -> dict[str, float]:
    """Parse `indexer=1000,other=0.05` (absolute count, or a fraction of the catalog when below 1)."""
    result: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in raw.split(","))):
        if "=" not in part:
            raise ConfigError(f"{name}: {part!r} is not of the form indexer=threshold")
        key, _, value = part.partition("=")
        try:
            number = float(value)
        except ValueError as exc:
            raise ConfigError(f"{name}: threshold {value!r} for {key!r} is not a number") from exc
        if number < 0:
            raise ConfigError(f"{name}: threshold for {key!r} must not be negative")
        result[key.strip()] = number
    return result


def _threshold(name: str, raw: str) -> float:
    return parse_thresholds(name, f"*={raw}")["*"]


def parse_pairs(name: str, raw: str) -> dict[str, str]:
    """Parse `key=value,other=value`."""
    result: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in raw.split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ConfigError(f"{name}: {part!r} is not of the form key=value")
        result[key.strip()] = value.strip()
    return result


def _label_pairs(name: str, raw: str) -> dict[str, str]:
    """`name` (every image's label) or `picture=picture_alt,image=name` (per gallery attribute).

    A bare attribute among pairs labels the gallery attributes no pair names.
    """
    result: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in raw.split(","))):
        key, sep, value = part.partition("=")
        if sep and (not key.strip() or not value.strip()):
            raise ConfigError(f"{name}: {part!r} is not of the form attribute or gallery_attribute=attribute")
        result[key.strip() if sep else "*"] = (value if sep else key).strip()
    return result


def _locale_stores(name: str, raw: str) -> dict[str, tuple[str, ...]]:
    """`en_US=default,de_DE=de|de_ch`: locale -> store view codes (`|` between several)."""
    return {
        locale: tuple(filter(None, (c.strip() for c in codes.split("|"))))
        for locale, codes in parse_pairs(name, raw).items()
    }


# --- The table: one `setting(...)` per variable, declared on the Settings field it sets ------------------


@dataclass(frozen=True)
class Variable:
    """One `NACENTO_*` variable: the single source for parsing, `--help` and docs/configuration.md's test."""

    name: str
    attr: str
    parse: Callable[[str, str], object]
    default: str  # as shown in --help and docs/configuration.md
    help: str
    fallbacks: tuple[str, ...] = ()
    secret: bool = False  # read from the environment, it reaches Dagster as EnvVar (never shown)


_VARIABLE = "nacento_variable"


def _shown(default: object) -> str:
    """How a typed default reads in `--help`: empty, unset, true/false, a comma-separated list."""
    if default is None:
        return "unset"
    if isinstance(default, bool):
        return str(default).lower()
    if isinstance(default, tuple):
        return ",".join(default) or "empty"
    return str(default) or "empty"


def setting(
    name: str,
    parse: Callable[[str, str], object],
    default: Any,
    help: str,
    *,
    shown: str | None = None,
    fallbacks: tuple[str, ...] = (),
    secret: bool = False,
) -> Any:
    """A Settings field set by the variable `name`: its default, parser and help, stated once here."""
    variable = Variable(name, "", parse, _shown(default) if shown is None else shown, help, fallbacks, secret)
    if isinstance(default, dict):
        return field(default_factory=lambda: dict(default), metadata={_VARIABLE: variable})
    return field(default=default, metadata={_VARIABLE: variable})


@dataclass(frozen=True)
class Settings:
    """Everything configurable, with the embedded defaults; each field names the variable that sets it."""

    # Magento database
    magento_db_url: str = setting(
        "NACENTO_MAGENTO_DB_URL",
        _text,
        "",
        shown="sqlite:///var/magento.sqlite",
        secret=True,
        help="SQLAlchemy URL of Magento's database (a secret: passed to Dagster as EnvVar, never shown)",
    )
    table_prefix: str = setting("NACENTO_TABLE_PREFIX", _text, "", "Magento's table prefix")
    db_connect_timeout_seconds: int = setting(
        "NACENTO_DB_CONNECT_TIMEOUT_SECONDS", _positive, 10, "MySQL/MariaDB: timeout of opening a connection"
    )
    db_read_timeout_seconds: int = setting(
        "NACENTO_DB_READ_TIMEOUT_SECONDS",
        _positive,
        600,
        "MySQL/MariaDB: longest wait for a server's answer (a half-open connection fails after it); above "
        "the lock-wait timeout and the writer lock's 60 s",
    )
    db_write_timeout_seconds: int = setting(
        "NACENTO_DB_WRITE_TIMEOUT_SECONDS",
        _positive,
        600,
        "MySQL/MariaDB: longest wait for sending a statement",
    )
    db_lock_wait_timeout_seconds: int = setting(
        "NACENTO_DB_LOCK_WAIT_TIMEOUT_SECONDS",
        _positive,
        50,
        "MySQL/MariaDB: every session's innodb_lock_wait_timeout (row locks) and lock_wait_timeout (metadata "
        "locks): a statement waiting longer for a lock fails with error 1205",
    )
    run_max_runtime_seconds: int = setting(
        "NACENTO_RUN_MAX_RUNTIME_SECONDS",
        _int,
        21600,
        "batch runs carry dagster/max_runtime: run monitoring cancels a run older than this (0: no limit)",
    )

    # Object store
    s3_bucket: str | None = setting(
        "NACENTO_S3_BUCKET",
        _text,
        None,
        "the bucket the PIM writes to",
        shown="unset = local folder var/bucket",
    )
    s3_endpoint_url: str | None = setting(
        "NACENTO_S3_ENDPOINT_URL", _text, None, "S3-compatible endpoint (R2, MinIO)", shown="AWS"
    )
    s3_region: str | None = setting(
        "NACENTO_S3_REGION",
        _text,
        None,
        "region (auto for R2)",
        shown="AWS_REGION / AWS_DEFAULT_REGION",
        fallbacks=("AWS_REGION", "AWS_DEFAULT_REGION"),
    )
    s3_path_style: bool = setting("NACENTO_S3_PATH_STYLE", _bool, False, "path-style addressing (MinIO)")
    drop_prefix: str = setting("NACENTO_DROP_PREFIX", _prefix, "pim-drop/", "where the PIM drops batches")
    archive_prefix: str = setting(
        "NACENTO_ARCHIVE_PREFIX", _prefix, "pim-archive/", "immutable copies of registered batches"
    )
    rejected_prefix: str = setting(
        "NACENTO_REJECTED_PREFIX",
        _prefix,
        "pim-rejected/",
        "invalid drops, moved aside with REPORT.md / report.json",
    )
    media_prefix: str = setting(
        "NACENTO_MEDIA_PREFIX",
        _prefix,
        "media/catalog/product/",
        "where image keys live (object key = prefix + gallery value)",
    )
    max_bunch_file_mb: int = setting(
        "NACENTO_MAX_BUNCH_FILE_MB",
        _positive,
        256,
        "a drop with a bunch file larger than this is refused (moved to the rejected prefix) before it is "
        "read",
    )
    max_ok_file_kb: int = setting(
        "NACENTO_MAX_OK_FILE_KB",
        _positive,
        1024,
        "a drop whose OK file is larger than this is refused before it is read",
    )
    max_invalid_names_per_tick: int = setting(
        "NACENTO_MAX_INVALID_NAMES_PER_TICK",
        _positive,
        200,
        "invalid names moved to the rejected prefix per sensor tick (the rest wait for the next ticks)",
    )
    max_field_chars: int = setting(
        "NACENTO_MAX_FIELD_CHARS",
        _positive,
        65536,
        "a bunch file with a longer field (CSV cell, JSON value) of an image row is unreadable: the run "
        "fails",
    )
    max_batch_images: int = setting(
        "NACENTO_MAX_BATCH_IMAGES",
        _positive,
        1_000_000,
        "a batch with more image rows (all its files) is unreadable: the run fails naming the limit",
    )
    drop_events: str = setting(
        "NACENTO_DROP_EVENTS",
        _lower,
        "off",
        "off (LIST the drop prefix every tick) or sqs (read the bucket's event notifications from a queue)",
    )
    drop_events_queue_url: str | None = setting(
        "NACENTO_DROP_EVENTS_QUEUE_URL",
        _stripped,
        None,
        "sqs: the queue receiving the bucket's ObjectCreated notifications",
    )
    drop_events_endpoint_url: str | None = setting(
        "NACENTO_DROP_EVENTS_ENDPOINT_URL",
        _stripped,
        None,
        shown="AWS",
        help="sqs: endpoint of the queue service (R2 queue consumer, ElasticMQ, ...)",
    )
    drop_events_reconcile_minutes: int = setting(
        "NACENTO_DROP_EVENTS_RECONCILE_MINUTES",
        _positive,
        15,
        "sqs: a full LIST of the drop prefix at least this often (no drop lost with a message)",
    )
    media_feed_queue_url: str | None = setting(
        "NACENTO_MEDIA_FEED_QUEUE_URL",
        _stripped,
        None,
        "turns the media change feed on: the SQS queue receiving the bucket's notifications for the media "
        "prefix (the ETag snapshot then LISTs only prefixes with events)",
    )
    media_feed_endpoint_url: str | None = setting(
        "NACENTO_MEDIA_FEED_ENDPOINT_URL",
        _stripped,
        None,
        shown="AWS",
        help="media feed: endpoint of the queue service when not AWS's (an SQS-compatible queue)",
    )
    media_feed_full_hours: int = setting(
        "NACENTO_MEDIA_FEED_FULL_HOURS",
        _positive,
        24,
        "media feed: a full LIST of the batch's images (the feed's audit) when the last one is older than "
        "this",
    )

    # Sync engine
    sync_mode: str = setting(
        "NACENTO_SYNC_MODE",
        _sync_mode,
        DEFAULT_SYNC_MODE,
        "replace_owned, replace_all or append (replace/upsert: old names)",
    )
    chunk_size: int = setting("NACENTO_CHUNK_SIZE", _positive, 500, "SKUs per transaction")
    head_concurrency: int = setting(
        "NACENTO_HEAD_CONCURRENCY", _positive, 16, "parallel storage requests for the ETag snapshot"
    )
    step_processes_above_mb: int = setting(
        "NACENTO_STEP_PROCESSES_ABOVE_MB",
        _int,
        5,
        "the drop sensor runs a batch whose bunch files exceed this many MB with one process per step (0: "
        "every batch)",
    )
    unknown_sku_severity: str = setting(
        "NACENTO_UNKNOWN_SKU_SEVERITY", _lower, "warn", "severity of the all_skus_known check (warn or error)"
    )
    remove_store_role_images: bool = setting(
        "NACENTO_REMOVE_STORE_ROLE_IMAGES",
        _bool,
        False,
        "purge an image even when it is the base, small or thumbnail image of a store view (Magento's admin "
        "refuses that removal; by default the image is kept and the SKU warned)",
    )
    csv_list_separator: str = setting(
        "NACENTO_CSV_LIST_SEPARATOR", _text, ",", "list separator inside native-CSV cells"
    )

    # Safety net: the blast-radius guard (0 = that limit off) and the undo journal
    guard_max_removed_share: float = setting(
        "NACENTO_GUARD_MAX_REMOVED_SHARE",
        _share,
        0.2,
        "stop a batch removing (purging or disabling) more than this share of its products' images",
    )
    guard_max_emptied: int = setting(
        "NACENTO_GUARD_MAX_EMPTIED",
        _int,
        50,
        "stop a batch leaving more than this many galleries without an enabled image",
    )
    guard_max_base_changed_share: float = setting(
        "NACENTO_GUARD_MAX_BASE_CHANGED_SHARE",
        _share,
        0.3,
        "stop a batch changing more than this share of the catalog's base images",
    )
    guard_max_touched_share: float = setting(
        "NACENTO_GUARD_MAX_TOUCHED_SHARE",
        _share,
        0.0,
        "stop a batch changing more than this share of the catalog's products",
    )
    guard_min_count: int = setting(
        "NACENTO_GUARD_MIN_COUNT",
        _positive,
        20,
        "a share limit stops a batch only when its count reaches this too",
    )
    journal_retention_days: int = setting(
        "NACENTO_JOURNAL_RETENTION_DAYS",
        _positive,
        30,
        "days the undo journal keeps a batch's before-images (pruned by the audit)",
    )

    # Reindex
    indexers: tuple[str, ...] = setting(
        "NACENTO_INDEXERS", _list, DEFAULT_INDEXERS, "indexers the reindex decision manages"
    )
    reindex_trigger: str = setting(
        "NACENTO_REINDEX_TRIGGER", _lower, "changelog", "changelog, command or dry-run"
    )
    reindex_command: str = setting(
        "NACENTO_REINDEX_COMMAND",
        _text,
        "bin/magento indexer:reindex {indexers}",
        "command template for the command trigger",
    )
    reindex_partial_command: str | None = (
        setting(  # with {entity_ids}: partial reindex by command, else changelog
            "NACENTO_REINDEX_PARTIAL_COMMAND",
            _text,
            None,
            "command template for partial decisions, with {entity_ids}",
        )
    )
    reindex_timeout_seconds: int = setting(
        "NACENTO_REINDEX_TIMEOUT_SECONDS", _positive, 3600, "timeout of that command"
    )
    reindex_purposes: tuple[str, ...] = setting(  # () = the default chain
        "NACENTO_REINDEX_PURPOSES",
        _list,
        (),
        "the purpose chain, first match wins",
        shown=",".join(DEFAULT_PURPOSE_NAMES),
    )
    indexer_views: Mapping[str, str] = setting(
        "NACENTO_INDEXER_VIEWS",
        parse_pairs,
        {},
        "mview view per indexer where they differ (indexer=view,...)",
        shown="view id = indexer id",
    )
    default_threshold: float = setting(
        "NACENTO_REINDEX_THRESHOLD",
        _threshold,
        0.2,
        "full-reindex threshold: < 1 a fraction of the catalog, >= 1 a number of products",
    )
    thresholds: Mapping[str, float] = setting(
        "NACENTO_REINDEX_THRESHOLDS",
        parse_thresholds,
        {},
        shown="empty",
        help="per indexer, e.g. catalogsearch_fulltext=5000,catalog_product_attribute=0.1",
    )
    purge_image_cache: bool = setting(
        "NACENTO_PURGE_IMAGE_CACHE",
        _bool,
        False,
        "delete Magento's resized copies of images whose content changed",
    )
    media_cache_prefix: str = setting(
        "NACENTO_MEDIA_CACHE_PREFIX",
        _prefix,
        "media/catalog/product/cache/",
        "where those resized copies live",
    )

    # Storefront cache invalidation (nacento_pipeline.cache)
    cache_backend: str = setting(
        "NACENTO_CACHE_BACKEND",
        _lower,
        "none",
        "storefront cache cleaning after a write: none, varnish, redis or command",
    )
    cache_hosts: tuple[str, ...] = setting(
        "NACENTO_CACHE_HOSTS",
        _list,
        (),
        "varnish: host[:port],... that receive Magento's PURGE (env.php http_cache_hosts)",
    )
    cache_redis_url: str = setting(
        "NACENTO_CACHE_REDIS_URL",
        _stripped,
        "redis://127.0.0.1:6379/1",
        secret=True,
        help="redis: the full_page cache's server and database (a secret if it holds a password)",
    )
    cache_redis_prefix: str = setting(
        "NACENTO_CACHE_REDIS_PREFIX", _stripped, "", "redis: env.php page_cache id_prefix"
    )
    cache_redis_default_url: str | None = setting(
        "NACENTO_CACHE_REDIS_DEFAULT_URL",
        _stripped,
        None,
        shown="unset = not cleaned",
        secret=True,
        help="redis: the default cache (cleaned as a product save cleans it; IMG_INFO of purged copies)",
    )
    cache_redis_default_prefix: str = setting(
        "NACENTO_CACHE_REDIS_DEFAULT_PREFIX", _stripped, "", "redis: env.php default cache id_prefix"
    )
    cache_command: str = setting(
        "NACENTO_CACHE_COMMAND",
        _stripped,
        "bin/magento cache:clean full_page",
        "command backend: template; the cache tags on stdin, in {tags_file}, or as arguments ({tags}, not "
        "with ssh)",
    )
    cache_images_command: str | None = setting(
        "NACENTO_CACHE_IMAGES_COMMAND",
        _stripped,
        None,
        "command backend: template run for purged resized copies; the gallery values on stdin, in "
        "{images_file}, or as arguments ({images}, not with ssh)",
    )
    command_env: tuple[str, ...] = setting(
        "NACENTO_COMMAND_ENV",
        _list,
        (),
        shown="empty = PATH, HOME and the variables a template names",
        help="environment variables cache and reindex commands get besides PATH, HOME and those their "
        "template names ($NAME)",
    )
    cache_retries: int = setting("NACENTO_CACHE_RETRIES", _positive, 3, "attempts per cache request")
    cache_timeout_seconds: int = setting(
        "NACENTO_CACHE_TIMEOUT_SECONDS", _positive, 10, "timeout of one cache request or command"
    )

    # Akeneo export folders (core.akeneo)
    akeneo_gallery_attributes: tuple[str, ...] | None = setting(
        "NACENTO_AKENEO_GALLERY_ATTRIBUTES",
        _list,
        None,
        shown="picture,image (those the export has)",
        help="Akeneo image attributes forming the gallery, in order",
    )
    akeneo_roles: Mapping[str, str] | None = setting(
        "NACENTO_AKENEO_ROLES",
        parse_pairs,
        None,
        shown="image,small_image,thumbnail = the first gallery attribute",
        help="role=attribute,... (any role code, e.g. swatch_image=picture)",
    )
    akeneo_label_attribute: Mapping[str, str] | None = setting(
        "NACENTO_AKENEO_LABEL_ATTRIBUTE",
        _label_pairs,
        None,
        shown="name (if the export has it)",
        help="text attribute giving the images' labels per locale, or gallery_attribute=attribute,...",
    )
    akeneo_identifier: str = setting(
        "NACENTO_AKENEO_IDENTIFIER", _stripped, "sku", "the export's identifier column (the Magento SKU)"
    )
    akeneo_default_locale: str = setting(
        "NACENTO_AKENEO_DEFAULT_LOCALE",
        _stripped,
        "en_US",
        "locale of store 0's values (labels, localizable images)",
    )
    akeneo_default_channel: str = setting(
        "NACENTO_AKENEO_DEFAULT_CHANNEL",
        _stripped,
        "ecommerce",
        "channel of store 0's values (scopable images)",
    )
    akeneo_locales: Mapping[str, tuple[str, ...]] = setting(
        "NACENTO_AKENEO_LOCALES",
        _locale_stores,
        {},
        shown="empty = store 0 only",
        help="locale=store view code(s): de_DE=de|de_ch,fr_FR=fr",
    )
    akeneo_channels: Mapping[str, str] = setting(
        "NACENTO_AKENEO_CHANNELS",
        parse_pairs,
        {"ecommerce": "base"},
        shown="ecommerce=base",
        help="channel=website code",
    )
    akeneo_model_images: str = setting(
        "NACENTO_AKENEO_MODEL_IMAGES",
        _lower,
        "own",
        "own (a product model's row sets its own code's gallery) or variants (also its variants' empty "
        "images)",
    )
    akeneo_catalog_prefix: str = setting(
        "NACENTO_AKENEO_CATALOG_PREFIX",
        _prefix,
        "",
        shown="unset = raw keys refused",
        help="where Akeneo's catalog storage lies in the bucket (for exports without with_media)",
    )

    # Schedules
    catchup_minutes: int = setting(
        "NACENTO_CATCHUP_MINUTES", _minutes, 5, "how often the catch-up schedule runs (1..59)"
    )

    # Files of the embedded default
    var_dir: Path = setting(
        "NACENTO_VAR_DIR", _path, Path("var"), "where the embedded default keeps its files"
    )
    local_bucket_dir: Path | None = setting(
        "NACENTO_LOCAL_BUCKET_DIR",
        _path,
        None,
        shown="$NACENTO_VAR_DIR/bucket",
        help="the local folder used as the bucket when NACENTO_S3_BUCKET is unset",
    )

    # Alerts (off unless a recipient or a Slack token is set)
    dagster_url: str = setting(
        "NACENTO_DAGSTER_URL",
        _text,
        "http://127.0.0.1:3000",
        "the Dagster webserver's address, for links in alerts",
    )
    alert_email_to: tuple[str, ...] = setting(
        "NACENTO_ALERT_EMAIL_TO",
        _list,
        (),
        "comma-separated recipients of run-failure and check-failure e-mails",
        shown="unset = no e-mail alerts",
    )
    alert_email_from: str = setting(
        "NACENTO_ALERT_EMAIL_FROM", _text, "nacento-pipeline@localhost", "sender of alert e-mails"
    )
    alert_smtp_host: str = setting(
        "NACENTO_ALERT_SMTP_HOST", _text, "localhost", "SMTP server for alert e-mails"
    )
    alert_smtp_port: int = setting("NACENTO_ALERT_SMTP_PORT", _positive, 587, "its port")
    alert_smtp_type: str = setting(
        "NACENTO_ALERT_SMTP_TYPE", _lower, "starttls", "SSL, STARTTLS or PLAIN", shown="STARTTLS"
    )
    alert_smtp_user: str | None = setting(
        "NACENTO_ALERT_SMTP_USER", _text, None, "SMTP login", shown="the sender"
    )
    alert_smtp_password: str = setting(
        "NACENTO_ALERT_SMTP_PASSWORD", _text, "", "SMTP password (a secret)", secret=True
    )
    alert_slack_token: str | None = setting(
        "NACENTO_ALERT_SLACK_TOKEN",
        _text,
        None,
        "Slack bot token (xoxb-..., a secret)",
        shown="unset = no Slack alerts",
        secret=True,
    )
    alert_slack_channel: str = setting(
        "NACENTO_ALERT_SLACK_CHANNEL", _text, "#nacento-alerts", "Slack channel for alerts"
    )
    alert_slack_base_url: str = setting(
        "NACENTO_ALERT_SLACK_BASE_URL",
        _text,
        "https://slack.com/api/",
        "Slack Web API base URL (a proxy, or a test endpoint)",
    )

    # Secret fields whose value came from the environment (Dagster reads them as EnvVar, never shows them)
    env_sourced: frozenset[str] = frozenset()

    @property
    def magento_db_url_from_env(self) -> bool:
        """Whether Magento's database URL came from the environment (then it reaches Dagster as EnvVar)."""
        return "magento_db_url" in self.env_sourced

    @property
    def cache_redis_urls_from_env(self) -> bool:
        """Whether a Redis URL of the cache came from the environment."""
        return bool({"cache_redis_url", "cache_redis_default_url"} & self.env_sourced)

    @property
    def magento_url(self) -> str:
        """Magento's database URL: the configured one, else the embedded SQLite file's."""
        return self.magento_db_url or f"sqlite:///{(self.var_dir / 'magento.sqlite').resolve()}"

    @property
    def magento_db_label(self) -> str:
        """Which Magento database this is, without credentials: `host:port/name` (sqlite: the file name)."""
        import sqlalchemy as sa

        url = sa.make_url(self.magento_url)
        if url.get_backend_name() == "sqlite":
            return f"sqlite/{Path(url.database or 'memory').name}"
        return f"{url.host or 'localhost'}:{url.port or 3306}/{url.database or ''}"

    @property
    def bucket_dir(self) -> Path:
        """The local folder used as the bucket when no bucket is named."""
        return (self.local_bucket_dir or self.var_dir / "bucket").resolve()

    @property
    def uses_local_bucket(self) -> bool:
        """Whether the bucket is the local folder (no NACENTO_S3_BUCKET)."""
        return not self.s3_bucket

    def threshold_for(self, indexer: str) -> float:
        """The full-reindex threshold of one indexer (its own, else the default)."""
        return float(self.thresholds.get(indexer, self.default_threshold))

    def with_overrides(self, **changes: object) -> Settings:
        """A copy with these fields changed (validate() it before use)."""
        return replace(self, **changes)  # type: ignore[arg-type]

    def validate(self) -> Settings:
        """Raise ConfigError (naming the variable) for the first check this configuration fails."""
        for check in _CHECKS:
            check(self)
        return self

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read every variable of the table from `environ` (default os.environ), parse, then validate once."""
        values = dict(_parsed_values(os.environ if environ is None else environ))
        secrets = frozenset(var.attr for var in VARIABLES if var.secret and var.attr in values)
        return cls(**values, env_sourced=secrets).validate()  # type: ignore[arg-type]


# --- Reading the environment: one small step each -----------------------------------------------------------


def _raw_value(env: Mapping[str, str], var: Variable) -> str | None:
    """The variable's text, else the first fallback's; empty counts as unset."""
    return next((env[n] for n in (var.name, *var.fallbacks) if env.get(n) not in (None, "")), None)


def _parsed_values(env: Mapping[str, str]) -> Iterator[tuple[str, object]]:
    """(field, typed value) for each variable set in `env`."""
    for var in VARIABLES:
        raw = _raw_value(env, var)
        if raw is not None:
            yield var.attr, var.parse(var.name, raw)


def _variables(settings_fields: tuple[Field[Any], ...]) -> tuple[Variable, ...]:
    return tuple(
        replace(f.metadata[_VARIABLE], attr=f.name) for f in settings_fields if _VARIABLE in f.metadata
    )


VARIABLES: tuple[Variable, ...] = _variables(fields(Settings))


def variables_help() -> str:
    """The `--help` epilog: every variable, its default and meaning, from VARIABLES."""
    width = max(len(v.name) for v in VARIABLES)
    lines = ["environment variables (unset = embedded default):"]
    for var in VARIABLES:
        lines.append(f"  {var.name:<{width}}  {var.help} [default: {var.default}]")
    return "\n".join(lines)


def command_environment(template: str, extra: tuple[str, ...] = ()) -> dict[str, str]:
    """The whole environment of a cache or reindex command, never the rest (database URL, storage keys).

    PATH, HOME, the variables `template` names and `extra` (NACENTO_COMMAND_ENV), those of them that are set.
    """
    return {name: os.environ[name] for name in environment_names(template, extra) if name in os.environ}


# --- Validation: one check per rule, each naming the variable it concerns --------------------------------


def _one_of(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name}={value!r}: expected one of {allowed}")


def _check_sync(s: Settings) -> None:
    try:
        normalize_mode(s.sync_mode)
    except SyncModeError as exc:
        raise ConfigError(f"NACENTO_SYNC_MODE: {exc}") from exc
    _one_of("NACENTO_UNKNOWN_SKU_SEVERITY", s.unknown_sku_severity, UNKNOWN_SKU_SEVERITIES)


def _check_reindex(s: Settings) -> None:
    _one_of("NACENTO_REINDEX_TRIGGER", s.reindex_trigger, REINDEX_TRIGGERS)
    bad = [name for name in (*s.indexers, *s.indexer_views.values()) if not SAFE_INDEXER_NAME.fullmatch(name)]
    if bad:
        raise ConfigError(
            f"NACENTO_INDEXERS / NACENTO_INDEXER_VIEWS: invalid indexer or view name(s) {bad} "
            "(letters, digits, '_', '.', '-')"
        )
    unknown = [name for name in s.reindex_purposes if name not in PURPOSES]
    if unknown:
        raise ConfigError(
            f"NACENTO_REINDEX_PURPOSES: unknown purpose(s) {unknown}; known: {sorted(PURPOSES)}"
        )


def _check_drop_events(s: Settings) -> None:
    _one_of("NACENTO_DROP_EVENTS", s.drop_events, DROP_EVENT_MODES)
    if s.drop_events != "off" and (s.uses_local_bucket or not s.drop_events_queue_url):
        raise ConfigError("NACENTO_DROP_EVENTS=sqs needs NACENTO_S3_BUCKET and NACENTO_DROP_EVENTS_QUEUE_URL")
    if s.media_feed_queue_url and s.uses_local_bucket:
        raise ConfigError(
            "NACENTO_MEDIA_FEED_QUEUE_URL needs NACENTO_S3_BUCKET (a local folder sends no events)"
        )


def _check_cache(s: Settings) -> None:
    _one_of("NACENTO_CACHE_BACKEND", s.cache_backend, CACHE_BACKENDS)
    if s.cache_backend == "varnish" and not s.cache_hosts:
        raise ConfigError("NACENTO_CACHE_HOSTS: the varnish backend needs at least one host[:port]")
    for variable, template, name in (
        ("NACENTO_CACHE_COMMAND", s.cache_command, "tags"),
        ("NACENTO_CACHE_IMAGES_COMMAND", s.cache_images_command, "images"),
    ):
        if template:
            try:
                parse_template(template, name)
            except CommandTemplateError as exc:
                raise ConfigError(f"{variable}: {exc}") from exc


def _check_alerts(s: Settings) -> None:
    if s.alert_smtp_type not in SMTP_TYPES:
        raise ConfigError(f"NACENTO_ALERT_SMTP_TYPE={s.alert_smtp_type!r}: expected SSL, STARTTLS or PLAIN")


def _check_akeneo(s: Settings) -> None:
    _one_of("NACENTO_AKENEO_MODEL_IMAGES", s.akeneo_model_images, MODEL_IMAGE_MODES)
    if s.akeneo_gallery_attributes == ():
        raise ConfigError(
            "NACENTO_AKENEO_GALLERY_ATTRIBUTES: name at least one attribute (or leave it unset)"
        )


def _check_prefixes(s: Settings) -> None:
    prefixes = {s.drop_prefix, s.archive_prefix, s.rejected_prefix}
    if len(prefixes) != 3 or "" in prefixes:
        raise ConfigError("drop, archive and rejected prefixes must be distinct and non-empty")


def _check_database(s: Settings) -> None:
    floor = max(s.db_lock_wait_timeout_seconds, WRITER_LOCK_WAIT_SECONDS)
    if s.db_read_timeout_seconds <= floor:
        raise ConfigError(
            f"NACENTO_DB_READ_TIMEOUT_SECONDS={s.db_read_timeout_seconds}: must exceed the lock-wait timeout "
            f"(NACENTO_DB_LOCK_WAIT_TIMEOUT_SECONDS) and the writer lock's {WRITER_LOCK_WAIT_SECONDS} s, or "
            f"a wait "
            "for a lock would end as a lost connection instead of a lock timeout"
        )


_CHECKS: tuple[Callable[[Settings], None], ...] = (
    _check_database,
    _check_sync,
    _check_reindex,
    _check_drop_events,
    _check_cache,
    _check_alerts,
    _check_akeneo,
    _check_prefixes,
)
