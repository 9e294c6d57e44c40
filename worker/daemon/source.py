"""Images in a Docker daemon: reach it, map its errors, and push through it (the SDK path)."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests.exceptions

from worker.daemon.stream import PushStreamState, read_push_stream
from worker.errors import NetworkError, NotFoundError, PushError, RejectedError
from worker.redaction import redact
from worker.reference import Reference
from worker.registry.copier import CopyEngine
from worker.registry.credentials import Credentials
from worker.registry.destination import CopyResult
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
        self._streams = threading.local()  # responses opened inside streaming(), per thread
        self._connecting = threading.Lock()  # one client, even when jobs start together

    @property
    def where(self) -> str:
        """The daemon's address, for messages."""
        return self.docker_host or "the default Docker socket (unix:///var/run/docker.sock)"

    def client(self) -> Any:
        """A Docker SDK client; NetworkError naming the socket when the daemon is down."""
        with self._connecting:
            if self._client is None:
                self._client = self._connect()
            return self._client

    def _connect(self) -> Any:
        with self.errors("connecting to the Docker daemon"):
            socket_path = self._unix_socket()
            if socket_path is not None and not socket_path.exists():
                # Said here, not left to the SDK: it leaks the socket of a failed unix connect.
                raise FileNotFoundError(socket_path)
            client = (
                docker.DockerClient(base_url=self.docker_host, timeout=int(self.timeout))
                if self.docker_host
                else docker.from_env(timeout=int(self.timeout))
            )
            try:
                client.ping()
            except BaseException:
                client.close()
                raise
            client.api.hooks["response"].append(self._track_response)
            return client

    def _unix_socket(self) -> Path | None:
        host = self.docker_host or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        return Path(host.removeprefix("unix://")) if host.startswith("unix://") else None

    def close(self) -> None:
        """Close the SDK client and the connections it pools."""
        client, self._client = self._client, None
        if client is not None:
            client.close()

    @contextlib.contextmanager
    def streaming(self) -> Iterator[None]:
        """Close every response the SDK opens in the block on this thread, however it ends.

        The SDK's streams (push progress, image export) never close their HTTP response: one
        abandoned early (cancel, an error message in the stream) keeps its socket checked out
        of the pool, so neither the pool nor the client can close it.
        """
        opened: list[Any] = []
        self._streams.opened = opened
        try:
            yield
        finally:
            self._streams.opened = None
            for response in opened:
                response.close()  # ends the HTTP stream, and so the daemon's push or export

    def _track_response(self, response: Any, *args: Any, **kwargs: Any) -> None:
        opened = getattr(self._streams, "opened", None)
        if opened is not None:
            opened.append(response)

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
            self.close()
            raise NetworkError(
                f"{what}: cannot reach the Docker daemon at {self.where}: {type(exc).__name__}"
            ) from None
        except docker.errors.DockerException as exc:
            text = redact(str(exc))
            if "Connection" in text or "connect" in text or "No such file" in text:
                self.close()
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
                with source.errors(f"pushing {repo}:{tag}"), source.streaming():
                    stream = api.push(repo, tag, auth_config=auth, stream=True, decode=True)
                    state = read_push_stream(_stoppable(stream, should_stop), report)
            finally:
                with contextlib.suppress(PushError), source.errors(f"untagging {repo}:{tag}"):
                    api.remove_image(f"{repo}:{tag}", noprune=True)
        assert state.digest is not None
        digest = state.digest
    result = CopyResult(source_digest=image.id, digest=digest)
    return engine.confirm_served(result, destinations)


def _stoppable(stream: Iterator[Any], should_stop: StopCheck) -> Iterator[Any]:
    for message in stream:
        should_stop()
        yield message


def _report(progress: Progress, state: PushStreamState) -> None:
    progress.set_counts(
        blobs_total=len(state.layer_total),
        blobs_done=len(state.finished),
        blobs_skipped=len(state.existing),
        bytes_total=state.bytes_total,
        bytes_done=state.bytes_done,
    )
