"""What a copy would do, found with HEAD and GET only: the manifests it would write, each blob's
fate at each destination (there, mountable, to send) and each tag's (unchanged, new, moving).
It follows the copy's own rules: the same selection (selection.py), the same re-push rule (a
destination whose every tag serves the image needs nothing), the same presence checks
(Repository.has_blob, served_digest) and the same mount sources (the destination's lookup)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from worker.errors import DeadlineExceeded, PushCancelled, PushError
from worker.reference import Reference
from worker.registry.blobs import StopCheck
from worker.registry.manifests import Descriptor, Manifest
from worker.registry.repository import Repository
from worker.registry.selection import IndexSelection, select_children

RepositoryOf = Callable[[str, str], Repository]
MountLookup = Callable[[list[str]], Mapping[str, str]]
PRESENT, MOUNTABLE, SEND = "present", "mountable", "send"


@dataclass(frozen=True)
class PlannedDestination:
    """What the plan is asked about one destination: its tags (one repository), where it may
    mount from, and the largest blob it takes (None: no limit)."""

    name: str
    references: Sequence[Reference]
    mount_lookup: MountLookup | None = None
    max_blob_size: int | None = None


@dataclass
class BlobFate:
    """One blob at one destination."""

    digest: str
    size: int
    state: str  # present, mountable (from `mount_from`) or send
    mount_from: str | None = None


@dataclass
class DestinationPlan:
    """What the copy would do at one destination, or the error that stops it there."""

    name: str
    repository: str
    tags: list[dict[str, str | None]] = field(default_factory=list)
    blobs: list[BlobFate] = field(default_factory=list)
    oversized: list[BlobFate] = field(default_factory=list)
    error: PushError | None = None

    def count(self, state: str) -> int:
        """How many blobs are in `state`."""
        return sum(1 for blob in self.blobs if blob.state == state)

    @property
    def bytes_to_send(self) -> int:
        """The bytes the copy would upload here."""
        return sum(blob.size for blob in self.blobs if blob.state == SEND)


@dataclass
class ImagePlan:
    """The source as read, what would be written, and each destination's plan."""

    source_digest: str
    selection: IndexSelection
    destinations: list[DestinationPlan]


def read_selection(
    src: Repository,
    identifier: str,
    attestations: str,
    platforms: Sequence[str],
    should_stop: StopCheck,
) -> tuple[Manifest, IndexSelection]:
    """The source's top manifest and what of it a copy pushes (its children read one by one)."""
    top = src.manifest(identifier)
    children: list[Manifest] = []
    for child in top.children if top.is_index else []:
        should_stop()
        children.append(src.manifest(child.digest))
    return top, select_children(top, children, attestations, platforms)


def _tags(
    repository: Repository, refs: Sequence[Reference], digest: str
) -> list[dict[str, str | None]]:
    tags: list[dict[str, str | None]] = []
    for ref in refs:
        now = repository.served_digest(ref.identifier)
        state = "unchanged" if now == digest else ("moving" if now else "new")
        tags.append({"reference": str(ref), "state": state, "from": now, "to": digest})
    return tags


def _fate(
    repository_of: RepositoryOf, repository: Repository, blob: Descriptor, holder: str | None
) -> BlobFate:
    if repository.has_blob(blob.digest):
        return BlobFate(blob.digest, blob.size, PRESENT)
    if holder and holder != repository.name:
        registry = repository.client.registry
        if repository_of(registry, holder).has_blob(blob.digest):
            return BlobFate(blob.digest, blob.size, MOUNTABLE, holder)
    return BlobFate(blob.digest, blob.size, SEND)


def plan_destination(
    repository_of: RepositoryOf,
    wanted: PlannedDestination,
    digest: str,
    blobs: list[Descriptor],
    should_stop: StopCheck,
) -> DestinationPlan:
    """One destination's plan; a registry error there is its own, as in a copy."""
    first = wanted.references[0]
    repository = repository_of(first.registry, first.repository)
    plan = DestinationPlan(wanted.name, str(repository))
    limit = wanted.max_blob_size
    plan.oversized = [BlobFate(b.digest, b.size, SEND) for b in blobs if limit and b.size >= limit]
    try:
        plan.tags = _tags(repository, wanted.references, digest)
        if all(tag["state"] == "unchanged" for tag in plan.tags):  # the copy's re-push rule
            plan.blobs = [BlobFate(b.digest, b.size, PRESENT) for b in blobs]
            return plan
        holders = wanted.mount_lookup([b.digest for b in blobs]) if wanted.mount_lookup else {}
        for blob in sorted(blobs, key=lambda b: b.size, reverse=True):
            should_stop()
            plan.blobs.append(_fate(repository_of, repository, blob, holders.get(blob.digest)))
    except (PushCancelled, DeadlineExceeded):
        raise  # the plan's own end, not this destination's
    except PushError as error:
        plan.error = error
    return plan


def plan_copy(
    repository_of: RepositoryOf,
    source: Reference,
    destinations: Sequence[PlannedDestination],
    attestations: str,
    platforms: Sequence[str],
    should_stop: StopCheck,
    learned: Callable[[ImagePlan], None] = lambda plan: None,
) -> ImagePlan:
    """Plan copying `source` to every destination, reading only; `learned` hears the plan so far
    after each step (what a caller that gives up early can still report). Errors of the source
    itself are raised, as a copy raises them."""
    src = repository_of(source.registry, source.repository)
    top, selection = read_selection(src, source.identifier, attestations, platforms, should_stop)
    blobs = list({b.digest: b for image in selection.images for b in image.blobs}.values())
    plan = ImagePlan(top.digest, selection, [])
    learned(plan)
    for wanted in destinations:
        should_stop()
        plan.destinations.append(
            plan_destination(repository_of, wanted, selection.manifest.digest, blobs, should_stop)
        )
        learned(plan)
    return plan
