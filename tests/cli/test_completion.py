"""`pushgate --version` and `pushgate completion SHELL`, through click's test runner."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from pushgate_cli import __version__
from pushgate_cli.main import main


def test_version_is_the_one_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"pushgate, version {__version__}\n"


@pytest.mark.parametrize(
    ("shell", "marker"),
    [
        ("bash", "complete -o nosort -F"),
        ("zsh", "#compdef pushgate"),
        ("fish", "complete --no-files --command pushgate"),
    ],
)
def test_completion_prints_the_shell_script(shell: str, marker: str) -> None:
    result = CliRunner().invoke(main, ["completion", shell])
    assert result.exit_code == 0, result.output
    assert marker in result.output
    assert "_PUSHGATE_COMPLETE" in result.output


def test_completion_completes_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    # What the bash script asks: the words after `pushgate ` that start with "c".
    monkeypatch.setenv("_PUSHGATE_COMPLETE", "bash_complete")
    monkeypatch.setenv("COMP_WORDS", "pushgate c")
    monkeypatch.setenv("COMP_CWORD", "1")
    result = CliRunner().invoke(main, [], prog_name="pushgate")
    assert result.output.split() == ["plain,cancel", "plain,completion"]


def test_completion_refuses_an_unknown_shell() -> None:
    result = CliRunner().invoke(main, ["completion", "tcsh"])
    assert result.exit_code == 2
    assert "'tcsh' is not one of" in result.output
