"""The sessions matrix of the interop suite (interop/run.py): toolhive's transport-session stores
(SPEC.md 2), every producer x consumer pair of crossredis's C, Python and Node drivers and the Go
drivers over the real github.com/stacklok/toolhive module (v0.48.0 as published, v0.66.0 as SPEC
2.4 builds it), through one shared Redis. Each scenario has the producer write and the consumer
read, change, store or delete what the producer wrote; the runner checks the keys itself (bytes,
TTLs) and compares the records every producer wrote for the same session byte for byte, so
crossredis's records are the Go code's. The protocol of the session drivers is interop/CONTRACT.md,
"Go drivers (toolhive sessions)"; crossredis's drivers speak it with --system sessions."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import redis
import redis.cluster

from matrix import Cell, Driver, RunCtx, SECRETS, attempt, check, pairs

ROOT = Path(__file__).resolve().parents[1]
DRIVERS = ROOT / "interop" / "drivers"
GO_DRIVERS = ROOT / "build" / "interop-go"  # interop/drivers/go/build's output (scripts/bootstrap)

# The stores' TTLs in the matrix: not toolhive's defaults, so each driver is seen to apply its
# options; whole seconds (go-redis then sends `ex`).
TTL_MS = 600_000
DATA_TTL_MS = 300_000
BINDING_KEY = "vmcp.identity.binding"  # toolhive's MetadataKeyIdentityBinding: the owner


@dataclass(frozen=True)
class SessionImpl:
    name: str
    runtime: str     # "c", "python", "typescript", "go"
    ownership: bool  # RedisStorage has Create, LoadMetadata and the *IfOwner operations (toolhive v0.55.1+)


SESSION_IMPLS = [
    SessionImpl("c", "c", True),
    SessionImpl("py-crossredis", "python", True),
    SessionImpl("ts-crossredis", "typescript", True),
    SessionImpl("go-toolhive-v0.48.0", "go", False),
    SessionImpl("go-toolhive-v0.66.0", "go", True),
]
SESSION_BY_NAME = {i.name: i for i in SESSION_IMPLS}

NO_OWNERSHIP = ("toolhive v0.48.0's RedisStorage has no Create, LoadMetadata or *IfOwner (v0.55.1 and later): "
                "its driver answers Unsupported")


def session_driver_command(impl: SessionImpl, crossredis: Path, python: str, go_drivers: Path,
                           data_prefix: str) -> list[str]:
    """The driver's command with the sessions options but --impl and --prefix (Driver adds them)."""
    if impl.runtime == "c":
        cmd = [str(crossredis), "driver", "--system", "sessions"]
    elif impl.runtime == "python":
        cmd = [python, str(DRIVERS / "py_driver.py"), "--system", "sessions"]
    elif impl.runtime == "typescript":
        cmd = [shutil.which("node") or "node", str(DRIVERS / "ts_driver.mjs"), "--system", "sessions"]
    else:  # build/interop-go/toolhive-v0.66.0: one program per release, sessions only
        cmd = [str(go_drivers / impl.name.removeprefix("go-"))]
    return cmd + ["--data-prefix", data_prefix, "--ttl-ms", str(TTL_MS), "--data-ttl-ms", str(DATA_TTL_MS)]


# ---- sessions ----------------------------------------------------------------------------------

# Characters whose bytes differ between writers that are not Go's: HTML characters (Go escapes
# them), U+2028/9 (escaped), a control character, a quote and a backslash, non-ASCII, an emoji.
TEXT = "<&> \u2028\u2029 \x01 \"q\" \\ b\u00e4r \U0001f600"
DATA = {"text": TEXT, "n": 1700000000000, "f": 2.5, "neg": -1, "t": True, "none": None,
        "list": [1, None, "x", {"b": [], "a": {}}], "nested": {"z": 1, "a": 2}}

# A time per type: Go's zero time, an offset with nanoseconds, a negative offset; each as Go's
# Format(time.RFC3339Nano) writes it (no trailing zeros), so the text read back is the text given.
TIMES = {
    "mcp": ("0001-01-01T00:00:00Z", "2024-03-01T00:00:00.000000001Z"),
    "sse": ("2024-02-29T23:59:59.123456789+05:30", "2024-03-01T10:00:00.5+05:30"),
    "streamable": ("2023-11-14T22:13:20.1-07:00", "2024-12-31T23:59:59.999999999-07:00"),
}
TOUCHED_AT = "2025-06-30T12:00:00.25-03:00"


