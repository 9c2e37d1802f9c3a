"""The xp matrix of the interop suite (interop/run.py): xml-pipeline's shared context buffer and
thread registry (its Python RedisBackend, SPEC.md 4), every producer x consumer pair of crossredis's C
and Python drivers and py-xmlpipeline (an upstream-shaped RedisBackend over redis-py, defects
included: xml-pipeline's release does not ship the backend), through one shared Redis. Buffer: the
slots one appends (JSON slots, pickled BufferSlots, opaque bytes) the other reads as the same bytes,
and decodes to the same fields with the codecs it has. Registry: what one maps the other reads both
ways and deletes. Re-map: a delete by a chain's old uuid leaves its new mapping. Listing: the thread
ids, the registry and info one wrote the other lists, then clears, never touching another tenant's
keys. The runner reads the keys and TTLs itself and compares what every writer wrote for the same
input byte for byte. The protocol is interop/CONTRACT.md, "xp"."""

from __future__ import annotations

import base64
import shutil
import uuid as uuidlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import redis
import redis.cluster

from matrix import Cell, Driver, RunCtx, attempt, check, pairs

ROOT = Path(__file__).resolve().parents[1]
DRIVERS = ROOT / "interop" / "drivers"

TTL_S = 600  # every driver's --ttl in the matrix


@dataclass(frozen=True)
class XpImpl:
    name: str
    runtime: str               # "c", "python", "typescript"
    upstream: bool             # py-xmlpipeline: upstream's commands and defects
    writes: tuple[str, ...]    # the slot encodings it makes: "json" (xp.slot_json), "pickle" (xp.slot_pickle)
    reads: tuple[str, ...]     # those xp.slot_read decodes (any other it must refuse)


# Adding an implementation is one line here and one branch of xp_driver_command.
XP_IMPLS = [
    XpImpl("c", "c", False, ("json",), ("json",)),
    XpImpl("py-crossredis", "python", False, ("json", "pickle"), ("json", "pickle")),
    XpImpl("ts-crossredis", "typescript", False, ("json",), ("json",)),
    XpImpl("py-xmlpipeline", "python", True, ("pickle",), ("pickle",)),
]
XP_BY_NAME = {i.name: i for i in XP_IMPLS}

UPSTREAM_CROSSSLOT = ("xml-pipeline's registry_set sends both SETs in one MULTI pipeline, and the chain and uuid keys "
                      "live in different Cluster slots (redis-py: CrossSlotTransactionError)")
UPSTREAM_KEYS = ("xml-pipeline's buffer_list_threads returns the full keys, not the thread ids (and its KEYS reaches "
                 "one node of a Cluster)")
UPSTREAM_GLOB = ("xml-pipeline's KEYS takes the prefix as an unescaped glob: a prefix with '*' lists (and clears) "
                 "another tenant's keys")
UPSTREAM_REMAP = ("xml-pipeline's re-map leaves the old uuid's reverse key, so its GET-then-DEL delete by the old "
                  "uuid removes the chain's new forward key")


def expected_failure(scenario: str, a: XpImpl, b: XpImpl, cluster: bool) -> tuple[str, tuple[str, ...]] | None:
    """(why, what the failure's detail must contain) for a pair that fails on purpose: upstream's
    defects; None for a pair that must pass."""
    if cluster and a.upstream and scenario in ("xp-registry", "xp-remap", "xp-listing"):
        return UPSTREAM_CROSSSLOT, ("must map to the same slot", "CROSSSLOT")
    if scenario == "xp-listing" and b.upstream:
        return UPSTREAM_KEYS, ("listed threads",)
    if scenario == "xp-listing" and a.upstream:
        return UPSTREAM_GLOB, ("another tenant's",)
    if scenario == "xp-remap" and a.upstream and b.upstream:
        return UPSTREAM_REMAP, ("lost its new mapping",)
    return None


def xp_driver_command(impl: XpImpl, crossredis: Path, python: str) -> list[str]:
    """The driver's command with xp's options but --impl and --prefix (Driver adds them)."""
    if impl.runtime == "c":
        cmd = [str(crossredis), "driver", "--system", "xp"]
    elif impl.runtime == "python":
        cmd = [python, str(DRIVERS / "py_driver.py"), "--system", "xp"]
    else:
        cmd = [shutil.which("node") or "node", str(DRIVERS / "ts_driver.mjs"), "--system", "xp"]
    return cmd + ["--ttl", str(TTL_S)]


