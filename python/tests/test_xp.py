"""crossredis.xp: xml-pipeline's RedisBackend from Python, sync and asyncio, on a standalone server,
the run's Sentinel set and its Cluster (the ``topo`` fixture): every method's results and types and
what Redis holds (TTLs), data written by an upstream-shaped redis-py backend (SPEC 4's commands)
read by crossredis and the other way, upstream's defects fixed (concurrent appends, a glob prefix,
a re-mapped chain, racing get-or-create), bad input refused with nothing touched, no password in
what a backend shows; the restricted slot reader against real and malicious pickles, the JSON
slot."""

from __future__ import annotations

import asyncio
import os
import pickle
import sys
import threading
import uuid as uuidlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from conftest import RedisServer
from crossredis import AuthenticationError, ConnectionError, InvalidArgumentError, WrongTypeError
from crossredis.xp import (AsyncRedisBackend, BufferSlot, RedisBackend, SlotMetadata, UnsafeSlotError,
                           decode_json_slot, encode_json_slot, load_slot, read_slot)

DAY = 86400


def px(topo) -> str:
    return f"{topo.prefix}:xp:"


class UpstreamShaped:
    """xml-pipeline's RedisBackend as SPEC 4 describes its commands, over redis-py (bytes): the
    index from LLEN before RPUSH, EXPIRE apart, KEYS for listings (full keys), GET-then-DEL."""

    def __init__(self, r: Any, prefix: str, ttl: int = DAY) -> None:
        self.r, self.prefix, self.ttl = r, prefix, ttl

    def _b(self, thread_id: str) -> str:
        return f"{self.prefix}buffer:{thread_id}"

    def buffer_append(self, thread_id: str, slot_data: bytes) -> int:
        index = self.r.llen(self._b(thread_id))
        self.r.rpush(self._b(thread_id), slot_data)
        if self.ttl:
            self.r.expire(self._b(thread_id), self.ttl)
        return int(index)

    def buffer_get_thread(self, thread_id: str) -> list[bytes]:
        return list(self.r.lrange(self._b(thread_id), 0, -1))

    def buffer_get_slot(self, thread_id: str, index: int) -> bytes | None:
        return self.r.lindex(self._b(thread_id), index)

    def registry_set(self, chain: str, uuid: str) -> None:
        self.r.set(f"{self.prefix}chain:{chain}", uuid, ex=self.ttl or None)
        self.r.set(f"{self.prefix}uuid:{uuid}", chain, ex=self.ttl or None)

    def registry_get_uuid(self, chain: str) -> str | None:
        v = self.r.get(f"{self.prefix}chain:{chain}")
        return None if v is None else v.decode()

    def registry_get_chain(self, uuid: str) -> str | None:
        v = self.r.get(f"{self.prefix}uuid:{uuid}")
        return None if v is None else v.decode()


# ---- a module named xml_pipeline.memory.context_buffer, for real pickles of upstream's shapes --------

CONTEXT_BUFFER = '''
from dataclasses import dataclass
from typing import Any, Optional


@dataclass(frozen=True)
class SlotMetadata:
    thread_id: str
    from_id: str
    to_id: str
    slot_index: int
    timestamp: str
    payload_type: str
    own_name: Optional[str] = None
    is_self_call: bool = False
    usage_instructions: str = ""


@dataclass(frozen=True)
class BufferSlot:
    payload: Any
    metadata: SlotMetadata
'''


@pytest.fixture()
def upstream(tmp_path, monkeypatch) -> Any:
    """The package xml_pipeline.memory.context_buffer (upstream's dataclasses' shapes), importable
    for the test, gone after it."""
    pkg = tmp_path / "xml_pipeline" / "memory"
    pkg.mkdir(parents=True)
    (tmp_path / "xml_pipeline" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "context_buffer.py").write_text(CONTEXT_BUFFER)
    monkeypatch.syspath_prepend(str(tmp_path))
    import xml_pipeline.memory.context_buffer as cb

    yield cb
    for name in [n for n in sys.modules if n == "xml_pipeline" or n.startswith("xml_pipeline.")]:
        del sys.modules[name]


