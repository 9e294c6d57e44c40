"""Images in a Docker daemon: reach it, map its errors, and push through it (the SDK path)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any

import docker
import docker.errors
import requests.exceptions

from worker.daemon.stream import PushStreamState, read_push_stream
from worker.errors import NetworkError, NotFoundError, PushError, RejectedError
from worker.redaction import redact
from worker.reference import Reference
from worker.registry.copier import CopyEngine, CopyResult
from worker.registry.credentials import Credentials
from worker.registry.progress import Progress

StopCheck = Callable[[], None]
TagLock = Callable[[str], AbstractContextManager[Any]]


def _no_lock(name: str) -> AbstractContextManager[Any]:
    return contextlib.nullcontext()


class DaemonSource:
    """The Docker daemon at `docker_host` (default: DOCKER_HOST or the standard socket)."""

    def __init__(self, docker_host: str | None, timeout: float = 600.0) -> None:
        self.docker_host = docker_host
        self.timeout = timeout
        self._client: Any = None

    @property
    def where(self) -> str:
        """The daemon's address, for messages."""
        return self.docker_host or "the default Docker socket (unix:///var/run/docker.sock)"

    def client(self) -> Any:
        """A Docker SDK client; NetworkError naming the socket when the daemon is down."""
        if self._client is None:
            with self.errors("connecting to the Docker daemon"):
                client = (
                    docker.DockerClient(base_url=self.docker_host, timeout=int(self.timeout))
                    if self.docker_host
                    else docker.from_env(timeout=int(self.timeout))
                )
                client.ping()
            self._client = client
        return self._client

    def image(self, name: str) -> Any:
        """The daemon's image named `name` (tag or digest form); NotFoundError if absent."""
        with self.errors(f"looking up {name}"):
            return self.client().images.get(name)

    @contextlib.contextmanager
    def errors(self, what: str) -> Iterator[None]:
        """Map Docker SDK and transport errors to typed push errors (the one place)."""
        try:
            yield
        except docker.errors.ImageNotFound:
            raise NotFoundError(
                f"{what}: no such image in the Docker daemon at {self.where}; "
                "daemon images are never looked for in a registry"
            ) from None
        except (requests.exceptions.ConnectionError, FileNotFoundError, ConnectionError) as exc:
            self._client = None
            raise NetworkError(
                f"{what}: cannot reach the Docker daemon at {self.where}: {type(exc).__name__}"
            ) from None
        except docker.errors.DockerException as exc:
            self._client = None
            text = redact(str(exc))
            if "Connection" in text or "connect" in text or "No such file" in text:
                raise NetworkError(
                    f"{what}: cannot reach the Docker daemon at {self.where}: {text}"
                ) from None
            raise RejectedError(f"{what}: the Docker daemon refused: {text}") from None


def push_with_sdk(
    source: DaemonSource,
    name: str,
    destinations: Sequence[Reference],
    engine: CopyEngine,
    credentials: Credentials | None,
    progress: Progress,
    should_stop: StopCheck,
    tag_lock: TagLock = _no_lock,
) -> CopyResult:
    """The reference path: tag the image as each destination, `docker push` it, untag it."""
    image = source.image(name)
    auth = (
        {"username": credentials.username, "password": credentials.password.reveal()}
        if credentials
        else None
    )
    api = source.client().api
    digest = ""
    for index, dest in enumerate(destinations):
        should_stop()
        repo, tag = f"{dest.registry}/{dest.repository}", dest.tag or "latest"
        # The first push moves the layers; later tags only re-point (their stream says
        # "already exists"), so progress comes from the first.
        report = (lambda s: _report(progress, s)) if index == 0 else None
        # Another job may want the same local name: tagging, pushing and untagging go together.
        with tag_lock(f"{repo}:{tag}"):
            with source.errors(f"tagging {repo}:{tag}"):
                api.tag(image.id, repo, tag)
            try:
                with source.errors(f"pushing {repo}:{tag}"):
                    stream = api.push(repo, tag, auth_config=auth, stream=True, decode=True)
                    state = read_push_stream(_stoppable(stream, should_stop), report)
            finally:
                with contextlib.suppress(PushError), source.errors(f"untagging {repo}:{tag}"):
                    api.remove_image(f"{repo}:{tag}", noprune=True)
        assert state.digest is not None
        digest = state.digest
    result = CopyResult(source_digest=image.id, digest=digest)
    return engine.confirm_served(result, destinations)


def _stoppable(stream: Any, should_stop: StopCheck) -> Iterator[Any]:
    try:
        for message in stream:
            should_stop()
            yield message
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()  # ends the HTTP stream, and so the daemon's push


def _report(progress: Progress, state: PushStreamState) -> None:
    progress.set_counts(
        blobs_total=len(state.layer_total),
        blobs_done=len(state.finished),
        blobs_skipped=len(state.existing),
        bytes_total=state.bytes_total,
        bytes_done=state.bytes_done,
    )
