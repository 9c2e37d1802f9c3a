"""Key families and migration windows from Python (crossredis.window over window.h) against real
servers, one body on each topology (a standalone server, the run's Sentinel set and its Cluster,
where a member's old and new keys sit on different slots): every value type read from the old
shape and copied forward with its expiry, written to both shapes, brand-new members only in the new
shape; reads without copy_forward leave the old key alone; deletes remove both and nothing comes
back; close refused (AlreadyExistsError, the core's message) while old keys remain, then the old
shape untouched; old_writes="always"; close_after_ms; the asyncio AsyncWindow; families from
patterns and family files, their keys; bad input with the core's messages; no password in a repr."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from conftest import RedisServer

import crossredis
from crossredis import (AlreadyExistsError, Client, ClientClosedError, DataError, InvalidArgumentError, NotFoundError,
                        WrongTypeError)
from crossredis.window import AsyncWindow, Family, Window

UUID = "0b7e3f0a-8d8c-4b1e-9c52-9a3f4ad3c001"


def family_of(topo, name: str = "sessions") -> Family:
    """``<prefix>:sess:<id>`` -> ``<prefix>:sess:{s:<id>}`` (on a Cluster: another slot per member)."""
    return Family(name, f"{topo.prefix}:sess:<id:segment>", f"{topo.prefix}:sess:{{s:<id:segment>}}")


def old(topo, member: str) -> str:
    return f"{topo.prefix}:sess:{member}"


def new(topo, member: str) -> str:
    return f"{topo.prefix}:sess:{{s:{member}}}"


def pexpiretime(topo, key: str) -> int:
    return int(topo.checker.execute_command("PEXPIRETIME", key))


# Each value type: how the checker writes it under the old shape, how the window reads it (the typed
# helper, and the generic read), what it reads, and a write through the window with what both keys
# hold after.
TYPES = {
    "string": dict(
        seed=lambda r, k: r.set(k, b"v1"),
        read=lambda w, m: w.get(m), generic=("GET",), value=b"v1",
        write=lambda w, m: w.set(m, "v2", keepttl=True), wrote=True,
        held=lambda r, k: r.get(k), after=b"v2"),
    "list": dict(
        seed=lambda r, k: r.rpush(k, b"a", b"b"),
        read=lambda w, m: w.lrange(m), generic=("LRANGE", 0, -1), value=[b"a", b"b"],
        write=lambda w, m: w.rpush(m, "c", b"d"), wrote=4,
        held=lambda r, k: r.lrange(k, 0, -1), after=[b"a", b"b", b"c", b"d"]),
    "set": dict(
        seed=lambda r, k: r.sadd(k, b"x", b"y"),
        read=lambda w, m: w.smembers(m), generic=("SMEMBERS",), value={b"x", b"y"},
        write=lambda w, m: w.sadd(m, "z", "x"), wrote=1,
        held=lambda r, k: r.smembers(k), after={b"x", b"y", b"z"}),
    "hash": dict(
        seed=lambda r, k: r.hset(k, mapping={b"f1": b"1", b"f2": b"2"}),
        read=lambda w, m: w.hgetall(m), generic=("HGETALL",), value={b"f1": b"1", b"f2": b"2"},
        write=lambda w, m: w.hset(m, {"f2": "two", "f3": 3}), wrote=1,
        held=lambda r, k: r.hgetall(k), after={b"f1": b"1", b"f2": b"two", b"f3": b"3"}),
    "zset": dict(
        seed=lambda r, k: r.zadd(k, {b"m1": 1, b"m2": 2.5}),
        read=lambda w, m: w.zrange(m, withscores=True), generic=("ZRANGE", 0, -1), value=[(b"m1", 1.0), (b"m2", 2.5)],
        write=lambda w, m: w.zadd(m, {"m3": 3, "m1": 0.5}), wrote=1,
        held=lambda r, k: r.zrange(k, 0, -1, withscores=True), after=[(b"m1", 0.5), (b"m2", 2.5), (b"m3", 3.0)]),
}


def seed_old(topo, t: dict, member: str, ttl_ms: int) -> int:
    """The member's old key written by the checker with ttl_ms: its expiry (unix ms)."""
    t["seed"](topo.checker, old(topo, member))
    topo.checker.pexpire(old(topo, member), ttl_ms)
    return pexpiretime(topo, old(topo, member))


