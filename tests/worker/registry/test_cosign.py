"""Cosign signatures checked with public keys, on images in a real source registry: `.sig` tags
(ECDSA P-256, Ed25519) and Sigstore bundles, over single images and each cover of an index."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.images import ImageBuilder, Pushed, multi_platform
from tests.support.services import Registry
from tests.support.signing import SigningKey, attach_bundle, sign_with_tag
from worker.errors import ConfigurationError, RejectedError
from worker.registry.client import RegistryClient
from worker.registry.cosign import Cover, PublicKey, VerifyPolicy, check_signed
from worker.registry.referrers import discover
from worker.registry.repository import Repository


@pytest.fixture
def source(source_registry: Registry) -> Iterator[RegistryClient]:
    """A client of the source registry."""
    client = RegistryClient(source_registry.host, insecure=True)
    yield client
    client.close()


def _policy(*keys: SigningKey, cover: Cover = Cover.EITHER) -> VerifyPolicy:
    loaded = tuple(PublicKey.from_pem(k.public_file.name, k.public_pem) for k in keys)
    return VerifyPolicy(loaded, cover)


def _check(
    client: RegistryClient, repository: str, image: Pushed, policy: VerifyPolicy
) -> list[tuple[str, str, str]]:
    src = Repository(client, repository)
    found = discover(src, [image.digest])
    done = check_signed(src, None, [image.digest], found, policy)
    return [(v.digest, v.key, v.layout) for v in done]


@pytest.mark.parametrize("kind", ["ecdsa", "ed25519"])
def test_sig_tag_by_listed_key_verifies(
    source_images: ImageBuilder, source: RegistryClient, tmp_path: Path, unique: str, kind: str
) -> None:
    key = SigningKey.make(tmp_path, "release.pub", kind)
    image = source_images.image(f"acme/{unique}", "1", [512])
    sign_with_tag(source_images, f"acme/{unique}", image.digest, key)
    assert _check(source, f"acme/{unique}", image, _policy(key)) == [
        (image.digest, "release.pub", "cosign .sig tag")
    ]


def test_bundle_referrer_by_listed_key_verifies(
    source_images: ImageBuilder, source: RegistryClient, tmp_path: Path, unique: str
) -> None:
    key = SigningKey.make(tmp_path, "release.pub")
    image = source_images.image(f"acme/{unique}", "1", [512])
    attach_bundle(source_images, f"acme/{unique}", image, key)
    assert _check(source, f"acme/{unique}", image, _policy(key)) == [
        (image.digest, "release.pub", "sigstore bundle")
    ]


@pytest.mark.parametrize("case", ["unsigned", "other key", "other digest", "bundle other key"])
def test_without_a_valid_signature_is_rejected_naming_key_and_digest(
    source_images: ImageBuilder, source: RegistryClient, tmp_path: Path, unique: str, case: str
) -> None:
    key = SigningKey.make(tmp_path, "release.pub")
    other = SigningKey.make(tmp_path, "someone-else.pub")
    image = source_images.image(f"acme/{unique}", "1", [512])
    decoy = source_images.image(f"acme/{unique}", "2", [512])
    if case == "other key":
        sign_with_tag(source_images, f"acme/{unique}", image.digest, other)
    elif case == "other digest":
        sign_with_tag(source_images, f"acme/{unique}", image.digest, key, names=decoy.digest)
    elif case == "bundle other key":
        attach_bundle(source_images, f"acme/{unique}", image, other)
    with pytest.raises(RejectedError) as refused:
        _check(source, f"acme/{unique}", image, _policy(key))
    assert refused.value.detail == f"no signature by release.pub on {image.digest}"
    assert refused.value.type == "rejected"


@pytest.mark.parametrize(
    ("signed", "cover", "missing"),
    [
        ("children", Cover.INDEX, "index"),
        ("children", Cover.CHILDREN, None),
        ("children", Cover.EITHER, None),
        ("index", Cover.CHILDREN, "child"),
        ("index", Cover.EITHER, None),
        ("one child", Cover.EITHER, "index"),
    ],
)
def test_cover_of_a_multi_platform_image(
    source_images: ImageBuilder,
    source: RegistryClient,
    tmp_path: Path,
    unique: str,
    signed: str,
    cover: Cover,
    missing: str | None,
) -> None:
    key = SigningKey.make(tmp_path, "release.pub", "ed25519")
    index, children = multi_platform(source_images, f"acme/{unique}", "1", [256])
    targets = {"children": children, "index": [index], "one child": children[:1]}[signed]
    for pushed in targets:
        sign_with_tag(source_images, f"acme/{unique}", pushed.digest, key)
    src = Repository(source, f"acme/{unique}")
    digests = [c.digest for c in children]
    found = discover(src, [index.digest, *digests])
    if missing is None:
        done = check_signed(src, index.digest, digests, found, _policy(key, cover=cover))
        assert {v.digest for v in done} == {p.digest for p in targets}
        return
    with pytest.raises(RejectedError) as refused:
        check_signed(src, index.digest, digests, found, _policy(key, cover=cover))
    lacking = index.digest if missing == "index" else children[0].digest
    assert refused.value.detail == f"no signature by release.pub on {lacking}"


def test_a_key_that_cosign_does_not_use_is_a_configuration_error() -> None:
    pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(ConfigurationError, match=r"rsa\.pub: only ECDSA P-256 and Ed25519"):
        PublicKey.from_pem("rsa.pub", pem)
    with pytest.raises(ConfigurationError, match=r"junk\.pub is not a PEM public key"):
        PublicKey.from_pem("junk.pub", b"not a key")
