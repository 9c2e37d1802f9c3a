"""crossredis.sessions against the real toolhive session stores (Go, built by scripts/bootstrap
from the Go module proxy: interop/drivers/go/toolhive-v0.48.0 with Go 1.26 and toolhive-v0.66.0
with Go 1.27), on a standalone server, the run's Sentinel set and its Cluster: the same sessions
written by Go and by crossredis are the same bytes (crossredis writing the Go of that release,
go="1.26" / "1.27"); a record written by one and loaded, changed and stored by the other comes back
exactly as the Go code leaves it; loads slide the TTL either way; the vMCP maps cross both ways;
v0.66.0's ownership operations agree in both directions. A missing driver fails, never skips."""

from __future__ import annotations

import json
import os
import random
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest

from conftest import opened_topo
from crossredis.sessions import (BINDING_KEY, RedisSessionDataStorage, RedisStorage, Session, SessionExistsError,
                                 SessionNotFoundError)

ROOT = Path(__file__).resolve().parents[2]
DRIVERS = ROOT / "build" / "interop-go"
RELEASES = {"v0.48.0": "1.26", "v0.66.0": "1.27"}  # toolhive release -> the Go that builds it


class GoDriver:
    def __init__(self, release: str, url: str, *flags: str) -> None:
        driver = DRIVERS / f"toolhive-{release}"
        if not os.access(driver, os.X_OK):
            pytest.fail(f"{driver} is missing: run scripts/bootstrap (interop/drivers/go/build)")
        self.release = release
        self.proc = subprocess.Popen([str(driver), *flags], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, env={**os.environ, "REDIS_URL": url}, text=True,
                                     encoding="utf-8")
        ready = json.loads(self.proc.stdout.readline())  # type: ignore[union-attr]
        assert ready["ready"], ready
        assert f"toolhive@{release} (go{RELEASES[release]}" in ready["library"], ready
        self.n = 0

    def call(self, op: str, **args: Any) -> Any:
        self.n += 1
        # as crossredis writes JSON (raw UTF-8): the data's raw text is then the same for both
        self.proc.stdin.write(json.dumps({"id": self.n, "op": op, "args": args}, ensure_ascii=False) + "\n")  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]
        r = json.loads(self.proc.stdout.readline())  # type: ignore[union-attr]
        assert r["id"] == self.n
        if not r["ok"]:
            raise GoError(r["error"]["kind"], r["error"]["message"])
        return r.get("result")

    def close(self) -> None:
        self.proc.stdin.close()  # type: ignore[union-attr]
        self.proc.wait(10)


