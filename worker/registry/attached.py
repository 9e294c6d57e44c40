"""The attached step of a copy: before anything is written, find what is attached to the image
in the source, check the signatures the policy asks for and refuse a destination that requires
one the source lacks; after a destination serves the image, carry the attachments to it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from worker.errors import RejectedError
from worker.policies import ReferrersPolicy
from worker.registry.carry import LocalTagLocks, TagLocker, carry
from worker.registry.cosign import Verification, VerifyPolicy, check_signed, is_signature
from worker.registry.manifests import Manifest
from worker.registry.referrers import Attachment, discover
from worker.registry.repository import Repository
from worker.registry.selection import IndexSelection

StopCheck = Callable[[], None]
_LOCAL_LOCKS = LocalTagLocks()


@dataclass
class AttachedPlan:
    """What is attached to the pushed image in the source, and what a copy does with it:
    `following` goes to every destination that copies referrers; `left_behind` were made for
    an index digest the push changes (attestations stripped), so cannot follow it."""

    following: list[Attachment] = field(default_factory=list)
    left_behind: list[Attachment] = field(default_factory=list)
    verified: list[Verification] = field(default_factory=list)
    signed: bool = False  # some signature names the pushed image (or each pushed child)


def _roots(attachments: Sequence[Attachment]) -> dict[str, str]:
    """Each attachment's digest -> the image digest its chain of subjects starts at."""
    roots: dict[str, str] = {}
    for attachment in attachments:  # breadth first: a subject comes before what it carries
        roots[attachment.digest] = roots.get(attachment.subject, attachment.subject)
    return roots


def plan_attached(
    source: Repository,
    top: Manifest,
    selection: IndexSelection,
    verify: VerifyPolicy | None,
    should_stop: StopCheck,
) -> AttachedPlan:
    """Find the attachments of the source digest and of each pushed child (also for `skip`,
    so a job can say what it left out), and verify; a missing signature is a RejectedError
    naming the key and the digest, raised before any write."""
    children = [image.digest for image in selection.images] if top.is_index else []
    found = discover(source, [top.digest, *children], should_stop)
    plan = AttachedPlan()
    if verify is not None:
        index = top.digest if top.is_index else None
        plan.verified = check_signed(source, index, children or [top.digest], found, verify)
    signed = {a.subject for a in found if is_signature(a)}
    plan.signed = top.digest in signed or bool(children and set(children) <= signed)
    roots = _roots(found)
    changed = selection.manifest.digest != top.digest
    for attachment in found:
        stays = changed and roots[attachment.digest] == top.digest
        (plan.left_behind if stays else plan.following).append(attachment)
    return plan


def refuse_unsigned(
    plan: AttachedPlan, policy: ReferrersPolicy, digest: str, destination: str
) -> RejectedError | None:
    """The rejection for a destination whose policy is `require` when the source has no
    signature for `digest`; None when it has one, or does not require one."""
    if plan.signed or policy is not ReferrersPolicy.REQUIRE:
        return None
    return RejectedError(
        f"{destination} requires a signature (referrers: require) and the source has none "
        f"for {digest}: sign the image (cosign sign) or push with referrers copy"
    )


def carry_attached(
    plan: AttachedPlan,
    source: Repository,
    destination: Repository,
    policy: ReferrersPolicy,
    lock: TagLocker | None,
    should_stop: StopCheck,
) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Write the plan's attachments to `destination`, which serves the image (none under the
    `skip` policy); what was carried, and what was skipped."""
    if policy is ReferrersPolicy.SKIP:
        return [], [attachment.as_record() for attachment in plan.following]
    carried = carry(source, destination, plan.following, lock or _LOCAL_LOCKS, should_stop)
    return [attachment.as_record() for attachment in carried], []
