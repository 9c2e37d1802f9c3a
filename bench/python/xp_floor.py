"""Where the time of the xp benchmark goes (bench/README.md, "xp", "Where the time goes"): each
backend call of a cycle alone, crossredis.xp.RedisBackend beside the upstream-shaped redis-py backend
(interop/drivers/xp_upstream.py), against a bare round trip with no client library (a blocking
socket in one Python thread: GET written, its reply read) and a GET through crossredis.Client and
redis-py, against one server.

Each prints the p50 and the CPU per call of a few thousand calls after a warm-up (ayepi_floor.py's
``timed``), and how many round trips the call costs each side (SPEC.md 4's commands upstream; one
script for crossredis's append and registry_set).
Usage: .venv/bin/python bench/python/xp_floor.py --url redis://127.0.0.1:6379 [-n 5000]
"""

from __future__ import annotations

import argparse
import socket
import time
from urllib.parse import urlparse

import redis

import crossredis
from ayepi_floor import p50_us, resp, timed
from xp_bench import Side, clear, pair, slot, thread_id

KEY = b"bench:xp:floor:k"
GET = resp(b"GET", KEY)


def raw_get(host: str, port: int, n: int) -> float:
    s = socket.create_connection((host, port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        s.sendall(GET)
        s.recv(1000)
        samples.append(time.perf_counter() - start)
    s.close()
    return p50_us(samples)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True)
    ap.add_argument("-n", type=int, default=5000)
    a = ap.parse_args()
    u = urlparse(a.url)
    host, port = u.hostname or "127.0.0.1", u.port or 6379
    r = redis.Redis.from_url(a.url)
    r.set(KEY, "v" * 36)
    print(f"{'raw socket GET (no library)':46s}p50 {raw_get(host, port, a.n):7.1f} us")
    c = crossredis.Client(a.url)
    for name, call in (("crossredis Client.command GET", lambda: c.command("GET", KEY)),
                       ("redis-py get", lambda: r.get(KEY))):
        p50, cpu = timed(call, a.n)
        print(f"{name:46s}p50 {p50:7.1f} us  CPU {cpu:5.1f} us", flush=True)
    c.close()
    short = thread_id(0)  # kept at 8 slots: the benchmark's average thread
    chain, uuid = pair(0, 0)
    grow = thread_id(1)
    for impl in ("upstream", "xr"):
        clear(r, impl)
        b = Side(impl, a.url).backend
        for p in range(8):
            b.buffer_append(short, slot(0, p))
        b.registry_set(chain, uuid)
        # (name, call, round trips upstream, round trips crossredis)
        calls = (("buffer_append (~500 B)", lambda: b.buffer_append(grow, slot(1, 0)), "2 (RPUSH, EXPIRE)", "1 (EVAL)"),
                 ("buffer_get_thread (8 slots)", lambda: b.buffer_get_thread(short), "1 (LRANGE)", "1 (LRANGE)"),
                 ("registry_set", lambda: b.registry_set(chain, uuid), "1 (MULTI SET SET EXEC)", "1 (EVAL)"),
                 ("registry_get_uuid", lambda: b.registry_get_uuid(chain), "1 (GET)", "1 (GET)"),
                 ("registry_get_chain", lambda: b.registry_get_chain(uuid), "1 (GET)", "1 (EVAL: GET both ways)"))
        for name, call, up_rt, xr_rt in calls:
            p50, cpu = timed(call, a.n)
            print(f"{impl + ' ' + name:46s}p50 {p50:7.1f} us  CPU {cpu:5.1f} us  "
                  f"round trips {up_rt if impl == 'upstream' else xr_rt}", flush=True)
        b.close()
        clear(r, impl)
    r.delete(KEY)
    r.close()


if __name__ == "__main__":
    main()
