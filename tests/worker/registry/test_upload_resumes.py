"""Resumable chunked uploads: a blob goes on from the registry's offset after a fault, and
starts again when the registry lost the session or the bytes arrived corrupted."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.support.fault_engines import engine_via, patch_ranges
from tests.support.images import ImageBuilder
from tests.support.proxy import Faults, RegistryProxy
from tests.support.services import Registry
from tests.support.vendor import vendor_read
from worker.reference import destination, parse_reference
from worker.registry.copier import CopyEngine
from worker.settings import Settings

KiB, MiB = 1024, 1 << 20


def test_chunked_upload_resumes_from_the_registry_offset(
    make_engine: Callable[..., CopyEngine],
    settings: Settings,
    source_images: ImageBuilder,
    source_registry: Registry,
    proxy_for: Callable[[Faults], RegistryProxy],
    unique: str,
) -> None:
    # Break the third PATCH halfway through its body, before the registry sees it: the
    # registry then holds two chunks, and the upload must go on from there, not from byte 0.
    proxy = proxy_for(
        Faults(plan=lambda method, path, nth: "drop" if method == "PATCH" and nth == 3 else None)
    )
    image = source_images.image(f"acme/{unique}", "1", [5 * MiB + 123])
    engine = engine_via(make_engine, settings, proxy, chunk_threshold=MiB, chunk_size=MiB)
    result = engine.copy(
        parse_reference(f"{source_registry.host}/acme/{unique}:1"),
        [destination(proxy.host, "myapp", unique, "1")],
    )
    assert result.digest == image.digest
    status = proxy.stats.exchanges("GET", f"/myapp/{unique}/blobs/uploads/")
    assert [e.status for e in status] == [204]
    assert status[0].response_headers["Range"] == f"0-{2 * MiB - 1}"
    half = MiB // 2  # the PATCH after a break is half as long, then they grow back
    assert patch_ranges(proxy, f"myapp/{unique}") == [
        f"0-{MiB - 1}",
        f"{MiB}-{2 * MiB - 1}",
        f"{2 * MiB}-{2 * MiB + half - 1}",
        f"{2 * MiB + half}-{3 * MiB + half - 1}",
        f"{3 * MiB + half}-{4 * MiB + half - 1}",
        f"{4 * MiB + half}-{5 * MiB + 122}",
    ]
    assert len(proxy.stats.exchanges("POST", f"/myapp/{unique}/blobs/uploads/")) == 2


@pytest.mark.parametrize("fault", ["503", "drop"])
def test_an_empty_upload_read_as_0_0_resumes_from_byte_0(
    make_engine: Callable[..., CopyEngine],
    settings: Settings,
    source_images: ImageBuilder,
    source_registry: Registry,
    proxy_for: Callable[[Faults], RegistryProxy],
    unique: str,
    fault: str,
) -> None:
    # The first PATCH fails: distribution answers the empty upload's status with `Range: 0-0`,
    # which is zero bytes here, not one.
    proxy = proxy_for(
        Faults(plan=lambda method, path, nth: fault if method == "PATCH" and nth == 1 else None)
    )
    image = source_images.image(f"acme/{unique}", "1", [3 * MiB + 5])
    engine = engine_via(make_engine, settings, proxy, chunk_threshold=MiB, chunk_size=2 * MiB)
    result = engine.copy(
        parse_reference(f"{source_registry.host}/acme/{unique}:1"),
        [destination(proxy.host, "myapp", unique, "1")],
    )
    assert result.digest == image.digest
    status = proxy.stats.exchanges("GET", f"/myapp/{unique}/blobs/uploads/")
    assert [e.response_headers["Range"] for e in status] == ["0-0"]
    # The PATCH after the failure is shorter (a bad link wastes less), then they grow again.
    assert patch_ranges(proxy, f"myapp/{unique}") == [
        f"0-{MiB - 1}",
        f"{MiB}-{3 * MiB - 1}",
        f"{3 * MiB}-{3 * MiB + 4}",
    ]
    assert proxy.stats.injected[fault] == 1


def test_a_session_the_registry_dropped_starts_the_blob_again_and_says_so(
    make_engine: Callable[..., CopyEngine],
    settings: Settings,
    source_images: ImageBuilder,
    source_registry: Registry,
    proxy_for: Callable[[Faults], RegistryProxy],
    unique: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Half the second PATCH reaches the registry before the link breaks. Distribution 2.8 then
    # holds bytes the session's state does not know of, and cancels the session when asked
    # for its status: only then does the blob start over, in a new session.
    proxy = proxy_for(
        Faults(plan=lambda method, path, nth: "cut" if method == "PATCH" and nth == 2 else None)
    )
    image = source_images.image(f"acme/{unique}", "1", [3 * MiB])
    engine = engine_via(make_engine, settings, proxy, chunk_threshold=MiB, chunk_size=MiB)
    with caplog.at_level("WARNING", logger="worker.registry.chunked"):
        result = engine.copy(
            parse_reference(f"{source_registry.host}/acme/{unique}:1"),
            [destination(proxy.host, "myapp", unique, "1")],
        )
    assert result.digest == image.digest
    assert "starting it again from byte 0" in caplog.text
    assert len(proxy.stats.exchanges("POST", f"/myapp/{unique}/blobs/uploads/")) == 3
    assert patch_ranges(proxy, f"myapp/{unique}")[-3:] == [
        f"0-{MiB - 1}",
        f"{MiB}-{2 * MiB - 1}",
        f"{2 * MiB}-{3 * MiB - 1}",
    ]


def test_bytes_corrupted_on_the_way_are_refused_at_commit_and_the_blob_starts_again(
    make_engine: Callable[..., CopyEngine],
    settings: Settings,
    source_images: ImageBuilder,
    source_registry: Registry,
    proxy_for: Callable[[Faults], RegistryProxy],
    unique: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The engine does not hash big blobs itself: the registry's digest check at commit is
    # what catches a flipped bit, and the blob then goes up again in a new session.
    proxy = proxy_for(
        Faults(plan=lambda method, path, nth: "corrupt" if method == "PATCH" and nth == 2 else None)
    )
    image = source_images.image(f"acme/{unique}", "1", [3 * MiB])
    engine = engine_via(make_engine, settings, proxy, chunk_threshold=MiB, chunk_size=MiB)
    with caplog.at_level("WARNING", logger="worker.registry.chunked"):
        result = engine.copy(
            parse_reference(f"{source_registry.host}/acme/{unique}:1"),
            [destination(proxy.host, "myapp", unique, "1")],
        )
    assert result.digest == image.digest
    assert "DIGEST_INVALID" in caplog.text and "starting it again from byte 0" in caplog.text
    assert len(proxy.stats.exchanges("POST", f"/myapp/{unique}/blobs/uploads/")) == 3


@pytest.mark.parametrize("size", [0, 1])
@pytest.mark.parametrize("first_fails", [None, "HEAD", "POST", "PATCH", "PUT"])
@pytest.mark.parametrize("chunk_threshold", [0, 128 * MiB])
def test_empty_and_one_byte_blobs_push_with_and_without_a_failed_first_request(
    make_engine: Callable[..., CopyEngine],
    settings: Settings,
    source_images: ImageBuilder,
    source_registry: Registry,
    vendor_registry: Registry,
    proxy_for: Callable[[Faults], RegistryProxy],
    unique: str,
    size: int,
    first_fails: str | None,
    chunk_threshold: int,
) -> None:
    # One blob at a time, biggest first: the config's requests come first, so the layer's
    # first request of each kind is the second one the proxy sees.
    proxy = proxy_for(
        Faults(
            plan=lambda method, path, nth: (
                "503" if method == first_fails and "/blobs/" in path and nth == 2 else None
            )
        )
    )
    image = source_images.image(f"acme/{unique}", "1", [], layers=[b"x" * size])
    engine = engine_via(
        make_engine, settings, proxy, chunk_threshold=chunk_threshold, copy_concurrency=1
    )
    result = engine.copy(
        parse_reference(f"{source_registry.host}/acme/{unique}:1"),
        [destination(proxy.host, "myapp", unique, "1")],
    )
    assert result.digest == image.digest
    layer = image.layers[0]["digest"]
    served = vendor_read(vendor_registry.url, f"myapp/{unique}", f"blobs/{layer}")
    assert served.status_code == 200 and served.content == b"x" * size
    patched = size > chunk_threshold  # a blob over the threshold goes up in PATCHes
    expected = first_fails is not None and (first_fails != "PATCH" or patched)
    assert proxy.stats.injected["503"] == int(expected)
