"""Closed sets of choices shared by settings, jobs and the copy engine."""

from __future__ import annotations

from enum import StrEnum


class AttestationPolicy(StrEnum):
    """What a push does with BuildKit attestation manifests of an index."""

    STRIP = "strip"  # leave them out of the pushed index
    KEEP = "keep"  # push them along (the vendor registry may refuse)
    FAIL = "fail"  # refuse to push an image that carries them


class DaemonPushMode(StrEnum):
    """How a docker-daemon: source reaches the registry."""

    EXPORT = "export"  # export the image and upload its layers ourselves
    SDK = "sdk"  # tag it and let the daemon `docker push`


class LogFormat(StrEnum):
    """How log lines are written."""

    TEXT = "text"  # for people at a terminal
    JSON = "json"  # one JSON object per line, for log pipelines


class ReferrersPolicy(StrEnum):
    """What a push does with the signatures, SBOMs and attestations attached to the image."""

    COPY = "copy"  # carry what the source has
    SKIP = "skip"  # carry nothing
    REQUIRE = "require"  # carry it, and refuse an image the source has no signature for
