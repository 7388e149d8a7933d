"""Typed settings for the whole pipeline, built from `NACENTO_*` environment variables in one place.

Nothing else in the project reads `os.environ`: code receives a `Settings` (or the values it needs).
The embedded default runs on a laptop: a local folder as the bucket and a SQLite file as Magento's database.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from nacento_pipeline.core.modes import DEFAULT_SYNC_MODE, MODE_ALIASES, SyncModeError, normalize_mode

DEFAULT_INDEXERS = ("catalog_product_attribute", "catalogsearch_fulltext", "catalog_product_flat")
REINDEX_TRIGGERS = ("changelog", "command", "dry-run")
UNKNOWN_SKU_SEVERITIES = ("warn", "error")
DROP_EVENT_MODES = ("off", "sqs")


_SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")  # indexer/view ids end up in commands and SQL names


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

    # Schedules
    catchup_minutes: int = 5

    @property
    def magento_url(self) -> str:
        return self.magento_db_url or f"sqlite:///{(self.var_dir / 'magento.sqlite').resolve()}"

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
        bad = [name for name in (*self.indexers, *self.indexer_views.values()) if not _SAFE_NAME.fullmatch(name)]
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
        prefixes = {self.drop_prefix, self.archive_prefix, self.rejected_prefix}
        if len(prefixes) != 3 or "" in prefixes:
            raise ConfigError("drop, archive and rejected prefixes must be distinct and non-empty")
        return self

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        base = cls()

        def get(name: str) -> str | None:
            value = env.get(name)
            return value if value not in (None, "") else None

        kwargs: dict[str, object] = {}
        if (v := get("NACENTO_VAR_DIR")) is not None:
            kwargs["var_dir"] = Path(v)
        if (v := get("NACENTO_MAGENTO_DB_URL")) is not None:
            kwargs["magento_db_url"] = v
            kwargs["magento_db_url_from_env"] = True
        if (v := get("NACENTO_TABLE_PREFIX")) is not None:
            kwargs["table_prefix"] = v
        if (v := get("NACENTO_S3_BUCKET")) is not None:
            kwargs["s3_bucket"] = v
        if (v := get("NACENTO_S3_ENDPOINT_URL")) is not None:
            kwargs["s3_endpoint_url"] = v
        if (v := get("NACENTO_S3_REGION") or get("AWS_REGION") or get("AWS_DEFAULT_REGION")) is not None:
            kwargs["s3_region"] = v
        if (v := get("NACENTO_S3_PATH_STYLE")) is not None:
            kwargs["s3_path_style"] = _bool("NACENTO_S3_PATH_STYLE", v)
        if (v := get("NACENTO_LOCAL_BUCKET_DIR")) is not None:
            kwargs["local_bucket_dir"] = Path(v)
        for name, attr in (
            ("NACENTO_DROP_PREFIX", "drop_prefix"),
            ("NACENTO_ARCHIVE_PREFIX", "archive_prefix"),
            ("NACENTO_REJECTED_PREFIX", "rejected_prefix"),
            ("NACENTO_MEDIA_PREFIX", "media_prefix"),
            ("NACENTO_MEDIA_CACHE_PREFIX", "media_cache_prefix"),
        ):
            if (v := get(name)) is not None:
                kwargs[attr] = _prefix(v)
        if (v := get("NACENTO_DROP_EVENTS")) is not None:
            kwargs["drop_events"] = v.strip().lower()
        if (v := get("NACENTO_DROP_EVENTS_QUEUE_URL")) is not None:
            kwargs["drop_events_queue_url"] = v.strip()
        if (v := get("NACENTO_DROP_EVENTS_ENDPOINT_URL")) is not None:
            kwargs["drop_events_endpoint_url"] = v.strip()
        if (v := get("NACENTO_DROP_EVENTS_RECONCILE_MINUTES")) is not None:
            kwargs["drop_events_reconcile_minutes"] = _int("NACENTO_DROP_EVENTS_RECONCILE_MINUTES", v, minimum=1)
        if (v := get("NACENTO_SYNC_MODE")) is not None:
            kwargs["sync_mode"] = v.strip().lower()
            if kwargs["sync_mode"] in MODE_ALIASES:
                kwargs["sync_mode"] = MODE_ALIASES[kwargs["sync_mode"]]
        if (v := get("NACENTO_CHUNK_SIZE")) is not None:
            kwargs["chunk_size"] = _int("NACENTO_CHUNK_SIZE", v, minimum=1)
        if (v := get("NACENTO_HEAD_CONCURRENCY")) is not None:
            kwargs["head_concurrency"] = _int("NACENTO_HEAD_CONCURRENCY", v, minimum=1)
        if (v := get("NACENTO_UNKNOWN_SKU_SEVERITY")) is not None:
            kwargs["unknown_sku_severity"] = v.strip().lower()
        if (v := get("NACENTO_CSV_LIST_SEPARATOR")) is not None:
            kwargs["csv_list_separator"] = v
        if (v := get("NACENTO_INDEXERS")) is not None:
            kwargs["indexers"] = tuple(filter(None, (p.strip() for p in v.split(","))))
        if (v := get("NACENTO_REINDEX_TRIGGER")) is not None:
            kwargs["reindex_trigger"] = v.strip().lower()
        if (v := get("NACENTO_REINDEX_COMMAND")) is not None:
            kwargs["reindex_command"] = v
        if (v := get("NACENTO_REINDEX_PARTIAL_COMMAND")) is not None:
            kwargs["reindex_partial_command"] = v
        if (v := get("NACENTO_REINDEX_PURPOSES")) is not None:
            kwargs["reindex_purposes"] = tuple(filter(None, (p.strip() for p in v.split(","))))
        if (v := get("NACENTO_INDEXER_VIEWS")) is not None:
            kwargs["indexer_views"] = parse_pairs("NACENTO_INDEXER_VIEWS", v)
        if (v := get("NACENTO_REINDEX_TIMEOUT_SECONDS")) is not None:
            kwargs["reindex_timeout_seconds"] = _int("NACENTO_REINDEX_TIMEOUT_SECONDS", v, minimum=1)
        if (v := get("NACENTO_REINDEX_THRESHOLD")) is not None:
            kwargs["default_threshold"] = parse_thresholds("NACENTO_REINDEX_THRESHOLD", f"*={v}")["*"]
        if (v := get("NACENTO_REINDEX_THRESHOLDS")) is not None:
            kwargs["thresholds"] = parse_thresholds("NACENTO_REINDEX_THRESHOLDS", v)
        if (v := get("NACENTO_PURGE_IMAGE_CACHE")) is not None:
            kwargs["purge_image_cache"] = _bool("NACENTO_PURGE_IMAGE_CACHE", v)
        if (v := get("NACENTO_CATCHUP_MINUTES")) is not None:
            kwargs["catchup_minutes"] = _int("NACENTO_CATCHUP_MINUTES", v, minimum=1)
            if not 1 <= int(kwargs["catchup_minutes"]) <= 59:  # type: ignore[call-overload]
                raise ConfigError(f"NACENTO_CATCHUP_MINUTES={v}: must be 1..59 (a cron */N minute step)")
        return replace(base, **kwargs).validate()  # type: ignore[arg-type]
