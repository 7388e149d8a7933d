"""Typed settings for the whole pipeline, built from `NACENTO_*` environment variables in one place.

Nothing else in the project reads `os.environ`: code receives a `Settings` (or the values it needs).
The embedded default runs on a laptop: a local folder as the bucket and a SQLite file as Magento's database.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from nacento_pipeline.core.modes import DEFAULT_SYNC_MODE, MODE_ALIASES, SyncModeError, normalize_mode
from nacento_pipeline.core.reindex import DEFAULT_PURPOSE_NAMES, SAFE_INDEXER_NAME

# The indexers that consume images (Magento's mview.xml subscriptions to the gallery tables); see core.reindex
DEFAULT_INDEXERS = ("catalog_product_flat", "catalogrule_product")
REINDEX_TRIGGERS = ("changelog", "command", "dry-run")
UNKNOWN_SKU_SEVERITIES = ("warn", "error")
CACHE_BACKENDS = ("none", "varnish", "redis", "command")
DROP_EVENT_MODES = ("off", "sqs")




class ConfigError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


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


def _prefix(raw: str) -> str:
    """Object-store prefixes are kept without a leading slash and with exactly one trailing slash."""
    stripped = raw.strip().strip("/")
    return f"{stripped}/" if stripped else ""


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


def parse_pairs(name: str, raw: str) -> dict[str, str]:
    """Parse `key=value,other=value`."""
    result: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in raw.split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ConfigError(f"{name}: {part!r} is not of the form key=value")
        result[key.strip()] = value.strip()
    return result


@dataclass(frozen=True)
class Settings:
    """Everything configurable, with the embedded defaults."""

    var_dir: Path = Path("var")

    # Magento database
    magento_db_url: str = ""  # empty -> sqlite file under var_dir
    magento_db_url_from_env: bool = False  # then Dagster reads it as EnvVar, so its value is never shown
    table_prefix: str = ""

    # Object store
    s3_bucket: str | None = None  # None -> local folder bucket under var_dir
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    s3_path_style: bool = False
    local_bucket_dir: Path | None = None  # None -> var_dir / "bucket"
    drop_prefix: str = "pim-drop/"
    archive_prefix: str = "pim-archive/"
    rejected_prefix: str = "pim-rejected/"
    media_prefix: str = "media/catalog/product/"
    drop_events: str = "off"  # "sqs": the drop sensor reads the bucket's event notifications from a queue
    drop_events_queue_url: str | None = None
    drop_events_endpoint_url: str | None = None  # None -> the AWS endpoint of s3_region
    drop_events_reconcile_minutes: int = 15  # full LIST of the drop prefix at least this often in event mode

    # Sync engine
    sync_mode: str = DEFAULT_SYNC_MODE
    chunk_size: int = 500
    head_concurrency: int = 16
    unknown_sku_severity: str = "warn"
    csv_list_separator: str = ","

    # Reindex
    indexers: tuple[str, ...] = DEFAULT_INDEXERS
    reindex_trigger: str = "changelog"
    reindex_command: str = "bin/magento indexer:reindex {indexers}"
    reindex_partial_command: str | None = None  # with {entity_ids}: partial reindex by command, else changelog
    reindex_purposes: tuple[str, ...] = ()  # purpose chain by name; () = the default chain
    indexer_views: Mapping[str, str] = field(default_factory=dict)  # indexer -> mview view id, when they differ
    reindex_timeout_seconds: int = 3600
    default_threshold: float = 0.2
    thresholds: Mapping[str, float] = field(default_factory=dict)
    purge_image_cache: bool = False
    media_cache_prefix: str = "media/catalog/product/cache/"

    # Storefront cache invalidation (nacento_pipeline.cache)
    cache_backend: str = "none"
    cache_hosts: tuple[str, ...] = ()  # varnish: host or host:port (env.php http_cache_hosts)
    cache_redis_url: str = "redis://127.0.0.1:6379/1"  # full_page frontend: server and database number
    cache_redis_urls_from_env: bool = False  # then Dagster reads them as EnvVar (they may hold a password)
    cache_redis_prefix: str = ""  # env.php cache/frontend/page_cache/id_prefix
    cache_redis_default_url: str | None = None  # default frontend (app cache, IMG_INFO): unset = not cleaned
    cache_redis_default_prefix: str = ""  # env.php cache/frontend/default/id_prefix
    cache_command: str = "bin/magento cache:clean full_page"
    cache_images_command: str | None = None  # with {images}: the changed gallery values
    cache_retries: int = 3
    cache_timeout_seconds: int = 10

    # Schedules
    catchup_minutes: int = 5

    # Alerts (off unless a recipient or a Slack token is set)
    dagster_url: str = "http://127.0.0.1:3000"
    alert_email_to: tuple[str, ...] = ()
    alert_email_from: str = "nacento-pipeline@localhost"
    alert_smtp_host: str = "localhost"
    alert_smtp_port: int = 587
    alert_smtp_type: str = "starttls"
    alert_smtp_user: str | None = None
    alert_smtp_password: str = ""
    alert_slack_token: str | None = None
    alert_slack_channel: str = "#nacento-alerts"
    alert_slack_base_url: str = "https://slack.com/api/"

    @property
    def magento_url(self) -> str:
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
        return (self.local_bucket_dir or self.var_dir / "bucket").resolve()

    @property
    def uses_local_bucket(self) -> bool:
        return not self.s3_bucket

    def threshold_for(self, indexer: str) -> float:
        return float(self.thresholds.get(indexer, self.default_threshold))

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    def validate(self) -> Settings:
        try:
            normalize_mode(self.sync_mode)
        except SyncModeError as exc:
            raise ConfigError(f"NACENTO_SYNC_MODE: {exc}") from exc
        if self.reindex_trigger not in REINDEX_TRIGGERS:
            raise ConfigError(
                f"NACENTO_REINDEX_TRIGGER={self.reindex_trigger!r}: expected one of {REINDEX_TRIGGERS}"
            )
        if self.unknown_sku_severity not in UNKNOWN_SKU_SEVERITIES:
            raise ConfigError(
                f"NACENTO_UNKNOWN_SKU_SEVERITY={self.unknown_sku_severity!r}: "
                f"expected one of {UNKNOWN_SKU_SEVERITIES}"
            )
        bad = [name for name in (*self.indexers, *self.indexer_views.values()) if not SAFE_INDEXER_NAME.fullmatch(name)]
        if bad:
            raise ConfigError(f"NACENTO_INDEXERS / NACENTO_INDEXER_VIEWS: invalid indexer or view name(s) {bad} "
                              "(letters, digits, '_', '.', '-')")
        if self.reindex_purposes:
            from nacento_pipeline.core.reindex import PURPOSES

            unknown = [name for name in self.reindex_purposes if name not in PURPOSES]
            if unknown:
                raise ConfigError(f"NACENTO_REINDEX_PURPOSES: unknown purpose(s) {unknown}; known: {sorted(PURPOSES)}")
        if self.drop_events not in DROP_EVENT_MODES:
            raise ConfigError(f"NACENTO_DROP_EVENTS={self.drop_events!r}: expected one of {DROP_EVENT_MODES}")
        if self.drop_events != "off" and (self.uses_local_bucket or not self.drop_events_queue_url):
            raise ConfigError("NACENTO_DROP_EVENTS=sqs needs NACENTO_S3_BUCKET and NACENTO_DROP_EVENTS_QUEUE_URL")
        if self.cache_backend not in CACHE_BACKENDS:
            raise ConfigError(f"NACENTO_CACHE_BACKEND={self.cache_backend!r}: expected one of {CACHE_BACKENDS}")
        if self.cache_backend == "varnish" and not self.cache_hosts:
            raise ConfigError("NACENTO_CACHE_HOSTS: the varnish backend needs at least one host[:port]")
        if self.alert_smtp_type not in ("ssl", "starttls", "plain"):
            raise ConfigError(f"NACENTO_ALERT_SMTP_TYPE={self.alert_smtp_type!r}: expected SSL, STARTTLS or PLAIN")
        prefixes = {self.drop_prefix, self.archive_prefix, self.rejected_prefix}
        if len(prefixes) != 3 or "" in prefixes:
            raise ConfigError("drop, archive and rejected prefixes must be distinct and non-empty")
        return self

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        kwargs: dict[str, object] = {}
        for var in VARIABLES:
            raw = next((env[n] for n in (var.name, *var.fallbacks) if env.get(n) not in (None, "")), None)
            if raw is not None:
                kwargs[var.attr] = var.parse(var.name, raw)
        if "magento_db_url" in kwargs:
            kwargs["magento_db_url_from_env"] = True  # then Dagster reads it as EnvVar, never shows it
        if "cache_redis_url" in kwargs or "cache_redis_default_url" in kwargs:
            kwargs["cache_redis_urls_from_env"] = True  # they may hold a password: EnvVar too
        return replace(cls(), **kwargs).validate()  # type: ignore[arg-type]


def _text(name: str, raw: str) -> str:
    return raw


def _path(name: str, raw: str) -> Path:
    return Path(raw)


def _list(name: str, raw: str) -> tuple[str, ...]:
    return tuple(filter(None, (p.strip() for p in raw.split(","))))


def _stripped(name: str, raw: str) -> str:
    return raw.strip()


def _lower(name: str, raw: str) -> str:
    return raw.strip().lower()


def _sync_mode(name: str, raw: str) -> str:
    value = raw.strip().lower()
    return MODE_ALIASES.get(value, value)


def _positive(name: str, raw: str) -> int:
    return _int(name, raw, minimum=1)


def _optional_port(name: str, raw: str) -> int:
    return _int(name, raw, minimum=1)


def _threshold(name: str, raw: str) -> float:
    return parse_thresholds(name, f"*={raw}")["*"]


def _minutes(name: str, raw: str) -> int:
    value = _int(name, raw, minimum=1)
    if not 1 <= value <= 59:
        raise ConfigError(f"{name}={raw}: must be 1..59 (a cron */N minute step)")
    return value


def _prefix_var(name: str, raw: str) -> str:
    return _prefix(raw)


@dataclass(frozen=True)
class Variable:
    """One `NACENTO_*` variable: the single source for parsing, `--help` and the README table's test."""

    name: str
    attr: str
    parse: Callable[[str, str], object]
    default: str
    help: str
    fallbacks: tuple[str, ...] = ()
    secret: bool = False


