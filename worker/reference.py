"""Pure functions that parse and validate image references (OCI distribution grammar)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from worker.errors import InvalidReference

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
DAEMON_TRANSPORT = "docker-daemon:"

_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_PATH_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
_DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")
_HOST_RE = re.compile(
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
    r"|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$"
)
_SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
MAX_NAME_LENGTH = 255


@dataclass(frozen=True)
class Reference:
    """A fully qualified image reference: registry host, repository path, tag and/or digest."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def identifier(self) -> str:
        """What to ask the registry for: the digest when known, else the tag."""
        return self.digest or self.tag or "latest"

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}"
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def validate_tag(tag: str) -> str:
    """Return `tag` if it follows the tag grammar, else raise InvalidReference."""
    if not _TAG_RE.match(tag):
        raise InvalidReference(
            f"invalid tag {tag!r}: use up to 128 of [A-Za-z0-9_.-], not starting with '.' or '-'"
        )
    return tag


def validate_digest(digest: str) -> str:
    """Return `digest` if it is a sha256 digest in canonical form, else raise InvalidReference."""
    if not _DIGEST_RE.match(digest):
        raise InvalidReference(f"invalid digest {digest!r}: expected sha256:<64 lowercase hex>")
    return digest


def validate_repository(path: str) -> str:
    """Return `path` if it is a valid repository path, else raise InvalidReference."""
    if len(path) > MAX_NAME_LENGTH or not _PATH_RE.match(path):
        raise InvalidReference(
            f"invalid repository name {path!r}: use lowercase components of [a-z0-9] "
            "joined by '.', '_', '__' or '-', separated by '/'"
        )
    return path


def validate_slug(slug: str) -> str:
    """Return `slug` if it is a valid app slug, else raise InvalidReference."""
    if len(slug) > 63 or not _SLUG_RE.match(slug):
        raise InvalidReference(
            f"invalid app slug {slug!r}: use lowercase letters, digits and '-', "
            "starting and ending with a letter or digit"
        )
    return slug


def _split_host(name: str) -> tuple[str, str]:
    """Split `name` into (registry host, repository path) the way docker does."""
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first.startswith("[")):
        if not _HOST_RE.match(first):
            raise InvalidReference(f"invalid registry host {first!r}")
        host = first.lower()
        if host in ("index.docker.io", DOCKER_HUB_API):
            host = DOCKER_HUB
        path = rest
    else:
        host, path = DOCKER_HUB, name
    if host == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    return host, path


def parse_reference(text: str) -> Reference:
    """Parse `text` into a normalised Reference; Docker Hub short names become docker.io/...."""
    text = text.strip()
    if not text:
        raise InvalidReference("empty image reference")
    if "://" in text:
        raise InvalidReference(f"invalid reference {text!r}: give host/path:tag, without a scheme")
    name, digest = text, None
    if "@" in text:
        name, _, digest = text.partition("@")
        validate_digest(digest)
    tag = None
    last_slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > last_slash:
        name, tag = name[:colon], name[colon + 1 :]
        validate_tag(tag)
    host, path = _split_host(name)
    validate_repository(path)
    if tag is None and digest is None:
        tag = "latest"
    return Reference(registry=host, repository=path, tag=tag, digest=digest)


def api_host(registry: str) -> str:
    """The host that serves the registry API for `registry` (Docker Hub's differs)."""
    return DOCKER_HUB_API if registry == DOCKER_HUB else registry


def is_daemon_source(text: str) -> bool:
    """True when `text` names an image in a Docker daemon (`docker-daemon:NAME[:TAG]`)."""
    return text.strip().startswith(DAEMON_TRANSPORT)


def parse_daemon_source(text: str) -> Reference:
    """Parse `docker-daemon:NAME[:TAG]` or `docker-daemon:NAME@sha256:...` (registry = the name's
    host, as docker normalises it)."""
    text = text.strip()
    if not text.startswith(DAEMON_TRANSPORT):
        raise InvalidReference(f"{text!r} is not a docker-daemon: source")
    return parse_reference(text[len(DAEMON_TRANSPORT) :])


def daemon_name(reference: Reference) -> str:
    """How to name a parsed daemon image to the Docker API (digest or tag form)."""
    return (
        f"{reference.registry}/{reference.repository}@{reference.digest}"
        if reference.digest
        else f"{reference.registry}/{reference.repository}:{reference.tag or 'latest'}"
    )


def default_target(source: Reference) -> str:
    """The target image name when none is given: the last component of the source path."""
    return source.repository.rsplit("/", 1)[-1]


def destination(registry: str, app_slug: str, target: str, tag: str) -> Reference:
    """The vendor-registry reference REGISTRY/APP_SLUG/TARGET:TAG, validated."""
    validate_slug(app_slug)
    validate_tag(tag)
    return Reference(registry, validate_repository(f"{app_slug}/{target}"), tag=tag)
