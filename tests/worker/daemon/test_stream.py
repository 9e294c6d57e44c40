"""The daemon's push stream: errors inside a 200, progress, and the digest that ends it."""

from __future__ import annotations

from typing import Any

import pytest

from worker.daemon.stream import read_push_stream
from worker.errors import AuthError, NetworkError, RejectedError

D = "sha256:" + "ab" * 32
OK_STREAM: list[dict[str, Any]] = [
    {"status": "The push refers to repository [r.example/myapp/w]"},
    {"status": "Preparing", "progressDetail": {}, "id": "aaa"},
    {"status": "Preparing", "progressDetail": {}, "id": "bbb"},
    {"status": "Pushing", "progressDetail": {"current": 512, "total": 2048}, "id": "aaa"},
    {"status": "Layer already exists", "progressDetail": {}, "id": "bbb"},
    {"status": "Pushing", "progressDetail": {"current": 2048, "total": 2048}, "id": "aaa"},
    {"status": "Pushed", "progressDetail": {}, "id": "aaa"},
    {"status": "1.0: digest: " + D + " size: 739"},
    {"progressDetail": {}, "aux": {"Tag": "1.0", "Digest": D, "Size": 739}},
]


def test_a_complete_stream_gives_digest_and_progress() -> None:
    seen: list[int] = []
    state = read_push_stream(OK_STREAM, lambda s: seen.append(s.bytes_done))
    assert state.digest == D and state.size == 739
    assert state.finished == {"aaa", "bbb"} and state.existing == {"bbb"}
    assert state.bytes_done == state.bytes_total == 2048
    assert 512 in seen


def test_a_stream_without_digest_is_not_a_success() -> None:
    with pytest.raises(RejectedError, match="without reporting a digest"):
        read_push_stream(OK_STREAM[:-1])


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ("unauthorized: authentication required", AuthError),
        ("denied: requested access to the resource is denied", AuthError),
        (
            'Get "http://127.0.0.1:9/v2/": dial tcp 127.0.0.1:9: connect: connection refused',
            NetworkError,
        ),
        ("manifest invalid: provenance attestations are not supported", RejectedError),
    ],
)
def test_errors_in_the_stream_are_typed(message: str, error: type[Exception]) -> None:
    stream = [*OK_STREAM[:4], {"errorDetail": {"message": message}, "error": message}]
    with pytest.raises(error) as caught:
        read_push_stream(stream)
    assert message.split(":")[0] in str(caught.value)


def test_a_401_inside_a_digest_is_not_a_refused_login() -> None:
    digest = "sha256:" + "ab401c" * 10 + "abcd"
    message = f"manifest blob unknown: blob unknown to registry: {digest}"
    stream = [*OK_STREAM[:4], {"errorDetail": {"message": message}, "error": message}]
    with pytest.raises(RejectedError):
        read_push_stream(stream)


def test_the_daemons_error_code_says_a_login_was_refused() -> None:
    message = "the registry said no"
    stream = [*OK_STREAM[:4], {"errorDetail": {"code": 401, "message": message}, "error": message}]
    with pytest.raises(AuthError):
        read_push_stream(stream)