VARIABLES: tuple[Variable, ...] = (
    Variable("NACENTO_MAGENTO_DB_URL", "magento_db_url", _text, "sqlite:///var/magento.sqlite",
             "SQLAlchemy URL of Magento's database (a secret: passed to Dagster as EnvVar, never shown)",
             secret=True),
    Variable("NACENTO_TABLE_PREFIX", "table_prefix", _text, "empty", "Magento's table prefix"),
    Variable("NACENTO_S3_BUCKET", "s3_bucket", _text, "unset = local folder var/bucket",
             "the bucket the PIM writes to"),
    Variable("NACENTO_S3_ENDPOINT_URL", "s3_endpoint_url", _text, "AWS", "S3-compatible endpoint (R2, MinIO)"),
    Variable("NACENTO_S3_REGION", "s3_region", _text, "AWS_REGION / AWS_DEFAULT_REGION", "region (auto for R2)",
             fallbacks=("AWS_REGION", "AWS_DEFAULT_REGION")),
    Variable("NACENTO_S3_PATH_STYLE", "s3_path_style", _bool, "false", "path-style addressing (MinIO)"),
    Variable("NACENTO_DROP_PREFIX", "drop_prefix", _prefix_var, "pim-drop/", "where the PIM drops batches"),
    Variable("NACENTO_ARCHIVE_PREFIX", "archive_prefix", _prefix_var, "pim-archive/",
             "immutable copies of registered batches"),
    Variable("NACENTO_REJECTED_PREFIX", "rejected_prefix", _prefix_var, "pim-rejected/",
             "invalid drops, moved aside with REPORT.md / report.json"),
    Variable("NACENTO_MEDIA_PREFIX", "media_prefix", _prefix_var, "media/catalog/product/",
             "where image keys live (object key = prefix + gallery value)"),
    Variable("NACENTO_DROP_EVENTS", "drop_events", _lower, "off",
             "off (LIST the drop prefix every tick) or sqs (read the bucket's event notifications from a queue)"),
    Variable("NACENTO_DROP_EVENTS_QUEUE_URL", "drop_events_queue_url", _stripped, "unset",
             "sqs: the queue receiving the bucket's ObjectCreated notifications"),
    Variable("NACENTO_DROP_EVENTS_ENDPOINT_URL", "drop_events_endpoint_url", _stripped, "AWS",
             "sqs: endpoint of the queue service (R2 queue consumer, ElasticMQ, ...)"),
    Variable("NACENTO_DROP_EVENTS_RECONCILE_MINUTES", "drop_events_reconcile_minutes", _positive, "15",
             "sqs: a full LIST of the drop prefix at least this often (no drop lost with a message)"),
    Variable("NACENTO_SYNC_MODE", "sync_mode", _sync_mode, "replace_owned",
             "replace_owned, replace_all or append (replace/upsert: old names)"),
    Variable("NACENTO_CHUNK_SIZE", "chunk_size", _positive, "500", "SKUs per transaction"),
    Variable("NACENTO_HEAD_CONCURRENCY", "head_concurrency", _positive, "16",
             "parallel storage requests for the ETag snapshot"),
    Variable("NACENTO_UNKNOWN_SKU_SEVERITY", "unknown_sku_severity", _lower, "warn",
             "severity of the all_skus_known check (warn or error)"),
    Variable("NACENTO_CSV_LIST_SEPARATOR", "csv_list_separator", _text, ",",
             "list separator inside native-CSV cells"),
    Variable("NACENTO_INDEXERS", "indexers", _list, ",".join(DEFAULT_INDEXERS),
             "indexers the reindex decision manages"),
    Variable("NACENTO_REINDEX_TRIGGER", "reindex_trigger", _lower, "changelog", "changelog, command or dry-run"),
    Variable("NACENTO_REINDEX_COMMAND", "reindex_command", _text, "bin/magento indexer:reindex {indexers}",
             "command template for the command trigger"),
    Variable("NACENTO_REINDEX_PARTIAL_COMMAND", "reindex_partial_command", _text, "unset",
             "command template for partial decisions, with {entity_ids}"),
    Variable("NACENTO_REINDEX_TIMEOUT_SECONDS", "reindex_timeout_seconds", _positive, "3600",
             "timeout of that command"),
    Variable("NACENTO_REINDEX_PURPOSES", "reindex_purposes", _list,
             ",".join(DEFAULT_PURPOSE_NAMES), "the purpose chain, first match wins"),
    Variable("NACENTO_INDEXER_VIEWS", "indexer_views", parse_pairs, "view id = indexer id",
             "mview view per indexer where they differ (indexer=view,...)"),
    Variable("NACENTO_REINDEX_THRESHOLD", "default_threshold", _threshold, "0.2",
             "full-reindex threshold: < 1 a fraction of the catalog, >= 1 a number of products"),
    Variable("NACENTO_REINDEX_THRESHOLDS", "thresholds", parse_thresholds, "empty",
             "per indexer, e.g. catalogsearch_fulltext=5000,catalog_product_attribute=0.1"),
    Variable("NACENTO_PURGE_IMAGE_CACHE", "purge_image_cache", _bool, "false",
             "delete Magento's resized copies of images whose content changed"),
    Variable("NACENTO_MEDIA_CACHE_PREFIX", "media_cache_prefix", _prefix_var, "media/catalog/product/cache/",
             "where those resized copies live"),
    Variable("NACENTO_CACHE_BACKEND", "cache_backend", _lower, "none",
             "storefront cache cleaning after a write: none, varnish, redis or command"),
    Variable("NACENTO_CACHE_HOSTS", "cache_hosts", _list, "empty",
             "varnish: host[:port],... that receive Magento's PURGE (env.php http_cache_hosts)"),
    Variable("NACENTO_CACHE_REDIS_URL", "cache_redis_url", _stripped, "redis://127.0.0.1:6379/1",
             "redis: the full_page cache's server and database (a secret if it holds a password)", secret=True),
    Variable("NACENTO_CACHE_REDIS_PREFIX", "cache_redis_prefix", _stripped, "empty",
             "redis: env.php page_cache id_prefix"),
    Variable("NACENTO_CACHE_REDIS_DEFAULT_URL", "cache_redis_default_url", _stripped, "unset = not cleaned",
             "redis: the default cache (cleaned as a product save cleans it; IMG_INFO of purged copies)",
             secret=True),
    Variable("NACENTO_CACHE_REDIS_DEFAULT_PREFIX", "cache_redis_default_prefix", _stripped, "empty",
             "redis: env.php default cache id_prefix"),
    Variable("NACENTO_CACHE_COMMAND", "cache_command", _stripped, "bin/magento cache:clean full_page",
             "command backend: template ({tags} = the cache tags), may be ssh ..."),
    Variable("NACENTO_CACHE_IMAGES_COMMAND", "cache_images_command", _stripped, "unset",
             "command backend: template run for purged resized copies ({images} = the gallery values)"),
    Variable("NACENTO_CACHE_RETRIES", "cache_retries", _positive, "3", "attempts per cache request"),
    Variable("NACENTO_CACHE_TIMEOUT_SECONDS", "cache_timeout_seconds", _positive, "10",
             "timeout of one cache request or command"),
    Variable("NACENTO_CATCHUP_MINUTES", "catchup_minutes", _minutes, "5",
             "how often the catch-up schedule runs (1..59)"),
    Variable("NACENTO_VAR_DIR", "var_dir", _path, "var", "where the embedded default keeps its files"),
    Variable("NACENTO_LOCAL_BUCKET_DIR", "local_bucket_dir", _path, "$NACENTO_VAR_DIR/bucket",
             "the local folder used as the bucket when NACENTO_S3_BUCKET is unset"),
    Variable("NACENTO_DAGSTER_URL", "dagster_url", _text, "http://127.0.0.1:3000",
             "the Dagster webserver's address, for links in alerts"),
    Variable("NACENTO_ALERT_EMAIL_TO", "alert_email_to", _list, "unset = no e-mail alerts",
             "comma-separated recipients of run-failure and check-failure e-mails"),
    Variable("NACENTO_ALERT_EMAIL_FROM", "alert_email_from", _text, "nacento-pipeline@localhost",
             "sender of alert e-mails"),
    Variable("NACENTO_ALERT_SMTP_HOST", "alert_smtp_host", _text, "localhost", "SMTP server for alert e-mails"),
    Variable("NACENTO_ALERT_SMTP_PORT", "alert_smtp_port", _optional_port, "587", "its port"),
    Variable("NACENTO_ALERT_SMTP_TYPE", "alert_smtp_type", _lower, "STARTTLS", "SSL, STARTTLS or PLAIN"),
    Variable("NACENTO_ALERT_SMTP_USER", "alert_smtp_user", _text, "the sender", "SMTP login"),
    Variable("NACENTO_ALERT_SMTP_PASSWORD", "alert_smtp_password", _text, "empty", "SMTP password (a secret)",
             secret=True),
    Variable("NACENTO_ALERT_SLACK_TOKEN", "alert_slack_token", _text, "unset = no Slack alerts",
             "Slack bot token (xoxb-..., a secret)", secret=True),
    Variable("NACENTO_ALERT_SLACK_CHANNEL", "alert_slack_channel", _text, "#nacento-alerts",
             "Slack channel for alerts"),
    Variable("NACENTO_ALERT_SLACK_BASE_URL", "alert_slack_base_url", _text, "https://slack.com/api/",
             "Slack Web API base URL (a proxy, or a test endpoint)"),
)


def variables_help() -> str:
    """The `--help` epilog: every variable, its default and meaning, from VARIABLES."""
    width = max(len(v.name) for v in VARIABLES)
    lines = ["environment variables (unset = embedded default):"]
    for var in VARIABLES:
        lines.append(f"  {var.name:<{width}}  {var.help} [default: {var.default}]")
    return "\n".join(lines)
