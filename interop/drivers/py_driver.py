#!/usr/bin/env python3
"""The Python-runtime driver of the interop contract (interop/CONTRACT.md).

    REDIS_URL=URL .venv/bin/python interop/drivers/py_driver.py --impl NAME [--prefix PREFIX]
        [--layout upstream|tagged]
    REDIS_URL=URL .venv/bin/python interop/drivers/py_driver.py --system sessions --impl py-crossredis
        [--prefix P] [--data-prefix P] [--ttl-ms N] [--data-ttl-ms N] [--go 1.26|1.27]
    REDIS_URL=URL .venv/bin/python interop/drivers/py_driver.py --system ayepi --impl py-crossredis
    REDIS_URL=URL .venv/bin/python interop/drivers/py_driver.py --system xp --impl py-xmlpipeline
        [--prefix P] [--cache-prefix P] [--channel C]

The server is $REDIS_URL (the runner passes it there: a command line is visible to ps); --url URL
is taken too, for a run by hand.

impls:
  py-port             chat_sdk.state.redis.RedisStateAdapter (the upstream port, redis.asyncio; on a
                      Cluster, REDIS_URL redis+cluster://host:port,..., the port gets a redis-py
                      redis.asyncio.cluster.RedisCluster on those seeds as its `client`)
  py-crossredis       crossredis.chat.RedisStateAdapter with the port's defaults
  py-crossredis-both  the same with token_prefix="ioredis", queue_dialect="both"
  --layout tagged     (py-crossredis*) the adapter's layout="tagged": <prefix>:lock:{<id>}, ...

One asyncio loop for the whole process; requests are handled strictly one at a time, in order.
stdout carries only protocol lines (anything else printed goes to stderr). A library error is
reported as {"ok": false, "error": {"kind": <class name>, "message": str(e)}}; a malformed
request as kind "BadRequest", an unknown op as "UnknownOp", a row the library has no method for
as "Unsupported". stdin EOF: disconnect, exit 0.

The operations are the rows of the core's Chat table, read from the crossredis package
(crossredis._chatcore.OPS): op "chat.<name>" calls the adapter's method <name> (crossredis and
the port share the snake_case names) with the table's arguments in its order, and its result is
reported by the row's result kind; a new row needs no code here. chat.drain_queue is the one
composite op (the port's Chat core reading a queue). Values are handed to the adapters as the
Python runtime's own objects: cache/list values as the parsed JSON (dicts, lists, ...), locks as
chat_sdk.types.Lock, queue entries as chat_sdk.types.QueueEntry whose message is a
chat_sdk.types.Message (what the port's Chat core passes), for every impl: crossredis's adapter
is a drop-in and takes the port's types.

--system sessions (the default is chat: all of the above) drives toolhive's session stores the
way the Go drivers do (interop/CONTRACT.md, "Go drivers (toolhive sessions)"; the reference is
interop/drivers/go/lib/sessiondriver): impl py-crossredis, crossredis.sessions.RedisStorage
(--prefix, default thv:proxy:session:; --ttl-ms, default the store's: toolhive's 2 h) and
RedisSessionDataStorage (--data-prefix, default thv:vmcp:session:; --data-ttl-ms, default 30 min),
sync, writing Go 1.27's bytes (--go 1.26: toolhive up to v0.48.0); REDIS_URL (redis://, rediss://,
redis+cluster://, redis+sentinel://) goes to crossredis as it is. The operations are the rows of
session.def from crossredis.sessions.OPS, "session.<name>" (data_* rows: the data store's method
without "data_"), plus session.delete_expired {before} (toolhive's no-op). Arguments by name:
session_json (an object or its text) becomes a crossredis Session holding exactly its values (the
RFC 3339 texts, nanoseconds and offset, beside their datetimes; the data's raw JSON, "data": null
kept as the JSON null; an unknown field, a missing one or a time Go's time.Parse refuses is a
BadRequest), data_json an object of strings (or null) or its text, before RFC 3339, id and owner
strings. Results: STATUS null, BOOL, SESSION {"id", "type", "created_at", "updated_at", "data"?,
"metadata"} with the texts the store read and the data's raw JSON, MAP the object (null for a
stored null). Errors: SessionNotFound (crossredis's SessionNotFoundError), SessionExists
(SessionExistsError), Error (any other library error, its text), BadRequest, UnknownOp.

--system ayepi answers interop/CONTRACT.md's "ayepi" table (ayepi.get .. ayepi.received) as the
ts-ayepi driver (interop/drivers/ayepi_driver.mjs) does, over crossredis.ayepi (impl py-crossredis):
RedisStore (--prefix, default ''), RedisCache (--cache-prefix, default ayepi:cache:), RedisBroker
(--channel, default ayepi). Error kinds: the crossredis exception's class, BadRequest, UnknownOp.

--system xp answers interop/CONTRACT.md's "xp" table (xml-pipeline's RedisBackend: xp.buffer_append
.. xp.info, xp.slot_json, xp.slot_pickle, xp.slot_read; slots as base64) with --prefix (default xp:)
and --ttl (seconds, default 86400, 0: none): impl py-crossredis over crossredis.xp.RedisBackend,
impl py-xmlpipeline over the upstream-shaped backend of xp_upstream.py (redis-py, SPEC 4's commands).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import inspect
import json
import os
import platform
import re
import secrets
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Awaitable, Callable
from urllib.parse import unquote, urlsplit

from cluster_url import parse_cluster_url  # beside this file

# Keep the protocol stream to ourselves: whatever a library prints lands on stderr.
_PROTO = sys.stdout
sys.stdout = sys.stderr

IMPLS = ("py-port", "py-crossredis", "py-crossredis-both")


def log(*parts: Any) -> None:
    print("py_driver:", *parts, file=sys.stderr, flush=True)


def emit(obj: dict[str, Any]) -> None:
    try:
        line = json.dumps(obj, allow_nan=False)
    except (TypeError, ValueError) as e:  # a result JSON cannot carry (bytes, NaN, an object)
        line = json.dumps({"id": obj.get("id"), "ok": False,
                           "error": {"kind": "Unserializable",
                                     "message": f"result not representable as JSON: {e}: {obj.get('result')!r}"}})
    _PROTO.write(line + "\n")
    _PROTO.flush()


class BadRequest(Exception):
    """The request itself is wrong (not the library's error)."""


class UnknownOp(Exception):
    pass


class Unsupported(Exception):
    """A row of the table the library under test has no method for."""


# ---- the operations: the core's table ------------------------------------------------------------

@dataclass(frozen=True)
class Row:
    """A row of the core's Chat table (chat.def), from the crossredis package: the method `name`
    of the library under test (crossredis and the port share the snake_case names), its
    arguments' names in call order and its result kind."""

    name: str
    arg_names: tuple[str, ...]
    result: str


def table() -> dict[str, Row]:
    """op ("chat.<name>") -> Row, for every row of the table (whichever library is under test,
    the table is what defines the operations). The kinds' values are the core's (XR_RESULT_*)."""
    from crossredis import _native
    from crossredis._chatcore import OPS

    kinds = {getattr(_native, "XR_RESULT_" + k.upper()): k
             for k in ("status", "bool", "integer", "value", "list", "lock", "entry")}
    return {"chat." + name: Row(name, op.arg_names, kinds[_native.xr_chat_op_at(op.code).result])
            for name, op in OPS.items()}


def is_json_arg(name: str) -> bool:
    """A table argument the contract gives as any JSON (`json`, `message_json`): handed to the
    library as the runtime's object."""
    return name == "json" or name.endswith("_json")


def message_out(msg: Any) -> Any:
    """A message as JSON: what the port's adapter would serialize for it (``to_json()``, a
    dict, or ``__dict__``, the same three cases as RedisStateAdapter.enqueue)."""
    if hasattr(msg, "to_json"):
        return msg.to_json()
    if isinstance(msg, (dict, list, str, int, float, bool)) or msg is None:
        return msg
    return dict(msg.__dict__)


def result_json(kind: str, v: Any) -> Any:
    """What the library returned, as JSON by the row's result kind (interop/CONTRACT.md). A method
    that returns nothing (None: the port's and crossredis's release_lock) gives null."""
    if kind == "status" or v is None:
        return None
    if kind == "bool":
        return bool(v)
    if kind == "integer":
        return int(v)
    if kind == "list":
        return list(v)
    if kind == "lock":
        return {"token": v.token, "expires_at": v.expires_at}
    if kind == "entry":
        out = {"message": message_out(v.message), "enqueued_at": getattr(v, "enqueued_at", None),
               "expires_at": v.expires_at}
        raw = getattr(v, "raw", None)  # crossredis's dequeue_reliable hands the stored bytes out
        if isinstance(raw, bytes):
            out["raw"] = raw.decode("utf-8", "replace")
        return out
    return v  # value: as the library parsed it


class Driver:
    def __init__(self, impl: str, url: str, prefix: str, layout: str = "upstream") -> None:
        from chat_sdk import types as ct

        self.impl = impl
        self.types = ct
        self.rows = table()
        clash = set(self.rows) & set(self.COMPOSITE)
        if clash:
            raise RuntimeError(f"composite ops {sorted(clash)} are rows of the Chat table")
        self.cluster_client: Any = None  # the port's redis-py RedisCluster, which the driver closes
        if impl == "py-port":
            from chat_sdk.state.redis import RedisStateAdapter as PortAdapter

            self.library = "chat-sdk@" + importlib.metadata.version("chat-sdk")
            cluster = parse_cluster_url(url)
            if cluster is not None and url.startswith("rediss+"):
                raise ValueError("rediss+cluster:// is not supported by the port's driver (plain TCP only)")
            if cluster is None:
                self.adapter: Any = PortAdapter(url=url, key_prefix=prefix)
            else:
                # The port's `url` is one server; its `client` takes any redis.asyncio client, and
                # redis-py's RedisCluster is one (decode_responses as the port's own from_url).
                from redis.asyncio.cluster import ClusterNode, RedisCluster

                nodes, username, password = cluster
                self.cluster_client = RedisCluster(startup_nodes=[ClusterNode(h, p) for h, p in nodes],
                                                   username=username, password=password, decode_responses=True)
                self.adapter = PortAdapter(client=self.cluster_client, key_prefix=prefix)
                self.library += " over redis-py@" + importlib.metadata.version("redis") + " RedisCluster"
        else:
            from crossredis.chat import RedisStateAdapter as CrAdapter

            if impl == "py-crossredis":
                self.adapter = CrAdapter(url=url, key_prefix=prefix, layout=layout)
            else:
                self.adapter = CrAdapter(url=url, key_prefix=prefix, token_prefix="ioredis", queue_dialect="both",
                                         layout=layout)
            self.library = "crossredis@" + importlib.metadata.version("crossredis")

        # The port's Chat core turns a queued entry's message back into a Message with
        # Chat._rehydrate_message (chat_sdk/chat.py) before its expiry check. That method uses
        # nothing of the Chat instance, so it is called unbound here (no adapter: no
        # attachment re-hydration hook, as with an adapter that declares none).
        from chat_sdk.chat import Chat

        self._rehydrate = lambda raw: Chat._rehydrate_message(None, raw, None)  # type: ignore[arg-type]

    async def connect(self) -> None:
        await self.adapter.connect()

    async def disconnect(self) -> None:
        await self.adapter.disconnect()
        if self.cluster_client is not None:  # the adapter does not own a client it was given
            await self.cluster_client.aclose()

    # -- ops -----------------------------------------------------------------------------------

    async def op(self, op: str, args: dict[str, Any]) -> Any:
        row = self.rows.get(op)
        if row is not None:
            return await self.call(row, args)
        if op in self.COMPOSITE:
            return await self.COMPOSITE[op](self, args)
        raise UnknownOp(f"unknown op {op!r}")

    # How the Chat SDK's Python StateAdapter (the port's, which crossredis's matches) takes the
    # table's arguments, by their names (never by operation): thread_id and token are a Lock, a
    # message with its times a QueueEntry, an entry's stored bytes the ReliableQueueEntry that
    # ack() takes, `json` the value itself.
    def _lock(self, thread_id: Any, token: Any) -> Any:
        # Only thread_id and token matter to the adapter (expires_at is client-side bookkeeping).
        return self.types.Lock(thread_id=thread_id, token=token, expires_at=0)

    def _entry(self, message: Any, enqueued_at: Any, expires_at: Any) -> Any:
        # The port's Chat core (Chat._handle_queue_or_debounce) enqueues
        # QueueEntry(message=<Message>, enqueued_at=now, expires_at=now + ttl); the adapter then
        # writes message.to_json(). A chat:Message JSON becomes that Message; anything else is
        # handed over as the dict/value (the adapter's dict branch), so a test can still put an
        # odd message on the wire through the library.
        if isinstance(message, dict) and message.get("_type") == "chat:Message":
            message = self.types.Message.from_json(message)
        return self.types.QueueEntry(enqueued_at=enqueued_at, expires_at=expires_at, message=message)

    @staticmethod
    def _stored(raw: Any) -> Any:
        from crossredis.chat import ReliableQueueEntry

        return ReliableQueueEntry(enqueued_at=0, expires_at=0, message=None, raw=raw.encode())

    GROUPS: tuple[tuple[tuple[str, ...], str, str], ...] = (
        (("thread_id", "token"), "lock", "_lock"),
        (("message_json", "enqueued_at_ms", "expires_at_ms"), "entry", "_entry"),
        (("raw",), "entry", "_stored"),
    )

    def arguments(self, row: Row, args: dict[str, Any]) -> list[tuple[str, Any]]:
        """The table's arguments from the request, in the table's order, as (parameter, value)
        for the library's method. The INT arguments after `json` (a stored value's ttl_ms and
        max_length) may be absent or null; they and 0 mean none (None, as the Chat core passes
        when it has no TTL or limit). Every other argument is required: any JSON for a JSON
        argument, else a string or an integer (the Python binding has no argument kinds to say
        which: the library refuses the wrong one)."""
        values: list[tuple[str, Any]] = []
        value_options = False
        for name in row.arg_names:
            v = args.get(name)
            if value_options:
                if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
                    raise BadRequest(f"args.{name} must be an integer, not {type(v).__name__}")
                values.append((name, v or None))
                continue
            if name not in args:
                raise BadRequest(f"args.{name} is required")
            if is_json_arg(name):
                value_options = name == "json"
                values.append(("value" if name == "json" else name, v))
            elif isinstance(v, bool) or not isinstance(v, (str, int)):
                raise BadRequest(f"args.{name} must be a string or an integer, not {type(v).__name__}")
            else:
                values.append((name, v))
        out: list[tuple[str, Any]] = []
        i = 0
        while i < len(values):
            for names, param, make in self.GROUPS:
                if tuple(n for n, _ in values[i:i + len(names)]) == names:
                    out.append((param, getattr(self, make)(*(v for _, v in values[i:i + len(names)]))))
                    i += len(names)
                    break
            else:
                out.append(values[i])
                i += 1
        return out

    async def call(self, row: Row, args: dict[str, Any]) -> Any:
        """The library's method `row.name` with the table's arguments: positionally while the
        method takes them so, by name for its keyword-only parameters (the port's
        append_to_list(key, value, *, max_length, ttl_ms))."""
        method = getattr(self.adapter, row.name, None)
        if not callable(method):
            raise Unsupported(f"{self.library} has no method {row.name}")
        params = list(inspect.signature(method).parameters.values())
        positional: list[Any] = []
        named: dict[str, Any] = {}
        for i, (param, value) in enumerate(self.arguments(row, args)):
            if not named and i < len(params) and params[i].kind in (inspect.Parameter.POSITIONAL_ONLY,
                                                                     inspect.Parameter.POSITIONAL_OR_KEYWORD):
                positional.append(value)
            else:
                named[param] = value
        return result_json(row.result, await method(*positional, **named))

    # -- composite ops (not rows: each runtime's Chat core reads its queue its own way) -----------

    async def drain_queue(self, args: dict[str, Any]) -> dict[str, Any]:
        """chat.drain_queue: the Python side's reader, the port's Chat core draining a thread's
        queue.

        Reproduced from chat_sdk/chat.py, Chat._drain_queue (queue strategy; the
        debounce loop, Chat._debounce_loop, pops with the same expiry test): it pops entries
        with adapter.dequeue(lock_key) until it returns None; each entry's message is turned
        back into a Message (Chat._rehydrate_message) *before* the expiry test; the entry is
        kept for the handler when now <= entry.expires_at and logged as expired otherwise
        (strictly later than expires_at is expired). The kept messages all reach the handler
        call (the last as the message, the earlier ones as context.skipped), so all of them
        are reported as delivered, in queue order. The core's clock
        (datetime.now() in ms) is replaced by ``now_ms`` (absent: this process's clock).
        Whatever dequeue or the test raises (the port: KeyError 'enqueued_at' on a TS entry)
        propagates as the response's error. The same loop serves the crossredis impls, with
        their adapter's dequeue.
        """
        thread = args.get("thread_id")
        if not isinstance(thread, str):
            raise BadRequest("args.thread_id must be a string")
        now = args.get("now_ms")
        if now is None:
            now = time.time_ns() // 1_000_000
        elif isinstance(now, bool) or not isinstance(now, int):
            raise BadRequest(f"args.now_ms must be an integer, not {type(now).__name__}")
        delivered: list[Any] = []
        expired = 0
        while True:
            entry = await self.adapter.dequeue(thread)
            if entry is None:
                break
            msg = self._rehydrate(entry.message)
            if now <= entry.expires_at:
                delivered.append(message_out(msg))
            else:
                expired += 1
        return {"delivered": delivered, "expired": expired}

    COMPOSITE: dict[str, Callable[[Driver, dict[str, Any]], Awaitable[Any]]] = {
        "chat.drain_queue": drain_queue,
    }


# ---- toolhive sessions (--system sessions) -----------------------------------------------------
#
# The protocol of the Go drivers (interop/CONTRACT.md, "Go drivers (toolhive sessions)";
# interop/drivers/go/lib/sessiondriver): the rows of session.def from crossredis.sessions.OPS as
# "session.<name>", on crossredis's RedisStorage (data_* rows: RedisSessionDataStorage's method
# without "data_"), plus session.delete_expired. Arguments by name: session_json (a session: an
# object or its text), data_json (an object of strings or its text), before (RFC 3339), any other
# a string. Handled synchronously, one request at a time.

SESSION_IMPLS = ("py-crossredis",)
SESSION_COMPOSITE = "session.delete_expired"
_RAW_MARK = secrets.token_hex(8)  # RawJSON's stand-in in a response line while it is written
_WS = re.compile(r"[ \t\n\r]*")
# Go's time.RFC3339Nano as time.Parse reads it (a fraction of any length).
_RFC3339 = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-](\d{2}):(\d{2}))\Z")
_SESSION_FIELDS = ("id", "type", "created_at", "updated_at", "data", "metadata")


