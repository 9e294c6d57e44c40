"""`make bench` (part 3): a daemon image pushed by pushgate and by `docker push`, same run.

`docker push` here is the Engine API call the CLI makes (POST /images/{name}/push), with the
credentials passed per call. Each push goes to a vendor stand-in wiped before it (cold).
"""

from __future__ import annotations

import os
import sys
import tempfile
from functools import partial
from pathlib import Path

import docker

from tests.bench.common import BENCH_TOKEN, FreshVendor, MiB, Series, ratio_line, timed
from tests.support.daemon_images import build_scratch_image
from tests.support.services import DockerDaemon
from worker.daemon.export import push_by_export
from worker.daemon.source import DaemonSource, push_with_sdk
from worker.daemon.stream import read_push_stream
from worker.engines import build_engine
from worker.reference import destination
from worker.registry.progress import Progress
from worker.settings import Secret, Settings

RUNS = int(os.environ.get("BENCH_DAEMON_RUNS", "3"))
LAYERS = [80 * MiB, 40 * MiB, 25 * MiB, 15 * MiB, 10 * MiB]
NAME = "bench/daemon-big:1"


def docker_push(client: docker.DockerClient, image_id: str, ref: str) -> None:
    """What `docker push` does: tag, push with credentials, read the stream to its digest."""
    repo, tag = ref.rsplit(":", 1)
    client.api.tag(image_id, repo, tag)
    try:
        read_push_stream(
            client.api.push(
                repo,
                tag,
                stream=True,
                decode=True,
                auth_config={"username": "bench", "password": BENCH_TOKEN},
            )
        )
    finally:
        client.api.remove_image(ref, noprune=True)


def main() -> None:
    """Time pushgate's export path, its SDK path and docker push; print medians and ratios."""
    work = Path(tempfile.mkdtemp(prefix="pushgate-bench-daemon-"))
    daemon = DockerDaemon(work / "dockerd")
    vendor = FreshVendor(work / "vendor", ["bench"])
    client = docker.DockerClient(base_url=daemon.url, timeout=600)
    exported, sdk, reference = (
        Series("pushgate export"),
        Series("pushgate sdk"),
        Series("docker push"),
    )
    source = DaemonSource(daemon.url)
    try:
        image = build_scratch_image(client, NAME, LAYERS)
        settings = Settings(
            registry=vendor.host,
            registry_username="bench",
            registry_token=Secret(BENCH_TOKEN),
            insecure_registries=frozenset({vendor.host}),
        )
        for run in range(RUNS):
            vendor.reset()
            engine = build_engine(settings)
            dests = [destination(vendor.host, "bench", "daemon", "e")]
            exported.seconds.append(
                timed(
                    partial(
                        push_by_export, source, NAME, dests, engine, Progress(), lambda: None, {}
                    )
                )
            )
            engine.close()
            vendor.reset()
            engine = build_engine(settings)
            dests = [destination(vendor.host, "bench", "daemon", "s")]
            sdk.seconds.append(
                timed(
                    partial(
                        push_with_sdk,
                        source,
                        NAME,
                        dests,
                        engine,
                        engine.target_credentials,
                        Progress(),
                        lambda: None,
                    )
                )
            )
            engine.close()
            vendor.reset()
            reference.seconds.append(
                timed(partial(docker_push, client, image.id, f"{vendor.host}/bench/daemon:d"))
            )
            print(
                f"run {run + 1}/{RUNS}: export {exported.seconds[-1]:.3f}s  sdk "
                f"{sdk.seconds[-1]:.3f}s  docker push {reference.seconds[-1]:.3f}s",
                file=sys.stderr,
                flush=True,
            )
        print(
            f"\ndaemon image: {len(LAYERS)} layers, {sum(LAYERS) / MiB:.0f} MiB "
            f"incompressible, vfs storage; {RUNS} runs, medians"
        )
        print(ratio_line("daemon push, pushgate export path", exported, reference))
        print(ratio_line("daemon push, pushgate SDK path", sdk, reference))
    finally:
        source.close()
        client.close()
        vendor.stop()
        daemon.stop()


if __name__ == "__main__":
    main()
