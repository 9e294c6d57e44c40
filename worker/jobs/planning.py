"""A job's plan: what its push would do at each destination (the engine's read-only plan), the
verdicts of the rules a push is held to, and the vendor registry's known limits."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from worker.errors import DeadlineExceeded, PushCancelled, PushError, RejectedError, UnsignedImage
from worker.jobs.model import DestinationResult, Job
from worker.registry.blobs import StopCheck
from worker.registry.copier import CopyEngine
from worker.registry.cosign import VerifyPolicy
from worker.registry.destination import BlobLimit
from worker.registry.plan import (
    MOUNTABLE,
    PRESENT,
    SEND,
    DestinationPlan,
    ImagePlan,
    PlannedDestination,
    plan_copy,
)
from worker.targets import BUILTIN

# The vendor registry answers 524 to layers near 2 GB; 1.9 GB and more are refused up front.
VENDOR_LAYER_LIMIT = BlobLimit(
    1_900_000_000, "the vendor registry answers 524 to layers of 1.9 GB or more"
)
Holders = Callable[[str, list[str]], Mapping[str, str]]  # (ledger scope, digests) -> holders
Learned = Callable[[dict[str, Any]], None]


def layer_limit(result: DestinationResult) -> BlobLimit | None:
    """The smallest layer a destination will not take, where one is known: its target's
    `layer_limit`, else the vendor registry's for `replicated`."""
    if result.layer_limit is not None:
        size = result.layer_limit
        why = f"target {result.target} takes no layer of {size} bytes or more (its layer_limit)"
        return BlobLimit(size, why)
    return VENDOR_LAYER_LIMIT if result.target == BUILTIN else None


def verdict(policy: str, rule: str, allowed: bool, detail: str) -> dict[str, Any]:
    """One policy's verdict on a push: allowed or refused by `rule`, in words."""
    return {"policy": policy, "rule": rule, "allowed": allowed, "detail": detail}


def _destination(plan: DestinationPlan, manifests: list[dict[str, Any]]) -> dict[str, Any]:
    writes = not plan.promoted and any(tag["state"] != "unchanged" for tag in plan.tags)
    return {
        "target": plan.name,
        "repository": plan.repository,
        "manifests": manifests if writes else [],
        "tags": plan.tags,
        "blobs": {
            "present": plan.count(PRESENT),
            "mountable": plan.count(MOUNTABLE),
            "to_send": plan.count(SEND),
            "bytes_to_send": plan.bytes_to_send,
            "items": [vars(blob) for blob in plan.blobs],
        },
        "limits": [{"rule": "vendor-layer-size", "detail": why} for why in plan.oversized],
        "error": {"type": plan.error.type, "detail": plan.error.detail} if plan.error else None,
    }


def _manifests(image: ImagePlan) -> list[dict[str, Any]]:
    selection = image.selection
    platforms = {d.digest: d.platform_name for d in selection.manifest.children}
    children = [
        {"digest": m.digest, "media_type": m.media_type, "platform": platforms.get(m.digest)}
        for m in selection.children
    ]
    top = selection.manifest
    return [*children, {"digest": top.digest, "media_type": top.media_type, "platform": None}]


def plan_document(job: Job, image: ImagePlan | None) -> dict[str, Any]:
    """The plan as the API answers it (so far, while `image` is still being learned)."""
    doc: dict[str, Any] = {"source": job.source, "allowed": True, "verdicts": []}
    if image is None:
        return {**doc, "source_digest": None, "digest": None, "removed": [], "destinations": []}
    manifests = _manifests(image)
    destinations = [_destination(plan, manifests) for plan in image.destinations]
    for plan in image.destinations:
        for why in plan.oversized:
            doc["verdicts"].append(verdict("registry-limits", "vendor-layer-size", False, why))
    return {
        **doc,
        "source_digest": image.source_digest,
        "digest": image.selection.manifest.digest,
        "removed": image.selection.removed,
        "bytes_to_send": sum(d["blobs"]["bytes_to_send"] for d in destinations),
        "destinations": destinations,
    }


def plan_push(
    engine: CopyEngine,
    holders: Holders,
    scope: Callable[[str], str],
    job: Job,
    should_stop: StopCheck,
    learned: Learned,
    verify: VerifyPolicy | None = None,
) -> dict[str, Any]:
    """The plan of `job`'s push (a registry source), reading only; `learned` hears each step's
    document. A source the push would refuse or not find makes a refused plan naming why."""
    wanted = [
        PlannedDestination(
            result.target,
            result.parsed,
            partial(holders, scope(result.registry)),
            layer_limit(result),
        )
        for result in job.results
    ]
    try:
        image = plan_copy(
            engine.repository,
            job.source_reference,
            wanted,
            job.options,
            should_stop,
            lambda so_far: learned(plan_document(job, so_far)),
            verify,
        )
    except (PushCancelled, DeadlineExceeded):
        raise
    except UnsignedImage as unsigned:
        doc = plan_document(job, None)
        doc["verdicts"].append(verdict("signatures", "verify", False, unsigned.detail))
        return settle(doc)
    except RejectedError as refused:
        doc = plan_document(job, None)
        doc["verdicts"].append(verdict("attestations", "source", False, refused.detail))
        return settle(doc)
    except PushError as error:
        return settle({**plan_document(job, None), "error": _error(error)})
    doc = plan_document(job, image)
    if verify is not None:
        signed = ", ".join(f"{v['digest'][:19]} by {v['key']}" for v in image.verified)
        doc["verdicts"].append(verdict("signatures", "verify", True, f"signed: {signed}"))
    return settle(doc)


def _error(error: PushError) -> dict[str, str]:
    return {"type": error.type, "detail": error.detail}


def settle(doc: dict[str, Any]) -> dict[str, Any]:
    """The plan with `allowed` set: every verdict allows, and nothing failed."""
    failed = doc.get("error") or any(d.get("error") for d in doc.get("destinations", []))
    doc["allowed"] = not failed and all(v["allowed"] for v in doc["verdicts"])
    return doc
