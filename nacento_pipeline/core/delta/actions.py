"""Delta step 4: what happens to each valid image (inserted, updated, skipped) (pure)."""

from __future__ import annotations

import pandas as pd

from nacento_pipeline.core.delta.columns import as_bool, as_int
from nacento_pipeline.core.delta.model import text_column
from nacento_pipeline.core.frames import NO_SELECTION
from nacento_pipeline.core.paths import canonical_values


def image_actions(planned: pd.DataFrame, role_plan: pd.DataFrame) -> pd.DataFrame:
    """`planned` with meta_changed, etag_changed, roles_changed and the action of each image."""
    role_paths = pd.concat(
        [
            role_plan[["entity_id", "new_value"]].rename(columns={"new_value": "path"}),
            role_plan[["entity_id", "old_value"]].rename(columns={"old_value": "path"}),
        ]
    )
    role_paths = role_paths[
        role_paths["path"].notna() & (role_paths["path"] != "") & (role_paths["path"] != NO_SELECTION)
    ]
    role_paths = pd.DataFrame(
        {
            "entity_id": as_int(role_paths["entity_id"]),
            "value": canonical_values(role_paths["path"]),
            "roles_changed": True,
        }
    ).drop_duplicates(["entity_id", "value"])
    planned = planned.merge(role_paths, on=["entity_id", "value"], how="left")
    planned["roles_changed"] = as_bool(planned["roles_changed"])
    matched = planned["matched"]
    cur_label = text_column(planned["cur_label"])
    cur_position = pd.to_numeric(planned["cur_position"], errors="coerce")
    cur_disabled = as_int(planned["cur_disabled"])
    no_value_row = planned["record_id"] == 0
    planned["meta_changed"] = matched & (
        no_value_row
        | (cur_label != planned["label"])
        | cur_position.isna()
        | (cur_position.fillna(-1).astype("int64") != planned["position"])
        | (cur_disabled != planned["disabled"].astype("int64"))
    )
    # Both sides without quotes; an unknown ETag equal to an absent one is nothing to write.
    planned["etag_changed"] = matched & (planned["stored_etag"] != planned["etag"])
    planned["action"] = "skipped_no_change"
    planned.loc[
        matched & (planned["meta_changed"] | planned["roles_changed"] | planned["split"]), "action"
    ] = "updated_meta"
    planned.loc[planned["etag_changed"], "action"] = "updated_value"
    planned.loc[~matched, "action"] = "inserted"
    planned.loc[~matched, "meta_changed"] = False
    planned.loc[~matched, "etag_changed"] = False
    return planned
