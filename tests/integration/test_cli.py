"""The `pushgate` command as a subprocess against the live service: outcomes and exit codes."""

from __future__ import annotations

import json
import re
import signal
import subprocess
from pathlib import Path

import pytest

from tests.support.cli import CONTROL, cli_env, pushgate_command, run_cli, run_cli_in_pty
from tests.support.images import ImageBuilder
from tests.support.pushgate import API_KEY, Service
from tests.support.services import Registry, free_port

KiB = 1024


def _no_control_characters(text: str) -> None:
    found = sorted({repr(c) for c in text if c in CONTROL})
    assert not found, f"control characters in plain output: {found}\n{text}"


@pytest.fixture
def image_ref(source_images: ImageBuilder, source_registry: Registry, unique: str) -> str:
    """A small image in the source registry, for one test."""
    source_images.image(f"acme/{unique}", "1.0.1", [200 * KiB, 30 * KiB])
    return f"{source_registry.host}/acme/{unique}:1.0.1"


def test_push_succeeds_with_json_on_stdout_and_plain_lines_on_stderr(
    service: Service, image_ref: str, vendor_registry: Registry, unique: str
) -> None:
    env = cli_env(service.url, API_KEY)
    result = run_cli(
        ["push", image_ref, "--app", "myapp", "--extra-tag", "latest", "--output", "json"], env
    )
    assert result.returncode == 0, result.stderr
    job = json.loads(result.stdout)
    assert job["status"] == "succeeded" and job["digest"].startswith("sha256:")
    assert f"{vendor_registry.host}/myapp/{unique}:latest" in job["destinations"]
    _no_control_characters(result.stderr)
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"job {job['id']}: ")
    assert lines[1] == "queued"
    assert any(re.fullmatch(r"succeeded  3/3 blobs  [\d.]+/[\d.]+ MiB", line) for line in lines)
    assert lines[-1] == f"pushed {job['digest']} to {', '.join(job['destinations'])}"


def test_failed_push_exits_1_with_the_error(service: Service, image_ref: str) -> None:
    missing = image_ref.replace(":1.0.1", ":nope")
    result = run_cli(["push", missing, "--app", "myapp"], cli_env(service.url, API_KEY))
    assert result.returncode == 1, result.stderr
    assert result.stdout.startswith("failed: not_found: ")
    assert ":nope" in result.stdout
    _no_control_characters(result.stdout + result.stderr)


def test_timeout_exits_3_and_says_how_to_follow(idle_service: Service, image_ref: str) -> None:
    env = cli_env(idle_service.url, API_KEY)
    result = run_cli(["push", image_ref, "--app", "myapp", "--timeout", "1s"], env)
    assert result.returncode == 3, result.stderr
    job_id = result.stdout.strip()
    assert f"pushgate wait {job_id}" in result.stderr
    assert idle_service.call("GET", f"/v1/pushes/{job_id}").json()["status"] == "queued"
    waited = run_cli(["wait", job_id, "--timeout", "0.5s", "--output", "json"], env)
    assert waited.returncode == 3 and json.loads(waited.stdout)["id"] == job_id


def test_wrong_key_exits_4(service: Service, image_ref: str) -> None:
    result = run_cli(["push", image_ref, "--app", "myapp"], cli_env(service.url, "not-a-key"))
    assert result.returncode == 4, result.stderr
    assert "not authorised (401)" in result.stderr


