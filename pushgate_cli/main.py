"""`pushgate`: push an image and wait for it; follow, cancel and list push jobs."""

from __future__ import annotations

import functools
import math
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from pushgate_cli import __version__, plan
from pushgate_cli.client import ApiClient
from pushgate_cli.completion import completion
from pushgate_cli.config import DURATION, Output
from pushgate_cli.errors import CliError, Exit
from pushgate_cli.follow import OUTCOMES, WaitTimedOut, finished, follow
from pushgate_cli.idempotency import derive_key
from pushgate_cli.profiles import connection
from pushgate_cli.progress import BarReporter, LineReporter, Reporter, final_line, status_line

FOLLOW_TIMEOUT_AFTER_CANCEL = 30.0
TERMINAL_REFRESH = 1.0  # seconds between progress fetches under the live bar


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pushgate")
def main() -> None:
    """Push container images into the vendor registry through pushgate, and follow the jobs.

    Configure with PUSHGATE_URL and PUSHGATE_API_KEY (or --api-key-file), or with a profile
    in ~/.config/pushgate/config.toml (--profile, PUSHGATE_PROFILE); options and the
    environment win over the profile.
    Exit codes: 0 succeeded, 1 failed, 2 invalid request or usage, 3 stopped waiting at
    --timeout, 4 not authorised, 5 cancelled, 6 service unavailable.
    """


def _common(command: Callable[..., int | None]) -> Callable[..., None]:
    """Options every command takes; runs the command and exits with its code."""

    @click.option("--url", envvar="PUSHGATE_URL", help="pushgate's base URL.")
    @click.option(
        "--profile", envvar="PUSHGATE_PROFILE", help="A profile of ~/.config/pushgate/config.toml."
    )
    @click.option(
        "--api-key-file",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar="PUSHGATE_API_KEY_FILE",
        help="File holding the API key (default: PUSHGATE_API_KEY).",
    )
    @click.option("--output", type=click.Choice(["text", "json"]), default="text")
    @click.option(
        "--retry-for",
        type=DURATION,
        default="2m",
        envvar="PUSHGATE_CLI_RETRY_FOR",
        show_default=True,
        help="Keep retrying an unavailable service (503, 429, connection errors) this long.",
    )
    @functools.wraps(command)
    def run(
        url: str | None,
        profile: str | None,
        api_key_file: Path | None,
        output: str,
        retry_for: float,
        **kw: Any,
    ) -> None:
        out = Output(json=output == "json")
        client: ApiClient | None = None
        try:
            base_url, api_key = connection(url, api_key_file, profile)
            client = ApiClient(base_url, api_key, retry_for, out.info)
            code = command(client, out, **kw)
        except CliError as exc:
            out.info(f"pushgate: {exc.message}")
            code = exc.code
        finally:
            if client is not None:
                client.close()
        sys.exit(int(code or 0))

    return run


