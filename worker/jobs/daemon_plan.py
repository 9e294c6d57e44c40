"""The plan of a push from a docker-daemon: source, reading only: the daemon is inspected (not
exported) and each target is asked with HEAD and GET. A daemon image has no manifest until the
push compresses its layers, so the plan knows a layer's compressed digest and size only when an
earlier push recorded them (the layer cache); the others are counted by their size before
compression, and a tag already serving this image (the same config) stays unchanged."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from worker.daemon.image import DaemonImage, inspect_image
from worker.daemon.limits import docker_push_refusal, gzip_bound
from worker.daemon.source import DaemonSource
from worker.errors import PushError, UnsignedImage
from worker.jobs.model import DestinationResult, Job
from worker.jobs.planning import layer_limit, plan_document, settle, verdict
from worker.reference import daemon_name, parse_daemon_source
from worker.registry.blobs import StopCheck
from worker.registry.copier import CopyEngine
from worker.registry.manifests import DOCKER_MANIFEST, Descriptor
from worker.registry.plan import PRESENT, SEND
from worker.registry.repository import Repository

DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
RULE = "vendor-layer-size"  # as in a registry source's plan
ESTIMATED = (
    "layers this service has not pushed before are listed by diff_id and counted by their size "
    "before compression (the push compresses them); the manifest's digest is known only once "
    "it is pushed"
)


def plan_daemon_push(
    daemon: DaemonSource,
    engine: CopyEngine,
    layer_cache: Mapping[str, str],
    job: Job,
    should_stop: StopCheck,
    unsigned: UnsignedImage | None = None,
    by_docker_push: bool = False,
) -> dict[str, Any]:
    """The plan of `job`'s push from the daemon: nothing is exported, nothing written.
    `unsigned`: the refusal of an app whose images must be signed (a daemon image is not);
    `by_docker_push`: the push goes through `docker push` (PUSHGATE_DAEMON_PUSH=sdk), which
    is held to the layer limit by the sizes before compression."""
    doc = plan_document(job, None)
    if unsigned is not None:
        doc["verdicts"].append(verdict("signatures", "verify", False, unsigned.detail))
        return settle(doc)
    name = daemon_name(parse_daemon_source(job.source))
    try:
        image = inspect_image(daemon, name)
    except PushError as error:
        return settle({**doc, "error": {"type": error.type, "detail": error.detail}})
    destinations = []
    for result in job.results:
        should_stop()
        planned = _destination(engine, layer_cache, image, result)
        if by_docker_push:
            planned["limits"] = _docker_push_limits(result, image, name)
        destinations.append(planned)
    for destination in destinations:
        for limit in destination["limits"]:
            if limit["refused"]:
                doc["verdicts"].append(
                    verdict("registry-limits", limit["rule"], False, limit["detail"])
                )
            del limit["refused"]
    estimated = any(diff_id not in layer_cache for diff_id in image.diff_ids)
    return settle(
        {
            **doc,
            "source_digest": image.id,
            "bytes_to_send": sum(d["blobs"]["bytes_to_send"] for d in destinations),
            "destinations": destinations,
            "notes": [ESTIMATED] if estimated else [],
        }
    )


def _destination(
    engine: CopyEngine, cache: Mapping[str, str], image: DaemonImage, result: DestinationResult
) -> dict[str, Any]:
    refs = result.parsed
    found: dict[str, Any] = {
        "target": result.target,
        "repository": result.repository,
        "manifests": [],
        "tags": [],
        "blobs": {"present": 0, "mountable": 0, "to_send": 0, "bytes_to_send": 0, "items": []},
        "limits": [],
        "error": None,
    }
    try:
        repo = engine.repository(refs[0].registry, refs[0].repository)
        found["tags"] = [_tag(repo, str(ref), ref.tag or "latest", image.id) for ref in refs]
        items = [
            _layer(repo, cache, d, s) for d, s in zip(image.diff_ids, image.sizes, strict=True)
        ]
    except PushError as error:
        return {**found, "error": {"type": error.type, "detail": error.detail}}
    sent = [item for item in items if item["state"] == SEND]
    found["blobs"].update(
        present=len(items) - len(sent),
        to_send=len(sent),
        bytes_to_send=sum(item["size"] for item in sent),
        items=items,
    )
    found["limits"] = _limits(result, image, cache, items)
    return found


def _tag(repo: Repository, reference: str, tag: str, image_id: str) -> dict[str, Any]:
    """`unchanged` when the tag serves this very image (its config), else `new` or `moving`."""
    served = repo.find_manifest(tag)
    if served is None:
        return {"reference": reference, "state": "new", "from": None, "to": None}
    same = served.media_type == DOCKER_MANIFEST and served.body["config"]["digest"] == image_id
    if same:
        return {
            "reference": reference,
            "state": "unchanged",
            "from": served.digest,
            "to": served.digest,
        }
    return {"reference": reference, "state": "moving", "from": served.digest, "to": None}


def _layer(
    repo: Repository, cache: Mapping[str, str], diff_id: str, size: int | None
) -> dict[str, Any]:
    known = cache.get(diff_id)
    if not known:
        return {"digest": diff_id, "size": size or 0, "state": SEND, "mount_from": None}
    digest, packed = known.split(" ")
    state = PRESENT if repo.has_blob(digest) else SEND
    return {"digest": digest, "size": int(packed), "state": state, "mount_from": None}


def _limits(
    result: DestinationResult, image: DaemonImage, cache: Mapping[str, str], items: list[Any]
) -> list[dict[str, Any]]:
    """The layers at the destination's limit (refused), or that may reach it once compressed
    (the push counts those first, and refuses before sending any byte if one does)."""
    limit = layer_limit(result)
    if limit is None:
        return []
    found = []
    for diff_id, item in zip(image.diff_ids, items, strict=True):
        size = item["size"]
        if diff_id in cache:  # the size of its gzip is known
            if size >= limit.size:
                blob = Descriptor(DOCKER_LAYER, item["digest"], size)
                found.append(
                    {"rule": RULE, "detail": limit.refusal(result.target, blob), "refused": True}
                )
        elif gzip_bound(size) >= limit.size:
            detail = (
                f"layer {diff_id} is {size} bytes before compression, so its gzip may reach "
                f"the limit of {result.target} ({limit.why}); the push counts it first"
            )
            found.append({"rule": RULE, "detail": detail, "refused": False})
    return found


def _docker_push_limits(
    result: DestinationResult, image: DaemonImage, name: str
) -> list[dict[str, Any]]:
    """The docker-push path's refusals: a layer whose size before compression is at the limit
    (as check_before_docker_push decides)."""
    limit = layer_limit(result)
    if limit is None:
        return []
    return [
        {
            "rule": RULE,
            "detail": docker_push_refusal(name, size, result.target, limit),
            "refused": True,
        }
        for size in image.sizes
        if size is not None and size >= limit.size
    ]
