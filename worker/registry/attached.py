"""The attached step of a copy: find what is attached to the image in the source, check the
signatures the policy asks for and refuse a destination that requires one the source lacks (all
before anything is written), copy the attachments' blobs alongside the image's, and after a
destination serves the image, write the attachments' manifests to it."""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

from worker.errors import PushCancelled, PushError, RejectedError
from worker.policies import ReferrersPolicy
from worker.registry.carry import LocalTagLocks, TagLocker, carry, copy_attached_blobs
from worker.registry.cosign import Verification, VerifyPolicy, check_signed, is_signature
from worker.registry.destination import CopyOptions, CopyResult, Destination
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
    blobs_copied: bool = False,
) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Write the plan's attachments to `destination`, which serves the image (none under the
    `skip` policy); what was carried, and what was skipped. `blobs_copied`: their blobs are
    there already (AttachedStep.copy_blobs)."""
    if policy is ReferrersPolicy.SKIP:
        return [], [attachment.as_record() for attachment in plan.following]
    locks = lock or _LOCAL_LOCKS
    carried = carry(source, destination, plan.following, locks, should_stop, blobs_copied)
    return [attachment.as_record() for attachment in carried], []


class AttachedStep:
    """The attached step of one copy. When nothing must be verified or required before the
    first write, discovery runs while the image's blobs go, and the attachments' blobs follow
    as soon as it is done (a blob has no subject to wait for); only their manifests and the
    fallback indexes wait for the image's manifest."""

    def __init__(self, source: Repository, options: CopyOptions, should_stop: StopCheck) -> None:
        self.source, self.options, self.should_stop = source, options, should_stop
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="attached")
        self._found: Future[AttachedPlan] | None = None
        self._blobs_copied: set[str] = set()  # the repositories (str) given the blobs early

    def policy(self, destination: Destination) -> ReferrersPolicy:
        """What `destination` does with attachments: its own policy, else the copy's."""
        return destination.referrers or self.options.referrers

    def checks_first(self, destinations: Sequence[Destination]) -> bool:
        """Whether signatures are checked before any write: the copy verifies, or a
        destination requires one."""
        required = any(self.policy(d) is ReferrersPolicy.REQUIRE for d in destinations)
        return self.options.verify is not None or required

    def start(self, top: Manifest, selection: IndexSelection) -> None:
        """Begin finding (and verifying) what is attached to the pushed image."""
        verify, stop = self.options.verify, self.should_stop
        find = partial(plan_attached, self.source, top, selection, verify, stop)
        self._found = self._pool.submit(contextvars.copy_context().run, find)

    def plan(self) -> AttachedPlan:
        """What was found: waits for it; raises what finding raised (a missing signature)."""
        assert self._found is not None, "start() first"
        return self._found.result()

    def refusals(
        self, destinations: Sequence[Destination], digest: str
    ) -> list[tuple[Destination, RejectedError]]:
        """Each destination that requires a signature for `digest` the source lacks."""
        plan = self.plan()
        refused = [(d, refuse_unsigned(plan, self.policy(d), digest, d.name)) for d in destinations]
        return [(d, error) for d, error in refused if error is not None]

    def copy_blobs(self, destinations: Sequence[Repository]) -> None:
        """Copy the attachments' blobs to `destinations`, once found; a failure to find is left
        for plan() to raise, a failure to copy for the carry to meet again."""
        try:
            following = self.plan().following
        except PushError:
            return
        for destination in destinations:
            self.should_stop()
            try:
                copy_attached_blobs(self.source, destination, following, self.should_stop)
            except PushCancelled:
                raise
            except PushError:
                continue
            self._blobs_copied.add(str(destination))

    def carry_to(
        self, destination: Destination, repository: Repository, result: CopyResult
    ) -> None:
        """Write the attachments to `repository` (the destination's, which serves the image
        now) and put on `result` what was carried, skipped, left behind and verified."""
        plan = self.plan()
        result.left_behind = [a.as_record() for a in plan.left_behind]
        result.verified = [v.as_record() for v in plan.verified]
        result.carried, result.skipped = carry_attached(
            plan,
            self.source,
            repository,
            self.policy(destination),
            self.options.tag_lock,
            self.should_stop,
            blobs_copied=str(repository) in self._blobs_copied,
        )

    def close(self) -> None:
        """Wait for the finding to end (it only reads)."""
        self._pool.shutdown(wait=True, cancel_futures=True)