class RawJSON:
    """JSON text written into the response as it is (a session's data: the raw JSON the store
    read, so a number keeps its digits, as the Go drivers' json.RawMessage)."""

    def __init__(self, text: str) -> None:
        self.text = compact(text)


def compact(text: str) -> str:
    """JSON text without the whitespace between its tokens (Go's json.Compact, HTML escaping
    aside): one line, whatever the store held."""
    out: list[str] = []
    in_string = escaped = False
    for ch in text:
        if in_string:
            out.append(ch)
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
            out.append(ch)
        elif ch not in " \t\n\r":
            out.append(ch)
    return "".join(out)


def members(text: str) -> dict[str, tuple[Any, str]] | None:
    """The members of the JSON object ``text`` by name, each (value, its exact text), the last of
    a repeated name (as Go's decoder); None when ``text`` is JSON but no object. Raises
    ValueError when it is not JSON."""
    decoder = json.JSONDecoder()
    json.loads(text)  # the whole text is JSON, or ValueError
    i = _WS.match(text, 0).end()  # type: ignore[union-attr]
    if text[i] != "{":
        return None
    out: dict[str, tuple[Any, str]] = {}
    i = _WS.match(text, i + 1).end()  # type: ignore[union-attr]
    while text[i] != "}":
        name, i = decoder.raw_decode(text, i)
        i = _WS.match(text, _WS.match(text, i).end() + 1).end()  # type: ignore[union-attr]  # past ':'
        value, end = decoder.raw_decode(text, i)
        out[name] = (value, text[i:end])
        i = _WS.match(text, end).end()  # type: ignore[union-attr]
        if text[i] == ",":
            i = _WS.match(text, i + 1).end()  # type: ignore[union-attr]
    return out


