"""Which website each store view belongs to, read from Magento, decides which Akeneo channel it shows."""

from __future__ import annotations

import sqlalchemy as sa

from nacento_pipeline.core.akeneo.mapping import AkeneoMapping, Scope
from nacento_pipeline.magento.gallery.reader import read_store_websites


def test_each_store_view_shows_the_channel_mapped_to_its_website(db):
    t = db.tables
    with db.engine.begin() as conn:
        conn.execute(t.website.insert().values(website_id=2, code="eu", name="Europe"))
        conn.execute(sa.update(t.store).where(t.store.c.code == "fr").values(website_id=2))
    with db.engine.connect() as conn:
        websites = read_store_websites(conn, t)
    assert websites == {"default": "base", "de": "base", "fr": "eu"}
    mapping = AkeneoMapping(
        channel_websites={"ecommerce": "base", "print": "eu"},
        locale_stores={"de_DE": ("de",), "fr_FR": ("fr",)},
        store_websites=websites,
    )
    assert mapping.store_scopes() == [("de", Scope("de_de", "ecommerce")), ("fr", Scope("fr_fr", "print"))]
    # without Magento's answer, every store view would show the default channel
    unread = AkeneoMapping(
        channel_websites={"ecommerce": "base", "print": "eu"},
        locale_stores={"de_DE": ("de",), "fr_FR": ("fr",)},
    )
    assert [scope.channel for _, scope in unread.store_scopes()] == ["ecommerce", "ecommerce"]