def proxy_session(sid: str, typ: str, owner: str | None = None) -> dict[str, Any]:
    created, updated = TIMES[typ]
    meta = {"text": TEXT, "empty": "", "z.last": "1", "a.first": "2"}
    if owner is not None:
        meta[BINDING_KEY] = owner
    return {"id": sid, "type": typ, "created_at": created, "updated_at": updated, "data": DATA, "metadata": meta}


def as_loaded(s: dict[str, Any]) -> dict[str, Any]:
    """What a driver's load answers for a stored `s`: a streamable session holds no data (toolhive's
    StreamableSession drops it, on the writer's side too), "metadata" is always an object."""
    out = {k: s[k] for k in ("id", "type", "created_at", "updated_at")}
    if s["type"] != "streamable" and "data" in s:
        out["data"] = s["data"]
    out["metadata"] = s.get("metadata") or {}
    return out


def without_id(raw: bytes, sid: str) -> bytes:
    """A record with its id replaced, so records of different ids compare (the id is plain ASCII,
    written by Go as json.dumps writes it)."""
    field_ = b'"id":' + json.dumps(sid).encode()
    check(raw.count(field_) == 1, f"the record does not hold {field_!r} once: {raw[:120]!r}")
    return raw.replace(field_, b'"id":"<id>"')


@dataclass
class SessionCtx(RunCtx):
    r: redis.Redis | redis.cluster.RedisCluster
    prefix: str       # RedisStorage's key prefix in this run
    data_prefix: str  # RedisSessionDataStorage's

    def key(self, sid: str) -> str:
        return self.under(self.prefix, sid)

    def data_key(self, sid: str) -> str:
        return self.under(self.data_prefix, sid)


def not_found(d: Driver, op: str, **args: Any) -> None:
    """`op` fails as toolhive's ErrSessionNotFound does: kind SessionNotFound, Go's text last."""
    good, res = d.call(op, **args)
    check(not good, f"{d.impl.name} {op} {args}: found {json.dumps(res)[:120]}")
    check(res.get("kind") == "SessionNotFound" and str(res.get("message", "")).endswith("session not found"),
          f"{d.impl.name} {op}: {res.get('kind')}: {res.get('message')} (not SessionNotFound, \"session not found\")")


def ttl_between(ctx: SessionCtx, key: str, low: int, high: int, what: str) -> None:
    pttl = ctx.r.pttl(key)
    check(low < pttl <= high, f"{what}: PTTL {pttl} ms, not in ({low}, {high}]")


# ---- scenarios ---------------------------------------------------------------------------------

def sc_proxy(typ: str) -> Callable[[SessionCtx, Driver, Driver, str], str]:
    """The producer stores a session of `typ`; the consumer loads it as written, changes it (a new
    updated_at and a metadata value, as toolhive's Touch and SetMetadata) and stores it; the
    producer loads the change; the consumer deletes it; the producer finds none."""

    def run(ctx: SessionCtx, a: Driver, b: Driver, tag: str) -> str:
        sid = f"{typ}-{tag}"
        s = proxy_session(sid, typ)
        a.ok("session.store", session_json=s)
        key = ctx.key(sid)
        raw = ctx.r.get(key)
        check(raw is not None, f"{a.impl.name} stored no record at {key}")
        ctx.record(f"a {typ} session", a.impl.name, without_id(raw, sid))
        ttl_between(ctx, key, TTL_MS - 10_000, TTL_MS, f"{a.impl.name}'s record")
        got = b.ok("session.load", id=sid)
        check(got == as_loaded(s), f"{b.impl.name} loaded {json.dumps(got)[:300]}")
        changed = {**got, "updated_at": TOUCHED_AT, "metadata": {**got["metadata"], "touched": TEXT}}
        b.ok("session.store", session_json=changed)
        raw2 = ctx.r.get(key)
        check(raw2 is not None and raw2 != raw, f"{b.impl.name}'s store did not change the record")
        ctx.record(f"a {typ} session loaded and changed", b.impl.name, without_id(raw2, sid))
        back = a.ok("session.load", id=sid)
        check(back == as_loaded(changed), f"{a.impl.name} loaded {json.dumps(back)[:300]} after the change")
        b.ok("session.delete", id=sid)
        check(ctx.r.exists(key) == 0, f"{b.impl.name}'s delete left the record")
        not_found(a, "session.load", id=sid)
        return f"{len(raw)} bytes; loaded, changed, reloaded, deleted"

    return run