def make_slot(cb: Any, thread_id: str, i: int, payload: Any = None) -> Any:
    md = cb.SlotMetadata(thread_id=thread_id, from_id="console", to_id="router", slot_index=i,
                         timestamp="2025-01-02T03:04:05.678901+00:00", payload_type="Greeting",
                         own_name="router" if i % 2 else None, is_self_call=bool(i % 2), usage_instructions="use it")
    return cb.BufferSlot(payload={"text": f"hello {i}", "n": i} if payload is None else payload, metadata=md)


# ---- every method, sync ------------------------------------------------------------------------------


def test_buffer(topo) -> None:
    p = px(topo)
    with RedisBackend(topo.url, prefix=p) as b:
        assert (b.prefix, b.ttl) == (p, DAY)
        assert b.buffer_thread_exists("t1") is False and b.buffer_thread_len("t1") == 0
        assert b.buffer_get_thread("t1") == [] and b.buffer_get_slot("t1", 0) is None
        assert b.buffer_append("t1", b"s0") == 0
        assert b.buffer_append("t1", b"\x80\x04 s1 \x00\xff") == 1
        assert b.buffer_append("t1", bytearray(b"")) == 2  # an empty slot is a slot
        got = b.buffer_get_thread("t1")
        assert got == [b"s0", b"\x80\x04 s1 \x00\xff", b""] and all(type(x) is bytes for x in got)
        assert b.buffer_get_slot("t1", 1) == b"\x80\x04 s1 \x00\xff" and b.buffer_get_slot("t1", -1) == b""
        assert b.buffer_get_slot("t1", 3) is None
        n, e = b.buffer_thread_len("t1"), b.buffer_thread_exists("t1")
        assert (n, type(n), e, type(e)) == (3, int, True, bool)
        assert DAY - 5 <= topo.checker.ttl(p + "buffer:t1") <= DAY
        b.buffer_append("t\u00e42", b"x")
        threads = b.buffer_list_threads()
        assert threads == ["t1", "t\u00e42"] and all(type(t) is str for t in threads)  # ids, not keys
        assert b.buffer_delete_thread("t1") is True and b.buffer_delete_thread("t1") is False
        assert b.buffer_clear() is None and b.buffer_list_threads() == []
        assert topo.keys("xp:*") == []


def test_ttl_options(topo) -> None:
    p = px(topo)
    with RedisBackend(topo.url, p, 0) as none, RedisBackend(topo.url, prefix=p, ttl=120) as short:
        none.buffer_append("a", b"x")
        none.registry_set("c0", "u0")
        short.buffer_append("b", b"x")
        short.registry_set("c1", "u1")
        assert topo.checker.ttl(p + "buffer:a") == -1 and topo.checker.ttl(p + "chain:c0") == -1
        assert 115 <= topo.checker.ttl(p + "buffer:b") <= 120 and 115 <= topo.checker.ttl(p + "uuid:u1") <= 120
        assert none.info()["ttl_seconds"] == 0 and short.info()["ttl_seconds"] == 120
    with pytest.raises(InvalidArgumentError, match="ttl must be >= 0"):
        RedisBackend(topo.url, prefix=p, ttl=-1)
    with pytest.raises(TypeError, match="ttl must be an int, not str"):
        RedisBackend(topo.url, prefix=p, ttl="60")  # type: ignore[arg-type]