@pytest.mark.parametrize("kind", TYPES)
def test_every_type_read_from_old_copied_forward_with_its_ttl_then_written_to_both(topo, kind: str) -> None:
    t, r, m = TYPES[kind], topo.checker, f"{kind}-1"
    deadline = seed_old(topo, t, m, 90_000)
    with Client(topo.url) as c, Window(c, family_of(topo), copy_forward=True) as w:
        # the generic read gives the reply as Client.command does; the typed helper its type
        generic = w.read(m, *t["generic"])
        assert generic == c.command(t["generic"][0], old(topo, m), *t["generic"][1:])
        assert t["read"](w, m) == t["value"]
        # copied forward: the value and its expiry, the old key untouched
        assert t["held"](r, new(topo, m)) == t["value"]
        assert pexpiretime(topo, new(topo, m)) == deadline
        assert t["held"](r, old(topo, m)) == t["value"]
        # a write goes to the new key and to the old one, which still exists
        assert t["write"](w, m) == t["wrote"]
        assert t["held"](r, new(topo, m)) == t["after"]
        assert t["held"](r, old(topo, m)) == t["after"]
        assert t["read"](w, m) == t["after"]
        # a brand-new member: the new key only
        fresh = f"{kind}-fresh"
        t["write"](w, fresh)
        assert r.exists(new(topo, fresh)) == 1 and r.exists(old(topo, fresh)) == 0
        assert r.type(new(topo, fresh)) == r.type(new(topo, m))


@pytest.mark.parametrize("kind", TYPES)
def test_a_write_to_a_member_only_the_old_shape_holds_copies_it_forward_first(topo, kind: str) -> None:
    t, r, m = TYPES[kind], topo.checker, f"{kind}-w"
    deadline = seed_old(topo, t, m, 60_000)
    with Client(topo.url) as c, Window(c, family_of(topo)) as w:  # no copy_forward: the write copies
        assert t["write"](w, m) == t["wrote"]
        assert t["held"](r, new(topo, m)) == t["after"] == t["held"](r, old(topo, m))
        # the expiry came along (a SET with KEEPTTL keeps it, the others do not touch it)
        assert pexpiretime(topo, new(topo, m)) == deadline


def test_a_read_without_copy_forward_leaves_the_old_key_alone(topo) -> None:
    r = topo.checker
    r.set(old(topo, "a"), b"old-only", ex=100)
    with Client(topo.url) as c, Window(c, family_of(topo)) as w:
        assert w.get("a") == b"old-only"
        assert w.get({"id": "a"}) == b"old-only"
        assert r.exists(new(topo, "a")) == 0
        assert w.get("none") is None and w.lrange("none") == [] and w.hgetall("none") == {}
        assert w.smembers("none") == set() and w.zrange("none") == []
        assert w.expire("none", 10) is False
        assert w.set("b", "x", nx=True) is True and w.set("b", "y", nx=True) is False
        assert w.set("a", "z", xx=True) is True  # the old value copied forward first, then replaced
        assert r.get(new(topo, "a")) == b"z" == r.get(old(topo, "a"))


def test_expire_goes_to_both_keys(topo) -> None:
    r = topo.checker
    r.set(old(topo, "e"), b"v")
    with Client(topo.url) as c, Window(c, family_of(topo)) as w:
        assert w.expire("e", 500) is True
        assert 495 <= r.ttl(new(topo, "e")) <= 500 and 495 <= r.ttl(old(topo, "e")) <= 500


def test_delete_removes_both_and_nothing_comes_back(topo) -> None:
    r = topo.checker
    r.rpush(old(topo, "d"), b"1")
    with Client(topo.url) as c, Window(c, family_of(topo), copy_forward=True) as w:
        assert w.lrange("d") == [b"1"]  # copied forward: both exist now
        assert r.exists(new(topo, "d")) + r.exists(old(topo, "d")) == 2
        assert w.delete("d") == 2
        assert r.exists(new(topo, "d")) == 0 and r.exists(old(topo, "d")) == 0
        assert w.lrange("d") == [] and r.exists(new(topo, "d")) == 0
        r.set(old(topo, "only-old"), b"v")
        assert w.delete({"id": "only-old"}) == 1 and w.delete("only-old") == 0
        assert r.exists(old(topo, "only-old")) == 0


