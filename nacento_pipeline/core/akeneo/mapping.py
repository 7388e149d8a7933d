"""How an Akeneo export becomes Magento galleries: the mapping settings, checked against an export's header.

- gallery attributes, in order: their values form each product's gallery (positions follow that order);
- role -> attribute: the image the attribute holds takes that role (`image`, `small_image`, `thumbnail`,
  `swatch_image` or any other role code: the validator and Magento's schema decide which are known);
- label attribute (a text attribute, usually localizable): each image's label (alt text) in each locale,
  either one attribute for every image or `gallery attribute=label attribute` pairs;
- default locale and channel: the values of store 0 (the default scope);
- locale -> store view codes and channel -> website code: the store views whose rows a localizable or
  scopable image or label becomes.

Unset settings (None) take the defaults of a standard catalog and are used only where the export has them;
an attribute that a setting names explicitly must be in the export, or the file is refused naming it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from nacento_pipeline.core.akeneo.columns import ExportHeader, Scope
from nacento_pipeline.core.errors import BatchFileError

DEFAULT_GALLERY_ATTRIBUTES = ("picture", "image")
DEFAULT_ROLE_CODES = ("image", "small_image", "thumbnail")  # fed by the first gallery attribute by default
DEFAULT_LABEL_ATTRIBUTE = "name"
MODEL_IMAGES_OWN = "own"  # a product model's row is an item of its own code (the configurable)
MODEL_IMAGES_VARIANTS = "variants"  # ... and fills the empty gallery attributes of its variants in the batch
MODEL_IMAGE_MODES = (MODEL_IMAGES_OWN, MODEL_IMAGES_VARIANTS)
MODEL_CODE_COLUMN = "code"
PARENT_COLUMN = "parent"

GALLERY_SETTING = "NACENTO_AKENEO_GALLERY_ATTRIBUTES"
ROLES_SETTING = "NACENTO_AKENEO_ROLES"
LABEL_SETTING = "NACENTO_AKENEO_LABEL_ATTRIBUTE"
IDENTIFIER_SETTING = "NACENTO_AKENEO_IDENTIFIER"
LOCALES_SETTING = "NACENTO_AKENEO_LOCALES"


@dataclass(frozen=True)
class AkeneoMapping:
    """The mapping settings (codes compared case-insensitively). None = the standard catalog's default."""

    gallery_attributes: tuple[str, ...] | None = None
    roles: Mapping[str, str] | None = None  # role code -> attribute
    label_attributes: Mapping[str, str] | None = None  # gallery attribute ("*" = every one) -> text attribute
    identifier: str = "sku"
    default_locale: str = "en_US"
    default_channel: str = "ecommerce"
    locale_stores: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # locale -> store view codes
    channel_websites: Mapping[str, str] = field(default_factory=lambda: {"ecommerce": "base"})
    store_websites: Mapping[str, str] = field(default_factory=dict)  # store code -> website code (Magento's)
    model_images: str = MODEL_IMAGES_OWN

    def store_scopes(self) -> list[tuple[str, Scope]]:
        """(store view code, the locale and channel whose values it shows), in setting order.

        A store's channel is the one mapped to its website; with a single channel mapped, every store's.
        A store whose website no channel maps to shows the default channel.
        """
        by_website = {website: channel.lower() for channel, website in self.channel_websites.items()}
        only = next(iter(by_website.values())) if len(by_website) == 1 else self.default_channel.lower()
        scopes = []
        for locale, stores in self.locale_stores.items():
            for store in stores:
                website = self.store_websites.get(store)
                channel = by_website.get(website, only) if website is not None else only
                scopes.append((store, Scope(locale.lower(), channel)))
        return scopes

    @property
    def default_scope(self) -> Scope:
        """The scope of the default locale and channel (lower-cased)."""
        return Scope(self.default_locale.lower(), self.default_channel.lower())


@dataclass(frozen=True)
class AttributeColumns:
    """The value columns of one attribute in one export file."""

    attribute: str
    columns: Mapping[Scope, str]

    def column_for(self, scope: Scope) -> str | None:
        """The column holding the attribute's value in a locale and channel (Akeneo's value of that scope)."""
        for candidate in (scope, Scope(scope.locale, ""), Scope("", scope.channel), Scope()):
            if candidate in self.columns:
                return self.columns[candidate]
        return None


