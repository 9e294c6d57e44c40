"""What is attached to an image in a repository: OCI 1.1 referrers (the referrers API, or the
`sha256-<hex>` fallback tag where the API is not served) and cosign's `.sig`/`.att`/`.sbom`
tags, followed to a depth of three (a signature on an SBOM on an image)."""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from worker.registry.manifests import Descriptor, Manifest
from worker.registry.repository import Repository

MAX_DEPTH = 3
LOOKUPS = 8  # registry questions asked at once while discovering
COSIGN_KINDS = ("sig", "att", "sbom")
StopCheck = Callable[[], None]
T = TypeVar("T")


def fallback_tag(digest: str) -> str:
    """The tag under which a registry without the referrers API keeps `digest`'s referrers
    (cosign's tags add `.sig`, `.att` or `.sbom` to it)."""
    algorithm, _, encoded = digest.partition(":")
    return f"{algorithm}-{encoded}"


def artifact_type(manifest: Manifest) -> str:
    """A manifest's artifactType, else its config's media type (as the referrers API lists)."""
    declared = manifest.body.get("artifactType")
    if declared:
        return str(declared)
    config = manifest.body.get("config") or {}
    return str(config.get("mediaType") or "")


def subject_of(manifest: Manifest) -> str | None:
    """The digest a manifest's `subject` names, if it has one."""
    subject = manifest.body.get("subject")
    return str(subject.get("digest")) if isinstance(subject, dict) else None


@dataclass(frozen=True)
class Attachment:
    """One manifest attached to `subject`: a referrer (`tag` None: written by digest and
    listed for its subject) or a cosign tag (`tag` set: written under that tag)."""

    manifest: Manifest
    subject: str
    kind: str
    tag: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        """The attached manifest's digest."""
        return self.manifest.digest

    def descriptor(self) -> dict[str, Any]:
        """The entry for a referrers index: media type, digest, size, artifactType and the
        manifest's annotations."""
        entry: dict[str, Any] = {
            "mediaType": self.manifest.media_type,
            "digest": self.digest,
            "size": len(self.manifest.raw),
            "artifactType": self.kind,
        }
        annotations = {**self.annotations, **(self.manifest.body.get("annotations") or {})}
        if annotations:
            entry["annotations"] = annotations
        return entry

    def as_record(self) -> dict[str, str]:
        """What a job says it carried: digest, kind (artifactType or cosign tag kind), subject."""
        return {"digest": self.digest, "kind": self.kind, "subject": self.subject}


def fallback_referrers(repository: Repository, digest: str) -> list[Descriptor]:
    """What the fallback tag `sha256-<hex>` lists; a tag that is not an index, or that is the
    image itself (GitLab answers so), lists none."""
    fallback = repository.find_manifest(fallback_tag(digest))
    if fallback is None or not fallback.is_index or fallback.digest == digest:
        return []
    return fallback.children


def _referrers(
    repository: Repository, digest: str, fallback: Future[list[Descriptor]]
) -> list[Attachment]:
    """The referrers of `digest`: the referrers API's list, else the fallback tag's (asked at
    the same time, so a registry without the API costs no extra round trip)."""
    listed = repository.referrers(digest)
    found = []
    for entry in fallback.result() if listed is None else listed:
        manifest = repository.manifest(entry.digest)
        if subject_of(manifest) != digest:
            continue  # a stale or foreign entry in a fallback index
        kind = entry.artifact_type or artifact_type(manifest)
        found.append(Attachment(manifest, digest, kind, annotations=dict(entry.annotations)))
    return found


def _cosign_tag(repository: Repository, digest: str, kind: str) -> list[Attachment]:
    tag = f"{fallback_tag(digest)}.{kind}"
    manifest = repository.find_manifest(tag)
    if manifest is None or manifest.digest == digest:
        return []
    return [Attachment(manifest, digest, f"cosign {kind}", tag=tag)]


def _submit(pool: ThreadPoolExecutor, call: Callable[[], T]) -> Future[T]:
    """Run `call` in the pool, in a copy of this context (the job's stop check)."""
    return pool.submit(contextvars.copy_context().run, call)


def _ask(pool: ThreadPoolExecutor, repository: Repository, level: list[str]) -> list[Attachment]:
    """Everything attached to the digests of one level. Fallback tags are asked first: a
    referrers lookup waiting for one then never holds the pool's last thread."""
    fallbacks = [_submit(pool, partial(fallback_referrers, repository, d)) for d in level]
    asked = [
        _submit(pool, partial(_referrers, repository, digest, fallback))
        for digest, fallback in zip(level, fallbacks, strict=True)
    ] + [
        _submit(pool, partial(_cosign_tag, repository, digest, kind))
        for digest in level
        for kind in COSIGN_KINDS
    ]
    return [attachment for answer in asked for attachment in answer.result()]


def discover(
    repository: Repository,
    digests: Sequence[str],
    should_stop: StopCheck = lambda: None,
    depth: int = MAX_DEPTH,
) -> list[Attachment]:
    """Everything attached to `digests` in `repository`, breadth first, so every attachment
    comes after its subject; each manifest once, to `depth` levels."""
    found: list[Attachment] = []
    seen = set(digests)
    level = list(dict.fromkeys(digests))
    # Mostly 404s: asked all at once, a level costs about one round trip, not one per question.
    with ThreadPoolExecutor(LOOKUPS, thread_name_prefix="referrers") as pool:
        for _ in range(depth):
            should_stop()
            level_found, level = _ask(pool, repository, level), []
            for attachment in level_found:
                if attachment.digest not in seen:
                    seen.add(attachment.digest)
                    found.append(attachment)
                    level.append(attachment.digest)
    return found
