"""ayepi's broker and response cache from Python (bench/README.md, "ayepi"): crossredis.ayepi (sync
and asyncio) against the same done directly with redis-py, the way a Python port of @ayepi/redis
would do it; bench/ayepi/run runs these modes beside Node's against one throwaway redis-server.

The redis-py side (``PyBroker``, ``PyAsyncBroker``, ``py_cache_*``) is ayepi's redisBroker and
redisCache written over redis-py: PUBLISH on the command client; one pubsub connection per broker
that SUBSCRIBEs at the first subscribe and hands each message of the channel (decoded as UTF-8) to
every listener, from ``pubsub.run_in_thread`` (sync) or a reader task over ``pubsub.listen()``
(asyncio); a cache entry stored as ``json.dumps`` of its fields in ayepi's key order (compact, no
ASCII escaping: JSON.stringify's bytes) with ``SET k v PX max(1, staleUntil - now)``, read back with
``GET`` and ``json.loads``. Each side's brokers use channels of their own
(``bench:ayepi:py:<impl>:<mode>``).

Modes (N a run; ``xr`` crossredis, ``redispy`` redis-py 8 with its hiredis parser):
  <impl>-latency        sync: publish message i, wait for its arrival at the listener (which runs
                        on the broker's thread and hands it over through a queue), then i+1; each
                        round trip timed (p50, p99)
  <impl>-tput1          sync: N messages published one after the other (a sync publish waits for
                        its reply), one subscribing broker: from the first publish to the last arrival
  <impl>-tput8          the same, 8 brokers with a subscriber connection each, all hearing every message
  <impl>-cache-seq      sync cache: set(key, entry) then get(key); cycle i on key i % 64
  <impl>-async-latency  asyncio: publish, await the arrival (listeners run on the loop)
  <impl>-async-tput1    asyncio: N messages published in windows of 64 (asyncio.gather), one subscriber
  <impl>-async-tput8    the same, 8 subscribing brokers
  <impl>-async-cache-c64  asyncio cache: N/64 rounds, each asyncio.gather of 64 cycles (key k in the k-th)

Every arrival is compared with the text published, in order, at every subscriber; every get with
the entry set. A wrong, missing or extra message or entry ends the program with status 1.

Usage:
  ayepi_bench.py MODE --url URL [-n N]   one mode after a warm-up
  ayepi_bench.py worker --url URL        every mode opened once, "ready {versions}"; then per stdin
                                         line "MODE N" one run, answered "MODE COUNT SECONDS
                                         CPU_SECONDS P50_US P99_US" (bench/ayepi/suite.py)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import queue
import sys
import threading
import time
from importlib import metadata
from typing import Any, Callable

import redis
import redis.asyncio
import redis.utils

import crossredis
from crossredis.ayepi import AsyncRedisBroker, AsyncRedisCache, CacheEntry, RedisBroker, RedisCache

N = 64  # cache keys, the asyncio cache's concurrency, and the asyncio publish window
SUBSCRIBERS = 8
CACHE_PREFIX = "ayepi:cache:"
CONNECT_TIMEOUT_S = 5.0  # crossredis's defaults, given to redis-py too
COMMAND_TIMEOUT_S = 3.0
WAIT_S = 30.0  # an arrival not seen by then is lost
STORED_AT = 2000000000000  # fixed (2033): the same bytes from every run; PX about 7 years


class Failed(Exception):
    pass


# ---- what is sent: the same bytes as bench/node/ayepi_bench.mjs -----------------------------------


def message(i: int) -> str:
    return '{"ch":"work","params":{},"data":{"kind":"done","id":"item-%d","groupId":"bench"}}' % i


def cache_key(k: int) -> str:
    return f'["GET","/users/:id",[["fields","all"]],null,"user-{k}"]'


def entry(k: int) -> dict[str, Any]:
    """Entry k with ayepi's names in its order (JSON.stringify's order)."""
    body = (f'{{"id":"user-{k}","name":"Bench User {k}","email":"user-{k}@example.com","roles":["reader","writer"],'
            '"team":{"id":"team-7","name":"Platform"},"settings":{"theme":"dark","locale":"en-GB","tz":"Europe/London"},'
            '"createdAt":"2026-12-05T09:00:00.000Z","updatedAt":"2026-12-05T09:30:00.000Z","bio":"' + "x" * 60 + '"}')
    return {"body": body, "status": 200, "headers": [["content-type", "application/json"]], "storedAt": STORED_AT,
            "expires": STORED_AT + 30000, "staleUntil": STORED_AT + 35000, "bytes": len(body.encode()),
            "method": "GET", "path": "/users/:id", "key": cache_key(k)}


def dumps(value: Any) -> str:
    """JSON.stringify's bytes (for these values)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