class GoError(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind


@pytest.fixture(params=list(RELEASES))
def release(request: Any) -> str:
    return str(request.param)


@pytest.fixture(params=["standalone", "sentinel", "cluster"])
def topo_go(request: Any) -> Iterator[Any]:
    """The driver takes crossredis's URLs and makes the configuration toolhive's Redis config offers
    (an address, the Sentinel set, a Cluster seed): a standalone server, the run's Sentinel set and
    its Cluster."""
    yield from opened_topo(request.param, request)


@pytest.fixture()
def pair(topo_go: Any, release: str) -> Iterator[tuple[GoDriver, RedisStorage, RedisSessionDataStorage, Any]]:
    topo = topo_go
    proxy, vmcp = f"{topo.prefix}:p:", f"{topo.prefix}:v:"
    go = GoDriver(release, topo.url, "--prefix", proxy, "--data-prefix", vmcp)
    st = RedisStorage(topo.url, key_prefix=proxy, go=RELEASES[release])
    ds = RedisSessionDataStorage(topo.url, key_prefix=vmcp, go=RELEASES[release])
    try:
        yield go, st, ds, topo
    finally:
        go.close()
        st.close()
        ds.close()


def wire(s: Session) -> dict[str, Any]:
    """A session as the Go driver takes it (session_json)."""
    w: dict[str, Any] = {"id": s.id, "type": s.type, "created_at": s.created_at_text, "updated_at": s.updated_at_text,
                         "metadata": s.metadata}
    if s.data_text is not None:
        w["data"] = json.loads(s.data_text)
    return w


PIECES = ["a", "<", ">", "&", "\u2028", "\u2029", "\x00", "\x01", "\x7f", "é", "😀", '"', "\\", "/", " "]


def random_session(rng: random.Random, i: int) -> dict[str, Any]:
    def text(k: int) -> str:
        return "".join(rng.choice(PIECES) for _ in range(rng.randrange(k)))
    ns = rng.choice([0, 500000000, 733781078, 1, 120000000])
    off = rng.choice(["Z", "+05:30", "-08:00", "+00:00", "-23:59"])
    t = f"20{rng.randrange(10, 99)}-0{rng.randrange(1, 9)}-1{rng.randrange(0, 9)}T1{rng.randrange(0, 9)}:3{rng.randrange(0, 9)}:0{rng.randrange(0, 9)}"
    frac = f".{ns:09d}" if ns else ""
    w: dict[str, Any] = {"id": f"r{i}-{text(3)}", "type": rng.choice(["mcp", "sse", "streamable", "", "x<y"]),
                         "created_at": t + frac + off, "updated_at": t + off,
                         "metadata": {text(4): text(6) for _ in range(rng.randrange(4))}}
    if rng.random() < 0.6:
        w["data"] = rng.choice([{"h": text(5), "n": [1, 2.5, None, True]}, text(4), [], {}, 12345678901234567])
    if rng.random() < 0.3:
        w["metadata"][BINDING_KEY] = "https://issuer\x00" + text(3)
    return w


def test_same_bytes_from_go_and_crossredis(pair) -> None:
    go, st, _, topo = pair
    rng = random.Random(20261205)
    for i in range(60):
        w = random_session(rng, i)
        go.call("session.store", session_json=w)
        go_bytes = topo.checker.get(st.key_prefix + w["id"])
        assert go_bytes is not None
        # the same session through crossredis: its record text is session_json
        topo.checker.delete(st.key_prefix + w["id"])
        st.store(Session(id=w["id"], type=w["type"], created_at_text=w["created_at"], updated_at_text=w["updated_at"],
                         created_at=_dt(w["created_at"]), updated_at=_dt(w["updated_at"]), data=w.get("data"),
                         metadata=w["metadata"]))
        assert topo.checker.get(st.key_prefix + w["id"]) == go_bytes, w


def _dt(text: str) -> Any:
    from crossredis.sessions import _parse_time
    return _parse_time(text)


def test_loaded_changed_stored_by_the_other(pair) -> None:
    go, st, _, topo = pair
    rng = random.Random(7)
    for i in range(20):
        w = random_session(rng, i)
        go.call("session.store", session_json=w)
        key = st.key_prefix + w["id"]
        go_bytes = topo.checker.get(key)
        # crossredis loads what Go wrote and stores it back unchanged: Go's bytes
        s = st.load(w["id"])
        st.store(s)
        assert topo.checker.get(key) == go_bytes
        # crossredis changes it; Go loads it and stores it back: the same bytes again
        s.metadata["changed-by"] = "crossredis <py>"
        st.store(s)
        py_bytes = topo.checker.get(key)
        loaded = go.call("session.load", id=w["id"])
        assert loaded["metadata"]["changed-by"] == "crossredis <py>"
        assert loaded["created_at"] == s.created_at_text
        go.call("session.store", session_json=loaded)
        assert topo.checker.get(key) == py_bytes


def test_ttl_slides_either_way_and_not_found(pair) -> None:
    go, st, _, topo = pair
    st.store(Session(id="ttl"))
    key = st.key_prefix + "ttl"
    topo.checker.pexpire(key, 5000)
    go.call("session.load", id="ttl")  # Go's GETEX
    assert topo.checker.pttl(key) > 7000000
    go.call("session.store", session_json=wire(st.load("ttl")))
    topo.checker.pexpire(key, 5000)
    st.load("ttl")  # crossredis's GETEX
    assert topo.checker.pttl(key) > 7000000
    go.call("session.delete", id="ttl")
    with pytest.raises(SessionNotFoundError):
        st.load("ttl")
    with pytest.raises(GoError, match="SessionNotFound: session not found"):
        go.call("session.load", id="ttl")


def test_data_store_both_ways(pair) -> None:
    go, _, ds, topo = pair
    assert go.call("session.data_create", id="d1", data_json={"a": "<1>", "b": "\x00"}) is True
    assert ds.load("d1") == {"a": "<1>", "b": "\x00"}
    go_bytes = topo.checker.get(ds.key_prefix + "d1")
    assert ds.update("d1", {"b": "\x00", "a": "<1>"}) is True
    assert topo.checker.get(ds.key_prefix + "d1") == go_bytes
    assert ds.create("d2", {"k": "\u2028"}) is True
    assert go.call("session.data_load", id="d2") == {"k": "\u2028"}
    assert go.call("session.data_create", id="d2", data_json={}) is False
    ds.delete("d2")
    with pytest.raises(GoError, match="SessionNotFound"):
        go.call("session.data_load", id="d2")


def test_ownership_both_ways(pair) -> None:
    """toolhive v0.55.1+'s ownership: the same answers whichever runtime created, loads, stores or
    deletes; v0.48.0 has none of it (the driver says Unsupported)."""
    go, st, _, _topo = pair
    owner = "https://issuer\x00subject-42"
    s = Session(id="own", type="mcp", metadata={BINDING_KEY: owner, "k": "v"})
    if go.release == "v0.48.0":
        with pytest.raises(GoError, match="Unsupported"):
            go.call("session.load_if_owner", id="own", owner=owner)
        return
    st.create(s)
    with pytest.raises(GoError, match="SessionExists: session already exists"):
        go.call("session.create", session_json=wire(st.load("own")))
    with pytest.raises(GoError, match="SessionNotFound"):
        go.call("session.load_if_owner", id="own", owner="someone-else")
    assert go.call("session.load_if_owner", id="own", owner=owner)["metadata"]["k"] == "v"
    assert go.call("session.load_metadata", id="own") == {BINDING_KEY: owner, "k": "v"}
    loaded = st.load("own")
    loaded.metadata["k"] = "changed by go"
    assert go.call("session.store_if_owner", session_json=wire(loaded), owner="someone-else") is False
    assert go.call("session.store_if_owner", session_json=wire(loaded), owner=owner) is True
    assert st.load_if_owner("own", owner).metadata["k"] == "changed by go"
    assert st.delete_if_owner("own", "someone-else") is False
    go.call("session.create", session_json={"id": "own2", "type": "sse", "created_at": "2026-01-02T03:04:05Z",
                                       "updated_at": "2026-01-02T03:04:05.5+01:00", "metadata": {BINDING_KEY: owner}})
    with pytest.raises(SessionExistsError):
        st.create(st.load("own2"))
    assert go.call("session.delete_if_owner", id="own", owner=owner) is True
    assert st.delete_if_owner("own2", owner) is True
    with pytest.raises(SessionNotFoundError):
        st.load_if_owner("own2", owner)