def test_close_refused_while_old_keys_remain_then_the_old_shape_untouched(topo) -> None:
    r = topo.checker
    for i in range(3):
        r.set(old(topo, f"c{i}"), f"v{i}")
    with Client(topo.url) as c, Window(c, family_of(topo)) as w:
        with pytest.raises(AlreadyExistsError) as e:
            w.close()
        assert str(e.value).startswith("window sessions: 3 old-shape keys remain (e.g. '")
        assert old(topo, "c") in str(e.value) and "crossredis migrate copy" in str(e.value)
        assert not w.is_closed() and "open" in repr(w)
        for i in range(3):  # what migrate copy does, by hand: the value moves, the old key goes
            assert w.get(f"c{i}") == f"v{i}".encode()
            w.set(f"c{i}", f"v{i}")
            r.delete(old(topo, f"c{i}"))
        w.close()
        assert w.is_closed() and "closed" in repr(w)
        w.close()  # again: at once
        # closed: an old-shape key is neither read, written, nor deleted
        r.set(old(topo, "late"), b"old")
        assert w.get("late") is None
        w.set("late", "new")
        w.set("c0", "again")
        assert r.get(old(topo, "late")) == b"old" and r.get(new(topo, "late")) == b"new"
        assert w.delete("late") == 1 and r.get(old(topo, "late")) == b"old"
        assert r.exists(old(topo, "c0")) == 0


def test_old_writes_always_and_close_after(topo) -> None:
    r = topo.checker
    with Client(topo.url) as c:
        with Window(c, family_of(topo), old_writes="always") as w:
            assert w.rpush("aw", "x") == 1
            assert r.lrange(old(topo, "aw"), 0, -1) == [b"x"] == r.lrange(new(topo, "aw"), 0, -1)
        past = int(time.time() * 1000) - 1
        r.set(old(topo, "ca"), b"old")
        with Window(c, family_of(topo), close_after_ms=past) as w:
            assert w.is_closed()
            assert w.get("ca") is None
        with Window(c, family_of(topo), close_after_ms=int(time.time() * 1000) + 3_600_000) as w:
            assert not w.is_closed() and w.get("ca") == b"old"


def test_a_family_of_two_fields_by_name_or_position(topo) -> None:
    r = topo.checker
    f = Family("pairs", f"{topo.prefix}:p:<tenant:segment>:<n:number>", f"{topo.prefix}:p:{{<tenant:segment>}}:<n:number>")
    assert f.fields == ("tenant", "n")
    assert f.keys(("acme", 7)) == (f"{topo.prefix}:p:acme:7".encode(), f"{topo.prefix}:p:{{acme}}:7".encode())
    assert f.keys({"n": "7", "tenant": "acme"}) == f.keys(["acme", "7"])
    r.hset(f"{topo.prefix}:p:acme:7", mapping={b"k": b"v"})
    with Client(topo.url) as c, Window(c, f, copy_forward=True) as w:
        assert w.hgetall({"tenant": "acme", "n": 7}) == {b"k": b"v"}
        assert r.hgetall(f"{topo.prefix}:p:{{acme}}:7") == {b"k": b"v"}
        with pytest.raises(InvalidArgumentError, match=r"^family pairs: the old key: key pattern '.*': field n \(number\) cannot hold 'seven'$"):
            w.get(("acme", "seven"))
        with pytest.raises(InvalidArgumentError, match=r"^family pairs: no value for field 'n'$"):
            w.get({"tenant": "acme"})
        with pytest.raises(InvalidArgumentError, match=r"^family pairs: no field 'x' \(its fields: tenant, n\)$"):
            w.get({"tenant": "acme", "n": 1, "x": 2})
        with pytest.raises(InvalidArgumentError, match=r"^family pairs: 1 field values given, the family has 2$"):
            w.get("acme")


def test_errors_are_the_cores_and_servers(topo) -> None:
    r = topo.checker
    with Client(topo.url) as c, Window(c, family_of(topo)) as w:
        r.set(new(topo, "s"), b"text")
        with pytest.raises(WrongTypeError):
            w.lrange("s")
        with pytest.raises(crossredis.ResponseError):
            w.write("s", "NOSUCHCOMMAND")
        with pytest.raises(TypeError, match="command's name is missing"):
            w.write("s")
        with pytest.raises(InvalidArgumentError, match=r"^window sessions: write: the command name is empty$"):
            w.write("s", "")
        with pytest.raises(InvalidArgumentError, match=r"^family sessions: the (old|new) key: .*"):
            w.get("a:b")  # a segment takes no ':'
        with pytest.raises(TypeError, match="field values must be"):
            w.get(1.5)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="field value 0 is list"):
            w.get([["nested"]])  # type: ignore[list-item]
        with pytest.raises(InvalidArgumentError, match=r"^field value 0: not valid Unicode \(a lone surrogate U\+D800"):
            w.get("\ud800")
        with pytest.raises(InvalidArgumentError, match=r"^window sessions: close_after_ms must be >= 0"):
            Window(c, family_of(topo), close_after_ms=-1)
        with pytest.raises(InvalidArgumentError, match=r"^window sessions: delete_guard_ms must be"):
            Window(c, family_of(topo), delete_guard_ms=-5)
        with pytest.raises(InvalidArgumentError, match=r"^old_writes must be 'existing' or 'always', got 'sometimes'$"):
            Window(c, family_of(topo), old_writes="sometimes")
        with pytest.raises(InvalidArgumentError, match="out of range for a 64-bit integer"):
            Window(c, family_of(topo), close_after_ms=2**70)
        with pytest.raises(TypeError):
            Window(c, family_of(topo), copy_forward=1)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="family must be"):
            Window(c, "sessions")  # type: ignore[arg-type]


