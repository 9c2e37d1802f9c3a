"""xml-pipeline's shared context buffer and thread registry (``xml_pipeline.memory.redis_backend.
RedisBackend``, SPEC.md 4) with its keys and values, from Python, so a deployment swaps the import
and nothing else (``from crossredis.xp import RedisBackend``):

- :class:`RedisBackend`: upstream's constructor (``url``, ``prefix="xp:"``, ``ttl=86400`` seconds,
  0: none) and every method with its names, arguments and return types, plus
  :meth:`RedisBackend.registry_get_or_create`; :class:`AsyncRedisBackend`: the same as coroutines;
- :func:`load_slot`: a restricted reader of upstream's pickled slots (``BufferSlot`` /
  ``SlotMetadata`` and plain data only: data in Redis never runs code);
- :func:`encode_json_slot` / :func:`decode_json_slot`: the neutral JSON slot C and Node read too
  (xp.h documents it field by field); :func:`read_slot` takes either kind.

The C core owns the wire (core/include/crossredis/xp.h): the keys, the commands, the checks of every
value (an empty id: :class:`crossredis.InvalidArgumentError` naming it; a key of another type:
:class:`crossredis.WrongTypeError` naming the key, nothing changed) and upstream's defects fixed
(SCAN with the prefix escaped, ids not keys from the listing, the append and its TTL in one step
with the index from RPUSH's reply, a registry that never leaves a stale reverse mapping, no
CROSSSLOT on a Cluster, get-or-create that never mints two uuids). Slots stay opaque ``bytes``.
"""

from __future__ import annotations

import asyncio
import importlib
import io
import json
import pickle
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

from . import _native
from ._chatcore import Core, dumps_json, check_int, check_str, system_ops
from ._owner import AsyncOwner, Owner, SyncOwner
from .client import Client, redact_url
from .errors import Error

__all__ = ["RedisBackend", "AsyncRedisBackend", "BufferSlot", "SlotMetadata", "UnsafeSlotError", "load_slot",
           "encode_json_slot", "decode_json_slot", "read_slot", "slot_classes", "DEFAULT_URL", "PREFIX", "TTL"]

DEFAULT_URL = "redis://localhost:6379"
PREFIX: str = _native.XR_XP_PREFIX
TTL: int = _native.XR_XP_TTL_S

OPS = system_ops("xp")
# On a Cluster these rows are several steps (xp.h's protocol): never in a batch, run alone
_SEVERAL_STEPS = frozenset({"registry_set", "registry_get_chain", "registry_get_or_create", "registry_delete"})


# ---- conversions: Python values to the core's and back (the checks are the core's) -----------------


def _slot(value: Any) -> bytes | bytearray:
    if not isinstance(value, (bytes, bytearray)):
        raise TypeError(f"slot_data must be bytes, not {type(value).__name__}")
    return value


def _text(value: bytes | None) -> str | None:
    # ids as redis-py's decode gives them; an invalid sequence as U+FFFD
    return None if value is None else value.decode("utf-8", "replace")


def _info(native: tuple[int, int, int]) -> Dict[str, int]:
    threads, entries, ttl = native
    return {"buffer_threads": int(threads), "registry_entries": int(entries), "ttl_seconds": int(ttl)}


def _pairs(items: list[tuple[bytes, bytes]]) -> Dict[str, str]:
    return {_text(uuid): _text(chain) for uuid, chain in items}  # type: ignore[misc]


# ---- the backend: what the sync and async classes share --------------------------------------------


class _BackendBase(Owner):
    """The options (url, prefix, ttl) and the native store over a client (_owner.Owner: given, or
    opened from ``url`` with client options)."""

    _what = "the xp backend"
    _system = OPS["buffer_append"].system
    _ping_given = True  # upstream pings when made

    def __init__(self, url: str = DEFAULT_URL, prefix: str = PREFIX, ttl: int = TTL, *, client: Client | None = None,
                 **client_options: Any) -> None:
        self._prefix = check_str("prefix", prefix)
        self._ttl = check_int("ttl", ttl)
        if client is not None and url == DEFAULT_URL:
            url = None  # type: ignore[assignment]  # the default: the client says where
        if url is not None:
            check_str("url", url)
        self._url = redact_url(url)
        self._cluster: bool | None = None
        super().__init__(url, client, client_options)

    def _make(self, client_handle: Any) -> Any:
        return _native.xr_binding_xp_store_new(client_handle, self._prefix, self._ttl)[1]

    def _free(self, handle: Any) -> None:
        _native.xr_xp_store_free(handle)

    @property
    def url(self) -> str | None:
        """The URL given, its password as ``***``; None when a client was given."""
        return self._url

    @property
    def prefix(self) -> str:
        return self._prefix

    @property
    def ttl(self) -> int:
        """Seconds on every key written; 0: none."""
        return self._ttl

    def _is_cluster(self, core: Core) -> bool:
        if self._cluster is None:
            self._cluster = core.client._guard.call(_native.xr_client_topology) == _native.XR_TOPOLOGY_CLUSTER
        return self._cluster

    def __repr__(self) -> str:
        return f"<{type(self).__name__} url={self._url!r} prefix={self._prefix!r} ttl={self._ttl}>"


