"""`make demo`: the whole service on loopback, one push through the HTTP API, the final job printed.

Starts Redis, a plain source registry with a sample image, a token-auth registry standing in for
the vendor registry (with its token server), the API under gunicorn and one Celery worker; then
prints the pushes page's address and the demo key, submits a push, waits for it and prints the
job. Everything is stopped at the end.

`--up` (`make demo-up`) keeps the stack running after the pushes, for the page, until
`make demo-down` (or SIGTERM/SIGINT); READY then holds the page's address and the key.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import signal
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deploy.demo_stack.images import ImageBuilder  # noqa: E402
from deploy.demo_stack.pushgate import service_env, start_api, start_worker  # noqa: E402
from deploy.demo_stack.services import Process, RedisServer, Registry  # noqa: E402
from deploy.demo_stack.token_server import Account, TokenIssuer, TokenServer  # noqa: E402

WORKDIR = ROOT / ".demo"
PIDS = WORKDIR / "pids"  # process groups, for `make demo-down` if this script is killed
READY = WORKDIR / "ready"  # written by --up once the page can be opened
APP_SLUG = "myapp"


def step(text: str) -> None:
    """Say what the demo does next."""
    print(f"==> {text}", file=sys.stderr, flush=True)


def track(started: list[Process], process: Process) -> None:
    """Remember a started process, here and in the pid file."""
    started.append(process)
    track_pid(process.proc.pid)


def track_pid(pid: int) -> None:
    """Add a process group to the pid file `make demo-down` reads."""
    with PIDS.open("a") as pids:
        pids.write(f"{pid}\n")


def stop_on_signal(signum: int, frame: object) -> None:
    """Turn SIGTERM into SystemExit, so the finally block stops what was started."""
    raise SystemExit(128 + signum)


def main(argv: list[str]) -> int:
    """Run the demo; returns the exit code (0 when the pushed digest equals the source's)."""
    stay_up = "--up" in argv
    signal.signal(signal.SIGTERM, stop_on_signal)
    shutil.rmtree(WORKDIR, ignore_errors=True)
    WORKDIR.mkdir()
    if stay_up:
        track_pid(os.getpid())
    started: list[Process] = []
    token_server: TokenServer | None = None
    try:
        step("starting redis, a source registry and the vendor-registry stand-in")
        redis = RedisServer(WORKDIR / "redis")
        track(started, redis)
        source = Registry(WORKDIR / "source")
        track(started, source)
        registry_token = "demo-sa-" + secrets.token_hex(16)
        issuer = TokenIssuer.create([Account("service_account", registry_token, [APP_SLUG])])
        token_server = TokenServer(issuer).start()
        vendor = Registry(
            WORKDIR / "vendor", token_realm=token_server.realm, cert_pem=issuer.cert_pem
        )
        track(started, vendor)

        step("pushing a sample image to the source registry")
        builder = ImageBuilder(source.url)
        sample = builder.image("acme/worker", "1.0.1", [2 << 20, 512 << 10, 64 << 10])
        builder.close()

        api_key = "demo-key-" + secrets.token_hex(12)
        keys = WORKDIR / "api-keys.json"
        keys.write_text(
            json.dumps(
                [
                    {
                        "name": "demo-pipeline",
                        "app_slugs": [APP_SLUG],
                        "key_sha256": hashlib.sha256(api_key.encode()).hexdigest(),
                    }
                ]
            )
        )
        apps = WORKDIR / "apps.yaml"  # the demo app reads only acme/* on the source
        apps.write_text(
            f"- app: {APP_SLUG}\n  sources: ['{source.host}/acme/*']\n"
            "  targets: [replicated]\n  default_targets: [replicated]\n"
        )
        env = service_env(redis.url, source.host, vendor.host, keys, PUSHGATE_APPS_FILE=str(apps))
        step("starting the API (gunicorn) and one Celery worker")
        api, url = start_api(env, WORKDIR)
        track(started, api)
        track(
            started,
            start_worker(
                {
                    **env,
                    "PUSHGATE_REGISTRY_TOKEN": registry_token,
                    "PUSHGATE_REGISTRY_USERNAME": "demo-sa",
                },
                WORKDIR,
                "demo",
            ),
        )

        page = f"{url}/ui/"
        print(f"\n    pushes page: {page}\n    demo API key: {api_key}\n", flush=True)
        request = {
            "source": f"{source.host}/acme/worker:1.0.1",
            "app_slug": APP_SLUG,
            "extra_tags": ["latest"],
        }
        step(f"POST {url}/v1/pushes {json.dumps(request)}")
        headers = {"Authorization": f"Bearer {api_key}"}
        outside = {**request, "source": f"{source.host}/other-team/worker:1.0.1"}
        refused = httpx.post(f"{url}/v1/pushes", json=outside, headers=headers)
        step(f"outside the app's policy: {refused.status_code} {refused.json()['detail']}")
        created = httpx.post(f"{url}/v1/pushes", json=request, headers=headers)
        created.raise_for_status()
        location = created.headers["Location"]
        deadline = time.monotonic() + 120
        job = created.json()
        while job["status"] in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.1)
            job = httpx.get(url + location, headers=headers).json()
        print(json.dumps(job, indent=2))
        if job["status"] != "succeeded" or job["digest"] != sample.digest:
            step(f"FAILED: status {job['status']}, logs in {WORKDIR}")
            return 1
        step(f"succeeded: the vendor registry serves {job['digest']}, the source digest")
        if stay_up:
            missing = {**request, "source": f"{source.host}/acme/worker:no-such-tag"}
            httpx.post(f"{url}/v1/pushes", json=missing, headers=headers).raise_for_status()
            READY.write_text(f"pushes page: {page}\ndemo API key: {api_key}\n")
            step("up: open the page, sign in with the key; `make demo-down` stops everything")
            while True:
                signal.pause()
        return 0
    finally:
        for process in reversed(started):
            process.stop()
        PIDS.unlink(missing_ok=True)
        READY.unlink(missing_ok=True)
        if token_server is not None:
            token_server.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
