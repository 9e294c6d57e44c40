"""The one start-up check: every configured file read once, a bad one named with its field;
the worker stops at start on one, as the API does."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from worker.errors import ConfigurationError
from worker.settings import Settings
from worker.startup import check_startup


def _with(settings: Settings, tmp_path: Path, field: str, name: str, text: str) -> Settings:
    path = tmp_path / name
    path.write_text(text)
    return dataclasses.replace(settings, **{field: path})


def test_the_files_are_read_once_into_one_configuration(settings: Settings) -> None:
    configuration = check_startup(settings)
    assert "replicated" in configuration.targets.names
    assert configuration.subscriptions == [] and configuration.grants == []


@pytest.mark.parametrize(
    ("field", "name", "text", "named"),
    [
        (
            "targets_file",
            "targets.yaml",
            "- {name: x, registry: 'h:1', insecure: maybe}",
            "insecure",
        ),
        ("webhooks_file", "webhooks.yaml", "- {name: a, url: 'http://h/', events: 7}", "events"),
        ("apps_file", "apps.yaml", "- {app: myapp, sources: 5}", "sources"),
    ],
)
def test_a_bad_file_is_named_with_its_field(
    settings: Settings, tmp_path: Path, field: str, name: str, text: str, named: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        check_startup(_with(settings, tmp_path, field, name, text))
    assert str(tmp_path / name) in str(caught.value) and named in str(caught.value)
