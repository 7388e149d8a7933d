"""The command trigger with a real script (output streaming, failure, timeout with process-group kill),
the dry-run trigger and the trigger the reindex resource builds."""

from __future__ import annotations

import os
import stat
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from nacento_pipeline.config import Settings
from nacento_pipeline.core.reindex.decision import IndexerState, decide_reindex
from nacento_pipeline.magento.indexers import IndexerTables, create_indexer_tables
from nacento_pipeline.magento.reindex_command import (
    CommandTemplateError,
    ReindexCommandError,
    ReindexCommandTimeout,
    ReindexTriggerError,
    render_command,
    run_command,
)
from nacento_pipeline.magento.reindex_trigger import ChangelogTrigger, CommandTrigger, DryRunTrigger, route
from nacento_pipeline.resources.build import reindex_resource

SCRIPT = """#!{python}
import os, sys, time
args = sys.argv[1:]
with open({calls!r}, "a") as fh:
    fh.write(" ".join(args) + "\\n")
print("reindexing " + " ".join(args), flush=True)
if os.environ.get("FAKE_MAGENTO_FAIL"):
    print("SQLSTATE[HY000]: General error", flush=True)
    sys.exit(3)
if os.environ.get("FAKE_MAGENTO_HANG"):
    import subprocess
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    with open({pidfile!r}, "w") as fh:
        fh.write(str(child.pid))
    print("started child", flush=True)
    time.sleep(60)
print("done", flush=True)
"""


@pytest.fixture
def fake_magento(tmp_path: Path) -> tuple[Path, Path, Path]:
    calls, pidfile = tmp_path / "calls.txt", tmp_path / "child.pid"
    script = tmp_path / "magento"
    script.write_text(SCRIPT.format(python=sys.executable, calls=str(calls), pidfile=str(pidfile)))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script, calls, pidfile


def decisions(changed=(1, 2, 3), **per_indexer):
    states = [
        IndexerState("catalog_product_attribute", "catalog_product_attribute", **per_indexer.get("attr", {})),
        IndexerState("catalogsearch_fulltext", "catalogsearch_fulltext", **per_indexer.get("search", {})),
        IndexerState("catalog_product_flat", "catalog_product_flat", **per_indexer.get("flat", {})),
    ]
    return decide_reindex(changed, states, 1000, thresholds=100)


def test_full_runs_once_for_all_full_indexers_and_streams_output(fake_magento):
    script, calls, _ = fake_magento
    ds = decisions(attr={"status": "invalid"}, flat={"mview_mode": "disabled"}, search={"installed": False})
    lines: list[str] = []
    report = CommandTrigger(f"{script} indexer:reindex {{indexers}}", timeout_seconds=20).apply(
        ds, lines.append
    )
    assert calls.read_text().splitlines() == [
        "indexer:reindex catalog_product_attribute catalog_product_flat"
    ]
    assert "reindexing indexer:reindex catalog_product_attribute catalog_product_flat" in lines
    assert "done" in lines and lines[0].startswith("$ ")
    assert [(o.indexer_id, o.action) for o in report.outcomes] == [
        ("catalog_product_attribute", "command"),
        ("catalogsearch_fulltext", "none"),
        ("catalog_product_flat", "command"),
    ]
    [run] = report.commands
    assert (run.returncode, run.output_lines, run.indexers) == (
        0,
        2,
        ("catalog_product_attribute", "catalog_product_flat"),
    )


def test_partial_with_entity_ids_runs_per_indexer_and_chunk(fake_magento):
    script, calls, _ = fake_magento
    ds = decisions(changed=range(1, 6), flat={"installed": False})
    trigger = CommandTrigger(f"{script} reindex-ids {{indexer}} {{entity_ids}}", ids_per_command=2)
    report = trigger.apply(ds, lambda _: None)
    assert calls.read_text().splitlines() == [
        "reindex-ids catalog_product_attribute 1,2",
        "reindex-ids catalog_product_attribute 3,4",
        "reindex-ids catalog_product_attribute 5",
        "reindex-ids catalogsearch_fulltext 1,2",
        "reindex-ids catalogsearch_fulltext 3,4",
        "reindex-ids catalogsearch_fulltext 5",
    ]
    assert len(report.commands) == 6
    assert report.outcomes[0].detail == "5 ids in 3 run(s)"


