"""What the sync and async Chat SDK state adapters share: options, the native adapter behind its
guard, argument checks, and one table of operations (how each runs alone, how it joins a batch,
how its result becomes a Python value)."""

from __future__ import annotations

import json
import operator
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple

from . import _native
from ._guard import Guard
from .client import Client
from .errors import Error, InvalidArgumentError

__all__: list[str] = []


# ---- public value types (re-exported by crossredis.chat) -------------------------------------


@dataclass
class Lock:
    """A held lock, as the Chat SDK's ``Lock``: the thread id, the token stored under
    ``<prefix>:lock:<thread id>`` and when it expires (Unix ms, computed on the client)."""

    thread_id: str
    token: str
    expires_at: int


@dataclass
class QueueEntry:
    """A queued message, as the Chat SDK's ``QueueEntry`` (times in Unix ms). ``message`` is a
    ``chat_sdk.types.Message`` when it was one (``_type == "chat:Message"``) and chat_sdk is
    installed, else the parsed JSON value."""

    enqueued_at: int
    expires_at: int
    message: Any


@dataclass
class ReliableQueueEntry(QueueEntry):
    """What ``dequeue_reliable()`` returns (beyond upstream): a :class:`QueueEntry` with ``raw``,
    the entry exactly as stored, which ``ack()`` takes."""

    raw: bytes = field(default=b"", compare=False, repr=False)


class StateNotConnectedError(Error):
    """A state adapter method was called before ``connect()`` (or after ``disconnect()``). When
    chat_sdk is loaded, the raised exception is also a ``chat_sdk.errors.StateNotConnectedError``."""

    def __init__(self, adapter_name: str) -> None:
        self.adapter_name = adapter_name
        # not super(): with the chat_sdk class mixed in, its __init__ would re-format the text
        Exception.__init__(self, f"{adapter_name} is not connected. Call connect() first.")


_dual_not_connected: dict[type, type] = {}


def not_connected(adapter_name: str) -> StateNotConnectedError:
    upstream = sys.modules.get("chat_sdk.errors")
    up_cls = getattr(upstream, "StateNotConnectedError", None) if upstream is not None else None
    if not isinstance(up_cls, type):
        return StateNotConnectedError(adapter_name)
    cls = _dual_not_connected.get(up_cls)
    if cls is None:
        cls = type("StateNotConnectedError", (StateNotConnectedError, up_cls),
                   {"__module__": "crossredis.chat", "__doc__": StateNotConnectedError.__doc__})
        _dual_not_connected[up_cls] = cls
    return cls(adapter_name)  # type: ignore[no-any-return]


# ---- options ------------------------------------------------------------------------------------

# Python's names of the core's enums, their values from its headers (token.h, json.h, chat.h)
_TOKEN_SUFFIXES = {"hex32": _native.XR_TOKEN_HEX32, "base36": _native.XR_TOKEN_BASE36}
_JSON_DIALECTS = {"python": _native.XR_JSON_PYTHON, "js": _native.XR_JSON_JS}
_QUEUE_DIALECTS = {"python": _native.XR_CHAT_QUEUE_PYTHON, "ts": _native.XR_CHAT_QUEUE_TS,
                   "both": _native.XR_CHAT_QUEUE_BOTH}
_EMPTY_PREFIX_KEPT = _native.XR_CHAT_EMPTY_PREFIX_KEEP  # the port keeps key_prefix "" as it is


def _choice(name: str, value: str, table: dict[str, int]) -> int:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    try:
        return table[value]
    except KeyError:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, table))}, not {value!r}") from None