def test_key_from_a_file(service: Service, tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(API_KEY + "\n")
    env = cli_env(service.url, "")
    result = run_cli(["list", "--app", "myapp", "--api-key-file", str(key_file)], env)
    assert result.returncode == 0, result.stderr
    missing = run_cli(["list"], env)
    assert missing.returncode == 2 and "PUSHGATE_API_KEY" in missing.stderr


def test_invalid_input_exits_2_naming_the_field(service: Service, image_ref: str) -> None:
    env = cli_env(service.url, API_KEY)
    refused = run_cli(["push", image_ref, "--app", "Not A Slug"], env)
    assert refused.returncode == 2, refused.stderr
    assert "request refused (422)" in refused.stderr and "app_slug" in refused.stderr
    usage = run_cli(["push", image_ref], env)
    assert usage.returncode == 2 and "--app" in usage.stderr
    bad_duration = run_cli(["push", image_ref, "--app", "myapp", "--timeout", "soon"], env)
    assert bad_duration.returncode == 2


def test_to_names_the_targets(
    service: Service, image_ref: str, vendor_registry: Registry, unique: str
) -> None:
    env = cli_env(service.url, API_KEY)
    result = run_cli(
        ["push", image_ref, "--app", "myapp", "--to", "replicated", "--output", "json"], env
    )
    assert result.returncode == 0, result.stderr
    job = json.loads(result.stdout)
    assert job["status"] == "succeeded" and job["targets"] == ["replicated"]
    assert job["results"][0]["status"] == "succeeded"
    assert job["results"][0]["references"] == [f"{vendor_registry.host}/myapp/{unique}:1.0.1"]
    unknown = run_cli(["push", image_ref, "--app", "myapp", "--to", "nowhere"], env)
    assert unknown.returncode == 2, unknown.stderr
    assert "targets" in unknown.stderr and "nowhere" in unknown.stderr


def test_unreachable_service_exits_6(image_ref: str) -> None:
    env = cli_env(f"http://127.0.0.1:{free_port()}", API_KEY)
    result = run_cli(["push", image_ref, "--app", "myapp", "--retry-for", "1s"], env)
    assert result.returncode == 6, result.stderr
    assert "unavailable" in result.stderr and "retrying in" in result.stderr


@pytest.mark.parametrize(
    ("run", "rerun"),
    [
        (
            {
                "GITHUB_ACTIONS": "true",
                "GITHUB_REPOSITORY": "acme/app",
                "GITHUB_RUN_ID": "77",
                "GITHUB_RUN_ATTEMPT": "1",
                "GITHUB_JOB": "release",
            },
            {"GITHUB_RUN_ATTEMPT": "2"},
        ),
        (
            {
                "GITLAB_CI": "true",
                "CI_PROJECT_ID": "9",
                "CI_PIPELINE_ID": "501",
                "CI_JOB_ID": "8001",
            },
            {"CI_JOB_ID": "8002"},
        ),
    ],
    ids=["github", "gitlab"],
)
def test_ci_runs_are_idempotent_and_reruns_push_again(
    idle_service: Service, image_ref: str, run: dict[str, str], rerun: dict[str, str]
) -> None:
    env = cli_env(idle_service.url, API_KEY, **run)
    args = ["push", image_ref, "--app", "myapp", "--no-wait", "--output", "json"]
    first = run_cli(args, env)
    second = run_cli(args, env)
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert json.loads(first.stdout)["id"] == json.loads(second.stdout)["id"]
    assert "the earlier job of this idempotency key" in second.stderr
    other = run_cli(args, {**env, **rerun})
    assert json.loads(other.stdout)["id"] != json.loads(first.stdout)["id"]
    listed = idle_service.call("GET", "/v1/pushes", params={"limit": 100}).json()["items"]
    assert sum(job["source"].endswith(image_ref.split("/", 1)[1]) for job in listed) == 2


def test_progress_bar_on_a_terminal(service: Service, image_ref: str) -> None:
    code, output = run_cli_in_pty(
        ["push", image_ref, "--app", "myapp"], cli_env(service.url, API_KEY)
    )
    assert code == 0, output
    assert "━" in output and "\x1b[" in output, output  # the bar, drawn with escape codes
    assert "3/3 blobs" in output and "pushed sha256:" in output


def _sigint_as_at_a_terminal() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _interrupted(idle_service: Service, image_ref: str, *extra: str) -> tuple[int, str, str]:
    proc = subprocess.Popen(
        [*pushgate_command(), "push", image_ref, "--app", "myapp", *extra],
        env=cli_env(idle_service.url, API_KEY),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Ctrl-C at a terminal: a runner that started us in the background (`cmd &` in a
        # script) passes SIGINT down ignored, and Python keeps it ignored.
        preexec_fn=_sigint_as_at_a_terminal,
    )
    with proc:  # a CLI that hangs is killed and its pipes closed, so no later test sees them
        assert proc.stderr is not None
        first = proc.stderr.readline()  # "job <id>: ...", printed once the job exists
        job_id = first.split()[1].rstrip(":")
        queued = proc.stderr.readline()
        assert queued.strip() == "queued", first + queued
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=60)
        finally:
            proc.kill()
    return proc.returncode, job_id, first + queued + err


def test_ctrl_c_prints_the_job_id_and_leaves_it(idle_service: Service, image_ref: str) -> None:
    code, job_id, err = _interrupted(idle_service, image_ref)
    assert code == 130, err
    assert f"pushgate wait {job_id}" in err
    assert idle_service.call("GET", f"/v1/pushes/{job_id}").json()["status"] == "queued"


def test_ctrl_c_with_cancel_on_interrupt_cancels(idle_service: Service, image_ref: str) -> None:
    code, job_id, err = _interrupted(idle_service, image_ref, "--cancel-on-interrupt")
    assert code == 5, err
    assert idle_service.call("GET", f"/v1/pushes/{job_id}").json()["status"] == "cancelled"
