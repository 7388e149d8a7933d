"""An export folder registered: images copied to the media prefix once, values archived, read by the run."""

from __future__ import annotations

from nacento_pipeline.core.akeneo.mapping import AkeneoMapping
from nacento_pipeline.core.paths import is_hardened_value, object_key
from nacento_pipeline.storage.adapters.local import LocalFolderStore
from nacento_pipeline.storage.drop.akeneo_sample import drop_export, sample_export
from nacento_pipeline.storage.drop.archive import load_manifest, media_values
from nacento_pipeline.storage.drop.export_batch import parse_export_batch
from nacento_pipeline.storage.drop.registration import register_drops

DROP, ARCHIVE, REJECTED, MEDIA = "pim-drop/", "pim-archive/", "pim-rejected/", "media/catalog/product/"


def _pass(store: LocalFolderStore):
    return register_drops(
        store, drop_prefix=DROP, archive_prefix=ARCHIVE, rejected_prefix=REJECTED, media_prefix=MEDIA
    )


def test_images_are_copied_once_and_a_second_identical_drop_copies_nothing(tmp_path):
    store = LocalFolderStore(tmp_path)
    files = sample_export(("A", "B"))
    drop_export(store, DROP, "akeneo_one", files)
    first = _pass(store)
    [item] = first.registered
    assert first.media_copied == 8 and first.media_kept == 0
    assert (
        first.requests["COPY"] == 8 + 2
    )  # the images, then the export file and the OK file into the archive
    manifest = load_manifest(store, ARCHIVE, "akeneo_one")
    assert manifest.export_folder and [f.name for f in manifest.files] == ["export.csv"]
    values = media_values(store, manifest)
    assert set(values) == {path for path in files if path.startswith("files/")}
    assert all(is_hardened_value(v) and store.head(object_key(v, MEDIA)) for v in values.values())
    assert not list(store.list(DROP))  # registered synchronously: the folder left the drop prefix

    drop_export(store, DROP, "akeneo_two", files)
    second = _pass(store)
    assert second.media_copied == 0 and second.media_kept == 8
    assert media_values(store, load_manifest(store, ARCHIVE, "akeneo_two")) == values

    parsed = parse_export_batch(
        store, load_manifest(store, ARCHIVE, "akeneo_two"), AkeneoMapping(), media_prefix=MEDIA
    ).parsed
    assert parsed.rejections.empty and sorted(parsed.images["value"]) == sorted(
        values[p] for p in values if "/de_DE/" not in p and "/print/" not in p
    )


def test_raw_catalog_keys_are_copied_by_the_run(tmp_path):
    store = LocalFolderStore(tmp_path)
    store.put("akeneo-catalog/8/b/5/c/8b5c_front.jpg", b"\x89PNG front")
    store.put(DROP + "import-akeneo_raw/export.csv", b"sku;enabled;picture\nA;1;8/b/5/c/8b5c_front.jpg\n")
    store.put(DROP + "import-akeneo_raw.ok", b"")
    _pass(store)
    manifest = load_manifest(store, ARCHIVE, "akeneo_raw")
    export = parse_export_batch(
        store, manifest, AkeneoMapping(), media_prefix=MEDIA, catalog_prefix="akeneo-catalog/"
    )
    [value] = export.parsed.images["value"].tolist()
    assert export.placement.copied == 1 and store.get(object_key(value, MEDIA)) == b"\x89PNG front"
    again = parse_export_batch(
        store, manifest, AkeneoMapping(), media_prefix=MEDIA, catalog_prefix="akeneo-catalog/"
    )
    assert again.placement.copied == 0


def test_a_translated_export_is_rejected_at_the_sensor_with_its_report(tmp_path):
    store = LocalFolderStore(tmp_path)
    store.put(DROP + "import-akeneo_lab/export.csv", b"SKU;Enabled;Picture\nA;Yes;files/A/picture/a.jpg\n")
    store.put(DROP + "import-akeneo_lab/files/A/picture/a.jpg", b"img")
    store.put(DROP + "import-akeneo_lab.ok", b"")
    outcome = _pass(store)
    assert not outcome.registered and outcome.media_copied == 0
    [rejected] = outcome.rejected
    assert "header_with_label" in rejected.reason and "export.csv:1" in rejected.reason
    assert "header_with_label" in store.get(rejected.moved_to + "REPORT.md").decode()
    assert store.get(rejected.moved_to + "import-akeneo_lab/files/A/picture/a.jpg") == b"img"  # paths kept
    assert not list(store.list(MEDIA))


class _OneMessageQueue:
    """A queue holding one bucket event (the OK file's creation), as SQS gives it to the event-mode sensor."""

    def __init__(self, info):
        from nacento_pipeline.core.drop.events import BucketEvent
        from nacento_pipeline.storage.adapters.event_queue import QueueMessage

        self.messages = [QueueMessage("r1", [BucketEvent("bucket", True, info)])]
        self.calls: dict[str, int] = {}
        self.acked: list[str] = []

    def receive(self, max_messages):
        out, self.messages = self.messages, []
        return out

    def ack(self, receipts):
        self.acked.extend(receipts)


def test_event_mode_registers_the_whole_export_folder_from_the_ok_files_event(tmp_path):
    """The OK file's event names the batch; its LIST keeps the folder's export file and media (the names of
    the folder's files are not drop names), so the folder is archived and its images placed as in LIST mode.
    """
    from nacento_pipeline.storage.drop.event_registration import batch_objects, register_from_events

    store = LocalFolderStore(tmp_path)
    files = sample_export(("A", "B"))
    ok_key = drop_export(store, DROP, "akeneo_events", files)
    listed = {info.key for info in batch_objects(store, DROP, "akeneo_events")}
    assert listed == {ok_key} | {f"{DROP}import-akeneo_events/{path}" for path in files}
    queue = _OneMessageQueue(store.head(ok_key))
    outcome = register_from_events(
        store, queue, drop_prefix=DROP, archive_prefix=ARCHIVE, rejected_prefix=REJECTED, media_prefix=MEDIA
    )
    [item] = outcome.drop.registered
    assert outcome.drop.media_copied == 8 and not outcome.drop.rejected and queue.acked == ["r1"]
    manifest = load_manifest(store, ARCHIVE, "akeneo_events")
    assert manifest.export_folder and [f.name for f in manifest.files] == ["export.csv"]
    assert set(media_values(store, manifest)) == {path for path in files if path.startswith("files/")}
    assert not list(store.list(DROP))