def test_a_released_window_and_a_closed_client(topo) -> None:
    c = Client(topo.url)
    w = Window(c, family_of(topo))
    w.set("r", "v")
    w.release()
    w.release()
    with pytest.raises(ClientClosedError, match="the window of family sessions is closed"):
        w.get("r")
    assert "released" in repr(w)
    w2 = Window(c, family_of(topo))
    c.close()
    with pytest.raises(ClientClosedError):
        w2.get("r")
    with pytest.raises(ClientClosedError):
        Window(c, family_of(topo))


def test_a_call_releases_the_gil_while_it_waits(topo) -> None:
    """A window call blocked by a paused server lets other Python threads run meanwhile."""
    import threading

    with Client(topo.url) as c, Window(c, family_of(topo)) as w:
        w.set("g", "v")
        got: list = []
        topo.pause(new(topo, "g"), 300)
        t = threading.Thread(target=lambda: got.append(w.get("g")))
        start = last = time.monotonic()
        t.start()
        longest = 0.0  # the longest stretch this thread could not run
        while t.is_alive():
            now = time.monotonic()
            longest, last = max(longest, now - last), now
        assert got == [b"v"] and time.monotonic() - start >= 0.2
        assert longest < 0.1, f"this thread stood still for {longest:.3f} s"


def test_async_window(topo) -> None:
    r = topo.checker
    r.set(old(topo, "as"), b"old", ex=100)
    r.sadd(old(topo, "aset"), b"m")

    async def main() -> None:
        with Client(topo.url) as c:
            async with AsyncWindow(c, family_of(topo), copy_forward=True) as w:
                got = await asyncio.gather(w.get("as"), w.smembers("aset"), w.lrange("none"), w.get("none"))
                assert got == [b"old", {b"m"}, [], None]
                assert r.get(new(topo, "as")) == b"old" and 95 <= r.ttl(new(topo, "as")) <= 100
                assert await w.set("as", "new") is True
                assert r.get(old(topo, "as")) == b"new"
                assert await w.rpush("al", 1, 2) == 2 and await w.lrange("al", 0, 0) == [b"1"]
                assert await w.sadd("aset", "n") == 1
                assert await w.hset("ah", {"f": "v"}) == 1 and await w.hgetall("ah") == {b"f": b"v"}
                assert await w.zadd("az", {"a": 2}) == 1 and await w.zrange("az", withscores=True) == [(b"a", 2.0)]
                assert await w.expire("az", 100) is True
                assert await w.write("as", "APPEND", "!") == 4 and await w.read("as", "GET") == b"new!"
                with pytest.raises(AlreadyExistsError):
                    await w.close()
                assert await w.delete("as") == 2 and await w.delete("aset") == 2
                await w.close()
                assert w.is_closed()

    asyncio.run(main())


# ---- families, without a server ---------------------------------------------------------------------


def test_family_from_patterns() -> None:
    f = Family("browser-session", "mpp:browser:session:<id:uuid>", "mpp:browser:session:{session:<id:uuid>}")
    assert (f.name, f.notes, f.fields) == ("browser-session", "", ("id",))
    assert (f.old, f.new) == ("mpp:browser:session:<id:uuid>", "mpp:browser:session:{session:<id:uuid>}")
    keys = (f"mpp:browser:session:{UUID}".encode(), f"mpp:browser:session:{{session:{UUID}}}".encode())
    assert f.keys(UUID) == f.keys([UUID]) == f.keys({"id": UUID}) == f.keys(UUID.encode()) == keys
    assert f.new_key_of(keys[0]) == keys[1] and f.new_key_of(keys[0].decode()) == keys[1]
    assert f.new_key_of(keys[1]) is None and f.new_key_of("other") is None
    assert repr(f) == ("<Family 'browser-session' old='mpp:browser:session:<id:uuid>' "
                       "new='mpp:browser:session:{session:<id:uuid>}'>")
    with pytest.raises(InvalidArgumentError, match=r"^family browser-session: the old key: key pattern 'mpp:browser:session:<id:uuid>': field id \(uuid\) cannot hold 'not-a-uuid'$"):
        f.keys("not-a-uuid")
    n = Family("counts", "count:<n:number>", "count:{<n:number>}")
    assert n.keys(42) == (b"count:42", b"count:{42}")