class RedisBackend(_BackendBase, SyncOwner):
    """xml-pipeline's ``RedisBackend``, sync: ``<prefix>buffer:<thread_id>`` lists of slots,
    ``<prefix>chain:<chain>`` -> uuid and ``<prefix>uuid:<uuid>`` -> chain, each key with ``ttl``
    seconds (0: none). ``url`` (upstream's default ``redis://localhost:6379``) and crossredis client
    options, or ``client=`` a :class:`crossredis.Client` it borrows. Connects and pings when made
    (:class:`crossredis.ConnectionError`, a built-in ``ConnectionError``, when it cannot). Each call
    runs in the core, blocking, the GIL released; usable from many threads at once."""

    def _call(self, name: str, *args: Any) -> Any:
        return self._live().call(OPS[name].alone, *args)

    def _blocking(self, fn: Callable[..., Any], *args: Any) -> Any:
        return self._live().call(fn, *args)[1]

    # -- the buffer --

    def buffer_append(self, thread_id: str, slot_data: bytes) -> int:
        """Appends a slot: its index (RPUSH's reply - 1, exact under concurrent writers); the list
        and its TTL are written in one step."""
        return int(self._call("buffer_append", check_str("thread_id", thread_id), _slot(slot_data)))

    def buffer_get_thread(self, thread_id: str) -> List[bytes]:
        """The thread's slots, oldest first ([] when there is none)."""
        return list(self._call("buffer_get_thread", check_str("thread_id", thread_id)))

    def buffer_get_slot(self, thread_id: str, index: int) -> Optional[bytes]:
        """Slot ``index`` (negative: from the end); None when there is none."""
        return self._call("buffer_get_slot", check_str("thread_id", thread_id), check_int("index", index))

    def buffer_thread_len(self, thread_id: str) -> int:
        return int(self._call("buffer_thread_len", check_str("thread_id", thread_id)))

    def buffer_thread_exists(self, thread_id: str) -> bool:
        return bool(self._call("buffer_thread_exists", check_str("thread_id", thread_id)))

    def buffer_delete_thread(self, thread_id: str) -> bool:
        """True when there was one."""
        return bool(self._call("buffer_delete_thread", check_str("thread_id", thread_id)))

    def buffer_list_threads(self) -> List[str]:
        """The thread ids under the prefix (ids, not keys), sorted: SCAN on every master."""
        return [_text(i) for i in self._blocking(_native.xr_xp_buffer_list_threads)]  # type: ignore[misc]

    def buffer_clear(self) -> None:
        """Deletes every thread under the prefix (SCAN, one DEL per key)."""
        self._blocking(_native.xr_xp_buffer_clear)

    # -- the registry --

    def registry_set(self, chain: str, uuid: str) -> None:
        """Maps chain <-> uuid both ways; the pair's old mappings go."""
        self._call("registry_set", check_str("chain", chain), check_str("uuid", uuid))

    def registry_get_uuid(self, chain: str) -> Optional[str]:
        return _text(self._call("registry_get_uuid", check_str("chain", chain)))

    def registry_get_chain(self, uuid: str) -> Optional[str]:
        """The chain only while it still maps back to this uuid."""
        return _text(self._call("registry_get_chain", check_str("uuid", uuid)))

    def registry_get_or_create(self, chain: str) -> str:
        """The chain's uuid, or a new uuid4 mapped both ways: concurrent callers get one uuid."""
        return _text(self._call("registry_get_or_create", check_str("chain", chain)))  # type: ignore[return-value]

    def registry_delete(self, uuid: str) -> bool:
        """Removes the uuid's mapping; True when its chain mapped to it and is gone."""
        return bool(self._call("registry_delete", check_str("uuid", uuid)))

    def registry_list_all(self) -> Dict[str, str]:
        """uuid -> chain of the pairs that map both ways."""
        return _pairs(self._blocking(_native.xr_xp_registry_list_all))

    def registry_clear(self) -> None:
        self._blocking(_native.xr_xp_registry_clear)

    # -- the rest --

    def ping(self) -> bool:
        """PING; False (never an exception) when it fails or the backend is closed."""
        try:
            self._live().call(_native.xr_xp_ping)
            return True
        except (Error, RuntimeError):
            return False

    def info(self) -> Dict[str, int]:
        """``{"buffer_threads", "registry_entries", "ttl_seconds"}`` (ttl 0: none)."""
        return _info(self._blocking(_native.xr_xp_info_read))


