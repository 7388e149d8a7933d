"""README's first command on the embedded default: `nacento-pipeline demo`, then another drop and a tick."""

import sqlalchemy as sa

from nacento_pipeline.cli import main


def test_demo_then_drop_and_tick_on_the_embedded_default(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NACENTO_VAR_DIR", str(tmp_path / "var"))
    for name in ("NACENTO_MAGENTO_DB_URL", "NACENTO_S3_BUCKET"):
        monkeypatch.delenv(name, raising=False)

    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert ": SUCCESS" in out
    assert "44 stored ETags" in out  # 36 of the sample batch, 8 of the sample Akeneo export (4 products)
    assert "Akeneo export folder import-akeneo_demo-" in out
    assert out.count(": SUCCESS") == 2
    assert (tmp_path / "var" / "dagster_home" / "dagster.yaml").exists()

    assert main(["drop-sample"]) == 0
    assert main(["tick"]) == 0
    out = capsys.readouterr().out
    assert "'updated_value': 2" in out and "'purged': 1" in out
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'var' / 'magento.sqlite'}")
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT count(*) FROM catalog_product_entity_media_gallery_value")
        ).scalar()
    engine.dispose()
    assert rows == 35 + 8

    assert main(["doctor"]) == 0
    assert "ok    storage" in capsys.readouterr().out


def test_demo_refuses_to_touch_a_real_database(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("NACENTO_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("NACENTO_MAGENTO_DB_URL", "mysql+pymysql://root@127.0.0.1:3306/magento")
    assert main(["demo"]) == 2
    assert "embedded default only" in capsys.readouterr().err
