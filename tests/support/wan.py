"""A WAN emulator: a TCP proxy that delays each direction by D ms and caps each connection.

Every byte leaves the proxy `delay_ms` after it arrived plus the time a link of `rate_mb_s`
megabytes per second (10**6 bytes) needs to carry it, per connection and per direction. The
proxy reads from a side only as fast as the link carries, so the sender feels TCP backpressure
rather than an infinitely fast buffer. Run it in a thread (`WanProxy(...).start()`) or as its
own process (`python -m tests.support.wan UPSTREAM_PORT`, see `WanProcess`) when the code being
measured shares this interpreter.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import threading
from pathlib import Path

from tests.support.services import Process, free_port, wait_until

DEFAULT_DELAY_MS = 20.0
DEFAULT_RATE_MB_S = 25.0
CHUNK = 64 * 1024  # 2.6 ms of link time at 25 MB/s: fine-grained pacing, few wakeups


async def _carry(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    delay: float,
    rate: float,
) -> None:
    """Move one direction: pace reads to the link rate, deliver each chunk `delay` later."""
    loop = asyncio.get_running_loop()
    # Bounded, so a receiver that stops reading stops this side's reads too (backpressure).
    in_flight: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(maxsize=64)

    async def deliver() -> None:
        while True:
            due, data = await in_flight.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                with contextlib.suppress(OSError):
                    if writer.can_write_eof():
                        writer.write_eof()
                return
            writer.write(data)
            await writer.drain()

    delivering = asyncio.create_task(deliver())
    link_free = loop.time()  # when the link finishes serialising what it has taken so far
    try:
        while not delivering.done():
            data = await reader.read(CHUNK)
            now = loop.time()
            link_free = max(now, link_free) + len(data) / rate
            await in_flight.put((link_free + delay, data))
            if not data:
                break
            if link_free > now:
                await asyncio.sleep(link_free - now)  # read no faster than the link carries
        await delivering
    finally:
        delivering.cancel()


async def _pipe(
    client_reader: asyncio.StreamReader,
    client_writer: asyncio.StreamWriter,
    upstream: tuple[str, int],
    delay: float,
    rate: float,
) -> None:
    """One proxied connection: both directions until both ended, or either side broke."""
    try:
        up_reader, up_writer = await asyncio.open_connection(*upstream)
    except OSError:
        client_writer.close()
        return
    directions = [
        asyncio.create_task(_carry(client_reader, up_writer, delay, rate)),
        asyncio.create_task(_carry(up_reader, client_writer, delay, rate)),
    ]
    try:
        _, pending = await asyncio.wait(directions, return_when=asyncio.FIRST_EXCEPTION)
        for task in pending:
            task.cancel()
        await asyncio.gather(*directions, return_exceptions=True)
    finally:
        for writer in (client_writer, up_writer):
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


class WanProxy:
    """The emulator on a free loopback port, served by an event loop in a daemon thread."""

    def __init__(
        self,
        upstream_port: int,
        *,
        upstream_host: str = "127.0.0.1",
        delay_ms: float = DEFAULT_DELAY_MS,
        rate_mb_s: float = DEFAULT_RATE_MB_S,
        port: int = 0,
    ) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.delay = delay_ms / 1000
        self.rate = rate_mb_s * 1_000_000
        self.port = port
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="wan")

    @property
    def host(self) -> str:
        """host:port clients connect to."""
        return f"127.0.0.1:{self.port}"

    async def _listen(self) -> asyncio.Server:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await _pipe(reader, writer, self.upstream, self.delay, self.rate)

        return await asyncio.start_server(handle, "127.0.0.1", self.port)

    def start(self) -> WanProxy:
        """Listen and serve in the background; returns self once the port accepts."""
        self._thread.start()
        server = asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(10)
        self._server = server
        self.port = int(server.sockets[0].getsockname()[1])
        return self

    def stop(self) -> None:
        """Stop listening, drop every connection, and end the thread."""

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop.close()


class WanProcess(Process):
    """The emulator as its own process, so it does not share a GIL with what is measured."""

    def __init__(
        self,
        upstream_port: int,
        log: Path,
        *,
        delay_ms: float = DEFAULT_DELAY_MS,
        rate_mb_s: float = DEFAULT_RATE_MB_S,
    ) -> None:
        self.port = free_port()
        self.delay_ms, self.rate_mb_s = delay_ms, rate_mb_s
        argv = [sys.executable, "-m", "tests.support.wan", str(upstream_port)]
        argv += ["--port", str(self.port), "--delay-ms", str(delay_ms)]
        argv += ["--rate-mb-s", str(rate_mb_s)]
        super().__init__(argv, log, cwd=Path(__file__).resolve().parents[2])
        wait_until(
            lambda: "listening" in log.read_text(), 15, "WAN proxy", log, self.proc, interval=0.05
        )

    @property
    def host(self) -> str:
        """host:port clients connect to."""
        return f"127.0.0.1:{self.port}"


def main() -> None:
    """Serve the emulator in the foreground until killed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("upstream_port", type=int)
    parser.add_argument("--upstream-host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay-ms", type=float, default=DEFAULT_DELAY_MS)
    parser.add_argument("--rate-mb-s", type=float, default=DEFAULT_RATE_MB_S)
    args = parser.parse_args()
    proxy = WanProxy(
        args.upstream_port,
        upstream_host=args.upstream_host,
        delay_ms=args.delay_ms,
        rate_mb_s=args.rate_mb_s,
        port=args.port,
    ).start()
    print(f"listening on {proxy.host} -> {args.upstream_host}:{args.upstream_port}", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