@dataclass(frozen=True)
class Options:
    key_prefix: str
    token_prefix: str
    token_suffix: int
    json: int
    queue: int
    min_replicas: int = 0
    min_replicas_timeout_ms: int = 0
    layout: int = 0

    @classmethod
    def make(cls, key_prefix: str, token_prefix: str, token_suffix: str, json_dialect: str,
             queue_dialect: str, min_replicas: int | None = 0, min_replicas_timeout_ms: int | None = 0,
             layout: str = "upstream") -> Options:
        # types and names here; what the values may be is the core's to say (xr_chat_options_check:
        # the token prefix's length and characters, glob characters in the key prefix, the range of
        # min_replicas)
        if not isinstance(key_prefix, str):  # None too, which the C conversion would take as "default"
            raise TypeError(f"key_prefix must be a str, not {type(key_prefix).__name__}")
        if not isinstance(token_prefix, str):
            raise TypeError(f"token_prefix must be a str, not {type(token_prefix).__name__}")
        if not isinstance(layout, str):  # its names are the core's (xr_chat_layout_parse)
            raise TypeError(f"layout must be a str, not {type(layout).__name__}")
        o = cls(key_prefix, token_prefix, _choice("token_suffix", token_suffix, _TOKEN_SUFFIXES),
                _choice("json_dialect", json_dialect, _JSON_DIALECTS),
                _choice("queue_dialect", queue_dialect, _QUEUE_DIALECTS),
                check_int32("min_replicas", min_replicas, allow_none=True),
                check_int32("min_replicas_timeout_ms", min_replicas_timeout_ms, allow_none=True),
                _native.xr_chat_layout_parse(layout))
        _native.xr_binding_chat_check(*o.native_args())
        return o

    def native_args(self) -> tuple[Any, ...]:
        """The arguments of xr_binding_chat_check / _new (after the client)."""
        return (self.key_prefix, _EMPTY_PREFIX_KEPT, self.token_prefix, self.token_suffix, self.json, self.queue,
                self.min_replicas, self.min_replicas_timeout_ms, self.layout)


# ---- the native adapter -------------------------------------------------------------------------


class System(NamedTuple):
    """A system of the core (chat, session, ...) as the bindings run it: its generic call and
    batch functions (op.h: every system has the same set, by its name)."""

    call: Callable[..., Any]
    batch_new: Callable[..., Any]
    batch_add: Callable[..., Any]
    batch_result: Callable[..., Any]
    batch_exec: Callable[..., Any]
    batch_start: Callable[..., Any]
    batch_free: Callable[..., Any]

    @classmethod
    def of(cls, name: str) -> System:
        return cls(*(getattr(_native, f"xr_{name}_{fn}") for fn in
                     ("call", "batch_new", "batch_add", "batch_result", "batch_exec", "batch_start", "batch_free")))


CHAT = System.of("chat")


class Core:
    """A native system handle (an xr_chat, an xr_session_storage) over a Client. A call enters
    both guards, so neither the handle nor the client is freed under it."""

    __slots__ = ("client", "owns_client", "system", "_guard", "_client_guard")

    def __init__(self, client: Client, owns_client: bool, o: Options | None = None, *,
                 make: Callable[[Any], Any] | None = None, free: Callable[[Any], None] = _native.xr_chat_free,
                 what: str = "the state adapter", system: System = CHAT) -> None:
        self.client = client
        self.owns_client = owns_client
        self.system = system
        self._client_guard = client._guard
        if make is None:
            assert o is not None
            make = lambda c: _native.xr_binding_chat_new(c, *o.native_args())[1]  # noqa: E731
        handle = self._client_guard.call(make)
        # closing fails the batches that no event loop will finish (_loop.LoopConns.cancel_stuck)
        loops = client._loops
        self._guard = Guard(handle, free, what, interrupt=lambda h: loops.cancel_stuck())

    def enter(self) -> Any:
        s = self._guard.enter()
        try:
            self._client_guard.enter()
        except BaseException:
            self._guard.leave()
            raise
        return s

    def leave(self) -> None:
        self._client_guard.leave()
        self._guard.leave()

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(adapter handle, *args)`` inside both guards."""
        s = self.enter()
        try:
            return fn(s, *args)
        finally:
            self.leave()

    def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` inside both guards (for watchdogs, which hold the adapter themselves)."""
        self.enter()
        try:
            return fn(*args)
        finally:
            self.leave()

    def close(self) -> None:
        """Frees the adapter once no call is inside, then closes the client if it owns it."""
        self._guard.close()
        if self.owns_client:
            self.client.close()

    def __del__(self) -> None:
        guard = getattr(self, "_guard", None)
        if guard is not None:
            try:
                guard.close()  # the client closes itself when it goes
            except Exception:  # interpreter shutdown
                pass