def sc_ttl(ctx: SessionCtx, a: Driver, b: Driver, tag: str) -> str:
    """A load slides the TTL (getex ... ex), in both stores, whoever wrote the key."""
    sid = f"ttl-{tag}"
    a.ok("session.store", session_json=proxy_session(sid, "sse"))
    a.ok("session.data_create", id=sid, data_json={"k": "v"})
    for key, op, ttl in ((ctx.key(sid), "session.load", TTL_MS), (ctx.data_key(sid), "session.data_load", DATA_TTL_MS)):
        ctx.r.pexpire(key, 10_000)
        b.ok(op, id=sid)
        ttl_between(ctx, key, ttl - 10_000, ttl, f"after {b.impl.name}'s {op}, {a.impl.name}'s key")
    return f"slid to {TTL_MS // 1000} s and {DATA_TTL_MS // 1000} s"


def sc_data(ctx: SessionCtx, a: Driver, b: Driver, tag: str) -> str:
    """vMCP session data: create (nx) once, update (xx) only what exists, load, delete."""
    sid = f"data-{tag}"
    key = ctx.data_key(sid)
    m = {"text": TEXT, "b": "2", "a": "1", "": "an empty key", BINDING_KEY: "alice"}
    check(a.ok("session.data_create", id=sid, data_json=m) is True, f"{a.impl.name} could not create the data")
    raw = ctx.r.get(key)
    check(raw is not None, f"{a.impl.name} stored nothing at {key}")
    ctx.record("a vMCP data map", a.impl.name, raw)
    ttl_between(ctx, key, DATA_TTL_MS - 10_000, DATA_TTL_MS, f"{a.impl.name}'s data")
    check(b.ok("session.data_create", id=sid, data_json={"other": "x"}) is False,
          f"{b.impl.name} created over {a.impl.name}'s data")
    check(ctx.r.get(key) == raw, f"{b.impl.name}'s refused create changed the data")
    check(b.ok("session.data_load", id=sid) == m, f"{b.impl.name} loaded other data")
    m2 = {"text": TEXT + "!", "c": "3"}
    check(b.ok("session.data_update", id=sid, data_json=m2) is True, f"{b.impl.name} could not update")
    check(a.ok("session.data_load", id=sid) == m2, f"{a.impl.name} did not load {b.impl.name}'s update")
    missing = f"data-missing-{tag}"
    check(b.ok("session.data_update", id=missing, data_json=m) is False, f"{b.impl.name} updated missing data")
    check(ctx.r.exists(ctx.data_key(missing)) == 0, f"{b.impl.name}'s refused update created the key")
    a.ok("session.data_delete", id=sid)
    not_found(b, "session.data_load", id=sid)
    return f"{len(raw)} bytes; create once, update, delete"


