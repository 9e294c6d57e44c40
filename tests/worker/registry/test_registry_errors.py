"""Pure pieces of the registry client: challenges, Retry-After, status -> error, table-driven."""

from __future__ import annotations

import datetime as dt
from email.utils import format_datetime

import httpx
import pytest

from worker.errors import (
    AuthError,
    InternalError,
    NotFoundError,
    RejectedError,
    TransientRegistryError,
)
from worker.registry.client import Challenge, parse_challenge
from worker.registry.status import raise_for_status, retry_after_seconds


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            'Bearer realm="https://auth.example/token",service="registry.example",scope="x"',
            Challenge("bearer", "https://auth.example/token", "registry.example"),
        ),
        ('Basic realm="basic-realm"', Challenge("basic", "basic-realm", "")),
        ("bearer", Challenge("bearer", "", "")),
    ],
)
def test_parse_challenge(header: str, expected: Challenge) -> None:
    assert parse_challenge(header) == expected


def test_retry_after_forms() -> None:
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None
    later = format_datetime(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30), usegmt=True)
    assert 25 < (retry_after_seconds(later) or 0) <= 30


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, RejectedError),
        (401, AuthError),
        (403, AuthError),
        (404, NotFoundError),
        (405, RejectedError),
        (413, RejectedError),
        (408, TransientRegistryError),
        (429, TransientRegistryError),
        (500, TransientRegistryError),
        (502, TransientRegistryError),
        (503, TransientRegistryError),
        (504, TransientRegistryError),
        (524, TransientRegistryError),
        (501, InternalError),
    ],
)
def test_status_to_error(status: int, error: type[Exception]) -> None:
    response = httpx.Response(
        status,
        headers={"Retry-After": "2"},
        content=b"",
        request=httpx.Request("GET", "http://r.example/v2/"),
    )
    with pytest.raises(error) as caught:
        raise_for_status(response, "doing it")
    assert "doing it" in str(caught.value)
    if isinstance(caught.value, TransientRegistryError):
        assert caught.value.status == status and caught.value.retry_after == 2.0


def test_success_raises_nothing() -> None:
    raise_for_status(httpx.Response(201, request=httpx.Request("PUT", "http://r/")), "x")


def _answer(status: int, code: str, method: str = "POST") -> httpx.Response:
    body = f'{{"errors": [{{"code": "{code}", "message": "m"}}]}}'.encode()
    request = httpx.Request(method, "http://ecr.example:5000/v2/team/app/blobs/uploads/")
    return httpx.Response(status, content=body, request=request)


def test_name_unknown_on_push_says_which_repository_to_create() -> None:
    with pytest.raises(RejectedError) as caught:
        raise_for_status(
            _answer(404, "NAME_UNKNOWN"), "starting upload", ("repository:team/app:pull,push",)
        )
    assert "create team/app on ecr.example:5000 first" in caught.value.detail
    with pytest.raises(NotFoundError):  # reading a source that does not exist is not_found
        raise_for_status(
            _answer(404, "NAME_UNKNOWN", "GET"), "reading", ("repository:team/app:pull",)
        )


def test_denied_on_push_says_the_credential_lacks_push_rights() -> None:
    for status, code in ((403, "DENIED"), (401, "DENIED")):
        with pytest.raises(AuthError) as caught:
            raise_for_status(_answer(status, code), "pushing", ("repository:team/app:pull,push",))
        assert "lacks push rights on team/app" in caught.value.detail
