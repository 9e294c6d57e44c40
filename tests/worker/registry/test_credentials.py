"""Credentials the way registries want them, against real services: a credential helper (a real
executable speaking the protocol, its secret rotating), a Docker config's credHelpers,
credsStore and identitytoken, and a Basic-only registry."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from deploy.demo_stack.token_server import SERVICE, TokenIssuer, TokenServer
from tests.conftest import BASIC_PASSWORD, BASIC_USER, IDENTITY_TOKEN, SOURCE_TOKEN
from tests.support.helper import HELPER, USERNAME, HelperAccount, HelperState
from tests.support.images import ImageBuilder
from tests.support.proxy import RegistryProxy
from tests.support.services import Registry
from tests.support.vendor import served_digest
from worker.engines import build_engine
from worker.errors import AuthError
from worker.redaction import REDACTED, redact
from worker.reference import Reference, parse_reference
from worker.registry.copier import CopyEngine
from worker.registry.credentials import (
    Credentials,
    HelperCredentials,
    StaticCredentials,
    docker_config_source,
)
from worker.registry.helpers import run_helper
from worker.settings import Settings

KiB = 1024


@pytest.fixture
def on_path(helper_state: HelperState) -> Iterator[HelperState]:
    """The test helper on this process's PATH (as the worker has it), answering again."""
    saved = {k: os.environ.get(k) for k in ("PATH", "PGTEST_HELPER_STATE")}
    os.environ.update(helper_state.env())
    helper_state.fail_with(None)
    yield helper_state
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def test_helper_protocol(on_path: HelperState) -> None:
    username, secret = run_helper(HELPER, "registry.example") or ("", "")
    assert username == USERNAME and secret == on_path.secrets[-1]
    assert on_path.read()["asked"][-1] == "registry.example"
    assert redact(f"x {secret} y") == f"x {REDACTED} y"
    on_path.fail_with(f"keychain locked (last secret {secret})")
    with pytest.raises(AuthError) as caught:
        run_helper(HELPER, "registry.example")
    assert "docker-credential-pgtest failed for registry.example: keychain locked" in str(
        caught.value
    )
    assert secret not in caught.value.detail
    with pytest.raises(AuthError, match=r"docker-credential-missing .* not installed"):
        run_helper("missing", "registry.example")


def test_helper_without_credentials_means_anonymous(tmp_path: Path) -> None:
    state = HelperState(tmp_path / "state.json", servers=["only.example"])
    saved = dict(os.environ)
    os.environ.update(state.env())
    try:
        assert run_helper(HELPER, "other.example") is None
        assert HelperCredentials(HELPER, "other.example", 60).current() is None
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_helper_credentials_are_cached_and_renewed_once_refused(on_path: HelperState) -> None:
    source = HelperCredentials(HELPER, "registry.example", ttl=3600)
    first = source.current()
    assert first is not None and source.current() == first
    calls = on_path.calls
    assert source.renew(first)
    second = source.current()
    assert second is not None and second != first and on_path.calls == calls + 1
    # A refusal of credentials another thread already replaced keeps the new ones.
    assert source.renew(first) and source.current() == second
    assert HelperCredentials(HELPER, "registry.example", ttl=0).current() != second


def test_docker_config_kinds(tmp_path: Path, on_path: HelperState) -> None:
    auth = base64.b64encode(b"inline-user:inline-pass").decode()
    (tmp_path / "config.json").write_text(
        json.dumps(
            {
                "auths": {
                    "inline.example": {"auth": auth},
                    "https://identity.example": {"identitytoken": "refresh-me-123"},
                },
                "credHelpers": {"helped.example": HELPER},
            }
        )
    )
    inline = docker_config_source(tmp_path, "inline.example")
    assert isinstance(inline, StaticCredentials)
    assert inline.current() == Credentials("inline-user", inline.current().password)  # type: ignore[union-attr]
    identity = docker_config_source(tmp_path, "identity.example")
    assert identity is not None
    token = identity.current()
    assert token is not None and token.identity_token and token.username == "<token>"
    helped = docker_config_source(tmp_path, "helped.example")
    assert isinstance(helped, HelperCredentials) and helped.helper == HELPER
    assert docker_config_source(tmp_path, "other.example") is None
    (tmp_path / "config.json").write_text(json.dumps({"credsStore": HELPER, "auths": {}}))
    stored = docker_config_source(tmp_path, "other.example")
    assert isinstance(stored, HelperCredentials) and stored.server_url == "other.example"
    hub = docker_config_source(tmp_path, "docker.io")
    assert isinstance(hub, HelperCredentials)
    assert hub.server_url == "https://index.docker.io/v1/"


def _targets_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "targets.yaml"
    path.write_text(text)
    return path


