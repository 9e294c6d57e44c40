"""The rules of the registry proxy: what it answers in the registry's place.

Refusals make it behave like registries users trip over: the vendor's 400 for attestations,
repositories that must exist first (ECR's NAME_UNKNOWN), immutable tags, a credential revoked
mid-way. A quirk adds what the registry behind it lacks: the OCI 1.1 referrers API. Rules are
asked in the order given; the first answer wins, and every rule sees every answer sent.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.support.images import OCI_INDEX, carries_attestation, digest_of

_PATH_RE = re.compile(r"^/v2/(?P<name>.+?)/(?P<kind>manifests|blobs|tags)/(?P<rest>.*)$")
_REFERRERS_RE = re.compile(r"^/v2/(?P<name>.+?)/referrers/(?P<digest>sha256:[0-9a-f]{64})$")


@dataclass
class Reply:
    """The proxy's answer to one request."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    cut: bool = False  # send half the body, then drop the connection
    close: bool = False  # close the connection after answering (the body was not all read)


@dataclass(frozen=True)
class Request:
    """One request as rules see it: `body` is None for a blob body streamed to the registry."""

    method: str
    path: str
    body: bytes | None

    def route(self) -> tuple[str, str, str] | None:
        """(repository, manifests|blobs|tags, the rest) of a /v2/ path; None for others."""
        match = _PATH_RE.match(self.path.split("?", 1)[0])
        return None if match is None else (match["name"], match["kind"], match["rest"])

    def is_manifest_put(self) -> bool:
        """True for a PUT of a manifest (its body is always read whole)."""
        route = self.route()
        return self.method == "PUT" and route is not None and route[1] == "manifests"


def registry_error(status: int, code: str, message: str, **headers: str) -> Reply:
    """An answer in the distribution spec's error format."""
    body = json.dumps({"errors": [{"code": code, "message": message}]}).encode()
    return Reply(status, [("Content-Type", "application/json"), *headers.items()], body)


class Rule:
    """One behaviour of the proxy; the base answers nothing and notes nothing."""

    def answer(self, request: Request) -> Reply | None:
        """The proxy's own answer instead of the registry's, or None to pass the request on."""
        return None

    def answered(self, request: Request, reply: Reply) -> None:
        """See the answer the client gets (the registry's or a rule's); may add headers."""
        return None


@dataclass
class RefuseAttestations(Rule):
    """The vendor's front: 400 MANIFEST_INVALID to a manifest or index carrying a provenance
    attestation; `refused` counts them."""

    refused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, request: Request) -> Reply | None:
        """The 400 for a manifest PUT that carries an attestation."""
        if not request.is_manifest_put() or not carries_attestation(request.body or b""):
            return None
        with self.lock:
            self.refused += 1
        detail = "provenance attestations are not supported"
        err = {
            "errors": [
                {"code": "MANIFEST_INVALID", "message": "manifest invalid", "detail": detail}
            ]
        }
        return Reply(400, [("Content-Type", "application/json")], json.dumps(err).encode())


@dataclass
class KnownRepositories(Rule):
    """Only `names` exist: any other repository is NAME_UNKNOWN (ECR before it is created)."""

    names: set[str]

    def answer(self, request: Request) -> Reply | None:
        """404 NAME_UNKNOWN for a repository off the list."""
        route = request.route()
        if route is None or route[0] in self.names:
            return None
        message = f"The repository with name '{route[0]}' does not exist in the registry"
        return registry_error(404, "NAME_UNKNOWN", message)


@dataclass
class ImmutableTags(Rule):
    """A tag, once written, never moves (ECR's and Harbor's immutable tags)."""

    tags: dict[tuple[str, str], str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, request: Request) -> Reply | None:
        """400 TAG_INVALID for a manifest PUT that would move a tag."""
        route = request.route()
        if route is None or not request.is_manifest_put():
            return None
        name, tag = route[0], route[2]
        with self.lock:
            held = self.tags.get((name, tag))
        if held is None or held == digest_of(request.body or b"") or tag.startswith("sha256:"):
            return None
        return registry_error(
            400,
            "TAG_INVALID",
            f"The image tag '{tag}' already exists in the '{name}' repository and "
            "cannot be overwritten because the repository is immutable.",
        )

    def answered(self, request: Request, reply: Reply) -> None:
        """Remember the digest a written tag points to."""
        route = request.route()
        if route is not None and request.is_manifest_put() and reply.status == 201:
            with self.lock:
                self.tags[(route[0], route[2])] = digest_of(request.body or b"")


@dataclass
class Revocation(Rule):
    """401 to everything once `revoked`; `when` picks the request that revokes the credential."""

    when: Callable[[str, str], bool] | None = None
    revoked: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, request: Request) -> Reply | None:
        """The 401 of a revoked credential, from the request `when` picks on."""
        with self.lock:
            if self.when is not None and self.when(request.method, request.path):
                self.revoked, self.when = True, None
            if not self.revoked:
                return None
        challenge = {"WWW-Authenticate": 'Basic realm="registry"'}
        return registry_error(401, "UNAUTHORIZED", "the credential was revoked", **challenge)


@dataclass
class ReferrersApi(Rule):
    """The OCI 1.1 referrers API the registry lacks: a manifest PUT carrying `subject` is
    answered with `OCI-Subject` and listed, and `GET /v2/<name>/referrers/<digest>` answers
    the list as an OCI index."""

    listed: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    bogus: bool = False  # answer the referrers route with a web page, as some front ends do
    page_size: int = 0  # list this many per page, with a Link to the next (0: all at once)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, request: Request) -> Reply | None:
        """The referrers list for a GET of the referrers API."""
        path = request.path
        match = _REFERRERS_RE.match(path.split("?", 1)[0])
        if request.method != "GET" or match is None:
            return None
        if self.bogus:
            return Reply(
                200, [("Content-Type", "text/html")], b"<html><body>Not here</body></html>"
            )
        with self.lock:
            entries = list(self.listed.get((match["name"], match["digest"]), []))
        headers = [("Content-Type", OCI_INDEX)]
        if self.page_size:
            start = int(path.partition("?page=")[2] or 0)
            if start + self.page_size < len(entries):
                following = f"{path.split('?', 1)[0]}?page={start + self.page_size}"
                headers.append(("Link", f'<{following}>; rel="next"'))
            entries = entries[start : start + self.page_size]
        body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})
        return Reply(200, headers, body.encode())

    def answered(self, request: Request, reply: Reply) -> None:
        """After a manifest with a `subject` is written: list it, and answer `OCI-Subject`."""
        route = request.route()
        if route is None or not request.is_manifest_put() or reply.status != 201:
            return
        try:
            manifest = json.loads(request.body or b"")
        except ValueError:
            return
        subject = (manifest.get("subject") or {}).get("digest")
        if not subject:
            return
        entry: dict[str, Any] = {
            "mediaType": manifest.get("mediaType"),
            "digest": digest_of(request.body or b""),
            "size": len(request.body or b""),
            "artifactType": manifest.get("artifactType")
            or (manifest.get("config") or {}).get("mediaType"),
        }
        if manifest.get("annotations"):
            entry["annotations"] = manifest["annotations"]
        with self.lock:
            entries = self.listed.setdefault((route[0], subject), [])
            if all(e["digest"] != entry["digest"] for e in entries):
                entries.append(entry)
        reply.headers.append(("OCI-Subject", subject))
