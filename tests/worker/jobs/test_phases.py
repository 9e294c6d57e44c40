"""Where a job's time goes: the phase clock's rules, and the phases a real job records."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from tests.support.images import ImageBuilder
from worker.jobs.model import JobStatus
from worker.jobs.runner import JobRunner
from worker.jobs.submit import PushRequest, plan_job, submit
from worker.registry.phases import (
    BLOB_CHECKS,
    CREDENTIALS,
    VERIFICATION,
    PhaseClock,
    current_phases,
    phase,
)
from worker.settings import Settings


def test_the_outermost_phase_owns_its_block_but_tokens_count_everywhere() -> None:
    clock = PhaseClock()
    token = current_phases.set(clock)
    try:
        # a tag HEAD while verifying is verification; the token it needed is counted as well
        with phase(VERIFICATION), phase(BLOB_CHECKS), phase(CREDENTIALS):
            pass
    finally:
        current_phases.reset(token)
    names = [span.name for span in clock.spans()]
    assert names == [CREDENTIALS, VERIFICATION]  # in the order a job goes through them


def test_steps_from_several_threads_span_from_first_start_to_last_end() -> None:
    clock = PhaseClock()
    clock.add(BLOB_CHECKS, 10.0, 11.0)
    clock.add(BLOB_CHECKS, 10.5, 12.0)
    (span,) = clock.spans()
    assert (span.start, span.seconds, span.busy) == (10.0, 2.0, 2.5)


def test_no_clock_no_record() -> None:
    with phase(BLOB_CHECKS):
        pass
    assert current_phases.get() is None


def test_a_job_records_its_phases_on_its_document(
    settings: Settings,
    make_runner: Callable[[Settings], JobRunner],
    source_images: ImageBuilder,
) -> None:
    name = f"acme/phases-{uuid.uuid4().hex[:8]}"
    source_images.image(name, "1", [4096, 2048])
    host = next(iter(settings.source_registries))
    runner = make_runner(settings)
    job = plan_job(PushRequest(source=f"{host}/{name}:1", app_slug="myapp"), settings, "test")
    submit(runner.store, job, lambda _: None)
    done = runner.run(job.id)
    assert done is not None and done.status is JobStatus.SUCCEEDED, done
    phases = {p.name: p for p in done.phases}
    expected = {
        "queued",
        "credentials",
        "source_manifests",
        "blob_checks",
        "blob_transfer",
        "manifest_writes",
    }
    assert expected <= set(phases), phases
    assert all(p.seconds >= 0 and p.busy >= 0 for p in done.phases)
    assert phases["queued"].start == done.created_at
    assert phases["source_manifests"].start <= phases["manifest_writes"].start
    assert runner.store.get(job.id).phases == done.phases  # stored, as the API shows it