def test_partial_without_entity_ids_goes_to_changelog_and_held_is_not_run(fake_magento, sqlite_url):
    script, calls, _ = fake_magento
    engine = sa.create_engine(sqlite_url)
    create_indexer_tables(engine)
    ds = decisions(
        changed=(4, 5), flat={"status": "working", "mview_mode": "disabled"}, attr={"status": "invalid"}
    )
    assert [(d.decision, d.held) for d in ds] == [("full", False), ("partial", False), ("full", True)]
    trigger = CommandTrigger(f"{script} indexer:reindex {{indexers}}", changelog=ChangelogTrigger(engine))
    report = trigger.apply(ds, lambda _: None)
    # only the non-held full indexer gets a full reindex; the others ride on the changelog
    assert calls.read_text().splitlines() == ["indexer:reindex catalog_product_attribute"]
    assert [o.action for o in report.outcomes] == ["command", "changelog", "changelog"]
    tables = IndexerTables()
    with engine.connect() as conn:
        for view in ("catalogsearch_fulltext", "catalog_product_flat"):
            assert list(conn.execute(sa.select(tables.changelog(view).c.entity_id)).scalars()) == [4, 5]
    engine.dispose()


def test_held_without_changelog_is_skipped_and_reported(fake_magento):
    script, calls, _ = fake_magento
    ds = decisions(
        attr={"mview_status": "suspended", "status": "invalid"},
        search={"installed": False},
        flat={"installed": False},
    )
    report = CommandTrigger(f"{script} indexer:reindex {{indexers}}").apply(ds, lambda _: None)
    assert not calls.exists()
    assert report.outcomes[0].action == "skipped" and "suspended" in report.outcomes[0].detail


def test_non_zero_exit_fails_with_output_tail(fake_magento, monkeypatch):
    script, _, _ = fake_magento
    monkeypatch.setenv("FAKE_MAGENTO_FAIL", "1")
    lines: list[str] = []
    with pytest.raises(ReindexCommandError) as info:
        CommandTrigger(f"{script} indexer:reindex {{indexers}}").apply(
            decisions(attr={"status": "invalid"}), lines.append
        )
    assert info.value.returncode == 3
    assert info.value.tail[-1] == "SQLSTATE[HY000]: General error"
    assert "SQLSTATE[HY000]: General error" in lines


def test_timeout_kills_the_process_group(fake_magento, monkeypatch):
    script, _, pidfile = fake_magento
    monkeypatch.setenv("FAKE_MAGENTO_HANG", "1")
    trigger = CommandTrigger(
        f"{script} indexer:reindex {{indexers}}", timeout_seconds=1.5, kill_grace_seconds=1
    )
    started = time.monotonic()
    with pytest.raises(ReindexCommandTimeout) as info:
        trigger.apply(decisions(attr={"status": "invalid"}), lambda _: None)
    assert time.monotonic() - started < 10
    assert info.value.tail == ("reindexing indexer:reindex catalog_product_attribute", "started child")
    child = int(pidfile.read_text())
    for _ in range(50):  # the grandchild was in the killed group: gone, or a zombie nobody reaped yet
        if not alive(child):
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"child process {child} survived the timeout")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    if status.exists():
        state = next((line for line in status.read_text().splitlines() if line.startswith("State:")), "")
        return "zombie" not in state
    return True


def test_template_placeholders():
    assert (
        render_command("bin/magento indexer:reindex {indexers}", ["a", "b"])
        == "bin/magento indexer:reindex a b"
    )
    assert render_command("x {indexer} --ids={entity_ids}", ["a"], [3, 1]) == "x a --ids=3,1"
    with pytest.raises(CommandTemplateError, match="not allowed"):
        render_command("bin/magento {indexers}", ["a;rm -rf"])
    with pytest.raises(CommandTemplateError, match="store"):
        CommandTrigger("bin/magento {store}")


def test_dry_run_reports_every_decision():
    lines: list[str] = []
    report = DryRunTrigger().apply(decisions(changed=(), attr={"status": "invalid"}), lines.append)
    assert [o.action for o in report.outcomes] == ["dry-run"] * 3
    assert all("-> none" in line for line in lines)
    assert [o.decision for o in report.outcomes] == ["none"] * 3


def _trigger(settings: Settings, engine: sa.Engine | None, prefix: str = ""):
    return reindex_resource(settings).trigger(engine, prefix)


def test_the_reindex_resource_builds_the_trigger_its_settings_name(sqlite_url):
    engine = sa.create_engine(sqlite_url)
    assert isinstance(_trigger(Settings(reindex_trigger="dry-run"), None), DryRunTrigger)
    assert isinstance(_trigger(Settings(), engine, "mg_"), ChangelogTrigger)
    assert _trigger(Settings(), engine, "mg_").prefix == "mg_"
    command = _trigger(Settings(reindex_trigger="command", reindex_timeout_seconds=7), engine)
    assert isinstance(command, CommandTrigger)
    assert (command.timeout_seconds, command.changelog is not None) == (7, True)
    with pytest.raises(ReindexTriggerError):
        _trigger(Settings(), None)
    engine.dispose()


