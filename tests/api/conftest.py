"""An API app on real Redis with API keys; no worker consumes the queue here."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from api import create_app
from tests.support.api_keys import HOOK_KEY, KEYS, WEBHOOK_HOSTS, WEBHOOK_SECRET
from worker.settings import Settings


@pytest.fixture
def api_keys_file(tmp_path: Path) -> Path:
    """A JSON API-keys file holding only hashes."""
    path = tmp_path / "keys.json"
    secret = tmp_path / "webhook.secret"
    secret.write_text(WEBHOOK_SECRET)
    entries = [
        {
            "name": f"key{i}",
            "key_sha256": hashlib.sha256(key.encode()).hexdigest(),
            "app_slugs": slugs,
        }
        for i, (key, slugs) in enumerate(KEYS.items())
    ]
    entries[list(KEYS).index(HOOK_KEY)]["webhook_secret_file"] = str(secret)
    path.write_text(json.dumps(entries))
    return path


@pytest.fixture
def app(settings: Settings, api_keys_file: Path, redis_client: redis.Redis) -> Iterator[Flask]:
    """The Flask app on the session's Redis, with a fresh database."""
    redis_client.flushdb()
    yield create_app(
        dataclasses.replace(settings, api_keys_file=api_keys_file, webhook_hosts=WEBHOOK_HOSTS)
    )


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client of the app."""
    return app.test_client()