def test_registry(topo) -> None:
    p = px(topo)
    with RedisBackend(topo.url, prefix=p) as b:
        assert b.registry_get_uuid("system.org.console.router") is None and b.registry_get_chain("u") is None
        assert b.registry_set("system.org.console.router", "u-1") is None
        assert b.registry_get_uuid("system.org.console.router") == "u-1"
        assert b.registry_get_chain("u-1") == "system.org.console.router"
        assert topo.checker.get(p + "chain:system.org.console.router") == b"u-1"
        assert topo.checker.get(p + "uuid:u-1") == b"system.org.console.router"
        assert DAY - 5 <= topo.checker.ttl(p + "uuid:u-1") <= DAY
        made = b.registry_get_or_create("system.org.other")
        assert str(uuidlib.UUID(made)) == made and uuidlib.UUID(made).version == 4
        assert b.registry_get_or_create("system.org.other") == made
        assert b.registry_get_or_create("system.org.console.router") == "u-1"
        listed = b.registry_list_all()
        assert listed == {"u-1": "system.org.console.router", made: "system.org.other"}
        assert b.info() == {"buffer_threads": 0, "registry_entries": 2, "ttl_seconds": DAY}
        assert b.registry_delete("u-1") is True and b.registry_delete("u-1") is False
        assert b.registry_get_uuid("system.org.console.router") is None
        assert b.registry_clear() is None and b.registry_list_all() == {}
        assert topo.keys("xp:*") == []


def test_ping_close_and_repr(topo) -> None:
    b = RedisBackend(topo.url, prefix=px(topo))
    assert b.ping() is True
    assert repr(b) == f"<RedisBackend url={topo.url!r} prefix={px(topo)!r} ttl={DAY}>" and b.url == topo.url
    b.close()
    b.close()
    assert b.ping() is False
    with pytest.raises(RuntimeError, match="closed"):
        b.buffer_thread_len("t")


def test_a_given_client(topo) -> None:
    from crossredis import Client

    with Client(topo.url) as c:
        with RedisBackend(client=c, prefix=px(topo)) as b:
            assert b.url is None and b.client is c
            assert b.buffer_append("t", b"x") == 0
        assert c.ping()  # borrowed: still open
        with pytest.raises(TypeError, match="only without a client"):
            RedisBackend("redis://elsewhere:1", client=c)


def test_unreachable_raises_connection_error() -> None:
    with pytest.raises(ConnectionError):
        RedisBackend("redis://127.0.0.1:1", connect_timeout_ms=200)


# ---- upstream's data, both ways ------------------------------------------------------------------------


def test_upstream_writes_crossredis_reads(topo, upstream) -> None:
    p = px(topo)
    up = UpstreamShaped(topo.checker, p)
    slots = [pickle.dumps(make_slot(upstream, "th", i)) for i in range(3)]
    for s in slots:
        up.buffer_append("th", s)
    up.registry_set("system.org.console.router", "9f1c0b1e-0000-4000-8000-000000000001")
    with RedisBackend(topo.url, prefix=p) as b:
        assert b.buffer_get_thread("th") == slots and b.buffer_get_slot("th", 2) == slots[2]
        assert b.buffer_list_threads() == ["th"]
        loaded = [load_slot(s) for s in b.buffer_get_thread("th")]
        assert loaded == [make_slot(upstream, "th", i) for i in range(3)]
        assert all(type(x) is upstream.BufferSlot for x in loaded)
        assert b.registry_get_uuid("system.org.console.router") == "9f1c0b1e-0000-4000-8000-000000000001"
        assert b.registry_get_chain("9f1c0b1e-0000-4000-8000-000000000001") == "system.org.console.router"
        assert b.registry_list_all() == {"9f1c0b1e-0000-4000-8000-000000000001": "system.org.console.router"}
        assert b.buffer_append("th", slots[0]) == 3  # and appends after upstream's


