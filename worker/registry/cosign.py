"""Checking cosign signatures with public keys, before anything is written.

Two layouts carry a keyed signature: cosign's `sha256-<hex>.sig` tag, whose layers are
simple-signing payloads with the base64 signature in the `dev.cosignproject.cosign/signature`
annotation; and Sigstore bundles attached as referrers whose verification material is a
public-key hint (a DSSE envelope around an in-toto statement, or a message signature over the
image manifest's digest). A signature counts only when the payload names the digest."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from worker.errors import ConfigurationError, UnsignedImage
from worker.registry.manifests import Descriptor
from worker.registry.referrers import Attachment
from worker.registry.repository import Repository

SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
BUNDLE_TYPE_PREFIX = "application/vnd.dev.sigstore.bundle"
NOTATION_SIGNATURE = "application/vnd.cncf.notary.signature"
DSSE_PREFIX = b"DSSEv1"
MAX_SIGNATURE_BLOB = 1 << 20  # payloads and bundles are a few KiB; anything this big is not one


class Cover(StrEnum):
    """Which digests of a multi-platform image a signature must cover."""

    INDEX = "index"
    CHILDREN = "children"
    EITHER = "either"


@dataclass(frozen=True)
class PublicKey:
    """A cosign public key (ECDSA P-256 or Ed25519) and the name it is known by (its file)."""

    name: str
    key: ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey

    @classmethod
    def from_pem(cls, name: str, pem: bytes) -> PublicKey:
        """Load a PEM public key; ConfigurationError naming `name` when it is not one we use."""
        try:
            key = serialization.load_pem_public_key(pem)
        except ValueError as exc:
            raise ConfigurationError(f"{name} is not a PEM public key: {exc}") from None
        if isinstance(key, ed25519.Ed25519PublicKey):
            return cls(name, key)
        if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1":
            return cls(name, key)
        raise ConfigurationError(f"{name}: only ECDSA P-256 and Ed25519 keys are supported")

    def verifies(self, signature: bytes, message: bytes) -> bool:
        """True when `signature` over `message` is this key's."""
        try:
            if isinstance(self.key, ed25519.Ed25519PublicKey):
                self.key.verify(signature, message)
            else:
                self.key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return False
        return True

    def verifies_digest(self, signature: bytes, digest: bytes) -> bool:
        """True when `signature` over the message whose SHA-256 is `digest` is this key's
        (ECDSA only: Ed25519 signs messages, not digests)."""
        if isinstance(self.key, ed25519.Ed25519PublicKey):
            return False
        try:
            self.key.verify(signature, digest, ec.ECDSA(Prehashed(hashes.SHA256())))
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class VerifyPolicy:
    """Keys of which one must have signed, and which digests its signature must cover."""

    keys: tuple[PublicKey, ...]
    cover: Cover = Cover.EITHER


@dataclass(frozen=True)
class Verification:
    """One digest verified: by which key and through which layout."""

    digest: str
    key: str
    layout: str

    def as_record(self) -> dict[str, str]:
        """The job's record of it."""
        return {"digest": self.digest, "key": self.key, "layout": self.layout}


def is_signature(attachment: Attachment) -> bool:
    """True for a cosign `.sig` tag, a Sigstore bundle or a Notation signature."""
    kind = attachment.kind
    return kind == "cosign sig" or kind.startswith(BUNDLE_TYPE_PREFIX) or kind == NOTATION_SIGNATURE


def _layers(attachment: Attachment) -> list[Descriptor]:
    return [Descriptor.from_json(layer) for layer in attachment.manifest.body.get("layers") or []]


def _b64(value: Any) -> bytes | None:
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        return None


def _json(data: bytes) -> dict[str, Any]:
    try:
        body = json.loads(data)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _simple_signing(
    source: Repository, attachment: Attachment, keys: Sequence[PublicKey]
) -> list[Verification]:
    """Keys that signed a simple-signing payload naming the subject in a `.sig` tag."""
    found = []
    for layer in _layers(attachment):
        signature = _b64(layer.annotations.get(SIGNATURE_ANNOTATION, ""))
        if not signature:
            continue
        payload = source.read_blob(layer.digest, MAX_SIGNATURE_BLOB)
        critical = _json(payload).get("critical") or {}
        named = (critical.get("image") or {}).get("docker-manifest-digest")
        if named != attachment.subject:
            continue
        found += [
            Verification(attachment.subject, key.name, "cosign .sig tag")
            for key in keys
            if key.verifies(signature, payload)
        ]
    return found