@pytest.fixture
def target_engine(
    settings: Settings, tmp_path: Path
) -> Iterator[Callable[[str, set[str]], CopyEngine]]:
    """Engines on a targets file (the hosts given are plain HTTP)."""
    engines: list[CopyEngine] = []

    def make(text: str, hosts: set[str]) -> CopyEngine:
        engine = build_engine(
            Settings(
                **{
                    **settings.__dict__,
                    "targets_file": _targets_file(tmp_path, text),
                    "insecure_registries": settings.insecure_registries | hosts,
                    "credential_helper_ttl": 3600.0,
                    "docker_config": tmp_path,
                }
            )
        )
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.close()


def test_a_helper_target_refreshes_when_the_secret_rotated(
    target_engine: Callable[[str, set[str]], CopyEngine],
    on_path: HelperState,
    helper_account: HelperAccount,
    helper_registry: Registry,
    source_images: ImageBuilder,
    source_registry: Registry,
    unique: str,
) -> None:
    text = f"- {{name: keys, registry: '{helper_registry.host}', credential_helper: {HELPER}}}"
    engine = target_engine(text, {helper_registry.host})
    image = source_images.image(f"acme/{unique}", "1", [20 * KiB])
    source = parse_reference(f"{source_registry.host}/acme/{unique}:1")
    first = Reference(helper_registry.host, f"acme/{unique}-a", tag="1")
    engine.copy(source, [first])
    calls = on_path.calls
    on_path.get(helper_registry.host)  # rotates: the engine's cached secret is now refused
    refused = helper_account.refused
    second = Reference(helper_registry.host, f"acme/{unique}-b", tag="1")
    assert engine.copy(source, [second]).served == {str(second): image.digest}
    assert helper_account.refused == refused + 1  # the cached secret was tried and refused
    assert on_path.calls == calls + 2  # ours, then the engine asking again once
    assert served_digest(helper_registry.url, f"acme/{unique}-b", "1") == image.digest


def test_identity_token_is_exchanged_with_the_refresh_token_grant(
    target_engine: Callable[[str, set[str]], CopyEngine],
    tmp_path: Path,
    private_source: Registry,
    token_server: TokenServer,
    token_issuer: TokenIssuer,
    vendor_registry: Registry,
    unique: str,
) -> None:
    seed = httpx.get(
        token_server.realm,
        auth=("seeder", SOURCE_TOKEN),
        params={"service": SERVICE, "scope": f"repository:acme/{unique}:pull,push"},
    ).json()["token"]
    seeder = ImageBuilder(private_source.url, headers={"Authorization": f"Bearer {seed}"})
    image = seeder.image(f"acme/{unique}", "1", [KiB])
    seeder.close()
    (tmp_path / "config.json").write_text(
        json.dumps({"auths": {private_source.host: {"identitytoken": IDENTITY_TOKEN}}})
    )
    engine = target_engine("[]", {private_source.host})
    refreshed = token_issuer.refreshed
    dest = Reference(vendor_registry.host, f"myapp/{unique}", tag="1")
    result = engine.copy(parse_reference(f"{private_source.host}/acme/{unique}:1"), [dest])
    assert result.digest == image.digest and token_issuer.refreshed > refreshed


def test_basic_only_registry_gets_basic_on_every_request(
    target_engine: Callable[[str, set[str]], CopyEngine],
    tmp_path: Path,
    basic_registry: Registry,
    source_images: ImageBuilder,
    source_registry: Registry,
    unique: str,
) -> None:
    proxy = RegistryProxy(basic_registry.port)
    try:
        (tmp_path / "basic-password").write_text(BASIC_PASSWORD + "\n")
        text = (
            f"- {{name: harbor, registry: '{proxy.host}', username: {BASIC_USER}, "
            "password_file: basic-password}"
        )
        engine = target_engine(text, {proxy.host})
        image = source_images.image(f"acme/{unique}", "1", [30 * KiB, 10 * KiB])
        dest = Reference(proxy.host, f"pushgate/{unique}", tag="1")
        result = engine.copy(parse_reference(f"{source_registry.host}/acme/{unique}:1"), [dest])
        assert result.digest == image.digest
        # Only the first requests, racing before the scheme is known, meet a 401 (no token
        # server exists); from then on every request carries Basic.
        assert 1 <= [status for _, _, status in proxy.stats.answered].count(401) <= 3
        seen = len(proxy.stats.answered)
        again = Reference(proxy.host, f"pushgate/{unique}-again", tag="1")
        engine.copy(parse_reference(f"{source_registry.host}/acme/{unique}:1"), [again])
        later = [status for _, _, status in proxy.stats.answered[seen:]]
        assert len(later) > 5 and 401 not in later
        check = httpx.head(
            f"{basic_registry.url}/v2/pushgate/{unique}/manifests/1",
            auth=(BASIC_USER, BASIC_PASSWORD),
            headers={"Accept": image.media_type},
        )
        assert check.headers["Docker-Content-Digest"] == image.digest
    finally:
        proxy.stop()