def test_families_the_core_refuses() -> None:
    with pytest.raises(InvalidArgumentError, match=r"^family counts: the old and new shapes collide: key 'count:0' has both$"):
        Family("counts", "count:<n>", "count:<n:number>")
    with pytest.raises(InvalidArgumentError, match=r"^family x: field 'id' is in the old shape only$"):
        Family("x", "a:<id>", "b:<other>")
    with pytest.raises(InvalidArgumentError, match=r"^family x: the old shape: key pattern 'a:<id': the field has no closing '>' at byte 2$"):
        Family("x", "a:<id", "b:<id>")
    with pytest.raises(InvalidArgumentError, match="^family: the name is empty$"):
        Family("", "a:<id>", "b:<id>")
    with pytest.raises(InvalidArgumentError, match="contains NUL"):
        Family("a\0b", "a:<id>", "b:<id>")
    with pytest.raises(TypeError):
        Family("x", 1, "b:<id>")  # type: ignore[arg-type]


FILE = {"families": [
    {"name": "browser-session", "old": "mpp:browser:session:<id:uuid>", "new": "mpp:browser:session:{session:<id:uuid>}",
     "notes": "sessions carry a 2 h TTL"},
    {"name": "queues", "old": "chat-sdk:queue:<thread>", "new": "chat-sdk:queue:{<thread>}"},
]}


def test_family_files(tmp_path) -> None:
    text = json.dumps(FILE)
    every = Family.all_from_json(text)
    assert [(f.name, f.notes) for f in every] == [("browser-session", "sessions carry a 2 h TTL"), ("queues", "")]
    q = Family.from_json(text.encode(), "queues")
    assert q.keys("t1") == (b"chat-sdk:queue:t1", b"chat-sdk:queue:{t1}")
    one = Family.from_json(json.dumps(FILE["families"][1]))  # a single object without the list
    assert (one.name, one.old, one.new) == ("queues", "chat-sdk:queue:<thread>", "chat-sdk:queue:{<thread>}")
    path = tmp_path / "families.json"
    path.write_text(text)
    assert Family.load(path, "browser-session").notes == "sessions carry a 2 h TTL"
    assert [f.name for f in Family.load_all(str(path))] == ["browser-session", "queues"]
    with pytest.raises(InvalidArgumentError, match=r"^family file: 2 families \('browser-session', 'queues'\): name the one to use$"):
        Family.from_json(text)
    with pytest.raises(NotFoundError, match=r"^family file: no family named 'nope' \(there are 'browser-session', 'queues'\)$"):
        Family.from_json(text, "nope")
    with pytest.raises(NotFoundError, match=rf"^{path}: family file: no family named 'nope'"):
        Family.load(path, "nope")
    with pytest.raises(DataError, match=r"^family file: families\[0\]\.old: missing$"):
        Family.all_from_json('{"families": [{"name": "a", "new": "n:<id>"}]}')
    with pytest.raises(DataError, match="^family file: "):
        Family.all_from_json("not json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"families": [{"name": "c", "old": "count:<n>", "new": "count:<n:number>"}]}')
    with pytest.raises(InvalidArgumentError, match=rf"^{bad}: family file: families\[0\]: family c: the old and new shapes collide"):
        Family.load_all(bad)


def test_a_password_is_never_shown() -> None:
    pw = "s3cret-Pa55"
    server = RedisServer("--requirepass", pw)
    try:
        with Client(f"redis://:{pw}@127.0.0.1:{server.port}") as c:
            f = Family("s", "sec:<id>", "sec:{<id>}")
            w = Window(c, f)
            aw = AsyncWindow(c, f)
            w.set("a", "v")
            for text in (repr(w), str(w), repr(aw), repr(f), repr(w.client)):
                assert pw not in text
            w.release()
    finally:
        server.close()
