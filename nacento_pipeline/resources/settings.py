"""`SettingsResource`: the one `Settings` object, as the Dagster configuration every resource reads.

Non-secret settings travel as one JSON mapping (`values`: the Settings fields; unset ones are left out, as
Dagster's config maps take no null and every optional setting defaults to unset). The secret ones are their
own fields so that, when read from the environment, they reach Dagster as `EnvVar` and are never shown.
The other resources hold this one (a nested resource) and add behaviour, not fields.
"""

from __future__ import annotations

from typing import Any

import dagster as dg
from pydantic import PrivateAttr, TypeAdapter

from nacento_pipeline.config import VARIABLES, Settings

_SETTINGS = TypeAdapter(Settings)
SECRET_FIELDS = tuple(var.attr for var in VARIABLES if var.secret)
_ENV_NAMES = {var.attr: var.name for var in VARIABLES}


class SettingsResource(dg.ConfigurableResource):
    """Every NACENTO_* setting (see config.Settings); secrets as EnvVar when they came from the environment."""

    values: dict[str, Any]
    magento_db_url: str
    cache_redis_url: str
    cache_redis_default_url: str | None
    alert_smtp_password: str
    alert_slack_token: str | None

    _settings: Settings | None = PrivateAttr(default=None)

    @classmethod
    def from_settings(cls, settings: Settings) -> SettingsResource:
        dumped = _SETTINGS.dump_python(settings, mode="json")
        secrets = {name: dumped.pop(name) for name in SECRET_FIELDS}
        values = {name: value for name, value in dumped.items() if value is not None}  # None = the default
        for name in settings.env_sourced:
            secrets[name] = dg.EnvVar(_ENV_NAMES[name])
        return cls(values=values, **secrets)

    def get(self) -> Settings:
        """The typed settings (built and validated once per resource instance)."""
        if self._settings is None:
            secrets = {name: getattr(self, name) for name in SECRET_FIELDS}
            self._settings = _SETTINGS.validate_python({**self.values, **secrets}).validate()
        return self._settings


class ReadsSettings(dg.ConfigurableResource):
    """Base of the thin resources: they hold the one SettingsResource and read their values from it."""

    nacento: SettingsResource

    @property
    def settings(self) -> Settings:
        return self.nacento.get()