# What every producer writes for the same input; the bytes must be equal across producers.
TEXT = "<&> \u2028\u2029 \x01 \"q\" \\ b\u00e4r \U0001f600"
FIELDS = {"thread_id": "thread-1", "from_id": "greeter", "to_id": "shouter", "slot_index": 3,
          "timestamp": "2026-01-02T03:04:05.678901+00:00", "payload_type": "GreetingPayload", "own_name": "greeter",
          "is_self_call": False, "usage_instructions": "say " + TEXT,
          "payload": {"text": TEXT, "n": 1700000000000, "f": 0.1, "list": [1, None, True], "nested": {"z": {}, "a": []}}}
OPAQUE = bytes(range(256))  # a slot no codec reads: bytes, as they are


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def unb64(text: Any, who: str) -> bytes:
    check(isinstance(text, str), f"{who} answered {text!r}, not base64")
    return base64.b64decode(text, validate=True)


@dataclass
class XpCtx(RunCtx):
    r: redis.Redis | redis.cluster.RedisCluster
    prefix: str   # the drivers' --prefix in this run
    tenant: str   # another tenant's prefix, which the run's prefix matches as an unescaped glob
    cluster: bool

    def key(self, k: str) -> str:
        return self.under(self.prefix, k)


def ttl_near(ctx: XpCtx, key: str, what: str) -> None:
    ttl = ctx.r.ttl(key)
    check(TTL_S - 10 < ttl <= TTL_S, f"{what}: TTL {ttl} s, not about {TTL_S}")


# ---- scenarios ---------------------------------------------------------------------------------

def sc_buffer(ctx: XpCtx, a: Driver, b: Driver, tag: str) -> str:
    """The producer appends a slot of each encoding it writes and an opaque one; the consumer reads
    the thread, each slot, its length and existence as those bytes, decodes the slots of the
    encodings it reads to the fields (and refuses the others), and deletes the thread."""
    thread = f"thr-{tag}"
    slots = []
    for kind in a.impl.writes:
        raw = unb64(a.ok(f"xp.slot_{kind}", fields=FIELDS), a.impl.name)
        ctx.record(f"a {kind} slot", a.impl.name, raw)
        slots.append((kind, raw))
    slots.append(("opaque", OPAQUE))
    for i, (kind, raw) in enumerate(slots):
        index = a.ok("xp.buffer_append", thread_id=thread, slot=b64(raw))
        check(index == i, f"{a.impl.name}'s append of slot {i} ({kind}) answered index {index}")
    key = ctx.key(f"buffer:{thread}")
    check(ctx.r.lrange(key, 0, -1) == [raw for _, raw in slots], f"{a.impl.name} stored other bytes at {key}")
    ttl_near(ctx, key, f"{a.impl.name}'s thread")
    check([unb64(s, b.impl.name) for s in b.ok("xp.buffer_get_thread", thread_id=thread)] == [r for _, r in slots],
          f"{b.impl.name} read another thread")
    for i, (kind, raw) in enumerate(slots):
        check(unb64(b.ok("xp.buffer_get_slot", thread_id=thread, index=i), b.impl.name) == raw,
              f"{b.impl.name} read another slot {i} ({kind})")
    check(unb64(b.ok("xp.buffer_get_slot", thread_id=thread, index=-1), b.impl.name) == OPAQUE,
          f"{b.impl.name} read another last slot")
    check(b.ok("xp.buffer_get_slot", thread_id=thread, index=len(slots)) is None, f"{b.impl.name} read a slot past the end")
    check(b.ok("xp.buffer_thread_len", thread_id=thread) == len(slots), f"{b.impl.name}'s thread_len")
    check(b.ok("xp.buffer_thread_exists", thread_id=thread) is True, f"{b.impl.name} does not see the thread")
    decoded = []
    for kind, raw in slots[:-1]:
        good, got = b.call("xp.slot_read", slot=b64(raw))
        if kind in b.impl.reads:
            check(good, f"{b.impl.name} could not read {a.impl.name}'s {kind} slot: {got}")
            check(got == FIELDS, f"{b.impl.name} read {a.impl.name}'s {kind} slot as other fields: {str(got)[:200]}")
            decoded.append(kind)
        else:  # a reader without that codec refuses it, never misreads it
            check(not good, f"{b.impl.name} read a {kind} slot it has no codec for: {str(got)[:200]}")
    check(b.ok("xp.buffer_delete_thread", thread_id=thread) is True, f"{b.impl.name} did not delete the thread")
    check(a.ok("xp.buffer_thread_exists", thread_id=thread) is False, f"{a.impl.name} still sees the deleted thread")
    check(a.ok("xp.buffer_thread_len", thread_id=thread) == 0, f"{a.impl.name}'s thread_len after the delete")
    check(a.ok("xp.buffer_get_thread", thread_id=thread) == [], f"{a.impl.name} still reads the deleted thread")
    check(ctx.r.exists(key) == 0, f"{key} is still there")
    return (f"{len(slots)} slots ({', '.join(k for k, _ in slots)}), decoded {', '.join(decoded) or 'none'}; "
            f"{sum(len(r) for _, r in slots)} bytes")


