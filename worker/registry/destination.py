"""What a copy is asked and answers: its options, each destination, and a destination's result."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from worker.errors import PushError, RejectedError
from worker.policies import AttestationPolicy, ReferrersPolicy
from worker.reference import Reference
from worker.registry.carry import TagLocker
from worker.registry.cosign import VerifyPolicy
from worker.registry.manifests import Descriptor

# Given blob digests, the repository of the same app that already holds each (if known).
MountLookup = Callable[[list[str]], Mapping[str, str]]


@dataclass(frozen=True)
class CopyOptions:
    """How to copy: attestation policy, platform selection, and where to mount blobs from
    for a destination that brings no `mount_lookup` of its own; what to do with attached
    signatures and SBOMs (`referrers`, for a destination without a policy of its own), the
    keys of which one must have signed (`verify`), and the tag locks that keep racing pushes
    from losing fallback-index entries (default: this process's)."""

    attestations: AttestationPolicy = AttestationPolicy.STRIP
    platforms: tuple[str, ...] = ()
    mount_lookup: MountLookup | None = None
    referrers: ReferrersPolicy = ReferrersPolicy.COPY
    verify: VerifyPolicy | None = None
    tag_lock: TagLocker | None = None


@dataclass
class CopyResult:
    """What a copy did: digests before and after, what it served, removed and mounted."""

    source_digest: str
    digest: str
    served: dict[str, str] = field(default_factory=dict)
    removed: list[dict[str, str]] = field(default_factory=list)
    blobs_mounted: int = 0
    blobs: list[str] = field(default_factory=list)
    # Attached to the image (each: digest, kind, subject): written, skipped (referrers: skip),
    # or left behind with a source index digest the push changed; and the signatures verified.
    carried: list[dict[str, str]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    left_behind: list[dict[str, str]] = field(default_factory=list)
    verified: list[dict[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class BlobLimit:
    """The smallest blob a destination's registry will not take, and why (its own words)."""

    size: int
    why: str

    def refusal(self, name: str, blob: Descriptor) -> str:
        """Why `blob` is not sent to destination `name`."""
        return (
            f"layer {blob.digest} is {blob.size} bytes ({blob.size / 1e9:.2f} GB) and is not "
            f"sent to {name}: {self.why}"
        )


@dataclass
class Destination:
    """One destination of a copy: a repository on one registry and its tags (every reference
    names the same repository). It ends with a `result` or an `error` of its own;
    `mount_lookup` finds repositories it may mount blobs from; `referrers` is what it does
    with attached signatures and SBOMs (None: the copy options')."""

    name: str
    references: Sequence[Reference]
    mount_lookup: MountLookup | None = None
    referrers: ReferrersPolicy | None = None
    blob_limit: BlobLimit | None = None
    holders: Mapping[str, str] = field(default_factory=dict)
    served: dict[str, str | None] = field(default_factory=dict)
    held: str | None = None  # a manifest digest it serves (HEAD by digest) when asked
    promoted: bool = False  # it holds the pushed manifest: only its tags are written
    mounted: int = 0
    result: CopyResult | None = None
    error: PushError | None = None

    @property
    def pending(self) -> bool:
        """True while the destination has neither succeeded nor failed."""
        return self.result is None and self.error is None

    @property
    def repository_ref(self) -> Reference:
        """The first reference: its registry and repository are the destination's."""
        return self.references[0]

    def oversized(self, blobs: Sequence[Descriptor]) -> RejectedError | None:
        """The refusal of the first blob at or over this destination's limit, if any."""
        limit = self.blob_limit
        for blob in blobs:
            if limit is not None and blob.size >= limit.size:
                return RejectedError(limit.refusal(self.name, blob))
        return None
