"""Chat and plans, measured: how fast a signed Slack `/pushgate push` is answered (20 commands),
and what a plan of the 176 MiB image costs against its push (cold target, alternating runs).

`python -m tests.bench.bench_chat_plan` (part of `make bench`)."""

from __future__ import annotations

import json
import os
import secrets
import statistics
import tempfile
import time
from pathlib import Path

from tests.bench.bench_copy import LAYERS
from tests.bench.common import BENCH_TOKEN, FreshVendor, Series, timed
from tests.bench.measure import load_average
from tests.support.chat import SLACK_CHANNEL, SLACK_TEAM, SLACK_USER, send, sign, slack_form
from tests.support.images import ImageBuilder
from tests.support.pushgate import Service, launch
from tests.support.receiver import WebhookReceiver
from tests.support.services import RedisServer, Registry

COMMANDS = 20
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
SECRET = secrets.token_hex(16)


def _service(work: Path, redis: RedisServer, source: Registry, vendor: FreshVendor) -> Service:
    work.mkdir(parents=True, exist_ok=True)
    (work / "slack.secret").write_text(SECRET)
    grant = {"key": "pipeline", "slack": {"team": SLACK_TEAM, "users": [SLACK_USER]}}
    (work / "chatops.json").write_text(json.dumps([grant]))
    return launch(
        work,
        redis.url,
        source.host,
        vendor.host,
        shared_env={
            "PUSHGATE_SLACK_SIGNING_SECRET_FILE": str(work / "slack.secret"),
            "PUSHGATE_CHATOPS_FILE": str(work / "chatops.json"),
            "PUSHGATE_CHATOPS_RESPONSE_HOSTS": "127.0.0.1:*",
        },
        PUSHGATE_REGISTRY_TOKEN=BENCH_TOKEN,
    )


def slack_answers(svc: Service, source: str, receiver: WebhookReceiver) -> list[float]:
    """Seconds to each of COMMANDS signed `/pushgate push` answers."""
    seconds = []
    for n in range(COMMANDS):
        form = slack_form(f"push {source} --app myapp", receiver.url(f"/r/{n}"), f"bench.{n}")
        form["channel_id"] = SLACK_CHANNEL
        request = sign(SECRET, form)
        started = time.perf_counter()
        answer = send(svc.url, "/chatops/slack/commands", request)
        seconds.append(time.perf_counter() - started)
        assert answer.status_code == 200 and "Push queued" in answer.text, answer.text
    return seconds


def main() -> None:
    """Print the Slack answer times and the plan/push times."""
    work = Path(tempfile.mkdtemp(prefix="pushgate-bench-chat-"))
    redis, source = RedisServer(work / "redis"), Registry(work / "source")
    vendor = FreshVendor(work / "vendor", ["myapp"])
    receiver = WebhookReceiver()
    svc: Service | None = None
    try:
        svc = _service(work / "svc", redis, source, vendor)
        builder = ImageBuilder(source.url)
        builder.image("acme/small", "1", [64 * 1024])
        answers = slack_answers(svc, f"{source.host}/acme/small:1", receiver)
        print(
            f"Slack /pushgate push answered in median {statistics.median(answers) * 1000:.0f} ms, "
            f"max {max(answers) * 1000:.0f} ms over {COMMANDS} (load {load_average():.2f})"
        )
        builder.image("acme/big", "1.0", LAYERS)
        body = {"source": f"{source.host}/acme/big:1.0", "app_slug": "myapp"}
        plans, pushes = Series("plan"), Series("push")
        for _ in range(RUNS):
            vendor.reset()
            plans.seconds.append(
                timed(lambda: svc.call("POST", "/v1/plans?wait=60", json=body).raise_for_status())
            )
            pushes.seconds.append(timed(lambda: svc.push(**body)))
        print(
            f"176 MiB image, cold target: plan {plans.median:.2f} s, push {pushes.median:.2f} s "
            f"(medians of {RUNS}; plan/push = {plans.median / pushes.median:.3f}; "
            f"load {load_average():.2f})"
        )
    finally:
        if svc is not None:
            svc.stop()
        receiver.stop()
        vendor.stop()
        source.stop()
        redis.stop()


if __name__ == "__main__":
    main()
