"""The Python interop driver's ayepi mode (``py_driver.py --system ayepi --impl py-crossredis``,
interop/CONTRACT.md "ayepi") beside the ts-ayepi driver (interop/drivers/ayepi_driver.mjs, upstream's
factories over ioredis) on a standalone server, the run's Sentinel set and its Cluster: what one
writes the other reads, both write a cache entry in the same bytes, a message published by either
reaches the other's subscriber, and the request/response lines and error kinds are the contract's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from test_session_drivers import Driver as SessionsDriver
from test_session_drivers import DriverError

ROOT = Path(__file__).resolve().parents[2]
ENTRY = {"body": "{\"id\":\"1\"}", "status": 200, "headers": [["content-type", "application/json"]],
         "storedAt": 1795298432317, "expires": 1795298462317, "staleUntil": 4102444800000, "bytes": 10,
         "method": "GET", "path": "/users/:id", "key": "[\"GET\",\"/users/:id\",[],null,null]"}


class Driver(SessionsDriver):
    """A driver process in its ayepi mode (the requests and answers as test_session_drivers' Driver)."""

    def __init__(self, runtime: str, url: str, prefix: str, cache_prefix: str, channel: str) -> None:
        cmd = ([sys.executable, str(ROOT / "interop" / "drivers" / "py_driver.py"), "--system", "ayepi",
                "--impl", "py-crossredis"] if runtime == "py" else
               ["node", str(ROOT / "interop" / "drivers" / "ayepi_driver.mjs"), "--impl", "ts-ayepi"])
        self.runtime = runtime
        self.proc = subprocess.Popen([*cmd, "--prefix", prefix, "--cache-prefix", cache_prefix, "--channel", channel],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     env={**os.environ, "REDIS_URL": url}, text=True, encoding="utf-8")
        self.ready = json.loads(self.proc.stdout.readline() or "null")  # type: ignore[union-attr]
        assert self.ready and self.ready["ready"], (runtime, self.ready)
        self.n = 0


@pytest.fixture()
def drivers(topo) -> Iterator[tuple[Any, Driver, Driver]]:
    p, c, ch = f"{topo.prefix}:p:", f"{topo.prefix}:ayepi:cache:", f"{topo.prefix}:ch"
    py = Driver("py", topo.url, p, c, ch)
    ts_url = topo.url
    if topo.kind == "sentinel":  # ts-ayepi takes redis:// or redis+cluster:// (CONTRACT.md): the master
        host, port = topo.checker.connection_pool.get_master_address()
        ts_url = f"redis://{host}:{port}"
    try:
        ts = Driver("ts", ts_url, p, c, ch)
        try:
            yield topo, py, ts
        finally:
            ts.close()
    finally:
        py.close()


def test_store_cache_and_broker_across_runtimes(drivers) -> None:
    topo, py, ts = drivers
    assert py.ready["impl"] == "py-crossredis" and py.ready["runtime"] == "python"
    p, c = f"{topo.prefix}:p:", f"{topo.prefix}:ayepi:cache:"
    assert py.call("ayepi.set", key="k", value="v\u00e4", ttl_ms=60000) is None
    assert ts.call("ayepi.get", key="k") == "v\u00e4"
    assert ts.call("ayepi.set_if_not_exists", key="claim", value="ts") is True
    assert py.call("ayepi.set_if_not_exists", key="claim", value="py", ttl_ms=None) is False
    assert py.call("ayepi.get", key="claim") == "ts"
    assert ts.call("ayepi.increment", key="n", by=2) == 2
    assert py.call("ayepi.increment", key="n", by=3, ttl_ms=60000) == 5
    assert 59000 <= topo.checker.pttl(p + "n") <= 60000
    assert py.call("ayepi.delete", key="k") is None and ts.call("ayepi.get", key="k") is None

    assert py.call("ayepi.cache_set", key="a", entry=ENTRY, now_ms=1795298432317) is None
    assert ts.call("ayepi.cache_set", key="b", entry=ENTRY, now_ms=1795298432317) is None
    assert topo.checker.get(c + "a") == topo.checker.get(c + "b") == json.dumps(ENTRY, separators=(",", ":")).encode()
    assert ts.call("ayepi.cache_get", key="a") == py.call("ayepi.cache_get", key="b") == ENTRY
    assert py.call("ayepi.cache_get", key="none") is None
    assert py.call("ayepi.cache_invalidate", path="/other") == 0
    assert py.call("ayepi.cache_delete", key="b") is True and py.call("ayepi.cache_delete", key="b") is False
    assert py.call("ayepi.cache_invalidate", path="/users/:id") == 1
    py.call("ayepi.cache_set", key="c", entry=ENTRY)
    assert py.call("ayepi.cache_clear") is None and topo.keys("ayepi:cache:*") == []

    env = py.call("ayepi.envelope", ch="progress", params={"job": "j1"}, data={"pct": 77})
    assert env == ts.call("ayepi.envelope", ch="progress", params={"job": "j1"}, data={"pct": 77})
    assert py.call("ayepi.subscribe") is None and ts.call("ayepi.subscribe") is None
    assert py.call("ayepi.subscribe") is None  # again: nothing more
    py.call("ayepi.publish", message=env)
    # both heard it before the second publisher speaks: on a Cluster two publishers' messages reach
    # a subscriber on another node through the cluster bus, in no promised order between them
    assert ts.call("ayepi.received", count=1, timeout_ms=5000) == [env]
    assert py.call("ayepi.received", count=1, timeout_ms=5000) == [env]
    ts.call("ayepi.publish", message="from ts \u2028")
    want = [env, "from ts \u2028"]
    assert ts.call("ayepi.received", count=2, timeout_ms=5000) == want
    assert py.call("ayepi.received", count=2, timeout_ms=5000) == want


def test_errors_are_the_contracts(drivers) -> None:
    _, py, _ = drivers
    with pytest.raises(DriverError) as e:
        py.call("ayepi.get", key="")
    assert e.value.kind == "InvalidArgumentError" and "ayepi.get: the key is empty" in str(e.value)
    for op, args in (("ayepi.get", {}), ("ayepi.set", {"key": "k", "value": 1}), ("ayepi.increment", {"key": "n"}),
                     ("ayepi.cache_set", {"key": "k", "entry": [1]}), ("ayepi.envelope", {"ch": "c"})):
        with pytest.raises(DriverError) as e:
            py.call(op, **args)
        assert e.value.kind == "BadRequest", (op, e.value)
    with pytest.raises(DriverError) as e:
        py.call("ayepi.nope")
    assert e.value.kind == "UnknownOp"
    assert py.send("not json") == {"id": None, "ok": False,
                                   "error": {"kind": "BadRequest",
                                             "message": "not JSON: Expecting value: line 1 column 1 (char 0)"}}
    assert py.call("ayepi.get", key="k") is None  # and it goes on