def rfc3339(op: str, name: str, text: str) -> Any:
    """RFC 3339 text as Go's time.Parse(time.RFC3339Nano) takes it (ranges checked as Go does), as
    crossredis's datetime (crossredis.sessions' own parser: the fraction cut to microseconds, the
    offset kept); BadRequest otherwise."""
    from crossredis.sessions import _parse_time

    m = _RFC3339.match(text)
    bad = None if m else "not RFC 3339 text (2006-01-02T15:04:05.999999999Z07:00)"
    if m:
        year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        days = [31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        if not 1 <= month <= 12:
            bad = "month out of range"
        elif not 1 <= day <= days[month - 1]:
            bad = "day out of range"
        elif hour > 23 or minute > 59 or second > 59:
            bad = "time out of range"
        elif m.group(9) is not None and (int(m.group(9)) > 23 or int(m.group(10)) > 59):
            bad = "time zone offset out of range"
    if bad is not None:
        raise BadRequest(f"{op}: {name}: parsing time {json.dumps(text)}: {bad}")
    return _parse_time(text)


class SessionArgs:
    """A request's arguments by session.def's names, each read by the kind its name tells (as the
    Go drivers): session_json, data_json, before; any other a string."""

    def __init__(self, op: str, args: dict[str, tuple[Any, str]]) -> None:
        self.op = op
        self.args = args

    def value(self, name: str) -> Any:
        if name == "session_json":
            return self.session(name)
        if name == "data_json":
            return self.string_map(name)
        if name == "before":
            return rfc3339(self.op, name, self.text(name))
        return self.text(name)

    def text(self, name: str) -> str:
        v = self.args.get(name, (None, ""))[0]
        if not isinstance(v, str):
            raise BadRequest(f"{self.op}: argument {json.dumps(name)} must be a string")
        return v

    def json_arg(self, name: str) -> tuple[Any, str]:
        """A JSON argument: the value itself or a string holding its text; (value, its text)."""
        if name not in self.args:
            raise BadRequest(f"{self.op}: argument {json.dumps(name)} is missing")
        value, text = self.args[name]
        if isinstance(value, str):
            text = value
            try:
                value = json.loads(text)
            except ValueError as e:
                raise BadRequest(f"{self.op}: {name}: not JSON: {e}") from None
        return value, text

    def string_map(self, name: str) -> dict[str, str] | None:
        value, _ = self.json_arg(name)
        if value is not None and (not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values())):
            raise BadRequest(f"{self.op}: {name} must be a JSON object of strings (or null)")
        return value

    def session(self, name: str) -> Any:
        """crossredis's Session holding exactly the given values: the times' RFC 3339 texts (with
        the datetimes they say, so the texts are what is written), the raw data JSON ("data"
        absent: none; null: the JSON null), the metadata (null or absent: none)."""
        from crossredis.sessions import Session

        _, text = self.json_arg(name)
        given = members(text)
        if given is None:
            raise BadRequest(f"{self.op}: {name} must be a JSON object")
        fields: dict[str, tuple[Any, str]] = {}
        for k, v in given.items():  # Go's decoder: an exact name, else one equal but for case
            field = k if k in _SESSION_FIELDS else k.lower()
            if field not in _SESSION_FIELDS:
                raise BadRequest(f"{self.op}: {name}: unknown field {json.dumps(k)}")
            fields[field] = v
        got = {k: v for k, (v, _) in fields.items()}
        for k in _SESSION_FIELDS[:4]:
            if not isinstance(got.get(k), str):
                raise BadRequest(f'{self.op}: {name}: a session needs "id", "type", "created_at" and "updated_at" '
                                 f"(strings); {k} is {type(got.get(k)).__name__}")
        meta = got.get("metadata")
        if meta is not None and (not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values())):
            raise BadRequest(f"{self.op}: {name}: metadata must be an object of strings (or null)")
        created = rfc3339(self.op, f"{name}: created_at", got["created_at"])
        updated = rfc3339(self.op, f"{name}: updated_at", got["updated_at"])
        data, data_text = fields.get("data", (None, None))
        return Session(id=got["id"], type=got["type"], created_at=created, updated_at=updated, data=data,
                       metadata=dict(meta or {}), created_at_text=got["created_at"], updated_at_text=got["updated_at"],
                       data_text=data_text)