def _pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what a DSSE signature signs."""
    kind = payload_type.encode()
    return b" ".join(
        [DSSE_PREFIX, str(len(kind)).encode(), kind, str(len(payload)).encode(), payload]
    )


def _bundle_keys(bundle: dict[str, Any], subject: str, keys: Sequence[PublicKey]) -> list[str]:
    """Names of the keys that signed `bundle` over a payload naming `subject`."""
    material = bundle.get("verificationMaterial") or {}
    if not (material.get("publicKey") or {}).get("hint"):
        return []  # keyless (a certificate): not checked with keys
    hex_digest = subject.partition(":")[2]
    envelope = bundle.get("dsseEnvelope")
    if isinstance(envelope, dict):
        payload = _b64(envelope.get("payload")) or b""
        statement = _json(payload)
        names = [(s.get("digest") or {}).get("sha256") for s in statement.get("subject") or []]
        if hex_digest not in names:
            return []
        signed = _pae(str(envelope.get("payloadType", "")), payload)
        signatures = [_b64(s.get("sig")) for s in envelope.get("signatures") or []]
        return [k.name for k in keys for sig in signatures if sig and k.verifies(sig, signed)]
    message = bundle.get("messageSignature") or {}
    digest = message.get("messageDigest") or {}
    signature = _b64(message.get("signature"))
    raw_digest = bytes.fromhex(hex_digest)
    if not signature or digest.get("algorithm") != "SHA2_256":
        return []
    if _b64(digest.get("digest")) != raw_digest:
        return []
    return [k.name for k in keys if k.verifies_digest(signature, raw_digest)]


def _bundles(
    source: Repository, attachment: Attachment, keys: Sequence[PublicKey]
) -> list[Verification]:
    found = []
    for layer in _layers(attachment):
        if not layer.media_type.startswith(BUNDLE_TYPE_PREFIX):
            continue
        bundle = _json(source.read_blob(layer.digest, MAX_SIGNATURE_BLOB))
        for name in _bundle_keys(bundle, attachment.subject, keys):
            found.append(Verification(attachment.subject, name, "sigstore bundle"))
    return found


def verifications(
    source: Repository, attachments: Sequence[Attachment], keys: Sequence[PublicKey]
) -> list[Verification]:
    """Every (digest, key) a signature among `attachments` proves, each once."""
    found: dict[tuple[str, str], Verification] = {}
    for attachment in attachments:
        if attachment.kind == "cosign sig":
            proved = _simple_signing(source, attachment, keys)
        elif attachment.kind.startswith(BUNDLE_TYPE_PREFIX):
            proved = _bundles(source, attachment, keys)
        else:
            continue
        for verification in proved:
            found.setdefault((verification.digest, verification.key), verification)
    return list(found.values())


def unsigned(
    index: str | None, children: Sequence[str], signed: set[str], cover: Cover
) -> list[str]:
    """The digests that lack a signature under `cover` (empty: the image is covered).
    `index` is None for a single-platform image, whose own digest is then `children[0]`."""
    if index is None:
        return [d for d in children if d not in signed]
    missing_children = [d for d in children if d not in signed]
    if cover is Cover.INDEX or (cover is Cover.EITHER and missing_children):
        return [] if index in signed else [index]
    return missing_children


def check_signed(
    source: Repository,
    index: str | None,
    children: Sequence[str],
    attachments: Sequence[Attachment],
    policy: VerifyPolicy,
) -> list[Verification]:
    """Verify the image against `policy`; the verifications, or a rejection naming the digest
    without a signature by the listed keys."""
    found = verifications(source, attachments, policy.keys)
    missing = unsigned(index, children, {v.digest for v in found}, policy.cover)
    if missing:
        names = " or ".join(key.name for key in policy.keys)
        raise UnsignedImage(f"no signature by {names} on {missing[0]}")
    return found