# ---- argument checks and value codecs -----------------------------------------------------------


def check_str(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    return value


def check_int(name: str, value: Any, *, allow_none: bool = False) -> int:
    """An int argument; None means 0 when allowed (the port's ``ttl_ms or 0``)."""
    if value is None and allow_none:
        return 0
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not bool")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int, not {type(value).__name__}") from None


def check_int32(name: str, value: Any, *, allow_none: bool = False) -> int:
    """An int argument the core takes as a C int (min_replicas, ...): as :func:`check_int`, and
    refused past 32 bits with the words the Node binding uses."""
    n = check_int(name, value, allow_none=allow_none)
    if not -(2**31) <= n < 2**31:
        raise InvalidArgumentError(f"{name}: {n} is out of range for a 32-bit integer")
    return n


def entry_raw(entry: Any) -> bytes:
    """The stored bytes of a dequeued entry, for ack()."""
    if not isinstance(entry, ReliableQueueEntry):
        raise TypeError(f"entry must be the ReliableQueueEntry dequeue_reliable() returned, not {type(entry).__name__}")
    return entry.raw


def lock_parts(lock: Any) -> tuple[str, str]:
    """(thread id, token) of a crossredis or chat_sdk Lock (anything with those attributes)."""
    try:
        thread_id, token = lock.thread_id, lock.token
    except AttributeError:
        raise TypeError(f"lock must be a Lock (with thread_id and token), not {type(lock).__name__}") from None
    return check_str("lock.thread_id", thread_id), check_str("lock.token", token)


def dumps_json(value: Any, name: str) -> str:
    """Compact JSON text of a value the core re-writes (its dialect's bytes); a value JSON cannot
    hold (an object, NaN) is a TypeError naming ``name``."""
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{name}: {e}") from None


def dumps(value: Any) -> str:
    """JSON text for the core, which re-writes it in the adapter's dialect."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def message_json(message: Any) -> str:
    """A queued message as the port serializes it: ``to_json()``, a dict, or ``__dict__``."""
    if hasattr(message, "to_json"):
        data = message.to_json()
    elif isinstance(message, dict):
        data = message
    else:
        data = message.__dict__
    return dumps(data)


def loads_or_raw(raw: bytes) -> Any:
    """The stored value parsed, or the raw text when it is not JSON (bytes when not UTF-8)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw
    try:
        return json.loads(text)
    except ValueError:
        return text


_message_from_json: Callable[[Any], Any] | None = None


def message_from(raw: bytes) -> Any:
    data = json.loads(raw)
    if isinstance(data, dict) and data.get("_type") == "chat:Message":
        global _message_from_json
        if _message_from_json is None:
            try:
                from chat_sdk.types import Message
            except ImportError:
                return data
            _message_from_json = Message.from_json
        return _message_from_json(data)
    return data


def now_ms() -> int:
    return time.time_ns() // 1_000_000


# ---- the operations -----------------------------------------------------------------------------


class Op(NamedTuple):
    """One operation, a row of a system's table (chat.def, session.def, read from the native
    module): its code, its arguments' names and how its result (converted by result kind in the
    binding) becomes the method's value (``decode(value, context)``). Alone (``xr_<system>_call``)
    and in a batch (``xr_<system>_batch_add`` / ``_batch_result``) the value has the same shape."""

    name: str
    code: int
    arg_names: tuple[str, ...]
    decode: Callable[[Any, Any], Any]
    system: System = CHAT

    def args(self, values: tuple[Any, ...]) -> tuple[tuple[str, Any], ...]:
        """(name, value) pairs, as the binding takes them (the names are for its messages)."""
        return tuple(zip(self.arg_names, values))

    def alone(self, s: Any, *values: Any) -> Any:
        return self.system.call(s, self.code, self.args(values))[1]

    def add(self, batch: Any, *values: Any) -> int:
        return int(self.system.batch_add(batch, self.code, self.args(values)))

    def result(self, batch: Any, index: int) -> Any:
        return self.system.batch_result(batch, index)[1]


