"""What a copy would do, found with HEAD and GET only: the manifests it would write, each blob's
fate at each destination (there, mountable, to send) and each tag's (unchanged, new, moving).
It follows the copy's own rules (transfer.py): the same reader and selection
(selection.read_selection), the same re-push rule (every tag serves the image: nothing to do),
the same promotion (the registry holds the manifest by digest: only tags), the same presence
checks (Repository.has_blob, served_digest), the same mount sources (the destination's lookup)
and the same blob limit (Destination.blob_limit)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from worker.errors import DeadlineExceeded, PushCancelled, PushError
from worker.reference import Reference
from worker.registry.attached import plan_attached
from worker.registry.blobs import StopCheck
from worker.registry.cosign import VerifyPolicy
from worker.registry.destination import BlobLimit, PushOptions
from worker.registry.manifests import Descriptor
from worker.registry.repository import Repository
from worker.registry.selection import IndexSelection, read_selection

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
    blob_limit: BlobLimit | None = None


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
    oversized: list[str] = field(default_factory=list)  # why each blob would be refused
    error: PushError | None = None
    promoted: bool = False  # the registry holds the manifest: only tags would be written

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
    verified: list[dict[str, str]] = field(default_factory=list)  # signatures checked


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
    limit = wanted.blob_limit
    if limit is not None:
        plan.oversized = [limit.refusal(wanted.name, b) for b in blobs if b.size >= limit.size]
    try:
        plan.tags = _tags(repository, wanted.references, digest)
        unchanged = all(tag["state"] == "unchanged" for tag in plan.tags)  # a re-push
        if unchanged or repository.served_digest(digest) == digest:  # or a promotion
            plan.blobs = [BlobFate(b.digest, b.size, PRESENT) for b in blobs]
            plan.promoted = not unchanged
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
    options: PushOptions,
    should_stop: StopCheck,
    learned: Callable[[ImagePlan], None] = lambda plan: None,
    verify: VerifyPolicy | None = None,
) -> ImagePlan:
    """Plan copying `source` to every destination, reading only; `learned` hears the plan so far
    after each step (what a caller that gives up early can still report). Errors of the source
    itself are raised, as a copy raises them, and so is a missing signature `verify` requires
    (UnsignedImage, as the copy checks before any write)."""
    src = repository_of(source.registry, source.repository)
    top = src.manifest(source.identifier)
    selection = read_selection(src, top, options.attestations, options.platforms, should_stop)
    blobs = list({b.digest: b for image in selection.images for b in image.blobs}.values())
    plan = ImagePlan(top.digest, selection, [])
    if verify is not None:
        attached = plan_attached(src, top, selection, verify, should_stop)
        plan.verified = [v.as_record() for v in attached.verified]
    learned(plan)
    for wanted in destinations:
        should_stop()
        plan.destinations.append(
            plan_destination(repository_of, wanted, selection.manifest.digest, blobs, should_stop)
        )
        learned(plan)
    return plan
