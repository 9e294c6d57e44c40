"""Targets at the API: keys limited to targets, and a bad targets file stopping the start."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest

from api import create_app
from api.keys import parse_keys
from worker.errors import ConfigurationError
from worker.settings import Settings


def _key(**extra: object) -> dict[str, object]:
    digest = hashlib.sha256(b"k").hexdigest()
    return {"name": "ci", "key_sha256": digest, "app_slugs": ["a"], **extra}


def test_a_key_may_be_limited_to_targets() -> None:
    limited, open_key = parse_keys(
        [_key(targets=["replicated"]), _key(name="ci-open")], "keys.yaml"
    )
    assert limited.forbidden_targets(["replicated", "ecr"]) == ["ecr"]
    assert open_key.forbidden_targets(["replicated", "ecr"]) == []
    with pytest.raises(ConfigurationError, match="targets must be a list of target names"):
        parse_keys([_key(targets="replicated")], "keys.yaml")


def test_a_bad_targets_file_stops_the_api(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "targets.yaml"
    path.write_text("- name: ghcr\n  registry: ghcr.io\n  repository: 'Acme/{target}'\n")
    with pytest.raises(ConfigurationError) as caught:
        create_app(dataclasses.replace(settings, targets_file=path))
    assert f"targets file {path}: target #1 (ghcr): field `repository`" in str(caught.value)