def test_crossredis_writes_upstream_reads(topo, upstream) -> None:
    p = px(topo)
    up = UpstreamShaped(topo.checker, p)
    with RedisBackend(topo.url, prefix=p) as b:
        slots = [pickle.dumps(make_slot(upstream, "th", i)) for i in range(3)]
        assert [b.buffer_append("th", s) for s in slots] == [0, 1, 2]
        b.registry_set("a.b.c", "u-a")
        made = b.registry_get_or_create("a.b.d")
    assert up.buffer_get_thread("th") == slots and up.buffer_get_slot("th", 1) == slots[1]
    assert pickle.loads(up.buffer_get_slot("th", 0)) == make_slot(upstream, "th", 0)
    assert (up.registry_get_uuid("a.b.c"), up.registry_get_chain("u-a")) == ("u-a", "a.b.c")
    assert (up.registry_get_uuid("a.b.d"), up.registry_get_chain(made)) == (made, "a.b.d")


# ---- upstream's defects, fixed -------------------------------------------------------------------------


def test_four_writers_get_distinct_indexes(topo) -> None:
    """Upstream's caller read LLEN before RPUSH: 478 of 800 indexes wrong under 4 writers. Here
    each is RPUSH's reply - 1: 800 distinct, each the slot's place in the list."""
    with RedisBackend(topo.url, prefix=px(topo)) as b:
        def writer(w: int) -> list[tuple[int, bytes]]:
            return [(b.buffer_append("busy", s), s) for s in (f"{w}:{i}".encode() for i in range(200))]

        with ThreadPoolExecutor(4) as ex:
            got = [x for part in ex.map(writer, range(4)) for x in part]
        indexes = sorted(i for i, _ in got)
        assert indexes == list(range(800))
        stored = b.buffer_get_thread("busy")
        assert all(stored[i] == s for i, s in got)


def test_a_glob_prefix_never_reaches_another_tenant(topo) -> None:
    star, other = f"{topo.prefix}:a*", f"{topo.prefix}:ab:"
    with RedisBackend(topo.url, prefix=star) as a, RedisBackend(topo.url, prefix=other) as ab:
        a.buffer_append("mine", b"1")
        ab.buffer_append("theirs", b"2")
        a.registry_set("c.mine", "u-mine")
        ab.registry_set("c.theirs", "u-theirs")
        assert a.buffer_list_threads() == ["mine"] and a.registry_list_all() == {"u-mine": "c.mine"}
        assert a.info() == {"buffer_threads": 1, "registry_entries": 1, "ttl_seconds": DAY}
        a.buffer_clear()
        a.registry_clear()
        assert a.buffer_list_threads() == [] and a.registry_list_all() == {}
        assert ab.buffer_get_thread("theirs") == [b"2"] and ab.registry_list_all() == {"u-theirs": "c.theirs"}
        assert ab.info() == {"buffer_threads": 1, "registry_entries": 1, "ttl_seconds": DAY}


def test_remap_then_delete_by_the_old_uuid_keeps_the_new_mapping(topo) -> None:
    with RedisBackend(topo.url, prefix=px(topo)) as b:
        b.registry_set("c", "u-old")
        b.registry_set("c", "u-new")
        assert b.registry_get_chain("u-old") is None  # the stale reverse mapping is not shown
        assert b.registry_delete("u-old") is False
        assert b.registry_get_uuid("c") == "u-new" and b.registry_get_chain("u-new") == "c"
        assert b.registry_list_all() == {"u-new": "c"}


def test_racing_get_or_create_mints_one_uuid(topo) -> None:
    with RedisBackend(topo.url, prefix=px(topo)) as b1, RedisBackend(topo.url, prefix=px(topo)) as b2:
        for round_ in range(10):
            chain = f"race.{round_}"
            start = threading.Barrier(2)

            def go(b: RedisBackend) -> str:
                start.wait()
                return b.registry_get_or_create(chain)

            with ThreadPoolExecutor(2) as ex:
                u1, u2 = ex.map(go, (b1, b2))
            assert u1 == u2 == b1.registry_get_uuid(chain) and b1.registry_get_chain(u1) == chain


# ---- bad input ------------------------------------------------------------------------------------------