def pair_ids(tag: str, n: int = 1) -> tuple[str, str]:
    """A chain and its uuid for the pair (a uuid4-shaped uuid derived from the tag: reproducible)."""
    return f"system.org-{tag}.console.router", str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, f"{tag}/{n}"))


def record_registry(ctx: XpCtx, writer: str, tag: str, chain: str, uuid: str) -> None:
    """Checks the writer's values at the chain and uuid keys and their TTLs, and records them for the
    byte comparison across writers with the pair's own tag and uuid written as <tag> and <uuid>."""
    for what, key, want in (("forward", f"chain:{chain}", uuid), ("reverse", f"uuid:{uuid}", chain)):
        raw = ctx.r.get(ctx.key(key))
        check(raw == want.encode(), f"{writer} left {raw!r} at {ctx.key(key)}, not {want!r}")
        ttl_near(ctx, ctx.key(key), f"{writer}'s {what} key")
        ctx.record(f"a registry {what} value", writer, raw.replace(tag.encode(), b"<tag>").replace(uuid.encode(), b"<uuid>"))


def sc_registry(ctx: XpCtx, a: Driver, b: Driver, tag: str) -> str:
    """The producer maps a chain to a uuid; the consumer reads it both ways and deletes it; the
    producer sees neither way any more."""
    chain, uuid = pair_ids(tag)
    a.ok("xp.registry_set", chain=chain, uuid=uuid)
    record_registry(ctx, a.impl.name, tag, chain, uuid)
    check(b.ok("xp.registry_get_uuid", chain=chain) == uuid, f"{b.impl.name} read another uuid")
    check(b.ok("xp.registry_get_chain", uuid=uuid) == chain, f"{b.impl.name} read another chain")
    check(b.ok("xp.registry_delete", uuid=uuid) is True, f"{b.impl.name} did not delete the mapping")
    check(a.ok("xp.registry_get_uuid", chain=chain) is None, f"{a.impl.name} still reads the deleted uuid")
    check(a.ok("xp.registry_get_chain", uuid=uuid) is None, f"{a.impl.name} still reads the deleted chain")
    check(ctx.r.exists(ctx.key(f"chain:{chain}")) == 0 and ctx.r.exists(ctx.key(f"uuid:{uuid}")) == 0,
          "a registry key is still there after the delete")
    return "set, get both ways, delete"


def sc_remap(ctx: XpCtx, a: Driver, b: Driver, tag: str) -> str:
    """The producer maps a chain to a uuid, then to a second one; the consumer deletes by the old
    uuid: the chain's new mapping must stay (SPEC 4: upstream's stale reverse key made that delete
    remove the new forward key)."""
    chain, old = pair_ids(tag)
    new = pair_ids(tag, 2)[1]
    a.ok("xp.registry_set", chain=chain, uuid=old)
    a.ok("xp.registry_set", chain=chain, uuid=new)
    deleted = b.ok("xp.registry_delete", uuid=old)
    got = a.ok("xp.registry_get_uuid", chain=chain)
    check(got == new, f"the chain lost its new mapping: {b.impl.name}'s delete by the old uuid answered {deleted}, "
                      f"then {a.impl.name} read {got!r}")
    check(b.ok("xp.registry_get_chain", uuid=new) == chain, f"{b.impl.name} does not read the new mapping")
    check(b.ok("xp.registry_get_chain", uuid=old) is None, f"{b.impl.name} still reads the old uuid's chain")
    b.ok("xp.registry_delete", uuid=new)
    return f"the old uuid's delete answered {deleted}; the new mapping stayed"