def sc_ownership(ctx: SessionCtx, a: Driver, b: Driver, tag: str) -> str:
    """A session created (nx) by the producer with an owner is loaded, stored and deleted by the
    consumer only with that owner; a second create fails; the metadata load leaves the TTL."""
    sid = f"own-{tag}"
    key = ctx.key(sid)
    owner, other = f"alice {TEXT}", "alice"
    s = proxy_session(sid, "sse", owner)
    a.ok("session.create", session_json=s)
    raw = ctx.r.get(key)
    check(raw is not None, f"{a.impl.name} created no record")
    good, err = b.call("session.create", session_json={**s, "type": "mcp"})
    check(not good and err.get("kind") == "SessionExists"
          and str(err.get("message", "")).endswith("session already exists"),
          f"{b.impl.name}'s second create: {json.dumps(err)[:200]}")
    check(ctx.r.get(key) == raw, f"{b.impl.name}'s refused create changed the record")
    ctx.r.pexpire(key, 10_000)
    check(b.ok("session.load_metadata", id=sid) == s["metadata"], f"{b.impl.name} loaded other metadata")
    ttl_between(ctx, key, 0, 10_000, f"after {b.impl.name}'s load_metadata (no TTL change)")
    not_found(b, "session.load_if_owner", id=sid, owner=other)
    ttl_between(ctx, key, 0, 10_000, f"after {b.impl.name}'s load_if_owner with a wrong owner")
    check(b.ok("session.load_if_owner", id=sid, owner=owner) == as_loaded(s),
          f"{b.impl.name}'s load_if_owner with the owner")
    ttl_between(ctx, key, TTL_MS - 10_000, TTL_MS, f"after {b.impl.name}'s load_if_owner")
    changed = {**as_loaded(s), "updated_at": TOUCHED_AT}
    check(b.ok("session.store_if_owner", session_json=changed, owner=other) is False,
          f"{b.impl.name} stored with a wrong owner")
    check(ctx.r.get(key) == raw, f"{b.impl.name}'s refused store_if_owner changed the record")
    check(b.ok("session.store_if_owner", session_json=changed, owner=owner) is True,
          f"{b.impl.name} could not store with the owner")
    check(a.ok("session.load", id=sid) == as_loaded(changed), f"{a.impl.name} did not load the owner's store")
    check(b.ok("session.delete_if_owner", id=sid, owner=other) is False, f"{b.impl.name} deleted with a wrong owner")
    check(ctx.r.exists(key) == 1, f"{b.impl.name}'s refused delete_if_owner deleted")
    check(b.ok("session.delete_if_owner", id=sid, owner=owner) is True, f"{b.impl.name} could not delete")
    check(ctx.r.exists(key) == 0, f"{b.impl.name}'s delete_if_owner left the record")
    return "owner only: load, store, delete; a second create refused"


SESSION_SCENARIOS: list[tuple[str, Callable[[SessionCtx, Driver, Driver, str], str]]] = [
    ("session-mcp", sc_proxy("mcp")), ("session-sse", sc_proxy("sse")),
    ("session-streamable", sc_proxy("streamable")), ("session-ttl", sc_ttl), ("session-data", sc_data),
    ("session-ownership", sc_ownership),
]
NEEDS_OWNERSHIP = {"session-ownership"}


def unsupported(d: Driver) -> str | None:
    """What a driver without the ownership operations answers for one: None unless Unsupported."""
    good, res = d.call("session.load_if_owner", id="probe", owner="probe")
    if not good and res.get("kind") == "Unsupported":
        return SECRETS.scrub(res.get("message", ""))
    return None


def run_session_matrix(ctx: SessionCtx, names: list[str], drivers: dict[str, Driver],
                       scenarios: list[str]) -> list[Cell]:
    """Every producer x consumer pair of `names` in each scenario. A pair with a release that has
    not the scenario's operations is a known limit once its driver answered Unsupported for them
    (anything else is a FAIL: never skipped)."""
    cells = []
    for tag, scenario, fn, pa, pb in pairs(SESSION_SCENARIOS, scenarios, names):
        a, b = drivers[pa], drivers[pb]
        lacking = [d for d in (a, b) if scenario in NEEDS_OWNERSHIP and not d.impl.ownership]
        if lacking:
            said = unsupported(lacking[0])
            cells.append(Cell(scenario, pa, pb, "limit", "known-limit" if said else "FAIL",
                              said or f"{lacking[0].impl.name} did not answer Unsupported", NO_OWNERSHIP))
            continue
        detail, passed = attempt(fn, ctx, a, b, tag)
        cells.append(Cell(scenario, pa, pb, "pass", "ok" if passed else "FAIL", detail))
    return cells


def compare_records(ctx: SessionCtx) -> list[dict[str, Any]]:
    """Every writer of a record (the same session, or the same change of it) must have written
    the Go code's bytes (the first writer's when no Go driver ran)."""
    return ctx.written.compare(lambda writers: next((w for w in writers if SESSION_BY_NAME[w].runtime == "go"),
                                                    writers[0]))