def session_out(s: Any) -> dict[str, Any]:
    """A loaded Session as the Go drivers answer it: the times as the exact texts the store read
    (Go's Format(time.RFC3339Nano) when Go wrote them), "data" only when the session holds some
    (a stored null included), "metadata" always an object."""
    out: dict[str, Any] = {"id": s.id, "type": s.type, "created_at": s.created_at_text, "updated_at": s.updated_at_text}
    if s.data_text is not None:
        out["data"] = RawJSON(s.data_text)
    out["metadata"] = dict(s.metadata or {})
    return out


class SessionDriver:
    """crossredis's RedisStorage and RedisSessionDataStorage (sync) driven by session.def's rows."""

    def __init__(self, ns: argparse.Namespace) -> None:
        from crossredis import _native
        from crossredis.sessions import OPS, RedisSessionDataStorage, RedisStorage

        kinds = {getattr(_native, "XR_RESULT_" + k.upper()): k for k in ("status", "bool", "session", "map")}
        self.rows = {"session." + name: (name, op.arg_names, kinds[_native.xr_session_op_at(op.code).result])
                     for name, op in OPS.items()}
        if SESSION_COMPOSITE in self.rows:
            raise RuntimeError(f"{SESSION_COMPOSITE} is a row of session.def")
        ttl = None if ns.ttl_ms is None else timedelta(milliseconds=ns.ttl_ms)
        data_ttl = None if ns.data_ttl_ms is None else timedelta(milliseconds=ns.data_ttl_ms)
        self.storage = RedisStorage(ns.url, key_prefix=ns.prefix, ttl=ttl, go=ns.go)
        try:
            self.data = RedisSessionDataStorage(ns.url, key_prefix=ns.data_prefix, ttl=data_ttl, go=ns.go)
        except BaseException:
            self.storage.close()
            raise
        self.library = (f"crossredis@{importlib.metadata.version('crossredis')} "
                        f"(python {platform.python_version()}, Go {ns.go} bytes)")

    def close(self) -> None:
        self.storage.close()
        self.data.close()

    def op(self, op: str, args: dict[str, tuple[Any, str]]) -> Any:
        a = SessionArgs(op, args)
        if op == SESSION_COMPOSITE:
            self.storage.delete_expired(a.value("before"))  # toolhive's no-op
            return None
        row = self.rows.get(op)
        if row is None:
            raise UnknownOp(f"unknown op {json.dumps(op)}")
        name, arg_names, kind = row
        store, method = (self.data, name[len("data_"):]) if name.startswith("data_") else (self.storage, name)
        values = [a.value(n) for n in arg_names]
        v = getattr(store, method)(*values)
        if kind == "status":
            return None
        if kind == "bool":
            return bool(v)
        if kind == "session":
            return session_out(v)
        return v  # map: the object, None for Go's nil map