def _lock(value: Any, thread_id: str) -> Lock | None:
    if value is None:
        return None
    token, expires_at = value
    return Lock(thread_id=thread_id, token=token.decode(), expires_at=expires_at)


def _entry(value: Any, ctx: Any) -> QueueEntry | None:
    if value is None:
        return None
    message, enqueued_at, expires_at, _raw = value
    return QueueEntry(enqueued_at=enqueued_at, expires_at=expires_at, message=message_from(message))


def _reliable_entry(value: Any, ctx: Any) -> ReliableQueueEntry | None:
    if value is None:
        return None
    message, enqueued_at, expires_at, raw = value
    return ReliableQueueEntry(enqueued_at=enqueued_at, expires_at=expires_at, message=message_from(message), raw=raw)


def _value(value: Any, ctx: Any) -> Any:
    return None if value is None else loads_or_raw(value)


# How a result kind (op.h's xr_result_kind) becomes a Python value; the binding already made it
# None / bool / int / bytes / list / tuple.
_BY_KIND: dict[int, Callable[[Any, Any], Any]] = {
    _native.XR_RESULT_STATUS: lambda v, ctx: None,
    _native.XR_RESULT_BOOL: lambda v, ctx: bool(v),
    _native.XR_RESULT_INTEGER: lambda v, ctx: int(v),
    _native.XR_RESULT_VALUE: _value,
    _native.XR_RESULT_LIST: lambda v, ctx: [loads_or_raw(x) for x in v],
    _native.XR_RESULT_LOCK: _lock,
    _native.XR_RESULT_ENTRY: _entry,
}

# Where the Python API's value differs from its kind's: the port's release_lock returns None, and
# only dequeue_reliable hands the raw bytes out (ack takes them).
_BY_NAME: dict[str, Callable[[Any, Any], Any]] = {
    "release_lock": lambda v, ctx: None,
    "dequeue_reliable": _reliable_entry,
}


def _table() -> dict[str, Op]:
    ops: dict[str, Op] = {}
    code = 0
    while (info := _native.xr_chat_op_at(code)) is not None:
        names = tuple(_native.xr_binding_op_arg_name(info, i) for i in range(info.nargs))
        ops[info.name] = Op(info.name, code, names, _BY_NAME.get(info.name, _BY_KIND[info.result]))
        code += 1
    return ops


OPS = _table()
SUBSCRIBE, UNSUBSCRIBE, IS_SUBSCRIBED = OPS["subscribe"], OPS["unsubscribe"], OPS["is_subscribed"]
ACQUIRE_LOCK, RELEASE_LOCK, EXTEND_LOCK = OPS["acquire_lock"], OPS["release_lock"], OPS["extend_lock"]
FORCE_RELEASE_LOCK = OPS["force_release_lock"]
GET, SET, SET_IF_NOT_EXISTS, DELETE = OPS["get"], OPS["set"], OPS["set_if_not_exists"], OPS["delete"]
APPEND_TO_LIST, GET_LIST = OPS["append_to_list"], OPS["get_list"]
ENQUEUE, DEQUEUE, QUEUE_DEPTH = OPS["enqueue"], OPS["dequeue"], OPS["queue_depth"]
DEQUEUE_RELIABLE, ACK, REQUEUE_PROCESSING = OPS["dequeue_reliable"], OPS["ack"], OPS["requeue_processing"]


def same(value: Any, ctx: Any = None) -> Any:
    """A row's value as the binding converted it by kind (None / bool / int / bytes / list)."""
    return value


def system_ops(name: str, decoders: dict[int, Callable[[Any, Any], Any]] | None = None) -> dict[str, Op]:
    """System ``name``'s table (``<name>.def``, read from the native module: xr_<name>_op_at): an
    :class:`Op` per row, by its name, decoding by result kind (``decoders``; else :func:`same`)."""
    system = System.of(name)
    op_at = getattr(_native, f"xr_{name}_op_at")
    ops: dict[str, Op] = {}
    for code in range(getattr(_native, f"XR_{name.upper()}_OP_COUNT")):
        row = op_at(code)
        names = tuple(_native.xr_binding_op_arg_name(row, i) for i in range(row.nargs))
        ops[row.name] = Op(row.name, code, names, (decoders or {}).get(row.result, same), system)
    return ops


