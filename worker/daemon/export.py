"""The fast path for daemon images: export once, gzip layers in parallel, upload them ourselves.

`docker push` gzips layer after layer on one core. Exporting the image (`docker save`) and
compressing each layer on its own thread (ISA-L's gzip, which releases the GIL) is several
times faster, and the layers then go through the same upload code as registry copies.
A diff_id -> compressed-digest cache lets a re-push skip compressing layers already there.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import tempfile
import threading
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextvars import copy_context
from pathlib import Path
from typing import Any

from isal import isal_zlib as gzip_impl

from worker.daemon.limits import gzip_bound, may_reach
from worker.daemon.source import DaemonSource
from worker.errors import RejectedError
from worker.reference import Reference
from worker.registry.copier import CopyEngine
from worker.registry.destination import BlobLimit, CopyResult
from worker.registry.manifests import DOCKER_MANIFEST, Descriptor, parse_manifest
from worker.registry.progress import Progress
from worker.registry.repository import Repository

StopCheck = Callable[[], None]
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
READ = 1 << 20
GZIP_LEVEL = 1


class _StreamReader(io.BufferedIOBase):
    """A file-like view of the daemon's export stream, for tarfile's streaming mode (a binary
    stream by type; tarfile's stream mode only reads it)."""

    def __init__(self, chunks: Iterator[bytes], should_stop: StopCheck) -> None:
        super().__init__()
        self.chunks, self.should_stop = chunks, should_stop
        self.chunk = b""
        self.pos = 0  # an offset, not slicing: tarfile reads 10 KiB at a time from 1 MiB chunks

    def read(self, size: int | None = -1, /) -> bytes:
        """Up to `size` bytes (all that is left when negative or None); b"" at the end."""
        parts: list[bytes] = []
        wanted = -1 if size is None else size
        while wanted != 0:
            if self.pos >= len(self.chunk):
                self.should_stop()
                self.chunk, self.pos = next(self.chunks, b""), 0
                if not self.chunk:
                    break
            end = len(self.chunk) if wanted < 0 else min(len(self.chunk), self.pos + wanted)
            parts.append(self.chunk[self.pos : end])
            if wanted > 0:
                wanted -= end - self.pos
            self.pos = end
        return b"".join(parts)


def _gzip_chunks(
    path: Path, should_stop: StopCheck, on_input: Callable[[int], None], out: dict[str, Any]
) -> Iterator[bytes]:
    """Yield the gzip of a file, recording its digest and size in `out` at the end."""
    compressor = gzip_impl.compressobj(GZIP_LEVEL, gzip_impl.DEFLATED, 31)
    hasher, size = hashlib.sha256(), 0
    with open(path, "rb") as source:
        while data := source.read(READ):
            should_stop()
            on_input(len(data))
            packed = compressor.compress(data)
            if packed:
                hasher.update(packed)
                size += len(packed)
                yield packed
    tail = compressor.flush()
    hasher.update(tail)
    size += len(tail)
    out.update(digest="sha256:" + hasher.hexdigest(), size=size)
    yield tail


class DaemonExport:
    """One export push: spools the image's layers and uploads them compressed, in parallel."""

    def __init__(
        self,
        engine: CopyEngine,
        destination: Repository,
        progress: Progress,
        should_stop: StopCheck,
        diff_cache: MutableMapping[str, str],
        limit: tuple[str, BlobLimit] | None = None,
    ) -> None:
        self.engine, self.destination, self.progress = engine, destination, progress
        self.should_stop, self.diff_cache = should_stop, diff_cache
        self.limit = limit  # the destination's name and its layer limit
        self.layers: dict[str, dict[str, Any]] = {}  # diff_id -> {digest, size}
        self.lock = threading.Lock()

    def check_limit(self, path: Path, diff_id: str) -> None:
        """RejectedError, before any byte of the layer is sent, when its gzip would reach the
        destination's layer limit (counted by compressing it once when its size is close)."""
        if self.limit is None:
            return
        name, limit = self.limit
        if gzip_bound(path.stat().st_size) < limit.size:
            return
        known = self.diff_cache.get(diff_id)
        if not known:
            out: dict[str, Any] = {}
            for _ in _gzip_chunks(path, self.should_stop, lambda n: None, out):
                pass  # counted only; the same gzip is made again if it is sent
            known = self.diff_cache[diff_id] = f"{out['digest']} {out['size']}"
        digest, size = known.split(" ")
        if int(size) >= limit.size:
            raise RejectedError(limit.refusal(name, Descriptor(DOCKER_LAYER, digest, int(size))))

    def upload_layer(self, path: Path, diff_id: str) -> None:
        """Compress one layer and upload it, unless the destination holds its known gzip already."""
        self.check_limit(path, diff_id)
        layer = Descriptor(
            "application/vnd.docker.image.rootfs.diff.tar", diff_id, path.stat().st_size
        )
        self.progress.grow(layer)
        known = self.diff_cache.get(diff_id)
        if known:
            digest, size = known.split(" ")
            if self.destination.has_blob(digest):
                with self.lock:
                    self.layers[diff_id] = {"digest": digest, "size": int(size)}
                self.progress.blob_skipped(layer, 0)
                return
        counted = 0

        def count(n: int) -> None:
            nonlocal counted
            counted += n
            self.progress.add_bytes(n)

        out: dict[str, Any] = {}
        upload = self.destination.start_upload()
        upload.patch(
            _gzip_chunks(path, self.should_stop, count, out),
            what=f"uploading layer {diff_id[:19]}",
        )
        upload.commit(out["digest"], what=f"committing layer {diff_id[:19]}")
        self.diff_cache[diff_id] = f"{out['digest']} {out['size']}"
        with self.lock:
            self.layers[diff_id] = {"digest": out["digest"], "size": out["size"]}
        self.progress.blob_done(layer, counted)


def _spool(member: tarfile.TarInfo, tar: tarfile.TarFile, folder: Path) -> tuple[Path, str, bool]:
    """Write a member to a temp file; returns (path, sha256 digest, looks like a tar layer)."""
    source = tar.extractfile(member)
    assert source is not None
    path = folder / hashlib.sha256(member.name.encode()).hexdigest()
    hasher = hashlib.sha256()
    head = b""
    with open(path, "wb") as sink:
        while data := source.read(READ):
            if len(head) < 512:
                head += data[:512]
            hasher.update(data)
            sink.write(data)
    is_tar = len(head) >= 262 and head[257:262] == b"ustar"
    return path, "sha256:" + hasher.hexdigest(), is_tar


def push_by_export(
    source: DaemonSource,
    name: str,
    destinations: Sequence[Reference],
    engine: CopyEngine,
    progress: Progress,
    should_stop: StopCheck,
    diff_cache: MutableMapping[str, str],
    limit: tuple[str, BlobLimit] | None = None,
) -> CopyResult:
    """Push a daemon image by exporting it and uploading its layers gzipped in parallel; with
    a `limit` (destination, layer limit) a layer may reach, all are checked before any is sent."""
    image = source.image(name)
    repository = engine.repository(destinations[0].registry, destinations[0].repository)
    export = DaemonExport(engine, repository, progress, should_stop, diff_cache, limit)
    hold = limit is not None and may_reach(image, limit[1])
    files: dict[str, tuple[Path, str]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="pushgate-export-") as folder,
        ThreadPoolExecutor(engine.settings.copy_concurrency) as pool,
    ):
        layers: list[tuple[Path, str]] = []
        uploads: list[Future[None]] = []
        with source.errors(f"exporting {name}"), source.streaming():
            chunks = source.client().api.get_image(image.id, chunk_size=READ)
            reader = _StreamReader(iter(chunks), should_stop)
            with tarfile.open(fileobj=reader, mode="r|") as tar:
                for member in tar:
                    if not member.isfile():
                        continue
                    path, digest, is_tar = _spool(member, tar, Path(folder))
                    files[member.name] = (path, digest)
                    if is_tar:  # start on layers at once; the manifest comes last
                        layers.append((path, digest))
                        if not hold:
                            uploads.append(_upload(pool, export, path, digest))
        if hold:
            uploads = _checked_uploads(pool, export, layers)
        for upload in uploads:
            upload.result()
        manifest = json.loads(files["manifest.json"][0].read_bytes())[0]
        config_path, config_digest = files[manifest["Config"]]
        config_raw = config_path.read_bytes()
    diff_ids = json.loads(config_raw)["rootfs"]["diff_ids"]
    layer_ids = [files[p][1] for p in manifest["Layers"]]
    if layer_ids != diff_ids:
        raise RejectedError(f"the export of {name} does not match its config's diff_ids")
    return _push_manifest(
        engine,
        repository,
        destinations,
        export,
        config_raw,
        config_digest,
        diff_ids,
        image.id,
        should_stop,
    )


