"""Putting a manifest under a tag, with the refusal of an immutable tag explained."""

from __future__ import annotations

from worker.errors import AuthError, RejectedError
from worker.registry.manifests import Manifest
from worker.registry.repository import Repository


def put_tag(repository: Repository, tag: str, manifest: Manifest, served: str | None) -> None:
    """PUT `manifest` under `tag`, which serves `served` now; a registry that refuses to move
    a tag that points elsewhere (immutable tags) gets a rejection naming both digests."""
    try:
        repository.put_manifest(tag, manifest)
    except (RejectedError, AuthError) as refused:
        if served is None:
            raise
        raise RejectedError(
            f"tag {tag} of {repository} points to {served} and the registry refused to move it "
            f"to {manifest.digest}: the repository's tags are probably immutable; push under a "
            f"new tag, or delete {tag} there first ({refused.detail})"
        ) from None
