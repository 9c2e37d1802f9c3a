"""The Python and TypeScript interop drivers' toolhive-sessions mode (``--system sessions``,
interop/CONTRACT.md "Go drivers (toolhive sessions)"), each against a real server: a standalone one,
the run's Sentinel set and its Cluster. A session with nanoseconds, a +05:30 offset, data (a
number Go keeps to the digit, HTML characters) and metadata round-trips through either driver with
its exact texts, and the record it leaves is the one crossredis's Python store writes for the same
session; every producer x consumer pair of the Go drivers (toolhive v0.66.0, and v0.48.0 with Go
1.26's bytes), Python and Node writes the same bytes and loads the same answers; the error kinds
(SessionNotFound, SessionExists, BadRequest, UnknownOp), the data store, ownership, a stored null.
Needs the build (the Go drivers from scripts/bootstrap, node/build's addon): a missing one fails."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from conftest import RedisServer, opened_topo
from crossredis.sessions import OPS, BINDING_KEY, RedisStorage, Session

ROOT = Path(__file__).resolve().parents[2]
GO_DRIVERS = ROOT / "build" / "interop-go"
RELEASES = {"v0.48.0": "1.26", "v0.66.0": "1.27"}
SESSION = {"id": "s-1", "type": "sse", "created_at": "2026-12-04T13:23:50.733781078+05:30",
           "updated_at": "2026-12-04T13:23:51.000000001Z",
           "data": {"n": 12345678901234567, "html": "<a&b>", "e": "\u00e9\u2028", "list": [1.5, None, True]},
           "metadata": {"backend_url": "http://10.0.0.5:8080", BINDING_KEY: "https://issuer\x00subject-42"}}


def command(runtime: str) -> list[str]:
    if runtime == "py":
        return [sys.executable, str(ROOT / "interop" / "drivers" / "py_driver.py"), "--impl", "py-crossredis"]
    if runtime == "ts":
        return ["node", str(ROOT / "interop" / "drivers" / "ts_driver.mjs"), "--impl", "ts-crossredis"]
    driver = GO_DRIVERS / f"toolhive-{runtime}"
    if not os.access(driver, os.X_OK):
        pytest.fail(f"{driver} is missing: run scripts/bootstrap (interop/drivers/go/build)")
    return [str(driver)]


class DriverError(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message


class Driver:
    """A driver process in its sessions mode (the Go ones have no other)."""

    def __init__(self, runtime: str, url: str, proxy: str, vmcp: str, *flags: str) -> None:
        self.runtime = runtime
        system = [] if runtime.startswith("v") else ["--system", "sessions"]
        self.proc = subprocess.Popen([*command(runtime), *system, "--prefix", proxy, "--data-prefix", vmcp, *flags],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     env={**os.environ, "REDIS_URL": url}, text=True, encoding="utf-8")
        self.ready = json.loads(self.proc.stdout.readline() or "null")  # type: ignore[union-attr]
        assert self.ready and self.ready["ready"], (runtime, self.ready)
        self.n = 0

    def send(self, line: str) -> dict[str, Any]:
        self.proc.stdin.write(line + "\n")  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]
        return json.loads(self.proc.stdout.readline())  # type: ignore[union-attr,no-any-return]

    def call(self, op: str, **args: Any) -> Any:
        self.n += 1
        r = self.send(json.dumps({"id": self.n, "op": op, "args": args}))
        assert r["id"] == self.n, r
        if not r["ok"]:
            raise DriverError(r["error"]["kind"], r["error"]["message"])
        return r["result"]

    def fails(self, op: str, **args: Any) -> DriverError:
        with pytest.raises(DriverError) as e:
            self.call(op, **args)
        return e.value

    def close(self) -> None:
        self.proc.stdin.close()  # type: ignore[union-attr]
        assert self.proc.wait(10) == 0


@pytest.fixture(params=["standalone", "sentinel", "cluster"])
def topo(request: Any) -> Iterator[Any]:
    yield from opened_topo(request.param, request)


@pytest.fixture(params=["py", "ts"])
def driver(request: Any, topo: Any) -> Iterator[tuple[Driver, Any]]:
    d = Driver(request.param, topo.url, f"{topo.prefix}:p:", f"{topo.prefix}:v:")
    try:
        yield d, topo
    finally:
        d.close()


def record(topo: Any, key: str) -> bytes:
    value = topo.checker.get(key)
    assert value is not None, key
    return value  # type: ignore[no-any-return]


def crossredis_bytes(topo: Any, w: dict[str, Any]) -> bytes:
    """What crossredis's Python store (the C core) writes for session_json ``w`` (its own prefix)."""
    from crossredis.sessions import _parse_time

    with RedisStorage(topo.url, key_prefix=f"{topo.prefix}:c:") as st:
        st.store(Session(id=w["id"], type=w["type"], created_at=_parse_time(w["created_at"]),
                         updated_at=_parse_time(w["updated_at"]), created_at_text=w["created_at"],
                         updated_at_text=w["updated_at"], data=w.get("data"), metadata=w.get("metadata") or {},
                         data_text=json.dumps(w["data"]) if "data" in w else None))
    return record(topo, f"{topo.prefix}:c:{w['id']}")