def test_bad_input(topo) -> None:
    p = px(topo)
    with RedisBackend(topo.url, prefix=p) as b:
        with pytest.raises(InvalidArgumentError, match=r"^xp.buffer_append: thread_id is empty$"):
            b.buffer_append("", b"x")
        for call, what in ((lambda: b.buffer_get_thread(""), "thread_id"), (lambda: b.registry_set("", "u"), "chain"),
                           (lambda: b.registry_set("c", ""), "uuid"), (lambda: b.registry_get_chain(""), "uuid"),
                           (lambda: b.registry_get_or_create(""), "chain"), (lambda: b.registry_delete(""), "uuid")):
            with pytest.raises(InvalidArgumentError, match=f"{what} is empty"):
                call()
        with pytest.raises(TypeError, match="^thread_id must be a str, not int$"):
            b.buffer_append(5, b"x")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="^chain must be a str, not bytes$"):
            b.registry_get_uuid(b"c")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="^slot_data must be bytes, not str$"):
            b.buffer_append("t", "text")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="^index must be an int, not str$"):
            b.buffer_get_slot("t", "0")  # type: ignore[arg-type]
        with pytest.raises(InvalidArgumentError, match="thread_id: not valid Unicode"):
            b.buffer_append("a\ud800", b"x")
        assert topo.keys("xp:*") == []
        big = os.urandom(10 * 1024 * 1024)
        assert b.buffer_append("big", big) == 0 and b.buffer_get_slot("big", 0) == big
        assert b.buffer_get_thread("big") == [big]
        b.buffer_append("\x00bin\u00e4", b"x")  # binary-safe ids
        assert "\x00bin\u00e4" in b.buffer_list_threads()


def test_a_key_of_the_wrong_type(topo) -> None:
    p = px(topo)
    topo.checker.set(p + "buffer:str", b"x")
    topo.checker.rpush(p + "uuid:listed", b"x")
    with RedisBackend(topo.url, prefix=p) as b:
        with pytest.raises(WrongTypeError, match=f"{p}buffer:str"):
            b.buffer_append("str", b"slot")
        with pytest.raises(WrongTypeError):
            b.buffer_get_thread("str")
        with pytest.raises(WrongTypeError, match=f"{p}uuid:listed"):
            b.registry_set("c.new", "listed")
        assert topo.checker.get(p + "buffer:str") == b"x"
        assert topo.checker.lrange(p + "uuid:listed", 0, -1) == [b"x"]
        assert topo.keys("xp:*") == sorted([f"{p}buffer:str".encode(), f"{p}uuid:listed".encode()])  # nothing else
        assert b.registry_list_all() == {}  # another type: not listed


# ---- asyncio ---------------------------------------------------------------------------------------------


def test_async_backend(topo) -> None:
    p = px(topo)

    async def main() -> None:
        async with AsyncRedisBackend(topo.url, prefix=p) as b:
            idx = await asyncio.gather(*(b.buffer_append("t", f"{i}".encode()) for i in range(300)))
            assert sorted(idx) == list(range(300))
            assert b.batcher is not None and b.batcher.exec_count < 300  # pipelined
            stored = await b.buffer_get_thread("t")
            assert all(stored[i] == f"{n}".encode() for n, i in enumerate(idx))
            assert await b.buffer_get_slot("t", 0) == stored[0] and await b.buffer_get_slot("t", 300) is None
            assert (await b.buffer_thread_len("t"), await b.buffer_thread_exists("t")) == (300, True)
            assert await b.buffer_list_threads() == ["t"]
            await b.registry_set("c", "u-old")
            await b.registry_set("c", "u-new")
            assert (await b.registry_get_uuid("c"), await b.registry_get_chain("u-old")) == ("u-new", None)
            assert await b.registry_delete("u-old") is False and await b.registry_get_chain("u-new") == "c"
            made = await asyncio.gather(*(b.registry_get_or_create("g") for _ in range(20)))
            assert len(set(made)) == 1
            assert await b.registry_list_all() == {"u-new": "c", made[0]: "g"}
            assert await b.info() == {"buffer_threads": 1, "registry_entries": 2, "ttl_seconds": DAY}
            assert await b.ping() is True
            with pytest.raises(InvalidArgumentError, match="thread_id is empty"):
                await b.buffer_thread_len("")
            assert await b.buffer_delete_thread("t") is True
            await b.buffer_clear()
            await b.registry_clear()
            assert await b.info() == {"buffer_threads": 0, "registry_entries": 0, "ttl_seconds": DAY}
        assert await b.ping() is False

    asyncio.run(main())


