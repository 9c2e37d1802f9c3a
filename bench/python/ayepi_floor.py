"""What bounds Python's one-at-a-time round trips in the ayepi benchmark (bench/README.md, "ayepi",
"Where the time goes"): the same round trips with no client library at all, beside crossredis and
redis-py doing them, against one server.

  sync publish:  raw blocking sockets in one thread: PUBLISH written, its reply read, the message
                 read on a subscribed socket (no thread hand-off, no parsing beyond the line end)
  async publish: raw asyncio Protocols on the running loop: the same, awaited
  GET:           crossredis.Client.command, crossredis.ayepi.RedisStore.get, redis-py's get

Each prints the p50 (and CPU per call for GET) of a few thousand round trips after a warm-up.
Usage: .venv/bin/python bench/python/ayepi_floor.py --url redis://127.0.0.1:6379 [-n 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import time
from typing import Callable
from urllib.parse import urlparse

import redis

import crossredis
from crossredis.ayepi import RedisStore

CHANNEL = b"bench:ayepi:floor"
MESSAGE = b"m" * 120


def resp(*parts: bytes) -> bytes:
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)


PUBLISH = resp(b"PUBLISH", CHANNEL, MESSAGE)
SUBSCRIBE = resp(b"SUBSCRIBE", CHANNEL)


def p50_us(samples: list[float]) -> float:
    return statistics.median(samples[len(samples) // 10:]) * 1e6


def sync_publish(host: str, port: int, n: int) -> float:
    def conn() -> socket.socket:
        s = socket.create_connection((host, port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    sub, pub = conn(), conn()
    sub.sendall(SUBSCRIBE)
    sub.recv(1000)
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        pub.sendall(PUBLISH)
        pub.recv(100)
        sub.recv(1000)
        samples.append(time.perf_counter() - start)
    sub.close()
    pub.close()
    return p50_us(samples)


class _Lines(asyncio.Protocol):
    def __init__(self) -> None:
        self.waiting: asyncio.Future[None] | None = None
        self.buf = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.waiting is not None and not self.waiting.done() and self.buf.endswith(b"\r\n"):
            self.buf = b""
            self.waiting.set_result(None)


async def async_publish(host: str, port: int, n: int) -> float:
    loop = asyncio.get_running_loop()
    _, sub = await loop.create_connection(_Lines, host, port)
    _, pub = await loop.create_connection(_Lines, host, port)
    sub.waiting = loop.create_future()
    sub.transport.write(SUBSCRIBE)  # type: ignore[attr-defined]
    await sub.waiting
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        pub.waiting, sub.waiting = loop.create_future(), loop.create_future()
        pub.transport.write(PUBLISH)  # type: ignore[attr-defined]
        await pub.waiting
        await sub.waiting
        samples.append(time.perf_counter() - start)
    sub.transport.close()  # type: ignore[attr-defined]
    pub.transport.close()  # type: ignore[attr-defined]
    return p50_us(samples)


def timed(call: Callable[[], object], n: int) -> tuple[float, float]:
    for _ in range(n // 10):
        call()
    samples = []
    cpu = time.process_time()
    for _ in range(n):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return p50_us(samples), (time.process_time() - cpu) / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True)
    ap.add_argument("-n", type=int, default=5000)
    a = ap.parse_args()
    u = urlparse(a.url)
    host, port = u.hostname or "127.0.0.1", u.port or 6379
    print(f"raw sync publish + reply + arrival      p50 {sync_publish(host, port, a.n):7.1f} us")
    print(f"raw asyncio publish + reply + arrival   p50 {asyncio.run(async_publish(host, port, a.n)):7.1f} us")
    c, r = crossredis.Client(a.url), redis.Redis.from_url(a.url)
    store = RedisStore(client=c)
    c.command("SET", "bench:ayepi:floor:k", "v" * 362)
    for name, call in (("crossredis Client.command GET", lambda: c.command("GET", "bench:ayepi:floor:k")),
                       ("crossredis RedisStore.get", lambda: store.get("bench:ayepi:floor:k")),
                       ("redis-py get", lambda: r.get("bench:ayepi:floor:k"))):
        p50, cpu = timed(call, a.n)
        print(f"{name:40s}p50 {p50:7.1f} us  CPU {cpu:5.1f} us", flush=True)
    c.command("DEL", "bench:ayepi:floor:k")
    store.close()
    c.close()
    r.close()


if __name__ == "__main__":
    main()
