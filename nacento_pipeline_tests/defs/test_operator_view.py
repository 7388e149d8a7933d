"""What an operator reads: metadata counted once with a table of changed images, progress per chunk in the run
log, `--help` listing every NACENTO_* variable, a readable `doctor`, and a demo that keeps the run history."""

import contextlib
import io
import re
from pathlib import Path

import dagster as dg
import pytest

from nacento_pipeline import cli
from nacento_pipeline.config import VARIABLES
from nacento_pipeline.defs.constants import BATCH_JOB
from nacento_pipeline.defs.local_runner import tick_and_run
from nacento_pipeline.storage.drop.samples import drop_sample_batch

CONFIGURATION_DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_write_metadata_counts_once_lists_changed_images_and_logs_progress(s3_mariadb_factory, instance):
    p = s3_mariadb_factory(chunk_size=5)  # 12 demo SKUs: 3 chunks
    drop_sample_batch(p.store, p.settings.drop_prefix)
    [result] = tick_and_run(p.defs, instance).results
    assert result.success
    [mat] = [
        e.event_specific_data.materialization
        for e in result.get_asset_materialization_events()
        if e.event_specific_data.materialization.asset_key == dg.AssetKey("magento_gallery")
    ]
    meta = {k: v.value for k, v in mat.metadata.items()}
    assert "stats" not in meta and "path" not in meta  # counts once, no pickle path
    assert meta["inserted"] == 36 and meta["stale"] == 0
    changed = meta["changed_images"]
    assert changed.startswith("| change | sku | value | reason |") and "| added | NAC-1001 |" in changed
    assert "first_stale_skus" in meta and meta["first_sku_errors"] == "_none_"
    logs = [e.message for e in instance.all_logs(result.run_id) if e.user_message]
    progress = [m for m in logs if re.search(r"chunk \d/3: ", m)]
    assert any("chunk 3/3: 12 of 12 SKUs (100%)" in m for m in progress), progress
    assert any(re.search(r"chunk 1/3: 5 of 12 SKUs \(42%\), [\d,]+ SKUs/s, ETA \d+ s", m) for m in progress)


def _run_cli(argv, monkeypatch, env=None):
    for key, value in (env or {}).items():
        monkeypatch.setenv(key, value)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        code = cli.main(argv)
        return code, out.getvalue()
    return 0, out.getvalue()


def test_help_lists_every_variable_from_the_one_table_and_the_docs_document_them(monkeypatch):
    _, text = _run_cli(["--help"], monkeypatch)
    documented = CONFIGURATION_DOC.read_text()
    for var in VARIABLES:
        assert var.name in text, var.name
        assert f"`{var.name}`" in documented, f"docs/configuration.md does not document {var.name}"
    assert "[default: 500]" in text  # NACENTO_CHUNK_SIZE


def test_doctor_prints_text_not_a_repr(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NACENTO_VAR_DIR", str(tmp_path / "var"))
    from nacento_pipeline.config import Settings

    cli.prepare_embedded(Settings.from_env())
    code, text = _run_cli(["doctor"], monkeypatch)
    assert code == 0, text
    assert "AttributeIds(" not in text and "media_gallery attribute id 90" in text
    assert "roles  image=87, small_image=113, thumbnail=106, swatch_image=139" in text


@pytest.mark.timeout(180)
def test_second_demo_keeps_the_run_history_and_the_archive(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = {"NACENTO_VAR_DIR": str(tmp_path / "var")}
    assert _run_cli(["demo"], monkeypatch, env)[0] == 0
    archive = sorted(p.name for p in (tmp_path / "var" / "bucket" / "pim-archive").iterdir())
    assert _run_cli(["demo"], monkeypatch, env)[0] == 0
    with dg.DagsterInstance.from_config(str(tmp_path / "var" / "dagster_home")) as instance:
        assert (
            len(instance.get_runs(dg.RunsFilter(job_name=BATCH_JOB))) == 4
        )  # the sample batch and the sample Akeneo export, twice
    assert set(archive) <= {p.name for p in (tmp_path / "var" / "bucket" / "pim-archive").iterdir()}
