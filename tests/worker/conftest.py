"""Fixtures for engine tests: an engine wired to the real registries."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from worker.engine import CopyEngine
from worker.settings import Settings


@pytest.fixture
def make_engine(settings: Settings) -> Iterator[Callable[..., CopyEngine]]:
    """Build engines from the test settings with overrides; closes them afterwards."""
    engines: list[CopyEngine] = []

    def make(**overrides: object) -> CopyEngine:
        engine = CopyEngine.from_settings(Settings(**{**settings.__dict__, **overrides}))
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.close()


@pytest.fixture
def engine(make_engine: Callable[..., CopyEngine]) -> CopyEngine:
    """An engine with the service-account token for myapp and shared."""
    return make_engine()