def test_held_indexer_without_changelog_table_is_skipped(sqlite_url):
    engine = sa.create_engine(sqlite_url)
    create_indexer_tables(engine, views=["catalog_product_attribute"])
    ds = decisions(attr={"status": "working"}, search={"status": "working"}, flat={"installed": False})
    lines: list[str] = []
    report = ChangelogTrigger(engine).apply(ds, lines.append)
    assert [(o.action, o.changelog_inserted) for o in report.outcomes] == [
        ("changelog", 3),
        ("skipped", 0),
        ("none", 0),
    ]
    assert "catalogsearch_fulltext_cl missing" in report.outcomes[1].detail
    engine.dispose()


def test_indexer_names_are_validated_not_only_quoted(tmp_path: Path):
    marker = tmp_path / "pwned"
    evil = f"x$(touch {marker})"
    # shlex.quote is undone by a template that double-quotes the placeholder (ssh "cd ... && {indexers}")
    with pytest.raises(CommandTemplateError, match="indexer"):
        render_command('sh -c "echo {indexers}"', [evil])
    state = IndexerState(evil, evil, status="invalid")
    [decision] = decide_reindex([1], [state], 100, thresholds=10)
    with pytest.raises(CommandTemplateError):
        CommandTrigger('sh -c "echo {indexers}"', timeout_seconds=5).apply([decision], lambda _: None)
    assert not marker.exists()
    # Magento indexer ids (letters, digits, underscore) still render
    assert (
        render_command(
            'ssh m "bin/magento indexer:reindex {indexers}"', ["cde_products_feed", "catalog_product_flat"]
        )
        == 'ssh m "bin/magento indexer:reindex cde_products_feed catalog_product_flat"'
    )


def test_entity_ids_must_be_integers():
    with pytest.raises(CommandTemplateError, match="entity id"):
        render_command("x {entity_ids}", ["a"], ["1;reboot"])  # type: ignore[list-item]
    with pytest.raises(CommandTemplateError, match="entity id"):
        render_command("x {entity_ids}", ["a"], [True])  # type: ignore[list-item]
    assert render_command("x {entity_ids}", ["a"], [3, 1]) == "x 3,1"


def test_timeout_error_message_carries_the_output_tail():
    with pytest.raises(ReindexCommandTimeout) as info:
        run_command(
            "for w in first last; do echo line-$w; done; sleep 30",
            lambda _: None,
            timeout_seconds=1,
            kill_grace_seconds=1,
        )
    assert info.value.tail == ("line-first", "line-last")
    assert "line-last" in str(info.value)


def test_route_sorts_the_decisions_once_for_every_trigger():
    ds = decisions(attr={"status": "invalid"}, search={"status": "working"}, flat={"installed": False})
    routed = route(ds)
    assert [d.indexer_id for d in routed.full] == ["catalog_product_attribute"]
    assert [(d.indexer_id, d.decision) for d in routed.held] == [("catalogsearch_fulltext", "partial")]
    assert [d.indexer_id for d in routed.none] == ["catalog_product_flat"] and routed.partial == []


def test_entity_ids_reach_the_command_on_stdin_and_in_a_file(tmp_path: Path):
    """A remote command can read the ids instead of taking them on its command line (issue 20)."""
    ds = decisions(changed=range(1, 6), flat={"installed": False}, search={"installed": False})
    stdin, copied = tmp_path / "stdin.txt", tmp_path / "file.txt"
    template = f"cat >> {stdin}; cat {{entity_ids_file}} >> {copied} # {{indexer}} {{entity_ids}}"
    CommandTrigger(template, ids_per_command=3).apply(ds, lambda _: None)
    assert stdin.read_text() == copied.read_text() == "1\n2\n3\n4\n5\n"


def test_the_command_trigger_gives_commands_a_small_environment(tmp_path: Path, monkeypatch, sqlite_url):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("MAGENTO_ROOT", str(tmp_path))
    monkeypatch.setenv("EXTRA_ONE", "1")
    dump = tmp_path / "env.txt"
    settings = Settings(
        reindex_trigger="command",
        command_env=("EXTRA_ONE",),
        reindex_command=f"cd $MAGENTO_ROOT; env > {dump} # {{indexers}}",
    )
    engine = sa.create_engine(sqlite_url)
    ds = decisions(attr={"status": "invalid"}, search={"installed": False}, flat={"installed": False})
    _trigger(settings, engine).apply(ds, lambda _: None)
    names = {line.partition("=")[0] for line in dump.read_text().splitlines()}
    assert {"PATH", "MAGENTO_ROOT", "EXTRA_ONE"} <= names and "AWS_SECRET_ACCESS_KEY" not in names
    assert names - {"PATH", "HOME", "MAGENTO_ROOT", "EXTRA_ONE", "PWD", "OLDPWD", "SHLVL", "_"} == set()
    engine.dispose()
