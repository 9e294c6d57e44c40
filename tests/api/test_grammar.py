"""The patterns in the API document and worker.reference's validators are one rule: whatever
one accepts, the other accepts too (checked on drawn strings)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from api.schemas import PushCreateSchema
from worker.errors import InvalidReference, InvalidRequest
from worker.jobs.submit import plan_job
from worker.reference import (
    MAX_REFERENCE_LENGTH,
    REPOSITORY_PATTERN,
    SLUG_PATTERN,
    TAG_PATTERN,
    source_pattern,
    validate_repository,
    validate_slug,
    validate_tag,
)
from worker.settings import Settings

DRAWS = settings(max_examples=100, database=None, deadline=None)
NEAR = st.text(alphabet="aZ09._-/:@ \n", max_size=40)
ALLOWED = frozenset({"127.0.0.1:5000", "ghcr.io"})


def accepts(check: Callable[[str], object], value: str) -> bool:
    try:
        check(value)
    except (InvalidReference, InvalidRequest):
        return False
    return True


GRAMMARS = [(TAG_PATTERN, validate_tag), (SLUG_PATTERN, validate_slug)]
GRAMMARS.append((REPOSITORY_PATTERN, validate_repository))


@pytest.mark.parametrize(("pattern", "check"), GRAMMARS)
def test_pattern_and_validator_agree(pattern: str, check: Callable[[str], object]) -> None:
    @DRAWS
    @given(st.one_of(st.from_regex(pattern, fullmatch=True), NEAR))
    def agree(value: str) -> None:
        if accepts(check, value):
            assert re.fullmatch(pattern, value), value
        elif re.fullmatch(pattern, value):  # only the length bounds of the schema may refuse
            assert len(value) > 63, value

    agree()


def accepted(source: str, tag: str | None = "1") -> bool:
    """What POST /v1/pushes accepts: the request schema, then the service's own checks."""
    service = Settings(source_registries=ALLOWED, registry="vendor.example")
    body = {"source": source, "app_slug": "myapp", **({"tag": tag} if tag else {})}
    try:
        plan_job(PushCreateSchema().load(body), service, "t")
    except (ValidationError, InvalidRequest):
        return False
    return True


@DRAWS
@given(st.from_regex(source_pattern(ALLOWED, daemon=False), fullmatch=True))
def test_every_source_the_document_allows_is_accepted(source: str) -> None:
    # The one gap: a default target (the source's last component) too long for APP/TARGET.
    if len(source) <= MAX_REFERENCE_LENGTH and len(source.rsplit("/", 1)[-1]) < 100:
        assert accepted(source), source


@DRAWS
@given(
    st.one_of(st.sampled_from(sorted(ALLOWED)).flatmap(lambda h: NEAR.map(f"{h}/".__add__)), NEAR)
)
def test_every_source_accepted_is_allowed_by_the_document(source: str) -> None:
    if accepted(source):
        assert re.fullmatch(source_pattern(ALLOWED, daemon=False), source), source


def test_a_source_by_digest_needs_a_tag() -> None:
    by_digest = "ghcr.io/a/b@sha256:" + "a" * 64
    assert accepted(by_digest) and not accepted(by_digest, tag=None)
    assert accepted("ghcr.io/a/b:1", tag=None)


def test_hub_and_daemon_sources_follow_the_settings() -> None:
    assert re.fullmatch(source_pattern({"docker.io"}, daemon=False), "alpine:3")
    assert not re.fullmatch(source_pattern(ALLOWED, daemon=False), "alpine:3")
    assert re.fullmatch(source_pattern(ALLOWED, daemon=True), "docker-daemon:alpine:3")
    assert re.fullmatch(source_pattern(ALLOWED, daemon=False), "GHCR.io/a/b@sha256:" + "a" * 64)
    assert not re.fullmatch(source_pattern(None, daemon=True), " ghcr.io/a/b")
