"""Tags: putting a manifest under them (the refusal of an immutable tag explained), and
confirming what they serve after a push."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from worker.errors import AuthError, RejectedError
from worker.reference import Reference
from worker.registry.destination import CopyResult
from worker.registry.manifests import Manifest
from worker.registry.phases import VERIFICATION, timed_as
from worker.registry.repository import Repository

StopCheck = Callable[[], None]
# The repository `name` on `registry`, through the engine's shared client.
RepositoryOf = Callable[[str, str], Repository]


def put_tag(repository: Repository, tag: str, manifest: Manifest, served: str | None) -> str | None:
    """PUT `manifest` under `tag`, which serves `served` now; returns the digest the registry
    answered. A registry that refuses to move a tag that points elsewhere (immutable tags)
    gets a rejection naming both digests."""
    try:
        return repository.put_manifest(tag, manifest).digest
    except (RejectedError, AuthError) as refused:
        if served is None:
            raise
        raise RejectedError(
            f"tag {tag} of {repository} points to {served} and the registry refused to move it "
            f"to {manifest.digest}: the repository's tags are probably immutable; push under a "
            f"new tag, or delete {tag} there first ({refused.detail})"
        ) from None


def push_tags(
    repository_of: RepositoryOf,
    manifest: Manifest,
    references: Sequence[Reference],
    should_stop: StopCheck,
    served: Mapping[str, str | None] | None = None,
) -> dict[str, str | None]:
    """PUT the manifest under every tag that does not already serve it (`served`: what each
    tag served when the copy began, so it need not be asked again); returns what the registry
    answered to each PUT, by reference."""
    answered: dict[str, str | None] = {}
    for reference in references:
        should_stop()
        repository = repository_of(reference.registry, reference.repository)
        if served is not None and str(reference) in served:
            now = served[str(reference)]
        else:
            now = repository.served_digest(reference.identifier)
        if now != manifest.digest:
            answered[str(reference)] = put_tag(repository, reference.identifier, manifest, now)
    return answered


@timed_as(VERIFICATION)
def confirm_served(
    repository_of: RepositoryOf,
    result: CopyResult,
    references: Sequence[Reference],
    answered: Mapping[str, str | None] | None = None,
) -> CopyResult:
    """Check every tag serves result.digest and record what it serves: a tag whose PUT the
    registry answered with that digest is taken at its word, the others are asked (HEAD)."""
    for reference in references:
        served = (answered or {}).get(str(reference))
        if served != result.digest:
            repository = repository_of(reference.registry, reference.repository)
            served = repository.served_digest(reference.identifier)
        if served != result.digest:
            raise RejectedError(
                f"{reference} serves {served or 'nothing'} after the push, not {result.digest}"
            )
        result.served[str(reference)] = served
    return result