ENTRIES = [entry(k) for k in range(N)]
ENTRY_JSON = [dumps(e) for e in ENTRIES]
KEYS = [CACHE_PREFIX + e["key"] for e in ENTRIES]


def redispy_options() -> dict[str, Any]:
    if not redis.utils.HIREDIS_AVAILABLE:
        sys.exit("ayepi_bench.py: redis-py does not see hiredis (pip install 'redis[hiredis]')")
    return {"socket_connect_timeout": CONNECT_TIMEOUT_S, "socket_timeout": COMMAND_TIMEOUT_S}


# ---- ayepi's broker and cache over redis-py (what a Python port would write) -------------------


class PyBroker:
    """redisBroker over redis-py, sync: listeners called on the pubsub thread."""

    def __init__(self, r: redis.Redis, channel: str, on_error: Callable[[BaseException], Any]) -> None:
        self.r, self.channel, self.on_error = r, channel, on_error
        self.listeners: list[Callable[[str], Any]] = []
        self.pubsub = r.pubsub(ignore_subscribe_messages=True)
        self.thread: Any = None

    def publish(self, m: str) -> None:
        try:
            self.r.publish(self.channel, m)
        except redis.RedisError as e:
            self.on_error(e)

    def subscribe(self, listener: Callable[[str], Any]) -> None:
        self.listeners.append(listener)
        if self.thread is None:
            self.pubsub.subscribe(**{self.channel: self._message})
            self.thread = self.pubsub.run_in_thread(sleep_time=1.0, daemon=True)

    def _message(self, msg: dict[str, Any]) -> None:
        data = msg["data"].decode("utf-8", "replace")
        for listener in list(self.listeners):
            try:
                listener(data)
            except Exception as e:
                self.on_error(e)

    def close(self) -> None:
        if self.thread is not None:
            self.thread.stop()
            self.thread.join()
        self.pubsub.close()


class PyAsyncBroker:
    """redisBroker over redis.asyncio: a reader task hands the messages to the listeners."""

    def __init__(self, r: redis.asyncio.Redis, channel: str, on_error: Callable[[BaseException], Any]) -> None:
        self.r, self.channel, self.on_error = r, channel, on_error
        self.listeners: list[Callable[[str], Any]] = []
        self.pubsub = r.pubsub(ignore_subscribe_messages=True)
        self.task: asyncio.Task[None] | None = None

    async def publish(self, m: str) -> None:
        try:
            await self.r.publish(self.channel, m)
        except redis.RedisError as e:
            self.on_error(e)

    async def subscribe(self, listener: Callable[[str], Any]) -> None:
        self.listeners.append(listener)
        if self.task is None:
            await self.pubsub.subscribe(self.channel)
            self.task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.pubsub.listen():
            if msg["type"] != "message" or msg["channel"] != self.channel.encode():
                continue
            data = msg["data"].decode("utf-8", "replace")
            for listener in list(self.listeners):
                try:
                    listener(data)
                except Exception as e:
                    self.on_error(e)

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            try:
                await self.task
            except asyncio.CancelledError:
                pass
        await self.pubsub.aclose()


