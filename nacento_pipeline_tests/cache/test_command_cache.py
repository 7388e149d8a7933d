"""The command backend: values never reach a shell (issue 20), on stdin / in a file / as arguments.

`fake_ssh` stands in for ssh: like ssh's remote side it drops the host and hands the rest of its arguments,
joined into one line, to a shell. The exploit of the issue ran `touch` through it.
"""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import pytest

from nacento_pipeline.cache import CacheError, CommandCache
from nacento_pipeline.config import ConfigError, Settings
from nacento_pipeline.resources.build import cache_resource


def _executable(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def fake_ssh(tmp_path: Path) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir()
    return _executable(folder / "ssh", '#!/bin/sh\nshift\nexec sh -c "$*"\n')


def _payload(tmp_path: Path) -> tuple[str, Path]:
    marker = tmp_path / "PWNED"
    return f"/a/b/x;touch${{IFS}}{marker};.jpg", marker


def test_ssh_template_with_values_on_its_command_line_is_refused_and_runs_nothing(tmp_path, fake_ssh):
    value, marker = _payload(tmp_path)
    with pytest.raises(
        CacheError, match=r"NACENTO_CACHE_IMAGES_COMMAND: \{images\} cannot be used with .*ssh"
    ):
        CommandCache("true", f"{fake_ssh} web echo {{images}}").clean_images([value])
    with pytest.raises(CacheError, match=r"NACENTO_CACHE_COMMAND: \{tags\} cannot be used with"):
        CommandCache(f"{fake_ssh} web bin/magento cache:clean {{tags}}")
    assert not marker.exists()


def test_ssh_template_is_refused_at_config_load():
    env = {"NACENTO_CACHE_BACKEND": "command", "NACENTO_CACHE_IMAGES_COMMAND": "ssh web echo {images}"}
    with pytest.raises(ConfigError, match=r"NACENTO_CACHE_IMAGES_COMMAND: .*stdin"):
        Settings.from_env(env)
    with pytest.raises(ConfigError, match="NACENTO_CACHE_COMMAND"):
        Settings.from_env(
            {"NACENTO_CACHE_COMMAND": "/usr/bin/ssh -p 22 web 'bin/magento cache:clean' {tags}"}
        )
    with pytest.raises(ConfigError, match="a word of its own"):
        Settings.from_env({"NACENTO_CACHE_COMMAND": "sh -c 'bin/magento cache:clean {tags}'"})


def test_values_reach_a_remote_command_on_stdin_verbatim(tmp_path, fake_ssh):
    value, marker = _payload(tmp_path)
    out = tmp_path / "received.txt"
    report = CommandCache("true", f"{fake_ssh} web 'cat > {out}'").clean_images([value, "/c/d/e.png"])
    assert out.read_text() == f"{value}\n/c/d/e.png\n"
    assert not marker.exists()
    assert (report.requests, report.tags) == (1, 2)


def test_values_file_reaches_a_remote_command(tmp_path, fake_ssh):
    value, marker = _payload(tmp_path)
    out = tmp_path / "copied.txt"
    CommandCache(f"{fake_ssh} web cp {{tags_file}} {out}").clean_tags(["cat_p_1", value])
    assert out.read_text() == f"cat_p_1\n{value}\n"
    assert not marker.exists()


def test_local_arguments_are_one_word_per_value_without_a_shell(tmp_path):
    script = _executable(
        tmp_path / "args",
        f"#!{sys.executable}\nimport json, sys\n"
        f"open({str(tmp_path / 'argv.json')!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n",
    )
    value, marker = _payload(tmp_path)
    tags = [f"cat_p_{i}" for i in range(5001)]
    report = CommandCache(f"{script} --clean {{tags}}").clean_tags([value, *tags])
    runs = [json.loads(line) for line in (tmp_path / "argv.json").read_text().splitlines()]
    assert report.requests == 2 and [len(r) for r in runs] == [5001, 3]  # 5,000 values a run
    assert runs[0][:2] == ["--clean", value] and runs[1] == ["--clean", "cat_p_4999", "cat_p_5000"]
    assert not marker.exists()


def test_values_with_a_line_break_are_left_out_and_noted(tmp_path):
    out = tmp_path / "lines.txt"
    report = CommandCache(f"cp {{tags_file}} {out}").clean_tags(["cat_p_1", "a\nb", "c\x00"])
    assert out.read_text() == "cat_p_1\n"
    assert report.notes == ("2 value(s) with a line break or NUL left out",)


def test_commands_get_path_home_named_and_listed_variables_only(tmp_path, monkeypatch):
    dump = tmp_path / "env.json"
    script = _executable(
        tmp_path / "env",
        f"#!{sys.executable}\nimport json, os\n"
        f"open({str(dump)!r}, 'w').write(json.dumps(sorted(os.environ)))\n",
    )
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("NACENTO_MAGENTO_DB_URL", "mysql+pymysql://u:secret@db/m")
    monkeypatch.setenv("SSH_AUTH_SOCK", "/tmp/agent")
    monkeypatch.setenv("SHOP_ROOT", "/var/www")
    settings = Settings(
        cache_backend="command",
        cache_command=f"{script} $SHOP_ROOT {{tags}}",
        command_env=("SSH_AUTH_SOCK", "NOT_SET_ANYWHERE"),
    )
    cache_resource(settings).get_backend().clean_tags(["cat_p_1"])
    names = set(json.loads(dump.read_text()))
    assert {"PATH", "SSH_AUTH_SOCK", "SHOP_ROOT"} <= names
    assert names - {"PATH", "HOME", "SSH_AUTH_SOCK", "SHOP_ROOT", "LC_CTYPE", "PWD", "SHLVL", "_"} == set()
