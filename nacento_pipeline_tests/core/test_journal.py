"""The journal's blob format (MySQL's COMPRESS layout of a JSON document) and the revert's choice."""

from __future__ import annotations

import json
import struct
import zlib
from datetime import datetime

import pandas as pd
import pytest

from nacento_pipeline.core.journal import UnknownFormat, choose_restores, decode, encode, image_frames


def test_a_blob_as_the_database_builds_it_decodes_with_its_datetimes():
    text = (
        '{"v":2,"gallery":[[7,90,"/a/b/a.jpg","image",0]],'
        '"sync":[["S1",1,"b1","2026-03-01 12:00:00.654321"]]}'
    )
    blob = struct.pack("<I", len(text)) + zlib.compress(text.encode(), 6)  # what COMPRESS() returns
    image = decode(blob, {"sync": [3], "gallery": []})
    assert image == {
        "gallery": [[7, 90, "/a/b/a.jpg", "image", 0]],
        "sync": [["S1", 1, "b1", datetime(2026, 3, 1, 12, 0, 0, 654321)]],
    }
    assert decode(encode(image), {"sync": [3]}) == image


def test_a_first_format_blob_is_refused():
    old = zlib.compress(json.dumps({"gallery": []}).encode(), 1)
    with pytest.raises(UnknownFormat):
        decode(old)
    with pytest.raises(UnknownFormat):
        decode(struct.pack("<I", 10) + zlib.compress(b'{"v":1}'))


def test_image_frames_put_the_rows_of_many_images_in_one_frame_per_part():
    frames = image_frames(
        [{"values": [[1, 0]]}, {"values": [[2, 0]], "roles": [[5]]}],
        {"values": ["record_id", "store_id"], "roles": ["value_id"]},
    )
    assert frames["values"]["record_id"].tolist() == [1, 2]
    assert frames["roles"]["value_id"].tolist() == [5]


def test_a_product_changed_since_is_skipped_unless_forced():
    entries = pd.DataFrame({"link_id": [1, 2], "after_fingerprint": ["va", "vb"]})
    choice = choose_restores(entries, {1: "va", 2: "vc"}, force=False)
    assert choice.restore["link_id"].tolist() == [1] and choice.skipped["link_id"].tolist() == [2]
    forced = choose_restores(entries, {1: "va", 2: "vc"}, force=True)
    assert forced.restore["link_id"].tolist() == [1, 2] and forced.skipped.empty
