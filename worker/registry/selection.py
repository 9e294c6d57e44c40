"""What of an index to push: attestation policy and platforms (pure functions), and the one
reader of an index's children that copies and plans share."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from worker.errors import NotFoundError, RejectedError
from worker.registry.manifests import (
    ATTESTATION_ARTIFACT,
    ATTESTATION_REFERENCE_TYPE,
    IN_TOTO,
    Descriptor,
    Manifest,
    sha256_digest,
)

if TYPE_CHECKING:  # repository.py does not need this module; only the reader below uses it
    from worker.registry.repository import Repository

ATTESTATION_POLICIES = ("strip", "keep", "fail")
REFERENCE_TYPE = "vnd.docker.reference.type"
REFERENCE_DIGEST = "vnd.docker.reference.digest"


@dataclass
class IndexSelection:
    """What to push: the top manifest, child manifests by digest, and what was removed."""

    manifest: Manifest
    images: list[Manifest]
    children: list[Manifest] = field(default_factory=list)
    removed: list[dict[str, str]] = field(default_factory=list)
    kept_attestations: list[str] = field(default_factory=list)


def is_attestation(descriptor: Descriptor | None, manifest: Manifest | None) -> bool:
    """True when a child (by its descriptor and/or manifest) is a BuildKit attestation."""
    if descriptor is not None:
        if descriptor.annotations.get(REFERENCE_TYPE) == ATTESTATION_REFERENCE_TYPE:
            return True
        if descriptor.artifact_type == ATTESTATION_ARTIFACT:
            return True
    if manifest is None:
        return False
    body = manifest.body
    if body.get("artifactType") == ATTESTATION_ARTIFACT:
        return True
    config = body.get("config") or {}
    if config.get("mediaType") == ATTESTATION_ARTIFACT:
        return True
    layers = body.get("layers") or []
    unknown = descriptor is not None and descriptor.platform_name == "unknown/unknown"
    return bool(layers) and unknown and all(layer.get("mediaType") == IN_TOTO for layer in layers)


def platform_matches(wanted: str, descriptor: Descriptor) -> bool:
    """True when the child's platform is `wanted` (os/arch, or os/arch/variant)."""
    have = descriptor.platform_name.split("/")
    want = wanted.split("/")
    if len(want) == 3 and len(have) == 2 and want[1] == "arm64" and want[2] == "v8":
        return want[:2] == have
    return have[: len(want)] == want if len(want) < 3 else have == want


def rewrite_index(top: Manifest, kept: Sequence[Descriptor]) -> Manifest:
    """The index with only `kept` children; every other field and the media type unchanged."""
    keep = {d.digest for d in kept}
    body = dict(top.body)
    body["manifests"] = [m for m in top.body.get("manifests", []) if m.get("digest") in keep]
    raw = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    return Manifest(raw=raw, media_type=top.media_type, digest=sha256_digest(raw), body=body)


def select_children(
    top: Manifest, children: Sequence[Manifest], attestations: str, platforms: Sequence[str]
) -> IndexSelection:
    """Apply the attestation policy and platform filter to `top` and its fetched children."""
    if attestations not in ATTESTATION_POLICIES:
        raise ValueError(f"attestations must be one of {ATTESTATION_POLICIES}")
    if not top.is_index:
        return _select_image(top, platforms)
    for child in children:
        if child.is_index:
            raise RejectedError(f"nested index {child.digest} is not supported")
    pairs = list(zip(top.children, children, strict=True))
    attested = [(d, m) for d, m in pairs if is_attestation(d, m)]
    images = [(d, m) for d, m in pairs if not is_attestation(d, m)]
    if attested and attestations == "fail":
        names = ", ".join(d.digest[:19] for d, _ in attested)
        raise RejectedError(
            f"the source carries {len(attested)} attestation manifest(s) ({names}) and the "
            'request says attestations: "fail"; use "strip" to push the image without them'
        )
    removed: list[dict[str, str]] = []
    if platforms:
        images, removed = _select_platforms(images, platforms)
    chosen_digests = {d.digest for d, _ in images}
    kept_attestations = []
    for d, m in attested:
        subject = d.annotations.get(REFERENCE_DIGEST) or (m.body.get("subject") or {}).get("digest")
        if attestations == "keep" and (subject in chosen_digests or not platforms):
            kept_attestations.append((d, m))
        else:
            reason = (
                "attestation stripped"
                if attestations == "strip"
                else "attestation of an unselected platform"
            )
            removed.append({"digest": d.digest, "reason": reason})
    kept_digests = chosen_digests | {d.digest for d, _ in kept_attestations}
    kept = [d for d, _ in pairs if d.digest in kept_digests]
    manifest = rewrite_index(top, kept) if removed else top
    kept_manifests = [m for d, m in pairs if d.digest in kept_digests]
    return IndexSelection(
        manifest=manifest,
        images=kept_manifests,
        children=kept_manifests,
        removed=removed,
        kept_attestations=[d.digest for d, _ in kept_attestations],
    )


def _select_image(top: Manifest, platforms: Sequence[str]) -> IndexSelection:
    """The selection of a single image manifest: all of it, when it is an image and no
    platforms were asked for."""
    if is_attestation(None, top):
        raise RejectedError(
            "the source is an attestation manifest, not an image: name the image or its index"
        )
    if platforms:
        raise NotFoundError(
            "platforms were requested but the source is a single-platform image manifest"
        )
    return IndexSelection(manifest=top, images=[top])


_Child = tuple[Descriptor, Manifest]


def _select_platforms(
    images: list[_Child], platforms: Sequence[str]
) -> tuple[list[_Child], list[dict[str, str]]]:
    """The images of the wanted `platforms`, and the removal record of the others; every
    wanted platform must be there."""
    available = sorted({d.platform_name for d, _ in images if d.platform_name})
    missing = [p for p in platforms if not any(platform_matches(p, d) for d, _ in images)]
    if missing:
        raise NotFoundError(
            f"platform(s) {', '.join(missing)} not in the source; it has "
            f"{', '.join(available) or 'no platforms'}"
        )
    chosen = [(d, m) for d, m in images if any(platform_matches(p, d) for p in platforms)]
    chosen_set = {d.digest for d, _ in chosen}
    removed = [
        {"digest": d.digest, "reason": f"platform {d.platform_name} not selected"}
        for d, _ in images
        if d.digest not in chosen_set
    ]
    return chosen, removed


def explain_refusal(refused: RejectedError, selection: IndexSelection) -> RejectedError:
    """A registry's refusal, explained when kept attestations are the likely cause."""
    attested = selection.kept_attestations
    if not attested:
        return refused
    names = ", ".join(d[:19] for d in attested)
    return RejectedError(
        f"the registry refused the image, which keeps {len(attested)} attestation manifest(s) "
        f"({names}): {refused.detail}. Many registries, the vendor's among them, refuse "
        'provenance attestations: push with attestations: "strip" to leave them out'
    )


def read_selection(
    src: Repository,
    top: Manifest,
    attestations: str,
    platforms: Sequence[str],
    should_stop: Callable[[], None],
) -> IndexSelection:
    """What of `top` (read from `src`) a copy pushes: its children read one by one, then
    selected."""
    children: list[Manifest] = []
    for child in top.children if top.is_index else []:
        should_stop()
        children.append(src.manifest(child.digest))
    return select_children(top, children, attestations, platforms)