def scrub_secret(text: str, password: str | None) -> str:
    """The text with the URL's password (as written and percent-decoded) shown as ***."""
    for secret in {password or "", unquote(password or "")} - {""}:
        text = text.replace(secret, "***")
    return text


def emit_raw(obj: dict[str, Any]) -> None:
    """emit() for a response that may hold RawJSON (written into the line as it is)."""
    raws: dict[str, str] = {}

    def hide(v: Any) -> Any:
        if isinstance(v, RawJSON):
            mark = f"xr-raw-{_RAW_MARK}-{len(raws)}"
            raws[json.dumps(mark)] = v.text
            return mark
        if isinstance(v, dict):
            return {k: hide(x) for k, x in v.items()}
        return v

    line = json.dumps(hide(obj), allow_nan=False)
    for mark, text in raws.items():
        line = line.replace(mark, text, 1)
    _PROTO.write(line + "\n")
    _PROTO.flush()


def serve_sessions(driver: SessionDriver, password: str | None) -> None:
    from crossredis.sessions import SessionExistsError, SessionNotFoundError

    def scrub(text: str) -> str:
        return scrub_secret(text, password)

    for line in sys.stdin.buffer:
        text = line.decode("utf-8", "surrogateescape").strip()
        if not text:
            continue
        rid: Any = None
        try:
            try:
                req = members(text)
            except ValueError as e:
                raise BadRequest(f"not a JSON request: {e}") from None
            if req is None:
                raise BadRequest("not a JSON request: a request is a JSON object")
            rid = req.get("id", (None, ""))[0]
            op = req.get("op", ("", ""))[0]
            if not isinstance(op, str):
                raise BadRequest("not a JSON request: op must be a string")
            args_value, args_text = req.get("args", (None, "null"))
            if args_value is not None and not isinstance(args_value, dict):
                raise BadRequest("not a JSON request: args must be a JSON object")
            result = driver.op(op, members(args_text) or {})
        except (BadRequest, UnknownOp) as e:
            emit_raw({"id": rid, "ok": False, "error": {"kind": type(e).__name__, "message": scrub(str(e))}})
        except Exception as e:  # the library's error: reported, and the driver goes on
            kind = ("SessionNotFound" if isinstance(e, SessionNotFoundError) else
                    "SessionExists" if isinstance(e, SessionExistsError) else "Error")
            log(f"request {rid}: {type(e).__name__}: {scrub(str(e))}")
            emit_raw({"id": rid, "ok": False, "error": {"kind": kind, "message": scrub(str(e))}})
        else:
            emit_raw({"id": rid, "ok": True, "result": result})


def main_sync(ns: argparse.Namespace, make: Callable[[argparse.Namespace], Any],
              serve_lines: Callable[[Any, str | None], None]) -> int:
    """A synchronous mode (sessions, ayepi): the driver made (its failure the ready line's error),
    the ready line, the requests served until stdin closes, the driver closed."""
    password = urlsplit(ns.url).password
    try:
        driver = make(ns)
    except Exception as e:
        emit({"ready": False, "impl": ns.impl, "error": scrub_secret(f"{type(e).__name__}: {e}", password)})
        return 1
    emit({"ready": True, "impl": ns.impl, "runtime": "python", "library": driver.library})
    try:
        serve_lines(driver, password)
    finally:
        driver.close()
    return 0


# ---- ayepi (--system ayepi) ---------------------------------------------------------------------
#
# interop/CONTRACT.md "ayepi (work Store, cache, broker)", line for line as ayepi_driver.mjs (ts-ayepi)
# answers it: crossredis.ayepi's sync RedisStore (--prefix, default ''), RedisCache (--cache-prefix,
# default ayepi:cache:; its clock pinned to now_ms for a cache_set that gives one) and RedisBroker
# (--channel, default ayepi; made at the first broker request, as upstream's redisBroker). Each with
# the library's retry policy (3 attempts). Error kinds: the crossredis exception's class name
# (ResponseError for an error reply), BadRequest, UnknownOp. Handled one request at a time.

AYEPI_IMPLS = ("py-crossredis",)


def _arg_text(a: dict[str, Any], name: str) -> str:
    if not isinstance(a.get(name), str):
        raise BadRequest(f"args.{name} must be a string")
    return a[name]  # type: ignore[no-any-return]


def _arg_number(a: dict[str, Any], name: str) -> Any:
    v = a.get(name)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise BadRequest(f"args.{name} must be a number")
    return int(v) if isinstance(v, float) and v.is_integer() else v  # 1000.0 is 1000; 1.5 the library's to refuse


def _arg_optional(a: dict[str, Any], name: str) -> Any:
    """An optional number: absent or null -> None."""
    return None if a.get(name) is None else _arg_number(a, name)


