"""Reference parsing and validation, table-driven."""

from __future__ import annotations

import pytest

from worker.errors import InvalidReference
from worker.reference import (
    Reference,
    default_image,
    destination,
    parse_reference,
    validate_slug,
    validate_tag,
)

D = "sha256:" + "ab" * 32

PARSED = [
    ("ubuntu", Reference("docker.io", "library/ubuntu", "latest")),
    ("ubuntu:22.04", Reference("docker.io", "library/ubuntu", "22.04")),
    ("acme/worker:1.0.1", Reference("docker.io", "acme/worker", "1.0.1")),
    ("docker.io/library/redis:7", Reference("docker.io", "library/redis", "7")),
    ("index.docker.io/acme/x:1", Reference("docker.io", "acme/x", "1")),
    ("ghcr.io/acme/worker:1.0.1", Reference("ghcr.io", "acme/worker", "1.0.1")),
    ("ghcr.io/acme/team/worker", Reference("ghcr.io", "acme/team/worker", "latest")),
    ("localhost:5000/a/b:c", Reference("localhost:5000", "a/b", "c")),
    ("127.0.0.1:5000/a:v1", Reference("127.0.0.1:5000", "a", "v1")),
    ("localhost/a", Reference("localhost", "a", "latest")),
    (f"ghcr.io/acme/w@{D}", Reference("ghcr.io", "acme/w", None, D)),
    (f"ghcr.io/acme/w:1@{D}", Reference("ghcr.io", "acme/w", "1", D)),
    ("quay.io/a/b-c_d.e__f:T_a.g-1", Reference("quay.io", "a/b-c_d.e__f", "T_a.g-1")),
    ("GHCR.IO/acme/w:1", Reference("ghcr.io", "acme/w", "1")),
]


@pytest.mark.parametrize(("text", "expected"), PARSED)
def test_parse_reference(text: str, expected: Reference) -> None:
    assert parse_reference(text) == expected


INVALID = [
    "",
    "   ",
    "https://ghcr.io/a/b:1",
    "ghcr.io/Acme/worker:1",
    "ghcr.io/acme/worker:",
    "ghcr.io/acme/worker:-bad",
    "ghcr.io/acme/worker:" + "a" * 129,
    "ghcr.io/acme//worker:1",
    "ghcr.io/acme/worker_:1",
    "ghcr.io/acme/worker@sha256:abc",
    "ghcr.io/acme/worker@md5:" + "a" * 32,
    f"ghcr.io/acme/worker@sha256:{'AB' * 32}",
    "ghcr.io/acme/wo rker:1",
    "bad_host.io:99999999/a:b",
    "ghcr.io/" + "a" * 256,
]


@pytest.mark.parametrize("text", INVALID)
def test_parse_reference_rejects(text: str) -> None:
    with pytest.raises(InvalidReference):
        parse_reference(text)


@pytest.mark.parametrize(
    ("tag", "ok"),
    [
        ("1.0.1", True),
        ("latest", True),
        ("_x", True),
        ("A" * 128, True),
        (".x", False),
        ("-x", False),
        ("a" * 129, False),
        ("a/b", False),
        ("", False),
        ("a:b", False),
    ],
)
def test_validate_tag(tag: str, ok: bool) -> None:
    if ok:
        assert validate_tag(tag) == tag
    else:
        with pytest.raises(InvalidReference, match="invalid tag"):
            validate_tag(tag)


@pytest.mark.parametrize(
    ("slug", "ok"),
    [
        ("myapp", True),
        ("my-app-2", True),
        ("a", True),
        ("0a", True),
        ("MyApp", False),
        ("-app", False),
        ("app-", False),
        ("my_app", False),
        ("my.app", False),
        ("", False),
        ("a" * 64, False),
    ],
)
def test_validate_slug(slug: str, ok: bool) -> None:
    if ok:
        assert validate_slug(slug) == slug
    else:
        with pytest.raises(InvalidReference, match="slug"):
            validate_slug(slug)


@pytest.mark.parametrize(
    ("source", "image"),
    [
        ("ghcr.io/acme/worker:1", "worker"),
        ("ubuntu", "ubuntu"),
        ("a.io/x/y/z:1", "z"),
    ],
)
def test_default_image_is_last_component(source: str, image: str) -> None:
    assert default_image(parse_reference(source)) == image


def test_destination_is_registry_slug_target_tag() -> None:
    dest = destination("registry.replicated.com", "myapp", "worker", "1.0.1")
    assert str(dest) == "registry.replicated.com/myapp/worker:1.0.1"
    with pytest.raises(InvalidReference):
        destination("registry.replicated.com", "My_App", "worker", "1")
