"""The CLI's pure parts: durations, derived idempotency keys, plain progress lines."""

from __future__ import annotations

import click
import pytest

from pushgate_cli.config import DURATION
from pushgate_cli.idempotency import derive_key
from pushgate_cli.progress import LineReporter, final_line, plain, status_line

GITHUB = {
    "GITHUB_ACTIONS": "true",
    "GITHUB_REPOSITORY": "acme/app",
    "GITHUB_RUN_ID": "42",
    "GITHUB_RUN_ATTEMPT": "1",
    "GITHUB_JOB": "release",
}
BODY = {"source": "ghcr.io/acme/worker:1.0.1", "app_slug": "myapp"}
MiB = 1024 * 1024


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90), ("90s", 90), ("15m", 900), ("1h30m", 5400), ("0.5s", 0.5)]
)
def test_durations(text: str, seconds: float) -> None:
    assert DURATION.convert(text, None, None) == seconds


@pytest.mark.parametrize("text", ["", "soon", "5x", "1h 30m", "-1s"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(click.BadParameter):
        DURATION.convert(text, None, None)


def test_key_is_stable_within_a_ci_attempt_and_changes_with_it() -> None:
    key = derive_key(GITHUB, BODY)
    assert key == derive_key(dict(GITHUB), dict(BODY))
    assert key != derive_key({**GITHUB, "GITHUB_RUN_ATTEMPT": "2"}, BODY)
    assert key != derive_key({**GITHUB, "GITHUB_JOB": "other"}, BODY)
    assert key != derive_key(GITHUB, {**BODY, "tag": "2"})
    gitlab = {"GITLAB_CI": "true", "CI_PROJECT_ID": "1", "CI_PIPELINE_ID": "2", "CI_JOB_ID": "3"}
    assert derive_key(gitlab, BODY) != derive_key({**gitlab, "CI_JOB_ID": "4"}, BODY)
    assert derive_key(gitlab, BODY).startswith("pushgate-gitlab-")


def test_outside_ci_each_invocation_has_its_own_key() -> None:
    assert derive_key({}, BODY) != derive_key({}, BODY)


def _job(status: str, done: int = 3, total: int = 5, skipped: int = 2) -> dict[str, object]:
    progress = {
        "blobs_total": total,
        "blobs_done": done,
        "blobs_skipped": skipped,
        "bytes_total": 176 * MiB,
        "bytes_done": 120 * MiB,
    }
    return {"status": status, "progress": progress}


def test_status_line() -> None:
    assert status_line(_job("running")) == "running  3/5 blobs  120.0/176.0 MiB  2 skipped"
    assert status_line({"status": "queued", "progress": {}}) == "queued"


def test_line_reporter_prints_status_changes_and_at_most_one_line_per_interval() -> None:
    lines: list[str] = []
    now = [0.0]
    reporter = LineReporter(lines.append, 10, clock=lambda: now[0])
    reporter.update({"status": "queued"})
    reporter.update(_job("running", done=1))  # status change: printed at once
    now[0] = 4
    reporter.update(_job("running", done=2))  # too soon
    now[0] = 11
    reporter.update(_job("running", done=2))  # due and moved on since the last line
    now[0] = 22
    reporter.update(_job("running", done=2))  # due, but nothing new
    reporter.update(_job("succeeded", done=5))  # status change
    assert [line.split("  ")[0:2] for line in lines] == [
        ["queued"],
        ["running", "1/5 blobs"],
        ["running", "2/5 blobs"],
        ["succeeded", "5/5 blobs"],
    ]


def test_plain_and_final_lines_carry_no_control_characters() -> None:
    assert plain("a\x1b[2Kb\rc\nd") == "a [2Kb c d"
    failed = {"status": "failed", "error": {"type": "auth", "detail": "denied\nby registry"}}
    assert final_line(failed) == "failed: auth: denied by registry"
    ok = {"status": "succeeded", "digest": "sha256:ab", "destinations": ["r/a/b:1", "r/a/b:2"]}
    assert final_line(ok) == "pushed sha256:ab to r/a/b:1, r/a/b:2"


def test_final_line_counts_what_was_carried_and_left_behind() -> None:
    sig = {"digest": "sha256:5", "kind": "cosign sig", "subject": "sha256:ab"}
    ok = {
        "status": "succeeded",
        "digest": "sha256:ab",
        "destinations": ["r/a/b:1"],
        "results": [{"carried": [sig, sig]}, {"carried": [sig], "left_behind": [sig]}],
    }
    assert final_line(ok) == (
        "pushed sha256:ab to r/a/b:1, with 3 signatures/SBOMs "
        "(1 left behind: made for the source index digest)"
    )
