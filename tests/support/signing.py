"""Signed test images, laid out as cosign lays them: simple-signing `.sig` tags, Sigstore bundles
as referrers, and an SPDX SBOM attached through the `sha256-<hex>` fallback index; keys made
here with `cryptography`."""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from tests.support.images import (
    OCI_CONFIG,
    OCI_EMPTY,
    OCI_INDEX,
    OCI_MANIFEST,
    ImageBuilder,
    Pushed,
    descriptor,
    digest_of,
)

SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
SPDX = "application/spdx+json"
BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json"
IN_TOTO_PAYLOAD = "application/vnd.in-toto+json"


@dataclass
class SigningKey:
    """A private key of the test and its public PEM written to `public_file`."""

    private: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
    public_file: Path

    @classmethod
    def make(cls, folder: Path, name: str, kind: str = "ecdsa") -> SigningKey:
        """A new ECDSA P-256 (`kind` "ecdsa") or Ed25519 key; its public half in folder/name."""
        private = (
            ec.generate_private_key(ec.SECP256R1())
            if kind == "ecdsa"
            else ed25519.Ed25519PrivateKey.generate()
        )
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        path.write_bytes(
            private.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        return cls(private, path)

    @property
    def public_pem(self) -> bytes:
        """The public key as PEM."""
        return self.public_file.read_bytes()

    def sign(self, message: bytes) -> bytes:
        """The key's signature over `message`."""
        if isinstance(self.private, ed25519.Ed25519PrivateKey):
            return self.private.sign(message)
        return self.private.sign(message, ec.ECDSA(hashes.SHA256()))


def fallback_tag(digest: str) -> str:
    """sha256:<hex> -> sha256-<hex>."""
    return digest.replace(":", "-", 1)


def _empty_config(builder: ImageBuilder, repository: str) -> dict[str, Any]:
    return {"mediaType": OCI_EMPTY, "digest": builder.push_blob(repository, b"{}"), "size": 2}


def sign_with_tag(
    builder: ImageBuilder,
    repository: str,
    subject: str,
    key: SigningKey,
    *,
    names: str | None = None,
) -> Pushed:
    """cosign sign --key: a simple-signing payload naming `names` (default: the subject) and
    its signature, as the one layer of the subject's `.sig` tag."""
    payload = json.dumps(
        {
            "critical": {
                "identity": {"docker-reference": repository},
                "image": {"docker-manifest-digest": names or subject},
                "type": "cosign container image signature",
            },
            "optional": None,
        }
    ).encode()
    layer = {
        "mediaType": SIMPLE_SIGNING,
        "digest": builder.push_blob(repository, payload),
        "size": len(payload),
        "annotations": {SIGNATURE_ANNOTATION: base64.b64encode(key.sign(payload)).decode()},
    }
    config = json.dumps(
        {"architecture": "", "os": "", "rootfs": {"type": "layers", "diff_ids": [layer["digest"]]}}
    ).encode()
    body = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": OCI_CONFIG,
            "digest": builder.push_blob(repository, config),
            "size": len(config),
        },
        "layers": [layer],
    }
    return builder.push_manifest(repository, fallback_tag(subject) + ".sig", body, OCI_MANIFEST)


def _subject(pushed: Pushed) -> dict[str, Any]:
    return {"mediaType": pushed.media_type, "digest": pushed.digest, "size": len(pushed.raw)}


def add_to_source_fallback(builder: ImageBuilder, repository: str, referrer: Pushed) -> None:
    """List `referrer` in its subject's fallback index in the source, as oras and cosign do on
    a registry without the referrers API."""
    body = json.loads(referrer.raw)
    tag = fallback_tag(body["subject"]["digest"])
    current = builder.http.get(f"/v2/{repository}/manifests/{tag}", headers={"Accept": OCI_INDEX})
    listed = current.json()["manifests"] if current.status_code == 200 else []
    entry = descriptor(referrer, artifactType=body["artifactType"])
    if body.get("annotations"):
        entry["annotations"] = body["annotations"]
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [*listed, entry]}
    builder.push_manifest(repository, tag, index, OCI_INDEX)


def attach_sbom(builder: ImageBuilder, repository: str, subject: Pushed) -> Pushed:
    """An SPDX SBOM as an OCI 1.1 referrer of `subject`, listed in the fallback index."""
    document = json.dumps(
        {
            "spdxVersion": "SPDX-2.3",
            "SPDXID": "SPDXRef-DOCUMENT",
            "name": subject.digest,
            "dataLicense": "CC0-1.0",
            "documentNamespace": f"https://pushgate.test/spdx/{os.urandom(6).hex()}",
            "packages": [{"name": "pushgate-test", "SPDXID": "SPDXRef-Package"}],
        }
    ).encode()
    body = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": SPDX,
        "config": _empty_config(builder, repository),
        "layers": [
            {
                "mediaType": SPDX,
                "digest": builder.push_blob(repository, document),
                "size": len(document),
            }
        ],
        "subject": _subject(subject),
        "annotations": {"org.opencontainers.image.created": "2026-12-01T00:00:00Z"},
    }
    sbom = builder.push_manifest(repository, "", body, OCI_MANIFEST)
    add_to_source_fallback(builder, repository, sbom)
    return sbom


def attach_bundle(
    builder: ImageBuilder, repository: str, subject: Pushed, key: SigningKey
) -> Pushed:
    """A Sigstore bundle (DSSE envelope, in-toto statement naming the subject, public-key
    hint) as a referrer of `subject`, listed in the fallback index."""
    statement = json.dumps(
        {
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": repository, "digest": {"sha256": subject.digest[7:]}}],
            "predicateType": "https://sigstore.dev/cosign/sign/v1",
            "predicate": {},
        }
    ).encode()
    kind = IN_TOTO_PAYLOAD.encode()
    signed = b" ".join(
        [b"DSSEv1", str(len(kind)).encode(), kind, str(len(statement)).encode(), statement]
    )
    bundle = json.dumps(
        {
            "mediaType": BUNDLE,
            "verificationMaterial": {"publicKey": {"hint": digest_of(key.public_pem)}},
            "dsseEnvelope": {
                "payload": base64.b64encode(statement).decode(),
                "payloadType": IN_TOTO_PAYLOAD,
                "signatures": [{"sig": base64.b64encode(key.sign(signed)).decode()}],
            },
        }
    ).encode()
    body = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": BUNDLE,
        "config": _empty_config(builder, repository),
        "layers": [
            {
                "mediaType": BUNDLE,
                "digest": builder.push_blob(repository, bundle),
                "size": len(bundle),
            }
        ],
        "subject": _subject(subject),
    }
    pushed = builder.push_manifest(repository, "", body, OCI_MANIFEST)
    add_to_source_fallback(builder, repository, pushed)
    return pushed


@dataclass
class SignedImage:
    """An image with a `.sig` tag, an SBOM referrer and a signature on the SBOM."""

    image: Pushed
    signature: Pushed
    sbom: Pushed
    sbom_signature: Pushed


def signed_image(
    builder: ImageBuilder, repository: str, tag: str, key: SigningKey, image: Pushed | None = None
) -> SignedImage:
    """Sign `image` (default: a new single-platform one under `tag`), attach an SBOM to it and
    sign the SBOM."""
    image = image or builder.image(repository, tag, [2048, 1024])
    signature = sign_with_tag(builder, repository, image.digest, key)
    sbom = attach_sbom(builder, repository, image)
    sbom_signature = sign_with_tag(builder, repository, sbom.digest, key)
    return SignedImage(image, signature, sbom, sbom_signature)
