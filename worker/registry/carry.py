"""Writing what is attached to an image to a destination, after the image: the blobs, the manifests
byte for byte, and, where the destination keeps no referrers list of its own (it answers a manifest
PUT carrying `subject` without `OCI-Subject`), the fallback index `sha256-<hex>`."""

from __future__ import annotations

import contextvars
import json
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from functools import partial
from typing import Any

from worker.registry.blobs import BlobRoute, stream_blob
from worker.registry.manifests import OCI_INDEX, Descriptor, Manifest, sha256_digest
from worker.registry.referrers import Attachment, fallback_tag
from worker.registry.repository import Mounted, Repository

StopCheck = Callable[[], None]
BLOBS_AT_ONCE = 8
# A lock on one tag of one repository, across every worker that may write it: the engine asks
# for it by "registry/repository:tag"; the job side hands out one that holds across processes.
TagLocker = Callable[[str], AbstractContextManager[object]]


class LocalTagLocks:
    """Tag locks within one process: the default when nothing shares them across workers."""

    def __init__(self) -> None:
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def __call__(self, key: str) -> AbstractContextManager[object]:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())


def _copy_blob(route: BlobRoute, blob: Descriptor, should_stop: StopCheck) -> None:
    destination = route.destination
    if destination.has_blob(blob.digest):
        return
    holders = [route.source.name] if route.same_host else []
    opened = destination.mount_or_start(blob.digest, holders)
    if not isinstance(opened, Mounted):
        stream_blob(route, blob, opened, lambda _: None, should_stop)


def _write_manifest(
    route: BlobRoute, manifest: Manifest, reference: str, should_stop: StopCheck
) -> str | None:
    """Copy the manifest's blobs (an index's children first), then PUT its exact bytes;
    returns the OCI-Subject the destination answered with."""
    for child in manifest.children:
        should_stop()
        if route.destination.served_digest(child.digest) != child.digest:
            child_manifest = route.source.manifest(child.digest)
            _copy_blobs(route, child_manifest.blobs, should_stop)
            _write_manifest(route, child_manifest, child.digest, should_stop)
    return route.destination.put_manifest(reference, manifest).subject


def _copy_blobs(route: BlobRoute, blobs: Sequence[Descriptor], should_stop: StopCheck) -> None:
    """Copy small blobs (signatures, SBOMs, empty configs) several at once."""
    unique = list({blob.digest: blob for blob in blobs}.values())
    if not unique:
        return
    with ThreadPoolExecutor(min(BLOBS_AT_ONCE, len(unique)), "attached") as pool:
        copies = [
            pool.submit(contextvars.copy_context().run, _copy_blob, route, blob, should_stop)
            for blob in unique
        ]
        for copy in copies:
            copy.result()


def add_to_fallback_index(
    destination: Repository, subject: str, entries: Sequence[dict[str, Any]], lock: TagLocker
) -> bool:
    """Add `entries` to the fallback index of `subject` at `destination`, keeping what it lists
    already, under the tag's lock so racing pushes keep each other's entries; True when the
    index was written (False: it listed them all)."""
    tag = fallback_tag(subject)
    with lock(f"{destination.client.registry}/{destination.name}:{tag}"):
        current = destination.find_manifest(tag, writing=True)
        listed: list[dict[str, Any]] = []
        if current is not None and current.is_index and current.digest != subject:
            listed = list(current.body.get("manifests") or [])
        known = {str(entry.get("digest")) for entry in listed}
        added = [entry for entry in entries if entry["digest"] not in known]
        if not added:
            return False
        body = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": listed + added}
        raw = json.dumps(body, separators=(",", ":")).encode()
        destination.put_manifest(tag, Manifest(raw, OCI_INDEX, sha256_digest(raw), body))
        return True


def _levels(attachments: Sequence[Attachment]) -> list[list[Attachment]]:
    """The attachments by depth: the first level names the image, each next one the level
    before (their order kept)."""
    depth: dict[str, int] = {}
    levels: list[list[Attachment]] = []
    for attachment in attachments:
        level = depth[attachment.digest] = depth.get(attachment.subject, -1) + 1
        while len(levels) <= level:
            levels.append([])
        levels[level].append(attachment)
    return levels


def copy_attached_blobs(
    source: Repository,
    destination: Repository,
    attachments: Sequence[Attachment],
    should_stop: StopCheck = lambda: None,
) -> None:
    """Copy the blobs of `attachments` (signatures, SBOMs, empty configs) to `destination`;
    a blob names no subject, so this may run before the image is there."""
    blobs = [blob for attachment in attachments for blob in attachment.manifest.blobs]
    _copy_blobs(BlobRoute(source, destination), blobs, should_stop)


def carry(
    source: Repository,
    destination: Repository,
    attachments: Sequence[Attachment],
    lock: TagLocker,
    should_stop: StopCheck = lambda: None,
    blobs_copied: bool = False,
) -> list[Attachment]:
    """Write `attachments` (in order: each after its subject) to `destination`; returns them. A
    referrer the destination does not list by itself goes into the subject's fallback index.
    One level's manifests go at once; a level waits for the one it is attached to, and the
    fallback indexes of a level's subjects are written while the next level goes.
    `blobs_copied`: copy_attached_blobs did the blobs already."""
    route = BlobRoute(source, destination)
    if not blobs_copied:
        copy_attached_blobs(source, destination, attachments, should_stop)
    with ThreadPoolExecutor(BLOBS_AT_ONCE, "attached") as pool:
        updates = []
        for level in _levels(attachments):
            should_stop()
            answers = [
                pool.submit(
                    contextvars.copy_context().run,
                    partial(_write_manifest, route, a.manifest, a.tag or a.digest, should_stop),
                )
                for a in level
            ]
            unlisted: dict[str, list[dict[str, Any]]] = {}  # a subject's referrers: one level
            for attachment, answer in zip(level, answers, strict=True):
                subject = answer.result()  # the OCI-Subject answered, if any
                if attachment.tag is None and subject != attachment.subject:
                    unlisted.setdefault(attachment.subject, []).append(attachment.descriptor())
            updates += [
                pool.submit(
                    contextvars.copy_context().run,
                    partial(add_to_fallback_index, destination, subject, entries, lock),
                )
                for subject, entries in unlisted.items()
            ]
        for update in updates:
            update.result()
    return list(attachments)
