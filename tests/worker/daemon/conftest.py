"""Fixtures of the daemon tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.services import DockerDaemon
from worker.daemon.source import DaemonSource


@pytest.fixture
def daemon(docker_daemon: DockerDaemon) -> Iterator[DaemonSource]:
    """A daemon source on the test dockerd, closed after the test."""
    source = DaemonSource(docker_daemon.url)
    yield source
    source.close()
