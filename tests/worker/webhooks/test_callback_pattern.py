"""The callback_url pattern the OpenAPI document publishes says exactly which URLs the SSRF
guard accepts at submit (for hosts that resolve without DNS)."""

from __future__ import annotations

import re

import pytest

from worker.webhooks.guard import CallbackRefused, HostPolicy, callback_url_pattern

HOSTS = frozenset({"localhost:*", "127.0.0.1:*", "[::1]:*"})


def _accepted(url: str) -> bool:
    try:
        HostPolicy(HOSTS).check_url(url)
    except CallbackRefused:
        return False
    return True


@pytest.mark.parametrize(
    ("url", "accepted"),
    [
        ("http://localhost/hook", True),
        ("HTTPS://LocalHost:8443/a?b=c#d", True),
        ("http://user:pw@127.0.0.1:0/", True),
        ("http://localhost:65535", True),
        ("http://localhost:/x", True),
        ("http://[::1]:8080/x", True),
        ("http://localhost:65536/", False),
        ("ftp://localhost/", False),
        ("http://localhost /x", False),
        (" http://localhost/", False),
        ("http://localhost\t/x", False),
        ("http://localhost/ü", False),
        ("http://local host/", False),
        ("http://evil.test/", False),
        ("http://localhost./", False),
        ("http://localhost../", False),
        ("http://[::2]/", False),
        ("http:///x", False),
    ],
)
def test_the_published_pattern_is_what_the_guard_accepts(url: str, accepted: bool) -> None:
    assert _accepted(url) is accepted
    assert (re.fullmatch(callback_url_pattern(HOSTS), url) is not None) is accepted


def test_the_generic_pattern_admits_any_host_the_guard_may_allow() -> None:
    generic = callback_url_pattern()
    for url in ("https://bot.example.com/hooks", "http://[2001:db8::1]:80/", "http://a-b.c:1/"):
        assert re.fullmatch(generic, url)
    assert not re.fullmatch(generic, "http://bot.example.com/ hooks")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://127.0.0.1:0443/",
        "http://127.0.0.1:00443/",
        "http://127.0.0.1:0080",
        "http://127.0.0.1:8080/",
        "http://127.0.0.1:8443/",
        "http://127.0.0.1:08443/",
        "http://127.0.0.1:12345/",
        "http://127.0.0.1:012345/",
    ],
)
def test_the_pattern_says_which_ports_each_host_allows(url: str) -> None:
    hosts = frozenset({"127.0.0.1", "127.0.0.1:8443", "127.0.0.1:12345"})
    try:
        HostPolicy(hosts).check_url(url)
        accepted = True
    except CallbackRefused:
        accepted = False
    assert (re.fullmatch(callback_url_pattern(hosts), url) is not None) is accepted
