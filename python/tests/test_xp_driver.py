"""The interop drivers' xp mode (interop/CONTRACT.md "xp"): ``crossredis driver --system xp`` (C),
``py_driver.py --system xp --impl py-crossredis`` and ``--impl py-xmlpipeline`` (the upstream-shaped
RedisBackend over redis-py) on a standalone server, the run's Sentinel set and its Cluster (the
matrix in interop/xp_matrix.py runs standalone and Cluster only): what one writes the others read,
slots as base64, and the request/response lines and error kinds are the contract's."""

from __future__ import annotations

import base64
import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from test_session_drivers import Driver as SessionsDriver
from test_session_drivers import DriverError

ROOT = Path(__file__).resolve().parents[2]
PY_DRIVER = ROOT / "interop" / "drivers" / "py_driver.py"
FIELDS = {"thread_id": "t", "from_id": "a", "to_id": "b", "slot_index": 0, "timestamp": "2026-01-01T00:00:00",
          "payload_type": "Greeting", "own_name": None, "is_self_call": False, "usage_instructions": "",
          "payload": {"text": "h\u00e9 \U0001f600", "n": [1, 2.5, None]}}


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


class Driver(SessionsDriver):
    """A driver process in its xp mode (the requests and answers as test_session_drivers' Driver)."""

    def __init__(self, impl: str, url: str, prefix: str, ttl: int = 600) -> None:
        cmd = ([str(ROOT / "build" / "cli" / "crossredis"), "driver"] if impl == "c" else
               [sys.executable, str(PY_DRIVER)])
        self.runtime = impl
        self.proc = subprocess.Popen([*cmd, "--system", "xp", "--impl", impl, "--prefix", prefix, "--ttl", str(ttl)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     env={**os.environ, "REDIS_URL": url}, text=True, encoding="utf-8")
        self.ready = __import__("json").loads(self.proc.stdout.readline() or "null")  # type: ignore[union-attr]
        assert self.ready and self.ready["ready"], (impl, self.ready)
        self.n = 0


@pytest.fixture()
def drivers(topo) -> Iterator[tuple[Any, dict[str, Driver]]]:
    prefix = f"{topo.prefix}:xp:"
    up_url = topo.url
    if topo.kind == "sentinel":  # the upstream-shaped driver takes redis:// or redis+cluster://: the master
        host, port = topo.checker.connection_pool.get_master_address()
        up_url = f"redis://{host}:{port}"
    out: dict[str, Driver] = {}
    try:
        for impl, url in (("c", topo.url), ("py-crossredis", topo.url), ("py-xmlpipeline", up_url)):
            out[impl] = Driver(impl, url, prefix)
        yield topo, out
    finally:
        for d in out.values():
            d.close()


def test_what_one_writes_the_others_read(drivers) -> None:
    topo, d = drivers
    c, py, up = d["c"], d["py-crossredis"], d["py-xmlpipeline"]
    assert "redis-py@" in up.ready["library"] and py.ready["runtime"] == "python" and c.ready["runtime"] == "C"
    js = c.call("xp.slot_json", fields=FIELDS)
    assert js == py.call("xp.slot_json", fields=FIELDS)  # the core's canonical bytes in both
    pk = up.call("xp.slot_pickle", fields=FIELDS)
    assert pk == py.call("xp.slot_pickle", fields=FIELDS)  # the same classes, the same pickle
    assert b"xml_pipeline.memory.context_buffer" in base64.b64decode(pk)
    opaque = b64(bytes(range(256)))
    for i, (writer, slot) in enumerate(((c, js), (up, pk), (py, opaque))):
        assert writer.call("xp.buffer_append", thread_id="th", slot=slot) == i
    key = f"{topo.prefix}:xp:buffer:th"
    assert 590 < topo.checker.ttl(key) <= 600
    for reader in d.values():
        assert reader.call("xp.buffer_get_thread", thread_id="th") == [js, pk, opaque]
        assert reader.call("xp.buffer_get_slot", thread_id="th", index=-2) == pk
        assert reader.call("xp.buffer_thread_len", thread_id="th") == 3
    assert c.call("xp.slot_read", slot=js) == py.call("xp.slot_read", slot=js) == FIELDS
    assert py.call("xp.slot_read", slot=pk) == up.call("xp.slot_read", slot=pk) == FIELDS
    assert c.fails("xp.slot_read", slot=pk).kind == "InvalidArgumentError"
    assert up.fails("xp.slot_read", slot=js).kind == "UnpicklingError"

    py.call("xp.registry_set", chain="system.o.console", uuid="u-1")
    assert up.call("xp.registry_get_chain", uuid="u-1") == c.call("xp.registry_get_chain", uuid="u-1") == \
        "system.o.console"
    want = {"u-1": "system.o.console"}
    assert c.call("xp.registry_list_all") == py.call("xp.registry_list_all") == want
    # upstream's KEYS: on a Cluster redis-py sends it to one node, which may not hold the key (SPEC 4)
    assert up.call("xp.registry_list_all") in (({}, want) if topo.kind == "cluster" else (want,))
    assert c.call("xp.info") == py.call("xp.info") == {"buffer_threads": 1, "registry_entries": 1, "ttl_seconds": 600}
    assert c.call("xp.buffer_list_threads") == py.call("xp.buffer_list_threads") == ["th"]
    assert up.call("xp.registry_delete", uuid="u-1") is True
    assert c.call("xp.registry_get_uuid", chain="system.o.console") is None
    assert py.call("xp.buffer_delete_thread", thread_id="th") is True
    assert topo.keys("xp:*") == []


def test_errors_are_the_contracts(drivers) -> None:
    _, d = drivers
    c, py, up = d["c"], d["py-crossredis"], d["py-xmlpipeline"]
    for drv in d.values():
        assert drv.fails("xp.buffer_append", thread_id="t", slot="not base64").kind == "BadRequest"
        assert drv.fails("xp.buffer_get_slot", thread_id="t").kind == "BadRequest"
        assert drv.fails("xp.slot_json", fields={"thread_id": "t", "nope": 1}).kind in ("BadRequest", "Unsupported")
        assert drv.fails("xp.nope").kind == "UnknownOp"
    assert c.fails("xp.slot_pickle", fields=FIELDS).kind == "Unsupported"
    assert up.fails("xp.slot_json", fields=FIELDS).kind == "Unsupported"
    assert up.fails("xp.registry_get_or_create", chain="x").kind == "Unsupported"
    assert py.fails("xp.buffer_append", thread_id="", slot="AA==").kind == "InvalidArgumentError"
    evil = b64(pickle.dumps(os.system))  # a global other than the slot classes: refused before it loads
    assert py.fails("xp.slot_read", slot=evil).kind == "UnsafeSlotError"
    assert py.call("xp.buffer_thread_len", thread_id="t") == 0  # and it goes on


@pytest.mark.parametrize("flags,said", [(["--ttl", "5"], "--ttl is for --system xp"),
                                        (["--system", "xp", "--channel", "c"], "not an option of --system xp")])
def test_options_of_another_mode_are_refused(flags: list[str], said: str) -> None:
    res = subprocess.run([sys.executable, str(PY_DRIVER), "--impl", "py-crossredis", *flags],
                         env={**os.environ, "REDIS_URL": "redis://127.0.0.1:1"}, capture_output=True, text=True)
    assert res.returncode == 1 and said in res.stdout, res.stdout
