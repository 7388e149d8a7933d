"""`nacento-pipeline demo | drop-sample | tick | doctor`: the laptop entry points."""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from nacento_pipeline.config import ConfigError, Settings, variables_help

REPO_DAGSTER_YAML = Path(__file__).resolve().parent.parent / "dagster.yaml"


def dagster_home(settings: Settings) -> Path:
    """`<var>/dagster_home` with the repository's dagster.yaml (copied once; a local edit there is kept)."""
    home = (settings.var_dir / "dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    if REPO_DAGSTER_YAML.exists() and not (home / "dagster.yaml").exists():
        shutil.copy(REPO_DAGSTER_YAML, home / "dagster.yaml")
    return home


def _instance(settings: Settings):
    import dagster as dg

    return dg.DagsterInstance.from_config(str(dagster_home(settings)))


def _store(settings: Settings):
    from nacento_pipeline.resources.build import object_store_resource

    return object_store_resource(settings).get_store()


def _database(settings: Settings):
    """Magento's database as configured, without the pipeline's own tables (doctor creates them itself)."""
    from nacento_pipeline.resources.build import magento_resource

    return magento_resource(settings, create_own_tables=False).get_database()


def prepare_embedded(settings: Settings, reset_magento: bool = False) -> None:
    """Local bucket with sample images and a SQLite Magento database with the demo catalog."""
    from nacento_pipeline.magento.demo import create_demo_schema, seed_demo_products
    from nacento_pipeline.storage.drop.akeneo_sample import AKENEO_DEMO_SKUS
    from nacento_pipeline.storage.drop.samples import DEMO_SKUS, put_demo_images

    if reset_magento:
        # Only the demo's own SQLite Magento: the Dagster home (run history) and the bucket (archive,
        # rejected drops) are never deleted by the demo.
        Path(settings.magento_url.removeprefix("sqlite:///")).unlink(missing_ok=True)
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    store = _store(settings)
    images = put_demo_images(store, settings.media_prefix)
    db = _database(settings)
    create_demo_schema(db.engine, settings.table_prefix)
    seed_demo_products(db.engine, [*DEMO_SKUS, *AKENEO_DEMO_SKUS], settings.table_prefix)
    db.dispose()
    print(f"bucket   {store.display_name}: {images} demo images under {settings.media_prefix}")
    print(
        f"magento  {settings.magento_url}: demo schema with {len(DEMO_SKUS) + len(AKENEO_DEMO_SKUS)} products"
    )


def _print_tick(outcome, settings: Settings) -> int:
    from nacento_pipeline.magento.gallery.audit import gallery_summary

    if outcome.skip_reason:
        print(f"sensor   {outcome.skip_reason}")
    failed = 0
    for key, result in zip(outcome.requested, outcome.results, strict=True):
        status = "SUCCESS" if result.success else "FAILURE"
        failed += 0 if result.success else 1
        print(f"run      {key}: {status} (run id {result.run_id})")
        for event in result.get_asset_materialization_events():
            mat = event.event_specific_data.materialization
            shown = {k: v.value for k, v in mat.metadata.items() if k in _SUMMARY_KEYS}
            print(f"  {mat.asset_key.to_user_string():<18} {shown}")
        for check in result.get_asset_check_evaluations():
            if check.check_name == "storefront_fresh":
                print(f"  {'storefront_fresh':<18} {check.description}")
    db = _database(settings)
    print("magento  " + gallery_summary(db))
    db.dispose()
    return failed


_SUMMARY_KEYS = {
    "images",
    "skus",
    "rejected",
    "keys",
    "missing",
    "s3_requests",
    "inserted",
    "updated_value",
    "updated_meta",
    "skipped_no_change",
    "purged",
    "invalid",
    "error",
    "full",
    "partial",
    "none",
    "write_statements",
    "backend",
    "status",
    "tags",
    "parent_products",
    "requests",
}


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    """Prepare the embedded default, drop the demo batches and run them through one sensor tick."""
    from nacento_pipeline.definitions import build_definitions
    from nacento_pipeline.defs.local_runner import tick_and_run
    from nacento_pipeline.storage.drop.akeneo_sample import drop_demo_export
    from nacento_pipeline.storage.drop.samples import drop_sample_batch

    if not settings.uses_local_bucket or settings.magento_db_url:
        print(
            "demo runs on the embedded default only: unset NACENTO_S3_BUCKET and NACENTO_MAGENTO_DB_URL",
            file=sys.stderr,
        )
        return 2
    prepare_embedded(settings, reset_magento=args.reset_magento)
    batch = drop_sample_batch(_store(settings), settings.drop_prefix, generation=0)
    print(f"dropped  batch {batch.batch_key}: {', '.join(k.rsplit('/', 1)[-1] for k in batch.keys)}")
    export_key, export_files = drop_demo_export(_store(settings), settings.drop_prefix)
    print(
        f"dropped  Akeneo export folder {export_key}/: {export_files} files (export.csv + files/), and its "
        f"OK file"
    )
    with _instance(settings) as instance:
        outcome = tick_and_run(build_definitions(settings), instance, log_level="WARNING")
        failed = _print_tick(outcome, settings)
    print()
    print("Next: `make dev` (or .venv/bin/nacento-pipeline dev) and open http://127.0.0.1:3000;")
    print("      `make drop` drops another sample batch (changed image, new labels, a removed image).")
    return 1 if failed else 0


def cmd_drop_sample(settings: Settings, args: argparse.Namespace) -> int:
    """Drop another generation of the sample batch (and its images) into the configured bucket."""
    from nacento_pipeline.storage.drop.samples import drop_sample_batch, put_demo_images

    store = _store(settings)
    generation = args.generation
    if generation:
        put_demo_images(store, settings.media_prefix, generation=generation)
    batch = drop_sample_batch(store, settings.drop_prefix, generation=generation)
    print(f"dropped batch {batch.batch_key} into {store.display_name}/{settings.drop_prefix}")
    print("the running sensor picks it up within 30 s (or run `nacento-pipeline tick`)")
    return 0


def cmd_tick(settings: Settings, args: argparse.Namespace) -> int:
    """One drop-sensor tick and the runs it requests, in this process."""
    from nacento_pipeline.definitions import build_definitions
    from nacento_pipeline.defs.local_runner import tick_and_run

    with _instance(settings) as instance:
        outcome = tick_and_run(build_definitions(settings), instance, log_level="WARNING")
        return 1 if _print_tick(outcome, settings) else 0


def cmd_doctor(settings: Settings, args: argparse.Namespace) -> int:
    """Check that the bucket and Magento's database answer; create the pipeline's own tables."""
    problems = 0
    store = _store(settings)
    try:
        listed = sum(1 for _ in store.list(settings.drop_prefix))
        print(f"ok    storage {store.display_name}: {listed} object(s) in {settings.drop_prefix}")
    except Exception as exc:  # noqa: BLE001 - doctor reports every failure the same way
        problems += 1
        print(f"FAIL  storage {store.display_name}: {exc}")
    db = None
    try:
        db = _database(settings)
        db.ensure_own_tables()  # first: a wrong prefix is named as the missing Magento table
        ids = db.attribute_ids()
        print(f"ok    magento {db.engine.url.render_as_string(hide_password=True)}")
        print(f"        media_gallery attribute id {ids.media_gallery}")
        print("        roles  " + ", ".join(f"{code}={aid}" for code, aid in ids.roles.items()))
        print("        labels " + (", ".join(f"{code}={aid}" for code, aid in ids.labels.items()) or "-"))
    except Exception as exc:  # noqa: BLE001
        problems += 1
        print(f"FAIL  magento: {exc}")
    finally:
        if db is not None:
            db.dispose()
    return 1 if problems else 0


def cmd_dev(settings: Settings, args: argparse.Namespace) -> int:
    """The Dagster webserver and daemon on `<var>/dagster_home`: the two processes `dagster dev` starts.

    Without its deprecation notice and with a prompt stop: SIGTERM or Ctrl-C stops both within seconds.
    """
    import os
    import signal
    import subprocess
    import time

    home = dagster_home(settings)
    workspace = str(REPO_DAGSTER_YAML.parent / "workspace.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home), "NACENTO_VAR_DIR": str(settings.var_dir.resolve())}
    bin_dir = Path(sys.executable).parent
    commands = {
        "webserver": [
            str(bin_dir / "dagster-webserver"),
            "-h",
            args.host,
            "-p",
            str(args.port),
            "-w",
            workspace,
        ],
        "daemon": [str(bin_dir / "dagster-daemon"), "run", "-w", workspace],
    }
    stop = {"signal": 0}

    def request_stop(signum, _frame):
        stop["signal"] = signum

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGTERM, signal.SIGINT)}
    procs = {
        name: subprocess.Popen(cmd, env=env, cwd=home, start_new_session=True)
        for name, cmd in commands.items()
    }
    print(
        f"dagster  webserver http://{args.host}:{args.port} and daemon on DAGSTER_HOME={home} "
        f"(pids {procs['webserver'].pid}, {procs['daemon'].pid})",
        flush=True,
    )
    code = 0
    try:
        while not stop["signal"]:
            dead = [name for name, p in procs.items() if p.poll() is not None]
            if dead:
                print(f"dagster  {dead[0]} exited with code {procs[dead[0]].returncode}", file=sys.stderr)
                code = 1
                break
            time.sleep(0.2)
    finally:
        for p in procs.values():  # each leads its own process group: its code server goes with it
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + args.stop_timeout
        for p in procs.values():
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for p in procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)  # what is left of its group (code servers)
        for s, handler in previous.items():
            signal.signal(s, handler)
    print("dagster  stopped", flush=True)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: parse the arguments and the NACENTO_* environment, run the command."""
    parser = argparse.ArgumentParser(
        prog="nacento-pipeline",
        description=__doc__,
        epilog=variables_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo", help="prepare the embedded default, drop a sample batch and run it end to end"
    )
    demo.add_argument(
        "--reset-magento",
        action="store_true",
        help="start from a fresh demo Magento database (run history and archive are always kept)",
    )
    drop = sub.add_parser("drop-sample", help="drop another sample batch into the drop prefix")
    drop.add_argument(
        "--generation",
        type=int,
        default=1,
        help="1+ changes two images' content, relabels, disables and removes some images",
    )
    sub.add_parser("tick", help="run the drop sensor once and execute the runs it requests, in this process")
    sub.add_parser("doctor", help="check that storage and the Magento database are reachable and usable")
    dev = sub.add_parser(
        "dev", help="Dagster webserver + daemon on <var>/dagster_home (what `make dev` runs)"
    )
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=3000)
    dev.add_argument(
        "--stop-timeout",
        type=float,
        default=4.0,
        help="seconds the webserver and daemon get to stop before they are killed",
    )
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    handler = {
        "demo": cmd_demo,
        "drop-sample": cmd_drop_sample,
        "tick": cmd_tick,
        "doctor": cmd_doctor,
        "dev": cmd_dev,
    }
    return handler[args.command](settings, args)


if __name__ == "__main__":
    raise SystemExit(main())