# ---- secrets ---------------------------------------------------------------------------------------------


def test_a_password_is_never_shown() -> None:
    pw = "s3cret-Pa55"
    server = RedisServer("--requirepass", pw)
    try:
        url = f"redis://:{pw}@127.0.0.1:{server.port}"
        with RedisBackend(url, prefix="sec:") as b:
            for text in (repr(b), str(b), b.url, repr(b.client)):
                assert pw not in text
            assert b.url == f"redis://:***@127.0.0.1:{server.port}"
        with pytest.raises(AuthenticationError) as e:
            RedisBackend(f"redis://:wrong-{pw}@127.0.0.1:{server.port}")
        assert pw not in str(e.value) and pw not in repr(e.value)

        async def main() -> None:
            b = AsyncRedisBackend(url)
            assert pw not in repr(b)
            with pytest.raises(ConnectionError) as e:
                await AsyncRedisBackend(f"redis://:{pw}@127.0.0.1:1", connect_timeout_ms=200).connect()
            assert pw not in str(e.value)
            await b.close()

        asyncio.run(main())
    finally:
        server.close()


# ---- the restricted slot reader --------------------------------------------------------------------------


def test_load_slot_reads_upstreams_pickles(upstream) -> None:
    import datetime

    payload = {"s": "\u00e4", "b": b"\x00\xff", "n": [1, 2.5, None, True], "t": (1, "x"), "set": {1, 2},
               "fs": frozenset({"a"}), "ba": bytearray(b"x"), "c": 1 + 2j,
               "when": datetime.datetime(2025, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
               "d": datetime.date(2025, 1, 2), "dt": datetime.timedelta(seconds=3)}
    slot = make_slot(upstream, "th", 1, payload)
    for protocol in range(3, pickle.HIGHEST_PROTOCOL + 1):
        got = load_slot(pickle.dumps(slot, protocol=protocol))
        assert got == slot and type(got) is upstream.BufferSlot and type(got.metadata) is upstream.SlotMetadata


def test_load_slot_without_xml_pipeline(upstream, monkeypatch) -> None:
    data = pickle.dumps(make_slot(upstream, "th", 3))
    # not importable, whatever else put a package of that name on sys.path (the interop drivers'
    # stand-in): a None entry in sys.modules makes every import of it fail
    for name in ("xml_pipeline", "xml_pipeline.memory", "xml_pipeline.memory.context_buffer"):
        monkeypatch.setitem(sys.modules, name, None)
    got = load_slot(data)
    assert type(got) is BufferSlot and type(got.metadata) is SlotMetadata
    assert got.metadata == SlotMetadata("th", "console", "router", 3, "2025-01-02T03:04:05.678901+00:00", "Greeting",
                                        "router", True, "use it")
    assert got.payload == {"text": "hello 3", "n": 3}


class _Boom:
    def __init__(self, fn: Any, arg: str) -> None:
        self.fn, self.arg = fn, arg

    def __reduce__(self) -> Any:
        return (self.fn, (self.arg,))


def test_load_slot_refuses_code(upstream, tmp_path) -> None:
    marker = tmp_path / "ran"
    evil = [
        (pickle.dumps(_Boom(os.system, f"touch {marker}")), "refusing to load posix.system"),
        (pickle.dumps(make_slot(upstream, "th", 0, _Boom(os.system, f"touch {marker}"))), "posix.system"),
        (pickle.dumps(_Boom(eval, f"open({str(marker)!r}, 'w')")), "refusing to load builtins.eval"),
        (b"cbuiltins\neval\n(V__import__('os').system('touch " + str(marker).encode() + b"')\ntR.", "builtins.eval"),
        (b"cbuiltins\ngetattr\n.", "builtins.getattr"),
        (b"\x80\x04\x8c\x02os\x8c\x05popen\x93.", "os.popen"),  # STACK_GLOBAL
        (b"cxml_pipeline.memory.context_buffer\nos\n.", "xml_pipeline.memory.context_buffer.os"),
        (pickle.dumps(_Boom(print, "x")), "builtins.print"),
        (b"\x80\x02P0\n.", "persistent id"),
        (pickle.dumps({"not": "a slot"}), "not a BufferSlot"),
        (pickle.dumps(upstream.SlotMetadata("t", "a", "b", 0, "x", "p")), "not a BufferSlot"),
    ]
    for data, message in evil:
        with pytest.raises(UnsafeSlotError, match=message):
            load_slot(data)
        assert isinstance(UnsafeSlotError(), pickle.UnpicklingError)
    assert not marker.exists()
    with pytest.raises(TypeError, match="data must be bytes, not str"):
        load_slot("x")  # type: ignore[arg-type]


# ---- the JSON slot -----------------------------------------------------------------------------------------


def test_json_slots(upstream) -> None:
    slot = make_slot(upstream, "th", 1, {"b": [1, 2.5, None, True], "a": "x\u00e4\u2028"})
    data = encode_json_slot(slot)
    assert data == ('{"xp_slot":1,"thread_id":"th","from_id":"console","to_id":"router","slot_index":1,'
                    '"timestamp":"2025-01-02T03:04:05.678901+00:00","payload_type":"Greeting","own_name":"router",'
                    '"is_self_call":true,"usage_instructions":"use it","payload":{"b":[1,2.5,null,true],'
                    '"a":"x\u00e4\u2028"}}').encode()
    got = decode_json_slot(data)
    assert got == slot and type(got) is upstream.BufferSlot
    assert read_slot(data) == slot and read_slot(pickle.dumps(slot)) == slot
    assert encode_json_slot(BufferSlot(None, SlotMetadata("t", "a", "b", 0, "x", "p"))).endswith(
        b'"own_name":null,"is_self_call":false,"usage_instructions":"","payload":null}')
    with pytest.raises(InvalidArgumentError, match="not a JSON slot \\(a Python pickle\\)"):
        decode_json_slot(pickle.dumps(slot))
    with pytest.raises(InvalidArgumentError, match='"slot_index" is missing'):
        decode_json_slot(b'{"xp_slot":1,"thread_id":"t","from_id":"a","to_id":"b","timestamp":"x",'
                         b'"payload_type":"p","payload":1}')
    with pytest.raises(InvalidArgumentError, match="slot_index must be 0 to 9007199254740991, got -1"):
        encode_json_slot(BufferSlot(1, SlotMetadata("t", "a", "b", -1, "x", "p")))
    with pytest.raises(InvalidArgumentError, match="payload holds the integer 9007199254740993"):
        encode_json_slot(BufferSlot(2**53 + 1, SlotMetadata("t", "a", "b", 0, "x", "p")))
    with pytest.raises(TypeError, match="^payload: Object of type bytes is not JSON serializable$"):
        encode_json_slot(BufferSlot(b"x", SlotMetadata("t", "a", "b", 0, "x", "p")))
    with pytest.raises(TypeError, match="^thread_id must be a str, not int$"):
        encode_json_slot(BufferSlot(1, SlotMetadata(5, "a", "b", 0, "x", "p")))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="^slot must be a BufferSlot"):
        encode_json_slot({"payload": 1})