class AyepiDriver:
    """crossredis.ayepi's Store, cache and broker driven by the contract's ops."""

    def __init__(self, ns: argparse.Namespace) -> None:
        from crossredis.ayepi import RedisCache, RedisStore

        self.url = ns.url
        self.channel = ns.channel
        self.pinned: int | None = None  # the cache's clock while a cache_set with now_ms runs
        self.store = RedisStore(ns.url, prefix=ns.prefix, on_error=self.on_error)
        try:
            self.cache = RedisCache(client=self.store.client, prefix=ns.cache_prefix, on_error=self.on_error,
                                    now=lambda: self.pinned if self.pinned is not None else int(time.time() * 1000))
        except BaseException:
            self.store.close()
            raise
        self.broker: Any = None
        self.subscribed = False
        self.received: list[str] = []
        self.arrived = threading.Condition()
        self.library = f"crossredis@{importlib.metadata.version('crossredis')} (python {platform.python_version()})"
        self.ops: dict[str, Callable[[dict[str, Any]], Any]] = {
            "ayepi.get": lambda a: self.store.get(_arg_text(a, "key")),
            "ayepi.set": lambda a: self.store.set(_arg_text(a, "key"), _arg_text(a, "value"), _arg_optional(a, "ttl_ms")),
            "ayepi.delete": lambda a: self.store.delete(_arg_text(a, "key")),
            "ayepi.set_if_not_exists": lambda a: self.store.set_if_not_exists(
                _arg_text(a, "key"), _arg_text(a, "value"), _arg_optional(a, "ttl_ms")),
            "ayepi.increment": lambda a: self.store.increment(_arg_text(a, "key"), _arg_number(a, "by"),
                                                              _arg_optional(a, "ttl_ms")),
            "ayepi.cache_get": self.cache_get,
            "ayepi.cache_set": self.cache_set,
            "ayepi.cache_delete": lambda a: self.cache.delete(_arg_text(a, "key")),
            "ayepi.cache_clear": self.cache_clear,
            "ayepi.cache_invalidate": self.cache_invalidate,
            "ayepi.publish": lambda a: self.broker_of().publish(_arg_text(a, "message")),
            "ayepi.envelope": self.envelope,
            "ayepi.subscribe": self.subscribe,
            "ayepi.received": self.wait_received,
        }

    @staticmethod
    def on_error(e: BaseException) -> None:
        log(f"onError: {type(e).__name__}: {e}")

    def cache_get(self, a: dict[str, Any]) -> Any:
        entry = self.cache.get(_arg_text(a, "key"))
        return None if entry is None else entry.to_dict()

    def cache_set(self, a: dict[str, Any]) -> None:
        key, entry, now = _arg_text(a, "key"), a.get("entry"), _arg_optional(a, "now_ms")
        if not isinstance(entry, dict):
            raise BadRequest("args.entry must be a JSON object")
        self.pinned = now
        try:
            self.cache.set(key, entry)
        finally:
            self.pinned = None

    def cache_clear(self, a: dict[str, Any]) -> None:
        self.cache.clear()

    def cache_invalidate(self, a: dict[str, Any]) -> int:
        path = _arg_text(a, "path")
        return self.cache.invalidate(lambda info: info.path == path)

    def envelope(self, a: dict[str, Any]) -> str:
        from crossredis.ayepi import envelope

        ch = _arg_text(a, "ch")
        if "data" not in a:
            raise BadRequest("args.data is required")
        return envelope(ch, a["data"], a.get("params"))

    def broker_of(self) -> Any:
        if self.broker is None:
            from crossredis.ayepi import RedisBroker

            self.broker = RedisBroker(client=self.store.client, channel=self.channel, on_error=self.on_error)
        return self.broker

    def subscribe(self, a: dict[str, Any]) -> None:
        b = self.broker_of()
        if not self.subscribed:
            self.subscribed = True
            b.subscribe(self.listener)
        if not b.listening:
            raise RuntimeError(f"SUBSCRIBE {self.channel} failed (see stderr)")

    def listener(self, message: str) -> None:
        with self.arrived:
            self.received.append(message)
            self.arrived.notify_all()

    def wait_received(self, a: dict[str, Any]) -> list[str]:
        count = _arg_number(a, "count")
        timeout = _arg_optional(a, "timeout_ms") or 0
        with self.arrived:
            if timeout > 0:
                self.arrived.wait_for(lambda: len(self.received) >= count, timeout / 1000)
            return list(self.received)

    def op(self, op: str, args: dict[str, Any]) -> Any:
        fn = self.ops.get(op)
        if fn is None:
            raise UnknownOp(f"unknown op {json.dumps(op)}")
        return fn(args)

    def close(self) -> None:
        if self.broker is not None:
            self.broker.close()
        self.cache.close()
        self.store.close()


# ---- xp (--system xp) ---------------------------------------------------------------------------
#
# interop/CONTRACT.md "xp (xml-pipeline's context buffer and thread registry)": the rows of xp.def
# (crossredis.xp.OPS) as xp.<name> with the table's argument names, and the composites. Bytes (a
# slot) travel as base64 (RFC 4648, padded) both ways. impl py-crossredis: crossredis.xp.RedisBackend;
# impl py-xmlpipeline: xp_upstream.UpstreamRedisBackend over redis-py (SPEC 4's commands, defects
# included). Error kinds: the exception's class name, BadRequest, UnknownOp, Unsupported.

XP_IMPLS = ("py-crossredis", "py-xmlpipeline")
XP_COMPOSITES = ("buffer_list_threads", "buffer_clear", "registry_list_all", "registry_clear", "info",
                 "slot_json", "slot_pickle", "slot_read")
XP_FIELDS = ("thread_id", "from_id", "to_id", "slot_index", "timestamp", "payload_type", "own_name", "is_self_call",
             "usage_instructions")