def sc_listing(ctx: XpCtx, a: Driver, b: Driver, tag: str) -> str:
    """On a clean prefix the producer writes threads (12: on a Cluster they span masters) and two
    mappings; the consumer lists the thread ids, the registry and info, then clears both; another
    tenant's key, which the prefix matches as an unescaped glob, stays."""
    a.ok("xp.buffer_clear")
    a.ok("xp.registry_clear")
    ids = sorted([f"t-{tag}-{i}" for i in range(11)] + [f"t-{tag}-*"])
    for t in ids:
        a.ok("xp.buffer_append", thread_id=t, slot=b64(OPAQUE[:8]))
        ctx.key(f"buffer:{t}")
    mapping = {}  # uuid -> chain
    for n in (1, 2):
        chain, uuid = pair_ids(tag, n)
        a.ok("xp.registry_set", chain=f"{chain}.{n}", uuid=uuid)
        mapping[uuid] = f"{chain}.{n}"
    tenant = ctx.under(ctx.tenant, f"buffer:{tag}")
    ctx.r.rpush(tenant, b"theirs")
    listed = b.ok("xp.buffer_list_threads")
    check(listed == ids, f"{b.impl.name} listed threads {str(listed)[:160]}, not the {len(ids)} ids")
    check(b.ok("xp.registry_list_all") == mapping, f"{b.impl.name} listed another registry")
    info = b.ok("xp.info")
    check(info == {"buffer_threads": len(ids), "registry_entries": 2, "ttl_seconds": TTL_S},
          f"{b.impl.name}'s info: {info}")
    b.ok("xp.buffer_clear")
    b.ok("xp.registry_clear")
    left = a.ok("xp.buffer_list_threads")
    check(tenant not in left, f"{a.impl.name} lists another tenant's {tenant}")
    check(left == [], f"{a.impl.name} still lists threads after {b.impl.name}'s clear: {str(left)[:160]}")
    check(a.ok("xp.registry_list_all") == {}, f"{a.impl.name} still lists mappings after {b.impl.name}'s clear")
    check(a.ok("xp.info") == {"buffer_threads": 0, "registry_entries": 0, "ttl_seconds": TTL_S}, f"{a.impl.name}'s info")
    check(ctx.r.lrange(tenant, 0, -1) == [b"theirs"], f"{b.impl.name}'s clear reached another tenant's {tenant}")
    ctx.r.delete(tenant)
    return f"{len(ids)} threads, 2 mappings listed and cleared"


XP_SCENARIOS: list[tuple[str, Callable[[XpCtx, Driver, Driver, str], str]]] = [
    ("xp-buffer", sc_buffer),
    ("xp-registry", sc_registry),
    ("xp-remap", sc_remap),
    ("xp-listing", sc_listing),
]


def run_xp_matrix(ctx: XpCtx, names: list[str], drivers: dict[str, Driver], scenarios: list[str]) -> list[Cell]:
    """Every producer x consumer pair of `names` in each scenario; a pair that fails on purpose
    (expected_failure: upstream's defects) is a known incompatibility when it fails that way, an
    UNEXPECTED-PASS when it passes, and FAIL when it fails another way."""
    cells = []
    for tag, scenario, fn, pa, pb in pairs(XP_SCENARIOS, scenarios, names):
        a, b = drivers[pa], drivers[pb]
        expected = expected_failure(scenario, a.impl, b.impl, ctx.cluster)
        detail, passed = attempt(fn, ctx, a, b, tag)
        if expected is None:
            status = "ok" if passed else "FAIL"
        elif passed:
            status = "UNEXPECTED-PASS"
        else:
            status = "known-incompatible" if any(s in detail for s in expected[1]) else "FAIL"
        cells.append(Cell(scenario, pa, pb, "pass" if expected is None else "fail", status, detail,
                          None if expected is None else expected[0]))
    return cells


def compare_xp_bytes(ctx: XpCtx) -> list[dict[str, Any]]:
    """Every writer's JSON slot, pickled slot and registry values must be the same bytes (upstream's
    where it writes them: py-xmlpipeline's pickles)."""
    return ctx.written.compare(lambda writers: "py-xmlpipeline" if "py-xmlpipeline" in writers else writers[0])