class Blocking(NamedTuple):
    """A call outside the table that may wait for long (it retries until a deadline, or runs a
    script of its own): made alone, in an executor thread under asyncio, never batched. Has an
    :class:`Op`'s ``alone`` and ``decode``."""

    name: str
    alone: Callable[..., Any]  # (adapter handle, *values) -> the native result
    decode: Callable[[Any, Any], Any]


def _lock_from_wait(res: Any, thread_id: str) -> Lock | None:
    """The result of xr_chat_acquire_lock_wait: [code, acquired, (token, expires_at)]."""
    if not res[1]:
        return None
    token, expires_at = res[2]
    return Lock(thread_id=thread_id, token=token, expires_at=expires_at)


# acquire_lock with wait_ms: retries (backoff 10 ms doubling to 250 ms, with jitter) until acquired
ACQUIRE_LOCK_WAIT = Blocking("acquire_lock_wait", _native.xr_chat_acquire_lock_wait, _lock_from_wait)
# beyond upstream (vercel/chat #928): [code, released, depth] -> (released, depth)
RELEASE_LOCK_IF_QUEUE_EMPTY = Blocking("release_lock_if_queue_empty", _native.xr_chat_release_lock_if_queue_empty,
                                       lambda res, ctx: (bool(res[1]), int(res[2])))


# ---- the watchdog -------------------------------------------------------------------------------

HELD, LOST, FINISHED = _native.XR_CHAT_WATCHDOG_HELD, _native.XR_CHAT_WATCHDOG_LOST, _native.XR_CHAT_WATCHDOG_FINISHED


class Watchdog:
    """The core's lock watchdog (extends by ttl every ttl/3), driven by the caller's timer: a
    thread (sync) or a task (asyncio). ``due_in()`` says when to ``tick()``; ``tick()`` returns
    HELD, LOST or FINISHED, a failed extension being retried by the core until the lock's own
    expiry passes. One thread drives it at a time; ``state``, ``expires_at`` and ``last_error``
    are plain attributes any thread may read."""

    __slots__ = ("_core", "_w", "last_error", "state", "expires_at")

    def __init__(self, core: Core, thread_id: str, token: str, expires_at: int, ttl_ms: int,
                 max_lifetime_ms: int) -> None:
        self._core = core
        self._w = core.call(_native.xr_binding_watchdog_new, thread_id, token, expires_at, ttl_ms,
                            max_lifetime_ms, now_ms())[1]
        self.last_error: Error | None = None
        self.state: int = HELD
        # copied after each tick by the driving thread, so other threads never read the C object
        self.expires_at: int = expires_at

    def due_in_s(self) -> float | None:
        """Seconds until the next extension is due; None once the watchdog stopped."""
        ms = _native.xr_chat_watchdog_due_in(self._w, now_ms())
        return None if ms < 0 else ms / 1000.0

    def tick(self) -> int:
        """Extends the lock when due (blocking: network); returns and records the state."""
        try:
            self.state = int(self._core.run(_native.xr_binding_watchdog_tick, self._w, now_ms())[1])
            self.expires_at = int(_native.xr_chat_watchdog_expires_at(self._w))
        except Error as e:
            self.last_error = e
            # a failed extension past the lock's expiry stops the watchdog (LOST); an adapter
            # closed under a held lock can extend it no more: lost as well
            if _native.xr_chat_watchdog_due_in(self._w, now_ms()) < 0 or self._core_closed():
                self.state = LOST
        return self.state

    def _core_closed(self) -> bool:
        return self._core._guard.closed or self._core.client.closed

    def free(self) -> None:
        w, self._w = self._w, None
        if w is not None:
            _native.xr_chat_watchdog_free(w)