def _upload(
    pool: ThreadPoolExecutor, export: DaemonExport, path: Path, digest: str
) -> Future[None]:
    return pool.submit(copy_context().run, export.upload_layer, path, digest)


def _checked_uploads(
    pool: ThreadPoolExecutor, export: DaemonExport, layers: list[tuple[Path, str]]
) -> list[Future[None]]:
    """Check every layer against the limit, then start their uploads."""
    for path, digest in layers:
        export.check_limit(path, digest)
    return [_upload(pool, export, path, digest) for path, digest in layers]


def _push_manifest(
    engine: CopyEngine,
    repository: Repository,
    destinations: Sequence[Reference],
    export: DaemonExport,
    config_raw: bytes,
    config_digest: str,
    diff_ids: list[str],
    image_id: str,
    should_stop: StopCheck,
) -> CopyResult:
    if not repository.has_blob(config_digest):
        upload = repository.start_upload()
        upload.commit(config_digest, config_raw, what="uploading the image config")
    body = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": DOCKER_CONFIG, "size": len(config_raw), "digest": config_digest},
        "layers": [{"mediaType": DOCKER_LAYER, **export.layers[d]} for d in diff_ids],
    }
    manifest = parse_manifest(json.dumps(body, indent=3).encode(), DOCKER_MANIFEST)
    answered = engine.push_tags(manifest, destinations, should_stop)
    result = CopyResult(
        source_digest=image_id,
        digest=manifest.digest,
        blobs=[export.layers[d]["digest"] for d in diff_ids],
    )
    return engine.confirm_served(result, destinations, answered)