class AsyncRedisBackend(_BackendBase, AsyncOwner):
    """:class:`RedisBackend` for asyncio: connects at the first call (or ``await connect()``); the
    calls of one event-loop turn go out as one pipeline (the Batcher), except the registry's
    several-step rows on a Cluster and the scans (listings, clears, info, ping), which run in a
    worker thread. ``await close()`` and ``async with``."""

    async def _call(self, name: str, *args: Any) -> Any:
        op = OPS[name]
        core = await self._connected()
        if name in _SEVERAL_STEPS and self._is_cluster(core):
            return await asyncio.to_thread(core.call, op.alone, *args)
        return await self._submit_now(core, op, args)

    async def _blocking(self, fn: Callable[..., Any], *args: Any) -> Any:
        core = await self._connected()
        return (await asyncio.to_thread(core.call, fn, *args))[1]

    async def buffer_append(self, thread_id: str, slot_data: bytes) -> int:
        return int(await self._call("buffer_append", check_str("thread_id", thread_id), _slot(slot_data)))

    async def buffer_get_thread(self, thread_id: str) -> List[bytes]:
        return list(await self._call("buffer_get_thread", check_str("thread_id", thread_id)))

    async def buffer_get_slot(self, thread_id: str, index: int) -> Optional[bytes]:
        return await self._call("buffer_get_slot", check_str("thread_id", thread_id), check_int("index", index))

    async def buffer_thread_len(self, thread_id: str) -> int:
        return int(await self._call("buffer_thread_len", check_str("thread_id", thread_id)))

    async def buffer_thread_exists(self, thread_id: str) -> bool:
        return bool(await self._call("buffer_thread_exists", check_str("thread_id", thread_id)))

    async def buffer_delete_thread(self, thread_id: str) -> bool:
        return bool(await self._call("buffer_delete_thread", check_str("thread_id", thread_id)))

    async def buffer_list_threads(self) -> List[str]:
        return [_text(i) for i in await self._blocking(_native.xr_xp_buffer_list_threads)]  # type: ignore[misc]

    async def buffer_clear(self) -> None:
        await self._blocking(_native.xr_xp_buffer_clear)

    async def registry_set(self, chain: str, uuid: str) -> None:
        await self._call("registry_set", check_str("chain", chain), check_str("uuid", uuid))

    async def registry_get_uuid(self, chain: str) -> Optional[str]:
        return _text(await self._call("registry_get_uuid", check_str("chain", chain)))

    async def registry_get_chain(self, uuid: str) -> Optional[str]:
        return _text(await self._call("registry_get_chain", check_str("uuid", uuid)))

    async def registry_get_or_create(self, chain: str) -> str:
        return _text(await self._call("registry_get_or_create", check_str("chain", chain)))  # type: ignore[return-value]

    async def registry_delete(self, uuid: str) -> bool:
        return bool(await self._call("registry_delete", check_str("uuid", uuid)))

    async def registry_list_all(self) -> Dict[str, str]:
        return _pairs(await self._blocking(_native.xr_xp_registry_list_all))

    async def registry_clear(self) -> None:
        await self._blocking(_native.xr_xp_registry_clear)

    async def ping(self) -> bool:
        try:
            core = await self._connected()
            await asyncio.to_thread(core.call, _native.xr_xp_ping)
            return True
        except (Error, RuntimeError):
            return False

    async def info(self) -> Dict[str, int]:
        return _info(await self._blocking(_native.xr_xp_info_read))


# ---- slots: upstream's pickles, read without running code --------------------------------------------

_UPSTREAM = "xml_pipeline.memory.context_buffer"


@dataclass(frozen=True)
class SlotMetadata:
    """xml-pipeline's ``SlotMetadata`` (the same fields), for when xml_pipeline is not installed."""

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
    """xml-pipeline's ``BufferSlot`` (the same fields), for when xml_pipeline is not installed."""

    payload: Any
    metadata: SlotMetadata


def slot_classes() -> tuple[type, type]:
    """(BufferSlot, SlotMetadata): xml-pipeline's (``xml_pipeline.memory.context_buffer``) when
    it can be imported, else this module's."""
    try:
        mod = importlib.import_module(_UPSTREAM)
        return mod.BufferSlot, mod.SlotMetadata
    except (ImportError, AttributeError):
        return BufferSlot, SlotMetadata


class UnsafeSlotError(pickle.UnpicklingError):
    """A pickled slot names something other than BufferSlot, SlotMetadata and plain data: refused
    before anything of it runs."""


# What a slot's payload may hold besides the opcodes' own values (str, bytes, int, float, bool,
# None, list, dict, tuple, set, frozenset): constructors of plain data that run no code of the data's
# choosing. Protocol 2 pickles name the builtins "__builtin__".
_PLAIN = {("builtins", n) for n in ("set", "frozenset", "bytearray", "bytes", "str", "int", "float", "complex",
                                    "bool", "list", "dict", "tuple")}