@dataclass(frozen=True)
class ResolvedMapping:
    """The mapping applied to one export file: which columns to read for what."""

    identifier_column: str
    is_model_export: bool
    gallery: tuple[AttributeColumns, ...]
    roles: Mapping[str, str]  # role code -> gallery attribute
    labels: Mapping[str, AttributeColumns]  # gallery attribute -> its label's columns
    default_scope: Scope
    store_scopes: tuple[tuple[str, Scope], ...]

    def wanted_columns(self) -> list[str]:
        """The columns to read, each once: identifier, parent, `enabled`, then gallery and label columns."""
        names = [self.identifier_column, PARENT_COLUMN, "enabled"]
        for attribute in (*self.gallery, *self.labels.values()):
            names.extend(attribute.columns.values())
        return list(dict.fromkeys(names))


def _missing(header: ExportHeader, setting: str, attribute: str, what: str) -> BatchFileError:
    return BatchFileError(
        header.file,
        f"{setting} names {what} `{attribute}`, which this export has no column for "
        f"(expected `{attribute}`, `{attribute}-<locale>`, `{attribute}-<channel>` or "
        f"`{attribute}-<locale>-<channel>`)",
        line=1,
    )


def resolve(mapping: AkeneoMapping, header: ExportHeader) -> ResolvedMapping:
    """The mapping's columns in `header`; BatchFileError (line 1, naming the setting) for a missing one."""
    locales = [*mapping.locale_stores, mapping.default_locale]
    identifier = mapping.identifier.lower()
    is_model = not header.has(identifier) and header.has(MODEL_CODE_COLUMN)
    if not is_model and not header.has(identifier):
        raise BatchFileError(
            header.file,
            f"the export has no identifier column `{identifier}` ({IDENTIFIER_SETTING}) "
            f"nor a product model's `{MODEL_CODE_COLUMN}` column",
            line=1,
        )
    names = (
        mapping.gallery_attributes if mapping.gallery_attributes is not None else DEFAULT_GALLERY_ATTRIBUTES
    )
    gallery: list[AttributeColumns] = []
    for name in dict.fromkeys(n.lower() for n in names):
        columns = header.value_columns(name, locales)
        if columns:
            gallery.append(AttributeColumns(name, columns))
        elif mapping.gallery_attributes is not None:
            raise _missing(header, GALLERY_SETTING, name, "gallery attribute")
    if not gallery:
        raise BatchFileError(
            header.file,
            f"none of the default gallery attributes ({', '.join(names)}) is in this "
            f"export: set {GALLERY_SETTING}",
            line=1,
        )
    known = {attribute.attribute for attribute in gallery}
    if mapping.roles is not None:
        roles = {role.lower(): attribute.lower() for role, attribute in mapping.roles.items()}
        for attribute in roles.values():
            if attribute not in known:
                raise (
                    _missing(header, ROLES_SETTING, attribute, "role attribute")
                    if not header.value_columns(attribute, locales)
                    else BatchFileError(
                        header.file,
                        f"{ROLES_SETTING} names `{attribute}`, which is not one of the gallery attributes "
                        f"({', '.join(sorted(known))}): add it to {GALLERY_SETTING}",
                        line=1,
                    )
                )
    else:
        roles = dict.fromkeys(DEFAULT_ROLE_CODES, gallery[0].attribute)
    return ResolvedMapping(
        identifier_column=MODEL_CODE_COLUMN if is_model else identifier,
        is_model_export=is_model,
        gallery=tuple(gallery),
        roles=roles,
        labels=_labels(mapping, header, known, locales),
        default_scope=mapping.default_scope,
        store_scopes=tuple(mapping.store_scopes()),
    )


def _labels(
    mapping: AkeneoMapping, header: ExportHeader, gallery: set[str], locales: list[str]
) -> dict[str, AttributeColumns]:
    pairs = (
        mapping.label_attributes if mapping.label_attributes is not None else {"*": DEFAULT_LABEL_ATTRIBUTE}
    )
    labels: dict[str, AttributeColumns] = {}
    for target, source in pairs.items():
        columns = header.value_columns(source, locales)
        if not columns:
            if mapping.label_attributes is not None:
                raise _missing(header, LABEL_SETTING, source.lower(), "label attribute")
            continue
        target = target.lower()
        if target != "*" and target not in gallery:
            raise BatchFileError(
                header.file,
                f"{LABEL_SETTING} labels `{target}`, which is not one of the gallery "
                f"attributes ({', '.join(sorted(gallery))})",
                line=1,
            )
        for attribute in sorted(gallery) if target == "*" else [target]:
            if target != "*" or attribute not in labels:
                labels[attribute] = AttributeColumns(source.lower(), columns)
    return labels
