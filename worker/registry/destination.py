"""What a copy is asked and answers: its options, each destination, and a destination's result."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from enum import Enum
from typing import Any

from worker.errors import InvalidRequest, PushError, RejectedError
from worker.policies import AttestationPolicy, ReferrersPolicy
from worker.reference import Reference
from worker.registry.carry import TagLocker
from worker.registry.cosign import VerifyPolicy
from worker.registry.manifests import Descriptor

# Given blob digests, the repository of the same app that already holds each (if known).
MountLookup = Callable[[list[str]], Mapping[str, str]]


@dataclass(frozen=True)
class PushOptions:
    """What a caller asks of one push's copy. It travels unchanged from the request schema
    (api/schemas/requests.py) through the job record to the engine: a new option is a field
    here (with `load`, in its metadata, when its stored form is not its type), the request
    schema's field of the same name, and the engine code that reads it."""

    attestations: AttestationPolicy = field(
        default=AttestationPolicy.STRIP, metadata={"load": AttestationPolicy}
    )
    platforms: tuple[str, ...] = field(default=(), metadata={"load": tuple})

    @classmethod
    def of(cls, values: Mapping[str, Any]) -> PushOptions:
        """The options named in `values` (a request body or a job record; other names are
        ignored); InvalidRequest naming the field whose value is not one it takes."""
        return cls(**{f.name: _load(f.name, f.metadata, values[f.name]) for f in _given(values)})

    def record(self) -> dict[str, Any]:
        """The options as JSON-able values, by name (what `of` reads back)."""
        return {f.name: getattr(self, f.name) for f in fields(PushOptions)}


def _given(values: Mapping[str, Any]) -> list[Any]:
    return [f for f in fields(PushOptions) if values.get(f.name) is not None]


def _load(name: str, metadata: Mapping[str, Any], value: Any) -> Any:
    load = metadata.get("load")
    try:
        return value if load is None else load(value)
    except (TypeError, ValueError):
        if isinstance(load, type) and issubclass(load, Enum):
            allowed = ", ".join(str(each.value) for each in load)
            raise InvalidRequest(name, f"must be one of {allowed}") from None
        raise InvalidRequest(name, f"cannot be {value!r}") from None


@dataclass(frozen=True)
class CopyOptions(PushOptions):
    """How to copy: the push's own options (PushOptions), and where to mount blobs from
    for a destination that brings no `mount_lookup` of its own; what to do with attached
    signatures and SBOMs (`referrers`, for a destination without a policy of its own), the
    keys of which one must have signed (`verify`), and the tag locks that keep racing pushes
    from losing fallback-index entries (default: this process's)."""

    mount_lookup: MountLookup | None = None
    referrers: ReferrersPolicy = ReferrersPolicy.COPY
    verify: VerifyPolicy | None = None
    tag_lock: TagLocker | None = None

    @classmethod
    def for_push(cls, push: PushOptions, **process_side: Any) -> CopyOptions:
        """The push's options as they are, plus what only the worker knows (`process_side`)."""
        return cls(**{f.name: getattr(push, f.name) for f in fields(PushOptions)}, **process_side)


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