def test_ready_line(driver) -> None:
    d, _ = driver
    runtime = {"py": "python", "ts": "typescript"}[d.runtime]
    assert d.ready["impl"] == {"py": "py-crossredis", "ts": "ts-crossredis"}[d.runtime]
    assert d.ready["runtime"] == runtime and d.ready["library"].startswith("crossredis@"), d.ready
    assert "Go 1.27 bytes" in d.ready["library"], d.ready


def test_round_trip_with_go_bytes(driver) -> None:
    """store then load: the exact texts (nanoseconds, +05:30), the data (a 17-digit number whole),
    the metadata; the record is what crossredis's Python store writes for the same session."""
    d, topo = driver
    assert d.call("session.store", session_json=SESSION) is None
    assert d.call("session.load", id="s-1") == SESSION
    raw = d.send(json.dumps({"id": 0, "op": "session.load", "args": {"id": "s-1"}}))
    assert '"n":12345678901234567' in json.dumps(raw["result"]["data"], separators=(",", ":")), raw
    assert record(topo, f"{topo.prefix}:p:s-1") == crossredis_bytes(topo, SESSION)
    # session_json as its text; "data": null is the JSON null, no "data" is none
    for w in [{**SESSION, "id": "s-null", "data": None}, {k: v for k, v in SESSION.items() if k != "data"} | {"id": "s-none"}]:
        assert d.call("session.store", session_json=json.dumps(w)) is None
        assert d.call("session.load", id=w["id"]) == w
        assert record(topo, f"{topo.prefix}:p:{w['id']}") == crossredis_bytes(topo, w)
    # field names as Go's decoder matches them: equal but for case
    upper = {"ID": "s-upper", "Type": "mcp", "Created_At": "2026-01-02T03:04:05Z", "updated_at": "2026-01-02T03:04:05Z"}
    d.call("session.store", session_json=upper)
    assert d.call("session.load", id="s-upper")["type"] == "mcp"
    # no metadata: an empty object; load_metadata: Go's nil map
    bare = {"id": "s-bare", "type": "mcp", "created_at": "2026-01-02T03:04:05Z", "updated_at": "2026-01-02T03:04:05Z"}
    d.call("session.store", session_json=bare)
    assert d.call("session.load", id="s-bare") == {**bare, "metadata": {}}
    assert d.call("session.load_metadata", id="s-bare") is None
    assert d.call("session.load_metadata", id="s-1") == SESSION["metadata"]
    assert d.call("session.delete_expired", before="2030-01-01T00:00:00.5-07:00") is None
    assert d.call("session.delete", id="s-bare") is None


def test_error_kinds_and_bad_requests(driver) -> None:
    d, _ = driver
    e = d.fails("session.load", id="missing")
    assert e.kind == "SessionNotFound" and "session not found" in e.message, e
    d.call("session.create", session_json=SESSION)
    e = d.fails("session.create", session_json=SESSION)
    assert e.kind == "SessionExists" and "session already exists" in e.message, e
    e = d.fails("session.store", session_json={**SESSION, "id": ""})  # the library's refusal, Go's words
    assert e.kind == "Error" and "cannot store session with empty ID" in e.message, e
    # every row of session.def is an op; without arguments each is a BadRequest naming the first
    for name, op in OPS.items():
        e = d.fails("session." + name)
        assert e.kind == "BadRequest" and f'"{op.arg_names[0]}"' in e.message, (name, e)
    assert d.fails("session.delete_expired").kind == "BadRequest"
    bad = [("session.load", {"id": 5}), ("session.load_if_owner", {"id": "s-1"}),
           ("session.store", {"session_json": {**SESSION, "extra": 1}}),
           ("session.store", {"session_json": {k: v for k, v in SESSION.items() if k != "type"}}),
           ("session.store", {"session_json": {**SESSION, "created_at": "2026-02-30T00:00:00Z"}}),
           ("session.store", {"session_json": {**SESSION, "metadata": {"n": 1}}}),
           ("session.store", {"session_json": "{not json"}),
           ("session.data_create", {"id": "x", "data_json": {"n": 1}}),
           ("session.delete_expired", {"before": "yesterday"})]
    for op, args in bad:
        assert d.fails(op, **args).kind == "BadRequest", (op, args)
    for op in ["session.Load", "session.dataLoad", "chat.get", "session.load_data", ""]:
        assert d.fails(op, id="s-1").kind == "UnknownOp", op
    for line in ["not json", "[]", '{"id": 9, "op": 5}', '{"id": 9, "op": "session.load", "args": []}']:
        r = d.send(line)
        assert r["ok"] is False and r["error"]["kind"] == "BadRequest", (line, r)
    assert d.call("session.load", id="s-1") == SESSION  # nothing refused changed anything


