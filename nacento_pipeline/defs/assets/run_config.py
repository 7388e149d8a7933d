"""The batch assets' run config: the policy a run applies, overridable per run in the Launchpad.

Each class's defaults are the policy of the environment the code location loads in (its NACENTO_* variables,
else the embedded defaults), so a materialization from the asset graph, outside the jobs, applies the shop's
policy too. `policy_config` gives the values of the Settings passed to `build_definitions`, set as the
jobs' default run config: a run of `pim_batch_job` (sensor, schedule, backfill, Launchpad) applies them unless
its config says otherwise, and the Launchpad shows what a run will use. Code that gives such a run some config
of its own merges it over the default (defs.jobs.with_job_defaults). What sensors read as well lives in a
resource (resources/drop_zone.py), not here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

import dagster as dg
from pydantic import Field

from nacento_pipeline.config import Settings
from nacento_pipeline.core.akeneo.mapping import AkeneoMapping
from nacento_pipeline.core.blast_radius import BlastLimits


def _environment_policy() -> Settings:
    """The settings of the environment this module loads in; the embedded ones when it does not parse.

    A bad environment is reported by `build_definitions` (Settings.from_env there), with every problem named;
    the classes below only need defaults.
    """
    try:
        return Settings.from_env()
    except ValueError:
        return Settings()


EMBEDDED = _environment_policy()  # the defaults of the classes below


class AkeneoConfig(dg.Config):
    """How an Akeneo export folder maps onto Magento (NACENTO_AKENEO_*); unset: the standard catalog's."""

    gallery_attributes: list[str] | None = None  # in order; unset: picture,image (those the export has)
    roles: dict[str, str] | None = None  # role -> attribute; unset: image, small_image, thumbnail = the first
    label_attribute: dict[str, str] | None = None  # gallery attribute ("*": every one) -> text attribute
    identifier: str = EMBEDDED.akeneo_identifier
    default_locale: str = EMBEDDED.akeneo_default_locale
    default_channel: str = EMBEDDED.akeneo_default_channel
    locales: dict[str, list[str]] = {k: list(v) for k, v in EMBEDDED.akeneo_locales.items()}
    channels: dict[str, str] = dict(EMBEDDED.akeneo_channels)
    model_images: Literal["own", "variants"] = EMBEDDED.akeneo_model_images  # type: ignore[assignment]
    catalog_prefix: str = EMBEDDED.akeneo_catalog_prefix  # unset: raw storage keys are refused

    def mapping(self) -> AkeneoMapping:
        """The mapping core.akeneo reads, from this config."""
        return AkeneoMapping(
            gallery_attributes=tuple(self.gallery_attributes)
            if self.gallery_attributes is not None
            else None,
            roles=self.roles,
            label_attributes=self.label_attribute,
            identifier=self.identifier,
            default_locale=self.default_locale,
            default_channel=self.default_channel,
            locale_stores={k: tuple(v) for k, v in self.locales.items()},
            channel_websites=dict(self.channels),
            model_images=self.model_images,
        )


class PimBatchConfig(dg.Config):
    """Run config of the parse (Launchpad: ops > pim_batch > config)."""

    list_separator: str = EMBEDDED.csv_list_separator  # NACENTO_CSV_LIST_SEPARATOR: inside native-CSV cells
    akeneo: AkeneoConfig = AkeneoConfig()


class ImageEtagsConfig(dg.Config):
    """Run config of the ETag snapshot (Launchpad: ops > image_etags > config)."""

    # NACENTO_MEDIA_FEED_FULL_HOURS: with the media change feed on, a full LIST when the last is older
    media_feed_full_hours: int = Field(default=EMBEDDED.media_feed_full_hours, ge=1)


class DeltaPlanConfig(dg.Config):
    """Run config of the plan (Launchpad: ops > gallery_delta > config); the write applies the same plan."""

    force: bool = False  # write SKUs even when a newer batch already wrote them (replaying an old batch)
    # replace_owned | replace_all | append for this run, over the batch's own (append for native import CSVs)
    mode: str | None = None
    # NACENTO_SYNC_MODE: the mode when neither the run nor the batch names one
    default_mode: str = EMBEDDED.sync_mode
    unknown_sku_severity: Literal["warn", "error"] = EMBEDDED.unknown_sku_severity  # type: ignore[assignment]
    remove_store_role_images: bool = EMBEDDED.remove_store_role_images  # NACENTO_REMOVE_STORE_ROLE_IMAGES


class GalleryWriteConfig(dg.Config):
    """Run config of the write (Launchpad: ops > magento_gallery > config).

    The blast-radius guard's limits (NACENTO_GUARD_*, 0 = that limit off).
    """

    max_removed_share: float = Field(default=EMBEDDED.guard_max_removed_share, ge=0, le=1)
    max_emptied: int = Field(default=EMBEDDED.guard_max_emptied, ge=0)
    max_base_changed_share: float = Field(default=EMBEDDED.guard_max_base_changed_share, ge=0, le=1)
    max_touched_share: float = Field(default=EMBEDDED.guard_max_touched_share, ge=0, le=1)
    min_count: int = Field(default=EMBEDDED.guard_min_count, ge=1)

    @property
    def blast_limits(self) -> BlastLimits:
        """The limits as core.blast_radius takes them."""
        return BlastLimits(
            self.max_removed_share,
            self.max_emptied,
            self.max_base_changed_share,
            self.max_touched_share,
            self.min_count,
        )


def _set(values: dict[str, Any]) -> dict[str, Any]:
    """The values without the unset ones (Dagster's config takes the field's own default for those)."""
    return {name: value for name, value in values.items() if value is not None}


def policy_config(settings: Settings) -> dict[str, dict[str, Any]]:
    """Asset (op) name -> its config as the deployment's NACENTO_* variables set it."""
    akeneo = {
        "gallery_attributes": list(settings.akeneo_gallery_attributes)
        if settings.akeneo_gallery_attributes is not None
        else None,
        "roles": dict(settings.akeneo_roles) if settings.akeneo_roles is not None else None,
        "label_attribute": dict(settings.akeneo_label_attribute)
        if settings.akeneo_label_attribute is not None
        else None,
        "identifier": settings.akeneo_identifier,
        "default_locale": settings.akeneo_default_locale,
        "default_channel": settings.akeneo_default_channel,
        "locales": {k: list(v) for k, v in settings.akeneo_locales.items()},
        "channels": dict(settings.akeneo_channels),
        "model_images": settings.akeneo_model_images,
        "catalog_prefix": settings.akeneo_catalog_prefix,
    }
    return {
        "pim_batch": {"list_separator": settings.csv_list_separator, "akeneo": _set(akeneo)},
        "image_etags": {"media_feed_full_hours": settings.media_feed_full_hours},
        "gallery_delta": {
            "default_mode": settings.sync_mode,
            "unknown_sku_severity": settings.unknown_sku_severity,
            "remove_store_role_images": settings.remove_store_role_images,
        },
        "magento_gallery": {
            "max_removed_share": settings.guard_max_removed_share,
            "max_emptied": settings.guard_max_emptied,
            "max_base_changed_share": settings.guard_max_base_changed_share,
            "max_touched_share": settings.guard_max_touched_share,
            "min_count": settings.guard_min_count,
        },
    }


def job_run_config(settings: Settings, assets: Iterable[str]) -> dict[str, Any]:
    """The default run config of a job materializing `assets`: the policy of those that have one."""
    policy = policy_config(settings)
    return {"ops": {name: {"config": policy[name]} for name in assets if name in policy}}