_PLAIN |= {("datetime", n) for n in ("datetime", "date", "time", "timedelta", "timezone")}
_OLD_NAMES = {"__builtin__": "builtins"}


class _SlotUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes) -> None:
        super().__init__(io.BytesIO(data))
        self.slot_cls, self.meta_cls = slot_classes()

    def find_class(self, module: str, name: str) -> Any:
        if module == _UPSTREAM and name in ("BufferSlot", "SlotMetadata"):
            return self.slot_cls if name == "BufferSlot" else self.meta_cls
        if (_OLD_NAMES.get(module, module), name) in _PLAIN:
            return getattr(importlib.import_module(_OLD_NAMES.get(module, module)), name)
        raise UnsafeSlotError(f"xp slot: refusing to load {module}.{name} (a slot holds {_UPSTREAM}.BufferSlot, "
                              "SlotMetadata and plain data only)")

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafeSlotError("xp slot: refusing a persistent id (a slot holds plain data only)")


def load_slot(data: bytes) -> Any:
    """A slot as upstream pickles it (``pickle.dumps(BufferSlot(...))``), unpickled with only
    ``xml_pipeline.memory.context_buffer.BufferSlot`` / ``SlotMetadata`` (xml-pipeline's classes
    when installed, else this module's of the same fields) and plain data (str, bytes, numbers,
    bool, None, list, dict, tuple, set, datetime) allowed. Anything else, or a pickle that is not a
    BufferSlot, raises :class:`UnsafeSlotError` (a ``pickle.UnpicklingError``) naming it, before
    any of it runs."""
    if not isinstance(data, (bytes, bytearray)):
        raise TypeError(f"data must be bytes, not {type(data).__name__}")
    u = _SlotUnpickler(bytes(data))
    slot = u.load()
    if not isinstance(slot, u.slot_cls) or not isinstance(getattr(slot, "metadata", None), u.meta_cls):
        raise UnsafeSlotError(f"xp slot: not a BufferSlot with its SlotMetadata (a {type(slot).__name__})")
    return slot


# ---- slots: the neutral JSON slot (xp.h; the core writes and checks it) ------------------------------


def encode_json_slot(slot: Any) -> bytes:
    """The JSON slot (xp.h) of a BufferSlot (xml-pipeline's, this module's, or anything with
    ``payload`` and ``metadata``): canonical bytes, the payload any JSON value (a value JSON cannot
    hold is a TypeError)."""
    try:
        md, payload = slot.metadata, slot.payload
    except AttributeError:
        raise TypeError(f"slot must be a BufferSlot (payload, metadata), not {type(slot).__name__}") from None
    own = md.own_name
    if not isinstance(md.is_self_call, bool):
        raise TypeError(f"is_self_call must be a bool, not {type(md.is_self_call).__name__}")
    return _native.xr_binding_xp_slot_write(  # type: ignore[no-any-return]
        check_str("thread_id", md.thread_id), check_str("from_id", md.from_id), check_str("to_id", md.to_id),
        check_int("slot_index", md.slot_index), check_str("timestamp", md.timestamp),
        check_str("payload_type", md.payload_type), None if own is None else check_str("own_name", own),
        int(md.is_self_call), check_str("usage_instructions", md.usage_instructions),
        dumps_json(payload, "payload"))[1]


def decode_json_slot(data: bytes) -> Any:
    """A JSON slot (xp.h) as a BufferSlot (xml-pipeline's class when installed, else this
    module's); :class:`crossredis.InvalidArgumentError` naming what is wrong when it is not one."""
    if not isinstance(data, (bytes, bytearray)):
        raise TypeError(f"data must be bytes, not {type(data).__name__}")
    (thread_id, from_id, to_id, index, timestamp, payload_type, own, self_call, usage,
     payload) = _native.xr_xp_slot_read(bytes(data))[1]
    slot_cls, meta_cls = slot_classes()
    md = meta_cls(thread_id=thread_id.decode(), from_id=from_id.decode(), to_id=to_id.decode(), slot_index=index,
                  timestamp=timestamp.decode(), payload_type=payload_type.decode(),
                  own_name=None if own is None else own.decode(), is_self_call=self_call,
                  usage_instructions=usage.decode())
    return slot_cls(payload=json.loads(payload), metadata=md)


def read_slot(data: bytes) -> Any:
    """Either kind of slot: a JSON slot (it starts with ``{``) or upstream's pickle (restricted,
    :func:`load_slot`)."""
    if isinstance(data, (bytes, bytearray)) and data[:1] == b"{":
        return decode_json_slot(data)
    return load_slot(data)