def py_cache_set(r: redis.Redis, key: str, e: dict[str, Any]) -> None:
    r.set(CACHE_PREFIX + key, dumps(e), px=max(1, e["staleUntil"] - int(time.time() * 1000)))


def py_cache_get(r: redis.Redis, key: str) -> Any:
    raw = r.get(CACHE_PREFIX + key)
    return json.loads(raw) if raw else None


async def py_async_cache_set(r: redis.asyncio.Redis, key: str, e: dict[str, Any]) -> None:
    await r.set(CACHE_PREFIX + key, dumps(e), px=max(1, e["staleUntil"] - int(time.time() * 1000)))


async def py_async_cache_get(r: redis.asyncio.Redis, key: str) -> Any:
    raw = await r.get(CACHE_PREFIX + key)
    return json.loads(raw) if raw else None


# ---- a broker with its listener switchable per run ---------------------------------------------


class Listening:
    """A broker of either side subscribed on its channel, its one listener calling ``self.on``."""

    def __init__(self, broker: Any) -> None:
        self.broker = broker
        self.on: Callable[[str], Any] = lambda m: None
        self.error: Any = None

    def hear(self, m: str) -> None:
        self.on(m)

    def failed(self, e: Any) -> None:
        if self.error is None:
            self.error = e

    def check(self, mode: str) -> None:
        if self.error is not None:
            raise Failed(f"{mode}: {self.error if isinstance(self.error, str) else f'on_error heard {self.error!r}'}")


def probe_seen(lst: Listening) -> threading.Event:
    seen = threading.Event()

    def on(m: str) -> None:
        if m == "probe":
            seen.set()

    lst.on = on
    return seen


def sync_listening(make: Callable[[Callable[[Any], Any]], Any]) -> Listening:
    holder: list[Listening] = []
    lst = Listening(make(lambda e: holder[0].failed(e)))
    holder.append(lst)
    seen = probe_seen(lst)
    lst.broker.subscribe(lst.hear)
    for _ in range(500):
        lst.broker.publish("probe")
        if seen.wait(0.01):
            break
    else:
        raise Failed(f"{lst.broker!r}: the subscriber never heard the probe")
    time.sleep(0.02)  # probes still on the way
    lst.on = lambda m: None
    return lst


async def async_listening(make: Callable[[Callable[[Any], Any]], Any]) -> Listening:
    holder: list[Listening] = []
    lst = Listening(make(lambda e: holder[0].failed(e)))
    holder.append(lst)
    seen = probe_seen(lst)
    await lst.broker.subscribe(lst.hear)
    for _ in range(500):
        await lst.broker.publish("probe")
        await asyncio.sleep(0.01)
        if seen.is_set():
            break
    else:
        raise Failed(f"{lst.broker!r}: the subscriber never heard the probe")
    await asyncio.sleep(0.02)
    lst.on = lambda m: None
    return lst


def heard(mode: str, lst: Listening, sent: str, got: str) -> None:
    if got != sent:
        lst.on = lambda m: None
        raise Failed(f"{mode}: got {got!r}, want {sent!r}")


def latency_result(mode: str, lst: Listening, seconds: float, samples: list[float]) -> tuple[int, float, float, float]:
    lst.on = lambda m: None
    lst.check(mode)
    return (len(samples), seconds, *percentiles(samples))


