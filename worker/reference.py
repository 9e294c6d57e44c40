"""Pure functions that parse and validate image references (OCI distribution grammar)."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from worker.errors import InvalidReference

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
DAEMON_TRANSPORT = "docker-daemon:"

# The grammar as regular expressions that mean the same in Python and in an OpenAPI document
# (ECMA-262): api/schemas/ publishes them; the validators below match them whole (fullmatch).
COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_DOTLESS_COMPONENT = r"[a-z0-9]+(?:(?:_|__|-+)[a-z0-9]+)*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_PORT = r"(?::[0-9]{1,5})"
_IPV6 = r"\[[0-9A-Fa-f:.]+\]"
REPOSITORY_PATTERN = rf"^{COMPONENT}(?:/{COMPONENT})*$"
TAG_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$"
DIGEST_PATTERN = r"^sha256:[a-f0-9]{64}$"
SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$"
HOST_PATTERN = rf"^(?:{_LABEL}(?:\.{_LABEL})*|{_IPV6}){_PORT}?$"
# A first component that docker reads as a registry host: it has a dot or a port, or is
# `localhost`, or is a bracketed IPv6 address.
_REGISTRY_HOST = rf"(?:{_LABEL}(?:\.{_LABEL})+{_PORT}?|{_LABEL}{_PORT}|localhost|{_IPV6}{_PORT}?)"
MAX_NAME_LENGTH = 255
MAX_SLUG_LENGTH = 63
MAX_REFERENCE_LENGTH = MAX_NAME_LENGTH
_PATH_RE = re.compile(REPOSITORY_PATTERN)
_TAG_RE = re.compile(TAG_PATTERN)
_DIGEST_RE = re.compile(DIGEST_PATTERN)
_HOST_RE = re.compile(HOST_PATTERN)
_SLUG_RE = re.compile(SLUG_PATTERN)


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
    if not _TAG_RE.fullmatch(tag):
        raise InvalidReference(
            f"invalid tag {tag!r}: use up to 128 of [A-Za-z0-9_.-], not starting with '.' or '-'"
        )
    return tag


def validate_digest(digest: str) -> str:
    """Return `digest` if it is a sha256 digest in canonical form, else raise InvalidReference."""
    if not _DIGEST_RE.fullmatch(digest):
        raise InvalidReference(f"invalid digest {digest!r}: expected sha256:<64 lowercase hex>")
    return digest


def validate_repository(path: str) -> str:
    """Return `path` if it is a valid repository path, else raise InvalidReference."""
    if len(path) > MAX_NAME_LENGTH or not _PATH_RE.fullmatch(path):
        raise InvalidReference(
            f"invalid repository name {path!r}: use lowercase components of [a-z0-9] "
            "joined by '.', '_', '__' or '-', separated by '/'"
        )
    return path


def validate_slug(slug: str) -> str:
    """Return `slug` if it is a valid app slug, else raise InvalidReference."""
    if len(slug) > MAX_SLUG_LENGTH or not _SLUG_RE.fullmatch(slug):
        raise InvalidReference(
            f"invalid app slug {slug!r}: use lowercase letters, digits and '-', "
            "starting and ending with a letter or digit"
        )
    return slug


def _split_host(name: str) -> tuple[str, str]:
    """Split `name` into (registry host, repository path) the way docker does."""
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first.startswith("[")):
        if not _HOST_RE.fullmatch(first):
            raise InvalidReference(f"invalid registry host {first!r}")
        host = first.lower()
        if host in ("index.docker.io", DOCKER_HUB_API):
            host = DOCKER_HUB
        path = rest
    else:
        host, path = DOCKER_HUB, name
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
    if host == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"  # validated before: docker's length rule counts the name as given
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


def default_image(source: Reference) -> str:
    """The image name when none is given: the last component of the source path."""
    return source.repository.rsplit("/", 1)[-1]


def destination(registry: str, app_slug: str, image: str, tag: str) -> Reference:
    """The vendor-registry reference REGISTRY/APP_SLUG/IMAGE:TAG, validated."""
    validate_slug(app_slug)
    validate_tag(tag)
    return Reference(registry, validate_repository(f"{app_slug}/{image}"), tag=tag)


_HUB_ALIASES = (DOCKER_HUB, "index.docker.io", DOCKER_HUB_API)
_PATH = rf"{COMPONENT}(?:/{COMPONENT})*"
# Without a host: one component (Docker Hub's library/), or a first component docker does not
# take for a host, then more.
_HUB_NAME = rf"(?:{COMPONENT}|{_DOTLESS_COMPONENT}(?:/{COMPONENT})+)"
_SUFFIX = rf"(?::{TAG_PATTERN[1:-1]})?(?:@{DIGEST_PATTERN[1:-1]})?"


def _literal_host(host: str) -> str:
    """`host` as a pattern that, like parse_reference, ignores the case of its letters."""
    if host == "localhost":  # only the lowercase word is read as a host
        return host
    return "".join(
        f"[{c}{c.upper()}]" if c.isalpha() else f"\\{c}" if c in ".[]" else c for c in host
    )


def source_pattern(registries: Collection[str] | None, daemon: bool) -> str:
    """The pattern of the sources parse_reference accepts from `registries` (None or "*": any),
    plus `docker-daemon:` names when `daemon`: the same rule, to publish in the API document."""
    if registries is None or "*" in registries:
        names = [rf"{_REGISTRY_HOST}/{_PATH}", _HUB_NAME]
    else:
        allowed = {r.lower() for r in registries}
        hosts = sorted(
            h
            for h in allowed | (set(_HUB_ALIASES) if DOCKER_HUB in allowed else set())
            if re.fullmatch(_REGISTRY_HOST, h) and (h not in _HUB_ALIASES or DOCKER_HUB in allowed)
        )
        names = [f"(?:{'|'.join(_literal_host(h) for h in hosts)})/{_PATH}"] if hosts else []
        if DOCKER_HUB in allowed:
            names.append(_HUB_NAME)
    alternatives = [f"(?:{'|'.join(names)}){_SUFFIX}"] if names else []
    if daemon:
        any_name = f"(?:{_REGISTRY_HOST}/{_PATH}|{_HUB_NAME})"
        alternatives.append(f"{DAEMON_TRANSPORT}{any_name}{_SUFFIX}")
    # With nothing allowed, a pattern no string matches.
    return f"^(?:{'|'.join(alternatives)})$" if alternatives else "^[^\\s\\S]$"
