"""Promoting a tag: a new tag of a manifest the target already holds is written without a
single blob request (the target registry's own access log is the witness)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator

import pytest

from deploy.demo_stack.token_server import TokenIssuer, TokenServer
from tests.support.images import ImageBuilder, Pushed, multi_platform
from tests.support.services import Registry, wait_until
from worker.reference import destination, parse_reference
from worker.registry.copier import CopyEngine

REQUEST = re.compile(r'"(GET|HEAD|PUT|POST|PATCH|DELETE) (\S+) HTTP/[\d.]+" (\d+)')


@pytest.fixture(scope="module")
def logged_target(
    tmp_path_factory: pytest.TempPathFactory, token_server: TokenServer, token_issuer: TokenIssuer
) -> Iterator[Registry]:
    """A token-auth target like the vendor stand-in that logs every request it answers."""
    registry = Registry(
        tmp_path_factory.mktemp("logged") / "registry",
        token_realm=token_server.realm,
        cert_pem=token_issuer.cert_pem,
        access_log=True,
    )
    yield registry
    registry.stop()


def requests_logged(registry: Registry, after: int = 0) -> list[tuple[str, str]]:
    """(method, path) of every request the registry answered, from log line `after` on."""
    lines = registry.log.read_text(errors="replace").splitlines()[after:]
    return [(m[1], m[2].split("?")[0]) for line in lines if (m := REQUEST.search(line))]


def _source(builder: ImageBuilder, name: str, kind: str) -> Pushed:
    if kind == "image":
        return builder.image(name, "1.0.1", [4096, 2048])
    index, _ = multi_platform(builder, name, "1.0.1", [2048])
    return index


@pytest.mark.parametrize("kind", ["image", "index"])
def test_a_new_tag_of_a_held_manifest_is_a_manifest_head_and_a_put(
    make_engine: Callable[..., CopyEngine],
    source_images: ImageBuilder,
    source_registry: Registry,
    logged_target: Registry,
    kind: str,
) -> None:
    target, name = logged_target.host, f"promo-{uuid.uuid4().hex[:8]}"
    engine = make_engine(
        registry=target, insecure_registries=frozenset({source_registry.host, target})
    )
    pushed = _source(source_images, f"acme/{name}", kind)
    source = parse_reference(f"{source_registry.host}/acme/{name}:1.0.1")
    engine.copy(source, [destination(target, "myapp", name, "1.0.1")])
    before = len(logged_target.log.read_text(errors="replace").splitlines())

    result = engine.copy(source, [destination(target, "myapp", name, "stable")])

    path = f"/v2/myapp/{name}"
    tag_put = ("PUT", f"{path}/manifests/stable")
    wait_until(lambda: tag_put in requests_logged(logged_target, before), 10, "the tag's PUT")
    seen = requests_logged(logged_target, before)
    assert result.digest == pushed.digest
    assert [r for r in seen if "/blobs/" in r[1]] == [], seen
    assert ("HEAD", f"{path}/manifests/{pushed.digest}") in seen, seen
    assert [r for r in seen if r[0] != "HEAD" and r[1] != "/v2/"] == [tag_put], seen
    assert result.served == {f"{target}/myapp/{name}:stable": pushed.digest}


def statuses_logged(registry: Registry, after: int = 0) -> list[str]:
    """The status of every request the registry answered, from log line `after` on."""
    lines = registry.log.read_text(errors="replace").splitlines()[after:]
    return [m[3] for line in lines if (m := REQUEST.search(line))]


def test_a_second_copy_asks_for_no_token_and_meets_no_challenge(
    make_engine: Callable[..., CopyEngine],
    source_images: ImageBuilder,
    source_registry: Registry,
    logged_target: Registry,
    token_issuer: TokenIssuer,
) -> None:
    """The engine (one per worker process) keeps each registry's challenge and its tokens
    across copies: a second job to the repository costs no token request and no 401."""
    target, name = logged_target.host, f"token-{uuid.uuid4().hex[:8]}"
    engine = make_engine(
        registry=target, insecure_registries=frozenset({source_registry.host, target})
    )
    source_images.image(f"acme/{name}", "1.0.1", [4096, 2048])
    source = parse_reference(f"{source_registry.host}/acme/{name}:1.0.1")
    issued = token_issuer.issued
    engine.copy(source, [destination(target, "myapp", name, "1.0.1")])
    assert token_issuer.issued - issued == 1  # the first copy's requests share one token
    before = len(logged_target.log.read_text(errors="replace").splitlines())

    engine.copy(source, [destination(target, "myapp", name, "1.0.2")])

    tag_put = ("PUT", f"/v2/myapp/{name}/manifests/1.0.2")
    wait_until(lambda: tag_put in requests_logged(logged_target, before), 10, "the tag's PUT")
    assert token_issuer.issued - issued == 1
    assert "401" not in statuses_logged(logged_target, before)