def test_data_store_and_ownership(driver) -> None:
    d, topo = driver
    assert d.call("session.data_create", id="d1", data_json={"backend": "<a>", "z": "\x00"}) is True
    assert d.call("session.data_create", id="d1", data_json="{}") is False
    assert d.call("session.data_load", id="d1") == {"backend": "<a>", "z": "\x00"}
    assert d.call("session.data_update", id="d1", data_json='{"b": "2"}') is True
    assert d.call("session.data_load_metadata", id="d1") == {"b": "2"}
    assert d.call("session.data_update", id="d-none", data_json={}) is False
    assert d.call("session.data_create", id="d-nil", data_json=None) is True  # a nil map: "{}"
    assert record(topo, f"{topo.prefix}:v:d-nil") == b"{}"
    topo.checker.set(f"{topo.prefix}:v:d-null", b"null")
    assert d.call("session.data_load", id="d-null") is None
    assert d.call("session.data_delete", id="d1") is None
    assert d.fails("session.data_load", id="d1").kind == "SessionNotFound"
    owner = SESSION["metadata"][BINDING_KEY]
    d.call("session.store", session_json=SESSION)
    assert d.fails("session.load_if_owner", id="s-1", owner="other").kind == "SessionNotFound"
    assert d.call("session.load_if_owner", id="s-1", owner=owner) == SESSION
    changed = {**SESSION, "metadata": {**SESSION["metadata"], "k": "v"}}
    assert d.call("session.store_if_owner", session_json=changed, owner="other") is False
    assert d.call("session.store_if_owner", session_json=changed, owner=owner) is True
    assert d.call("session.load", id="s-1") == changed
    assert d.call("session.delete_if_owner", id="s-1", owner="other") is False
    assert d.call("session.delete_if_owner", id="s-1", owner=owner) is True


@pytest.mark.parametrize("release", list(RELEASES))
def test_every_producer_and_consumer(topo: Any, release: str) -> None:
    """Go (the real toolhive release), Python and Node drivers on one server and prefix: whoever
    stores a session, every driver loads the same answer and the record is the same bytes; the
    streamable type keeps no data, a stored null comes back as null everywhere."""
    go = RELEASES[release]
    proxy, vmcp = f"{topo.prefix}:p:", f"{topo.prefix}:v:"
    drivers = [Driver(release, topo.url, proxy, vmcp)]
    try:
        drivers += [Driver(r, topo.url, proxy, vmcp, "--go", go) for r in ("py", "ts")]
        sessions = [SESSION, {**SESSION, "type": "streamable"}, {**SESSION, "data": None},
                    {**SESSION, "data": "</script>", "metadata": {}}]
        for i, w in enumerate(sessions):
            written: dict[str, bytes] = {}
            for producer in drivers:
                sid = f"pc-{i}-{producer.runtime}"
                producer.call("session.store", session_json={**w, "id": sid})
                written[producer.runtime] = record(topo, proxy + sid).replace(sid.encode(), b"ID")
                answers = {c.runtime: c.call("session.load", id=sid) for c in drivers}
                assert len({json.dumps(a, sort_keys=True) for a in answers.values()}) == 1, (producer.runtime, answers)
            assert len(set(written.values())) == 1, written
        for producer in drivers:
            assert producer.call("session.data_create", id=producer.runtime, data_json={"k": "<v>"}) is True
            assert {c.runtime: c.call("session.data_load", id=producer.runtime) for c in drivers} == \
                {c.runtime: {"k": "<v>"} for c in drivers}
        for c in drivers:
            assert c.fails("session.load", id="none").kind == "SessionNotFound"
    finally:
        for d in drivers:
            d.close()


@pytest.mark.parametrize("runtime", ["py", "ts"])
def test_no_password_and_chat_flags(runtime: str, redis_server: RedisServer) -> None:
    """A failed start says so without the URL's password; the sessions flags are refused in the
    default (chat) mode, whose behaviour is otherwise untouched."""
    secret = "Sess-Pw-7q2Z"
    cmd = [*command(runtime), "--system", "sessions"]
    env = {**os.environ, "REDIS_URL": f"redis://:{secret}@127.0.0.1:{redis_server.port}"}
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=30)
    ready = json.loads(p.stdout.splitlines()[0])
    assert p.returncode == 1 and ready["ready"] is False, (p.stdout, p.stderr)
    assert secret not in p.stdout and secret not in p.stderr
    p = subprocess.run([*command(runtime), "--data-prefix", "x:"], env={**os.environ, "REDIS_URL": redis_server.url},
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 1 and "--system sessions" in json.loads(p.stdout)["error"], p.stdout