def percentiles(samples: list[float]) -> tuple[float, float]:
    s = sorted(samples)

    def at(p: float) -> float:
        return s[min(len(s) - 1, max(0, -(-len(s) * p // 100) - 1))]

    return at(50) * 1e6, at(99) * 1e6


# ---- the runs -------------------------------------------------------------------------------------
# Each returns (count, seconds, p50 us, p99 us); p50 and p99 are 0 outside the latency modes.


def sync_latency(mode: str, lst: Listening, n: int) -> tuple[int, float, float, float]:
    q: queue.SimpleQueue[str] = queue.SimpleQueue()
    lst.on = q.put
    msgs = [message(i) for i in range(n)]
    samples = []
    publish, get, perf = lst.broker.publish, q.get, time.perf_counter
    t0 = perf()
    for m in msgs:
        s = perf()
        publish(m)
        try:
            got = get(timeout=WAIT_S)
        except queue.Empty:
            raise Failed(f"{mode}: {m} never arrived") from None
        samples.append(perf() - s)
        heard(mode, lst, m, got)
    return latency_result(mode, lst, perf() - t0, samples)


def expecting(subs: list[Listening], msgs: list[str], finished: Callable[[], Any], ordered: bool = True) -> None:
    """Each subscriber checks its arrivals against msgs: in order, or (``ordered`` false) each
    exactly once in any order; finished() once all heard all (or at the first wrong one)."""
    remaining = [len(subs)]
    n = len(msgs)
    index = None if ordered else {m: i for i, m in enumerate(msgs)}

    def make(lst: Listening) -> Callable[[str], None]:
        count = [0]
        seen = bytearray(n)

        def on(m: str) -> None:
            i = count[0]
            if index is None:
                ok = i < n and m == msgs[i]
            else:
                j = index.get(m, -1)
                ok = j >= 0 and not seen[j]
                if ok:
                    seen[j] = 1
            if not ok:
                want = "nothing more" if i >= n else repr(msgs[i]) if index is None else "one of the messages, once"
                lst.failed(f"arrival {i}: got {m!r}, want {want}")
                finished()
                return
            count[0] = i + 1
            if i + 1 == n:
                remaining[0] -= 1
                if remaining[0] == 0:
                    finished()

        return on

    for lst in subs:
        lst.on = make(lst)


def sync_tput(mode: str, pub: Listening, subs: list[Listening], n: int) -> tuple[int, float, float, float]:
    msgs = [message(i) for i in range(n)]
    done = threading.Event()
    expecting(subs, msgs, done.set)
    publish = pub.broker.publish
    t0 = time.perf_counter()
    for m in msgs:
        publish(m)
    if not done.wait(WAIT_S):
        raise Failed(f"{mode}: not every message arrived within {WAIT_S} s")
    seconds = time.perf_counter() - t0
    for lst in [pub, *subs]:
        lst.on = lambda m: None
        lst.check(mode)
    return n, seconds, 0.0, 0.0


async def async_latency(mode: str, lst: Listening, n: int) -> tuple[int, float, float, float]:
    loop = asyncio.get_running_loop()
    waiting: list[asyncio.Future[str]] = []

    def on(m: str) -> None:
        if waiting and not waiting[0].done():
            waiting[0].set_result(m)

    lst.on = on
    msgs = [message(i) for i in range(n)]
    samples = []
    publish, perf = lst.broker.publish, time.perf_counter
    t0 = perf()
    for m in msgs:
        fut = loop.create_future()
        waiting[:] = [fut]
        s = perf()
        await publish(m)
        try:
            got = await asyncio.wait_for(fut, WAIT_S)
        except asyncio.TimeoutError:
            raise Failed(f"{mode}: {m} never arrived") from None
        samples.append(perf() - s)
        heard(mode, lst, m, got)
    return latency_result(mode, lst, perf() - t0, samples)


async def async_tput(mode: str, pub: Listening, subs: list[Listening], n: int) -> tuple[int, float, float, float]:
    msgs = [message(i) for i in range(n)]
    done = asyncio.Event()
    # concurrent publishes may reach the server in any order (redis.asyncio: one pooled connection
    # each; crossredis: an executor thread each): each message once, in any order
    expecting(subs, msgs, done.set, ordered=False)
    publish = pub.broker.publish
    t0 = time.perf_counter()
    for i in range(0, n, N):
        await asyncio.gather(*[publish(m) for m in msgs[i:i + N]])
    try:
        await asyncio.wait_for(done.wait(), WAIT_S)
    except asyncio.TimeoutError:
        raise Failed(f"{mode}: not every message arrived within {WAIT_S} s") from None
    seconds = time.perf_counter() - t0
    for lst in [pub, *subs]:
        lst.on = lambda m: None
        lst.check(mode)
    return n, seconds, 0.0, 0.0


def check_entry(mode: str, k: int, got: Any) -> None:
    want = ENTRIES[k]
    if isinstance(got, CacheEntry):
        ok = got.body == want["body"] and got.key == want["key"] and got.stale_until == want["staleUntil"]
    else:
        ok = isinstance(got, dict) and got["body"] == want["body"] and got["key"] == want["key"] and \
            got["staleUntil"] == want["staleUntil"]
    if not ok:
        raise Failed(f"{mode}: get {want['key']}: got {got!r}")


# ---- the two sides ------------------------------------------------------------------------------


class Side:
    """One implementation's brokers (sync and asyncio) and caches, opened once."""

    def __init__(self, impl: str, url: str, loop: asyncio.AbstractEventLoop) -> None:
        self.impl, self.loop = impl, loop
        chan = f"bench:ayepi:py:{impl}:".__add__
        if impl == "xr":
            self.client = crossredis.Client(url)
            self.entries = [CacheEntry.from_json(e) for e in ENTRIES]  # a Python caller's entries

            def sync_broker(kind: str) -> Callable[[Callable[[Any], Any]], Any]:
                return lambda on_error: RedisBroker(client=self.client, channel=chan(kind), on_error=on_error)

            def async_broker(kind: str) -> Callable[[Callable[[Any], Any]], Any]:
                return lambda on_error: AsyncRedisBroker(client=self.client, channel=chan(kind), on_error=on_error)

            self.cache: Any = RedisCache(client=self.client)
            self.acache: Any = AsyncRedisCache(client=self.client)
            loop.run_until_complete(self.acache.connect())
        else:
            self.r = redis.Redis.from_url(url, **redispy_options())
            self.ar = redis.asyncio.Redis.from_url(url, **redispy_options())
            self.entries = ENTRIES

            def sync_broker(kind: str) -> Callable[[Callable[[Any], Any]], Any]:
                return lambda on_error: PyBroker(self.r, chan(kind), on_error)

            def async_broker(kind: str) -> Callable[[Callable[[Any], Any]], Any]:
                return lambda on_error: PyAsyncBroker(self.ar, chan(kind), on_error)

        self.latency = sync_listening(sync_broker("latency"))
        self.tput1 = sync_listening(sync_broker("tput1"))
        self.tput8 = [sync_listening(sync_broker("tput8")) for _ in range(SUBSCRIBERS)]
        self.alatency = loop.run_until_complete(async_listening(async_broker("async-latency")))
        self.atput1 = loop.run_until_complete(async_listening(async_broker("async-tput1")))
        self.atput8 = [loop.run_until_complete(async_listening(async_broker("async-tput8"))) for _ in range(SUBSCRIBERS)]

    def cache_seq(self, mode: str, n: int) -> tuple[int, float, float, float]:
        entries, keys = self.entries, [e["key"] for e in ENTRIES]
        t0 = time.perf_counter()
        if self.impl == "xr":
            cache = self.cache
            for i in range(n):
                k = i % N
                cache.set(keys[k], entries[k])
                check_entry(mode, k, cache.get(keys[k]))
        else:
            r = self.r
            for i in range(n):
                k = i % N
                py_cache_set(r, keys[k], entries[k])
                check_entry(mode, k, py_cache_get(r, keys[k]))
        return n, time.perf_counter() - t0, 0.0, 0.0

    async def cache_c64(self, mode: str, n: int) -> tuple[int, float, float, float]:
        entries, keys = self.entries, [e["key"] for e in ENTRIES]
        if self.impl == "xr":
            cache = self.acache

            async def cycle(k: int) -> None:
                await cache.set(keys[k], entries[k])
                check_entry(mode, k, await cache.get(keys[k]))
        else:
            ar = self.ar

            async def cycle(k: int) -> None:
                await py_async_cache_set(ar, keys[k], entries[k])
                check_entry(mode, k, await py_async_cache_get(ar, keys[k]))

        rounds = max(1, (n + N - 1) // N)
        t0 = time.perf_counter()
        for _ in range(rounds):
            await asyncio.gather(*[cycle(k) for k in range(N)])
        return rounds * N, time.perf_counter() - t0, 0.0, 0.0

    def run(self, mode: str, n: int) -> tuple[int, float, float, float]:
        kind = mode[len(self.impl) + 1:]
        run = self.loop.run_until_complete
        if kind == "latency":
            return sync_latency(mode, self.latency, n)
        if kind == "tput1":
            return sync_tput(mode, self.tput1, [self.tput1], n)
        if kind == "tput8":
            return sync_tput(mode, self.tput8[0], self.tput8, n)
        if kind == "cache-seq":
            return self.cache_seq(mode, n)
        if kind == "async-latency":
            return run(async_latency(mode, self.alatency, n))
        if kind == "async-tput1":
            return run(async_tput(mode, self.atput1, [self.atput1], n))
        if kind == "async-tput8":
            return run(async_tput(mode, self.atput8[0], self.atput8, n))
        if kind == "async-cache-c64":
            return run(self.cache_c64(mode, n))
        raise ValueError(mode)

    def close(self) -> None:
        for lst in [self.latency, self.tput1, *self.tput8]:
            lst.broker.close()
        for lst in [self.alatency, self.atput1, *self.atput8]:
            self.loop.run_until_complete(lst.broker.close())
        if self.impl == "xr":
            self.cache.close()
            self.loop.run_until_complete(self.acache.close())
            self.client.close()
        else:
            self.r.close()
            self.loop.run_until_complete(self.ar.aclose())


KINDS = ["latency", "tput1", "tput8", "cache-seq", "async-latency", "async-tput1", "async-tput8", "async-cache-c64"]
IMPLS = ["xr", "redispy"]
MODES = [f"{impl}-{kind}" for impl in IMPLS for kind in KINDS]


def versions() -> dict[str, str]:
    return {"python": platform.python_version(), "redis_py": redis.__version__,
            "hiredis_py": metadata.version("hiredis"), "crossredis": metadata.version("crossredis")}


def worker(url: str) -> None:
    loop = asyncio.new_event_loop()
    sides = {impl: Side(impl, url, loop) for impl in IMPLS}
    print("ready", json.dumps(versions()), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        mode, n = line.split()
        impl = mode.split("-", 1)[0]
        cpu = time.process_time()
        done, seconds, p50, p99 = sides[impl].run(mode, int(n))
        print(f"{mode} {done} {seconds:.9f} {time.process_time() - cpu:.6f} {p50:.1f} {p99:.1f}", flush=True)
    for side in sides.values():
        side.close()
    loop.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["worker", *MODES])
    p.add_argument("--url", required=True, help="redis://host:port (touches the 64 bench cache keys only)")
    p.add_argument("-n", type=int, default=5000, help="messages or cycles, one mode (default 5000)")
    args = p.parse_args()
    try:
        if args.mode == "worker":
            worker(args.url)
            return 0
        loop = asyncio.new_event_loop()
        side = Side(args.mode.split("-", 1)[0], args.url, loop)
        side.run(args.mode, min(args.n, 640))
        done, seconds, p50, p99 = side.run(args.mode, args.n)
        side.close()
        loop.close()
        lat = f" p50 {p50:.1f} us p99 {p99:.1f} us" if p50 else ""
        print(f"{args.mode} {done} {seconds:.6f} {done / seconds:.0f}/s{lat}")
        return 0
    except Failed as e:
        print(f"ayepi_bench.py: FAILED: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