def _b64_arg(a: dict[str, Any], name: str) -> bytes:
    import base64
    import binascii

    try:
        return base64.b64decode(_arg_text(a, name), validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(f"args.{name} must be base64 (RFC 4648, padded)") from None


def _b64(v: Any) -> Any:
    import base64

    if isinstance(v, (bytes, bytearray)):
        return base64.b64encode(bytes(v)).decode()
    if isinstance(v, list):
        return [_b64(x) for x in v]
    return v


class XpDriver:
    """xml-pipeline's RedisBackend (crossredis's, or the upstream-shaped one) driven by the contract."""

    def __init__(self, ns: argparse.Namespace) -> None:
        from crossredis.xp import OPS

        self.impl = ns.impl
        self.cluster_client: Any = None
        if ns.impl == "py-crossredis":
            from crossredis.xp import RedisBackend

            self.backend: Any = RedisBackend(ns.url, prefix=ns.prefix, ttl=ns.ttl)
            self.library = f"crossredis@{importlib.metadata.version('crossredis')} (python {platform.python_version()})"
        else:
            import redis
            from xp_upstream import UpstreamRedisBackend  # beside this file

            cluster = parse_cluster_url(ns.url)
            if cluster is None:
                client: Any = redis.Redis.from_url(ns.url)
            else:
                from redis.cluster import ClusterNode, RedisCluster

                nodes, user, password = cluster
                client = RedisCluster(startup_nodes=[ClusterNode(h, p) for h, p in nodes], username=user,
                                      password=password)
            client.ping()
            self.backend = UpstreamRedisBackend(client, prefix=ns.prefix, ttl=ns.ttl)
            self.library = ("xml-pipeline RedisBackend, upstream-shaped (interop/drivers/xp_upstream.py) over redis-py@"
                            + importlib.metadata.version("redis") + (" RedisCluster" if cluster else ""))
        self.rows = {f"xp.{name}": row for name, row in OPS.items()}
        self.ops = {**self.rows, **{f"xp.{n}": None for n in XP_COMPOSITES}}
        clash = [n for n in XP_COMPOSITES if n in OPS]
        if clash:
            raise RuntimeError(f"the composite xp.{clash[0]} names a row of xp.def")

    def row(self, op: str, a: dict[str, Any]) -> Any:
        row = self.rows[op]
        method = getattr(self.backend, row.name, None)
        if method is None:
            raise Unsupported(f"{self.impl} has no {row.name} (upstream's RedisBackend has none)")
        values = []
        for name in row.arg_names:
            if name == "slot":
                values.append(_b64_arg(a, name))
            elif name == "index":
                if isinstance(a.get(name), bool) or not isinstance(a.get(name), int):
                    raise BadRequest(f"args.{name} must be an integer")
                values.append(a[name])
            else:
                values.append(_arg_text(a, name))
        return _b64(method(*values))

    def slot_of(self, a: dict[str, Any]) -> Any:
        """The BufferSlot of args.fields (xml_pipeline.memory.context_buffer's classes, beside this file)."""
        from xml_pipeline.memory.context_buffer import BufferSlot, SlotMetadata

        f = a.get("fields")
        if not isinstance(f, dict) or "payload" not in f:
            raise BadRequest("args.fields must be an object with the slot's fields and payload")
        unknown = [k for k in f if k not in XP_FIELDS and k != "payload"]
        if unknown:
            raise BadRequest(f"args.fields.{unknown[0]} is not a slot field")
        md = SlotMetadata(**{k: f[k] for k in XP_FIELDS if k in f})
        return BufferSlot(payload=f["payload"], metadata=md)

    def slot_read(self, a: dict[str, Any]) -> dict[str, Any]:
        data = _b64_arg(a, "slot")
        if self.impl == "py-crossredis":
            from crossredis.xp import read_slot

            slot = read_slot(data)  # a JSON slot by the codec, a pickle by the restricted reader
        else:
            import pickle

            slot = pickle.loads(data)  # upstream's caller: pickles only (the matrix reads its own slots)
        md = slot.metadata
        return {**{k: getattr(md, k) for k in XP_FIELDS}, "payload": slot.payload}

    def composite(self, name: str, a: dict[str, Any]) -> Any:
        b = self.backend
        if name == "buffer_list_threads":
            return sorted(b.buffer_list_threads())
        if name == "registry_list_all":
            return dict(sorted(b.registry_list_all().items()))
        if name in ("buffer_clear", "registry_clear"):
            getattr(b, name)()
            return None
        if name == "info":
            return b.info()
        if name == "slot_json":
            if self.impl != "py-crossredis":
                raise Unsupported("upstream has no JSON slot (its slots are pickles)")
            from crossredis.xp import encode_json_slot

            return _b64(encode_json_slot(self.slot_of(a)))
        if name == "slot_pickle":
            import pickle

            return _b64(pickle.dumps(self.slot_of(a)))  # as upstream's caller pickles a slot
        return self.slot_read(a)

    def op(self, op: str, args: dict[str, Any]) -> Any:
        if op in self.rows:
            return self.row(op, args)
        if op in self.ops:
            return self.composite(op[3:], args)
        raise UnknownOp(f"unknown op {json.dumps(op)}")

    def close(self) -> None:
        self.backend.close()


def json_request(text: str | bytes, not_json: str, not_object: str) -> dict[str, Any]:
    """A request line as its JSON object; BadRequest in the given words when it is not one."""
    try:
        req = json.loads(text)
    except ValueError as e:
        raise BadRequest(f"{not_json}: {e}") from None
    if not isinstance(req, dict):
        raise BadRequest(not_object)
    return req


def serve_ayepi(driver: AyepiDriver | XpDriver, password: str | None) -> None:
    """The JSON lines of a synchronous mode with ayepi_driver.mjs's words (ayepi, xp)."""
    for line in sys.stdin.buffer:
        text = line.decode("utf-8", "surrogateescape").strip()
        if not text:
            continue
        rid: Any = None
        try:
            req = json_request(text, "not JSON", "a request must be a JSON object")  # ayepi_driver.mjs's words
            rid = req.get("id")
            op = req.get("op")
            args = req.get("args")
            if args is None:
                args = {}
            if not isinstance(op, str) or op not in driver.ops:
                raise UnknownOp(f"unknown op {json.dumps(op)}")
            if not isinstance(args, dict):
                raise BadRequest("args must be a JSON object")
            result = driver.op(op, args)
        except (BadRequest, UnknownOp) as e:
            emit({"id": rid, "ok": False, "error": {"kind": type(e).__name__, "message": scrub_secret(str(e), password)}})
        except Exception as e:  # the library's error: reported, and the driver goes on
            log(f"request {rid}: {type(e).__name__}: {scrub_secret(str(e), password)}")
            emit({"id": rid, "ok": False, "error": {"kind": type(e).__name__, "message": scrub_secret(str(e), password)}})
        else:
            emit({"id": rid, "ok": True, "result": result})


async def serve(driver: Driver) -> None:
    loop = asyncio.get_running_loop()
    stdin = sys.stdin.buffer
    while True:
        line = await loop.run_in_executor(None, stdin.readline)
        if not line:
            return
        text = line.strip()
        if not text:
            continue
        rid: Any = None
        try:
            req = json_request(text, "request is not JSON", "request must be a JSON object")
            rid = req.get("id")
            op = req.get("op")
            if not isinstance(op, str):
                raise BadRequest("request has no op")
            args = req.get("args")
            if args is None:
                args = {}
            if not isinstance(args, dict):
                raise BadRequest("args must be a JSON object")
            result = await driver.op(op, args)
        except (BadRequest, UnknownOp, Unsupported) as e:
            emit({"id": rid, "ok": False, "error": {"kind": type(e).__name__, "message": str(e)}})
        except Exception as e:  # the library raised: report it and go on
            log(f"request {rid}: {type(e).__name__}: {e}")
            traceback.print_exc(file=sys.stderr)
            emit({"id": rid, "ok": False, "error": {"kind": type(e).__name__, "message": str(e)}})
        else:
            emit({"id": rid, "ok": True, "result": result})


async def main_async(ns: argparse.Namespace) -> int:
    try:
        driver = Driver(ns.impl, ns.url, ns.prefix, ns.layout or "upstream")
        await driver.connect()
    except Exception as e:
        traceback.print_exc(file=sys.stderr)
        emit({"ready": False, "error": f"{type(e).__name__}: {e}"})
        return 1
    emit({"ready": True, "impl": ns.impl, "runtime": "python", "library": driver.library})
    try:
        await serve(driver)
    finally:
        try:
            await driver.disconnect()
        except Exception as e:
            log(f"disconnect: {type(e).__name__}: {e}")
    return 0


def refused(ns: argparse.Namespace, system: str, impls: tuple[str, ...], foreign: tuple[str, ...], whose: str) -> bool:
    """Whether the mode cannot start (an option of another mode given, or an unknown impl): the
    ready line said why."""
    extra = [f for f in foreign if getattr(ns, f) is not None]
    if extra:
        emit({"ready": False, "error": f"--{extra[0].replace('_', '-')} is {whose}"})
    elif ns.impl not in impls:
        emit({"ready": False, "error": f"unknown {system} impl {ns.impl!r} (known: {', '.join(impls)})"})
    return bool(extra) or ns.impl not in impls


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--impl", required=True)
    p.add_argument("--url", default=os.environ.get("REDIS_URL") or None,
                   help="the server (default $REDIS_URL, which keeps a password off the command line)")
    p.add_argument("--system", choices=("chat", "sessions", "ayepi", "xp"), default="chat",
                   help="chat: the Chat SDK state adapters (default); sessions: toolhive's session stores; "
                        "ayepi: ayepi's work Store, cache and broker; xp: xml-pipeline's RedisBackend")
    p.add_argument("--prefix", default=None,
                   help="the key prefix (chat: default chat-sdk; sessions: RedisStorage's, default thv:proxy:session:; "
                        "ayepi: the work Store's, default ''; xp: default xp:)")
    p.add_argument("--ttl", type=int, default=None, help="xp: seconds on every key written (default 86400; 0: none)")
    p.add_argument("--cache-prefix", default=None, help="ayepi: the cache's key prefix (default ayepi:cache:)")
    p.add_argument("--channel", default=None, help="ayepi: the broker's channel (default ayepi)")
    p.add_argument("--data-prefix", default=None,
                   help="sessions: RedisSessionDataStorage's key prefix (default thv:vmcp:session:)")
    p.add_argument("--ttl-ms", type=int, default=None, help="sessions: RedisStorage's TTL (default toolhive's, 2 h)")
    p.add_argument("--data-ttl-ms", type=int, default=None,
                   help="sessions: RedisSessionDataStorage's TTL (default toolhive's, 30 min)")
    p.add_argument("--go", default=None, help="sessions: whose encoding/json bytes are written, 1.27 (default) or 1.26")
    p.add_argument("--layout", default=None,
                   help="chat, py-crossredis*: the adapter's layout, upstream (default) or tagged")
    ns = p.parse_args()
    if not ns.url:
        emit({"ready": False, "error": "no server: set REDIS_URL (or pass --url)"})
        return 1
    ayepi_only = [f for f in ("cache_prefix", "channel") if getattr(ns, f) is not None]
    if ns.system == "xp":
        from crossredis.xp import PREFIX, TTL

        if refused(ns, "xp", XP_IMPLS, ("data_prefix", "ttl_ms", "data_ttl_ms", "go", "cache_prefix", "channel"),
                   "not an option of --system xp"):
            return 1
        ns.prefix = PREFIX if ns.prefix is None else ns.prefix
        ns.ttl = TTL if ns.ttl is None else ns.ttl
        return main_sync(ns, XpDriver, serve_ayepi)
    if ns.ttl is not None:
        emit({"ready": False, "error": "--ttl is for --system xp"})
        return 1
    if ns.system == "ayepi":
        from crossredis.ayepi import CACHE_PREFIX, CHANNEL, STORE_PREFIX

        if refused(ns, "ayepi", AYEPI_IMPLS, ("data_prefix", "ttl_ms", "data_ttl_ms", "go"), "for --system sessions"):
            return 1
        ns.prefix = STORE_PREFIX if ns.prefix is None else ns.prefix
        ns.cache_prefix = CACHE_PREFIX if ns.cache_prefix is None else ns.cache_prefix
        ns.channel = CHANNEL if ns.channel is None else ns.channel
        return main_sync(ns, AyepiDriver, serve_ayepi)
    if ayepi_only:
        emit({"ready": False, "error": f"--{ayepi_only[0].replace('_', '-')} is for --system ayepi"})
        return 1
    if ns.system == "sessions":
        from crossredis.sessions import PROXY_PREFIX, VMCP_PREFIX

        if ns.impl not in SESSION_IMPLS:
            emit({"ready": False, "error": f"unknown sessions impl {ns.impl!r} (known: {', '.join(SESSION_IMPLS)})"})
            return 1
        ns.prefix = PROXY_PREFIX if ns.prefix is None else ns.prefix
        ns.data_prefix = VMCP_PREFIX if ns.data_prefix is None else ns.data_prefix
        ns.go = ns.go or "1.27"
        return main_sync(ns, SessionDriver, serve_sessions)
    extra = [f for f in ("data_prefix", "ttl_ms", "data_ttl_ms", "go") if getattr(ns, f) is not None]
    if extra:
        emit({"ready": False, "error": f"--{extra[0].replace('_', '-')} is for --system sessions"})
        return 1
    ns.prefix = "chat-sdk" if ns.prefix is None else ns.prefix
    if ns.layout is not None and ns.impl == "py-port":
        emit({"ready": False, "error": "--layout is crossredis's option: the port has one layout (give it {<id>})"})
        return 1
    if ns.impl not in IMPLS:
        emit({"ready": False, "error": f"unknown impl {ns.impl!r} (known: {', '.join(IMPLS)})"})
        return 1
    return asyncio.run(main_async(ns))


if __name__ == "__main__":
    sys.exit(main())