def _wait_options(command: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--timeout", type=DURATION, help="Stop waiting after this long (exit 3)."),
        click.option(
            "--progress-interval",
            type=DURATION,
            default="10s",
            envvar="PUSHGATE_CLI_PROGRESS_INTERVAL",
            show_default=True,
            help="Off a terminal: at most one progress line this often (and one per status).",
        ),
        click.option(
            "--cancel-on-interrupt",
            is_flag=True,
            help="On Ctrl-C cancel the job (else it goes on).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@contextmanager
def _reporter(out: Output, interval: float) -> Iterator[tuple[Reporter, bool]]:
    terminal = sys.stderr.isatty() and os.environ.get("TERM") != "dumb"
    reporter: Reporter = (
        BarReporter(Console(stderr=True)) if terminal else LineReporter(out.info, interval)
    )
    try:
        yield reporter, terminal
    finally:
        reporter.close()


def _wait_for(
    client: ApiClient,
    out: Output,
    job: dict[str, Any],
    etag: str | None,
    timeout: float | None,
    progress_interval: float,
    cancel_on_interrupt: bool,
) -> int:
    """Follow the job to its end and report it; the exit code of its outcome."""
    job_id = job["id"]
    try:
        with _reporter(out, progress_interval) as (reporter, terminal):
            refresh = TERMINAL_REFRESH if terminal else progress_interval
            job = follow(client, job, etag, reporter, timeout=timeout, refresh=refresh)
    except WaitTimedOut as stopped:
        out.info(
            f"stopped waiting after {timeout:g}s: job {job_id} is {stopped.job['status']} and "
            f"goes on; follow it with: pushgate wait {job_id}"
        )
        out.result(job_id, stopped.job)
        return Exit.TIMEOUT
    except KeyboardInterrupt:
        if not cancel_on_interrupt:
            out.info(
                f"stopped waiting: job {job_id} goes on; follow it with: pushgate wait {job_id}"
            )
            return Exit.INTERRUPTED
        out.info(f"interrupted: cancelling job {job_id}")
        client.request("POST", f"/v1/pushes/{job_id}/cancel", ok=(202, 409))
        with _reporter(out, progress_interval) as (reporter, _):
            try:
                job = follow(
                    client,
                    job,
                    None,
                    reporter,
                    timeout=FOLLOW_TIMEOUT_AFTER_CANCEL,
                    refresh=progress_interval,
                )
            except WaitTimedOut:
                out.info(f"cancel requested; job {job_id} is still stopping")
                return Exit.CANCELLED
    if out.json:
        out.info(final_line(job))
    out.result(final_line(job), job)
    return OUTCOMES[job["status"]]


@main.command()
@click.argument("source")
@click.option("--app", "app_slug", required=True, help="The vendor app slug to push into.")
@click.option("--target", metavar="IMAGE", help="Image name under the app (default: the source's).")
@click.option("--tag", help="Target tag (default: the source tag).")
@click.option("--extra-tag", "extra_tags", multiple=True, help="Another tag; repeatable.")
@click.option("--platform", "platforms", multiple=True, help="e.g. linux/amd64; repeatable.")
@click.option("--attestations", type=click.Choice(["strip", "keep", "fail"]))
@click.option(
    "--referrers",
    type=click.Choice(["copy", "skip", "require"]),
    help="Signatures and SBOMs: copy, skip, or require a signature (default: each target's).",
)
@click.option(
    "--to", "targets", multiple=True, metavar="TARGET", help="A named push target; repeatable."
)
@click.option("--deadline", type=DURATION, help="Fail the job as `timeout` after this long.")
@click.option("--idempotency-key", help="Default: derived from the CI run and the request.")
@click.option("--wait/--no-wait", default=True, show_default=True)
@click.option("--dry-run", is_flag=True, help="Print the plan, push nothing (exit 4: refused).")
@_wait_options
@_common
def push(
    client: ApiClient,
    out: Output,
    source: str,
    idempotency_key: str | None,
    wait: bool,
    deadline: float | None,
    timeout: float | None,
    progress_interval: float,
    cancel_on_interrupt: bool,
    dry_run: bool,
    **fields: Any,
) -> int:
    """Push SOURCE (an image reference) into the app's namespace; wait for the end."""
    body: dict[str, Any] = {"source": source}
    for name, value in fields.items():
        if value not in (None, ()):
            body[name] = list(value) if isinstance(value, tuple) else value
    if deadline is not None:
        body["deadline_seconds"] = max(1, math.ceil(deadline))
    if dry_run:
        return plan.dry_run(client, out, body)
    key = idempotency_key or derive_key(os.environ, body)
    response = client.request(
        "POST", "/v1/pushes", ok=(200, 202), json=body, headers={"Idempotency-Key": key}
    )
    job = response.json()
    replay = " (the earlier job of this idempotency key)" if response.status_code == 200 else ""
    out.info(f"job {job['id']}{replay}: {job['source']} -> {', '.join(job['destinations'])}")
    if not wait:
        out.result(job["id"], job)
        return Exit.SUCCEEDED
    etag = response.headers.get("ETag")
    return _wait_for(client, out, job, etag, timeout, progress_interval, cancel_on_interrupt)


@main.command()
@click.argument("job_id")
@_wait_options
@_common
def wait(
    client: ApiClient,
    out: Output,
    job_id: str,
    timeout: float | None,
    progress_interval: float,
    cancel_on_interrupt: bool,
) -> int:
    """Wait for job JOB_ID to end; exit with its outcome."""
    response = client.request("GET", f"/v1/pushes/{job_id}")
    return _wait_for(
        client,
        out,
        response.json(),
        response.headers.get("ETag"),
        timeout,
        progress_interval,
        cancel_on_interrupt,
    )


@main.command()
@click.argument("job_id")
@_common
def status(client: ApiClient, out: Output, job_id: str) -> int:
    """Show job JOB_ID."""
    job = client.request("GET", f"/v1/pushes/{job_id}").json()
    out.result(final_line(job) if finished(job) else status_line(job), job)
    return Exit.SUCCEEDED


@main.command()
@click.argument("job_id")
@_common
def cancel(client: ApiClient, out: Output, job_id: str) -> int:
    """Cancel job JOB_ID: a queued job never starts, a running one stops within seconds."""
    job = client.request("POST", f"/v1/pushes/{job_id}/cancel", ok=(202,)).json()
    text = status_line(job) + ("  (stopping)" if job.get("status") == "running" else "")
    out.result(text, job)
    return Exit.SUCCEEDED


@main.command(name="list")
@click.option("--app", "app_slug", help="Only this app's jobs.")
@click.option("--status", type=click.Choice([*sorted(OUTCOMES), "queued", "running"]))
@click.option("--limit", type=click.IntRange(1, 100), default=20, show_default=True)
@_common
def list_jobs(
    client: ApiClient, out: Output, app_slug: str | None, status: str | None, limit: int
) -> int:
    """List push jobs, newest first."""
    params = {k: v for k, v in {"app_slug": app_slug, "status": status}.items() if v}
    page = client.request("GET", "/v1/pushes", params={**params, "limit": limit}).json()
    lines = [
        f"{job['id']}  {job['status']:<9}  {job['created_at']}  {job['source']}"
        for job in page["items"]
    ]
    out.result("\n".join(lines), page)
    return Exit.SUCCEEDED


main.add_command(completion)
