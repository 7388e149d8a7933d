"""core.command_template: how a template's values reach its command, and which templates are refused."""

from __future__ import annotations

import pytest

from nacento_pipeline.core.command_template import (
    CommandTemplateError,
    environment_names,
    line_safe_values,
    parse_template,
    remote_shell,
)


def test_inline_placeholder_becomes_one_word_per_value_and_file_placeholder_the_path() -> None:
    template = parse_template("bin/magento cache:clean {tags} --from {tags_file}", "tags")
    assert template.takes_arguments
    assert template.argv(["a b", "c;d"], "/tmp/v.txt") == [
        "bin/magento",
        "cache:clean",
        "a b",
        "c;d",
        "--from",
        "/tmp/v.txt",
    ]
    assert not parse_template("ssh web 'xargs -d \"\\n\" rm -f'", "images").takes_arguments


@pytest.mark.parametrize(
    "text",
    [
        "ssh web echo {images}",
        "/usr/bin/ssh -p 2222 web rm {images}",
        "sudo -u www autossh web rm {images}",
        "plink web rm {images}",
    ],
)
def test_remote_shell_with_values_as_arguments_is_refused(text: str) -> None:
    with pytest.raises(
        CommandTemplateError, match=r"\{images\} cannot be used with .*stdin.*\{images_file\}"
    ):
        parse_template(text, "images")


@pytest.mark.parametrize("text", ["ssh web 'xargs -d \"\\n\" rm -f'", "ssh web rm-list {images_file}"])
def test_remote_shell_reading_stdin_or_the_file_is_accepted(text: str) -> None:
    assert remote_shell(parse_template(text, "images").words) == "ssh"


@pytest.mark.parametrize("text", ["sh -c 'echo {tags}'", "clean --tags={tags}", "x '{tags_file} y'"])
def test_placeholder_inside_a_word_is_refused(text: str) -> None:
    with pytest.raises(CommandTemplateError, match="a word of its own"):
        parse_template(text, "tags")


def test_unsplittable_or_empty_template_is_refused() -> None:
    with pytest.raises(CommandTemplateError, match="cannot split"):
        parse_template("echo 'open", "tags")
    with pytest.raises(CommandTemplateError, match="empty"):
        parse_template("   ", "tags")


def test_line_safe_values_and_environment_names() -> None:
    assert line_safe_values(["a", "b\nc", "d\r", "e\x00", "f"]) == (["a", "f"], ["b\nc", "d\r", "e\x00"])
    assert environment_names("cd $ROOT && ${BIN}/magento $ROOT", ("SSH_AUTH_SOCK",)) == (
        "PATH",
        "HOME",
        "ROOT",
        "BIN",
        "SSH_AUTH_SOCK",
    )
