"""Key families and migration windows (core/include/crossredis/family.h, window.h): moving one
kind of key from an old shape to a new one (say ``mpp:browser:session:<id:uuid>`` to
``mpp:browser:session:{session:<id:uuid>}``, so related keys share a Cluster slot) while programs
keep reading and writing it, without a value that exists ever being missed and without a key left
behind.

- :class:`Family`: the old and the new shape (key patterns with the same fields), from the two
  patterns or a family file (``{"families": [{"name", "old", "new", "notes"}]}``); its keys.
- :class:`Window`: reads and writes through a family on a :class:`crossredis.Client`: while open,
  writes go to the new key and to the old one where it still exists (the old key first copied
  forward when the new one is missing), reads take the new key then fall back to the old one
  (copying it forward with its remaining TTL when ``copy_forward``), deletes remove both; once
  :meth:`Window.close` found no old-shape key left (or ``close_after_ms`` passed) only the new
  shape is touched. :class:`AsyncWindow`: the same as coroutines (each call in a worker thread).

Every call takes the member's field values first: one value (``str``, ``bytes`` or ``int``) for a
family of one field, a tuple or list in the family's field order (:attr:`Family.fields`), or a
dict by field name. The generic :meth:`Window.write` / :meth:`Window.read` take a command without
its key (``w.write("abc", "SET", "v", "EX", 60)``; the window puts the key in as the first
argument) and return its reply as :meth:`crossredis.Client.command` does (bulk strings as
``bytes``); the typed helpers (``set``, ``get``, ``rpush``, ``lrange``, ``sadd``, ``smembers``,
``hset``, ``hgetall``, ``zadd``, ``zrange``, ``expire``) go through them. What a value may be, and
every failure, is the core's to say (:class:`crossredis.InvalidArgumentError` with its message).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, Callable, Dict, List, Mapping, NamedTuple, Optional, Sequence, Set, Tuple, Union

from . import _native
from ._guard import Guard
from .client import Client
from .errors import Error, InvalidArgumentError, NotFoundError

__all__ = ["Family", "Window", "AsyncWindow", "Values"]

#: A member's field values: one value (a family of one field), a sequence in field order, or a
#: mapping by field name.
Values = Union[str, bytes, int, Sequence[Union[str, bytes, int]], Mapping[str, Union[str, bytes, int]]]



def _text(b: bytes) -> str:
    return b.decode("utf-8", "replace")


# ---- families --------------------------------------------------------------------------------------


class Family:
    """One kind of key in two shapes, the old one a deployment writes today and the new one it
    moves to: ``Family("sessions", "app:sess:<id>", "app:sess:{s:<id>}")``. Both are key patterns
    with the same fields; the core refuses shapes that collide (a key that has both), naming the
    key, and values that do not fit a field's class. Immutable; usable from any thread."""

    __slots__ = ("_handle", "_name", "_notes", "_old", "_new", "_fields", "__weakref__")

    def __init__(self, name: str, old: str | bytes, new: str | bytes) -> None:
        self._adopt(_native.xr_family_new(name, old, new)[1])

    def _adopt(self, handle: Any) -> None:
        self._handle = handle
        self._name: str = _native.xr_family_name(handle)
        self._notes: str = _native.xr_family_notes(handle)
        self._old = _text(_native.xr_binding_family_shape(handle, 0)[1])
        self._new = _text(_native.xr_binding_family_shape(handle, 1)[1])
        self._fields = tuple(_native.xr_family_field_name(handle, i) for i in range(_native.xr_family_field_count(handle)))

    @classmethod
    def _of(cls, handle: Any) -> Family:
        f = cls.__new__(cls)
        f._adopt(handle)
        return f

    @classmethod
    def from_json(cls, text: str | bytes, name: str | None = None) -> Family:
        """The family named ``name`` of a family file's text (None: the file must hold exactly one).
        :class:`crossredis.NotFoundError` when none has that name (the message lists the names),
        :class:`crossredis.DataError` for text that is not a family file,
        :class:`crossredis.InvalidArgumentError` for a family the core refuses."""
        return cls._of(_native.xr_family_load_json_named(text, name)[1])

    @classmethod
    def all_from_json(cls, text: str | bytes) -> List[Family]:
        """Every family of a family file's text, in file order."""
        return [cls._of(h) for h in _native.xr_family_load_json(text)[1]]

    @classmethod
    def load(cls, path: str | os.PathLike[str], name: str | None = None) -> Family:
        """:meth:`from_json` of a family file (its errors name the file)."""
        return _from_file(path, lambda text: cls.from_json(text, name))

    @classmethod
    def load_all(cls, path: str | os.PathLike[str]) -> List[Family]:
        """:meth:`all_from_json` of a family file (its errors name the file)."""
        return _from_file(path, cls.all_from_json)

    def __del__(self) -> None:
        handle = getattr(self, "_handle", None)
        if handle is not None:
            self._handle = None
            _native.xr_family_free(handle)

    @property
    def name(self) -> str:
        """The family's name (in every message about it)."""
        return self._name

    @property
    def notes(self) -> str:
        """What the family file says about it ("" when nothing)."""
        return self._notes

    @property
    def old(self) -> str:
        """The old shape's pattern."""
        return self._old

    @property
    def new(self) -> str:
        """The new shape's pattern."""
        return self._new

    @property
    def fields(self) -> Tuple[str, ...]:
        """The field names, in the order positional values follow (the old shape's)."""
        return self._fields

    def values(self, values: Values) -> Tuple[Union[str, bytes, int], ...]:
        """``values`` as a tuple in field order (what every call below does with them first)."""
        if isinstance(values, Mapping):
            unknown = [k for k in values if k not in self._fields]
            if unknown:
                raise InvalidArgumentError(f"family {self._name}: no field {unknown[0]!r} (its fields: "
                                           f"{', '.join(self._fields)})")
            missing = [k for k in self._fields if k not in values]
            if missing:
                raise InvalidArgumentError(f"family {self._name}: no value for field {missing[0]!r}")
            return tuple(values[k] for k in self._fields)
        if isinstance(values, (str, bytes, int)) and not isinstance(values, bool):
            return (values,)
        if isinstance(values, bytearray):
            return (bytes(values),)
        if isinstance(values, (list, tuple)):
            return tuple(values)
        raise TypeError(f"field values must be a str, bytes, int, a list or tuple of them, or a dict by field name, "
                        f"not {type(values).__name__}")

    def keys(self, values: Values) -> Tuple[bytes, bytes]:
        """(old key, new key) of the member with these field values."""
        _, old, new = _native.xr_family_keys(self._handle, self.values(values))
        return old, new

    def new_key_of(self, old_key: str | bytes) -> Optional[bytes]:
        """The new key of an old-shape key; None when ``old_key`` does not have the old shape."""
        try:
            return _native.xr_family_new_key_of(self._handle, old_key)[1]  # type: ignore[no-any-return]
        except NotFoundError:
            return None

    def __repr__(self) -> str:
        return f"<Family {self._name!r} old={self._old!r} new={self._new!r}>"


def _from_file(path: str | os.PathLike[str], parse: Callable[[bytes], Any]) -> Any:
    with open(path, "rb") as f:
        text = f.read()
    try:
        return parse(text)
    except Error as e:
        raise type(e)(f"{os.fspath(path)}: {e}") from None


# ---- what the typed helpers send and how their replies read -----------------------------------------


class _Call(NamedTuple):
    write: bool
    args: Tuple[Any, ...]
    convert: Optional[Callable[[Any], Any]] = None


def _pairs(reply: List[bytes]) -> List[Tuple[bytes, bytes]]:
    return list(zip(reply[0::2], reply[1::2]))


def _flatten(mapping: Mapping[Any, Any], what: str, swap: bool = False) -> Tuple[Any, ...]:
    if not isinstance(mapping, Mapping):
        raise TypeError(f"{what} must be a dict, not {type(mapping).__name__}")
    out: List[Any] = []
    for k, v in mapping.items():
        out.extend((v, k) if swap else (k, v))
    return tuple(out)


def _set(value: Any, ex: int | None, px: int | None, nx: bool, xx: bool, keepttl: bool) -> _Call:
    args: List[Any] = ["SET", value]
    if ex is not None:
        args += ["EX", ex]
    if px is not None:
        args += ["PX", px]
    args += [flag for flag, on in (("NX", nx), ("XX", xx), ("KEEPTTL", keepttl)) if on]
    return _Call(True, tuple(args), lambda r: r == "OK")


def _zrange(start: int, stop: int, withscores: bool) -> _Call:
    if withscores:
        return _Call(False, ("ZRANGE", start, stop, "WITHSCORES"), lambda r: [(m, float(s)) for m, s in _pairs(r)])
    return _Call(False, ("ZRANGE", start, stop))


_GET = _Call(False, ("GET",))
_SMEMBERS = _Call(False, ("SMEMBERS",), set)
_HGETALL = _Call(False, ("HGETALL",), lambda r: dict(_pairs(r)))


# ---- windows ---------------------------------------------------------------------------------------


class _WindowBase:
    __slots__ = ("_client", "_family", "_guard", "_copy_forward", "_close_after_ms", "_old_writes", "__weakref__")

    def __init__(self, client: Client, family: Family, *, copy_forward: bool = False, close_after_ms: int = 0,
                 old_writes: str = "existing", delete_guard_ms: int = 0) -> None:
        if not isinstance(client, Client):
            raise TypeError(f"client must be a crossredis.Client, not {type(client).__name__}")
        if not isinstance(family, Family):
            raise TypeError(f"family must be a crossredis.window.Family, not {type(family).__name__}")
        if not isinstance(copy_forward, bool):
            raise TypeError(f"copy_forward must be a bool, not {type(copy_forward).__name__}")
        if not isinstance(old_writes, str):  # its names are the core's (xr_window_old_writes_parse)
            raise TypeError(f"old_writes must be a str, not {type(old_writes).__name__}")
        old_writes_value = _native.xr_window_old_writes_parse(old_writes)
        self._client = client
        self._family = family
        self._copy_forward = copy_forward
        self._close_after_ms = close_after_ms
        self._old_writes = old_writes
        handle = client._enter()
        try:
            window = _native.xr_binding_window_new(handle, family._handle, int(copy_forward), close_after_ms,
                                                   old_writes_value, delete_guard_ms)[1]
        finally:
            client._leave()
        self._guard = Guard(window, _native.xr_window_free, f"the window of family {family.name}")

    @property
    def family(self) -> Family:
        """The family given."""
        return self._family

    @property
    def client(self) -> Client:
        """The client given (borrowed)."""
        return self._client

    def release(self) -> None:
        """Frees the window's native handle once the calls in progress returned (later calls raise
        :class:`crossredis.ClientClosedError`); the client stays open. Idempotent. Not the
        migration's :meth:`close`."""
        self._guard.close()

    def __del__(self) -> None:
        try:
            self.release()
        except Exception:  # made halfway, or interpreter shutdown
            pass

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(window, *args)`` inside the window's guard and its client's (the client must stay
        open while the window calls it)."""
        window = self._guard.enter()
        try:
            self._client._enter()
            try:
                return fn(window, *args)
            finally:
                self._client._leave()
        finally:
            self._guard.leave()

    def _command(self, write: bool, values: Values, command: Tuple[Any, ...]) -> Any:
        if not command:
            raise TypeError("the command's name is missing")
        fn = _native.xr_window_write if write else _native.xr_window_read
        return self._call(fn, self._family.values(values), command)[1]

    def _delete(self, values: Values) -> int:
        return int(self._call(_native.xr_window_delete, self._family.values(values))[1])

    def _close(self) -> None:
        self._call(_native.xr_window_close)

    def is_closed(self) -> bool:
        """Whether the window acts closed: :meth:`close` succeeded, or ``close_after_ms`` passed."""
        return bool(self._call(_native.xr_window_is_closed))

    def __repr__(self) -> str:
        state = "released" if self._guard.closed else "closed" if self.is_closed() else "open"
        return (f"<{type(self).__name__} {self._family.name!r} {state} old={self._family.old!r} "
                f"new={self._family.new!r} copy_forward={self._copy_forward} old_writes={self._old_writes!r} "
                f"client={self._client!r}>")


class Window(_WindowBase):
    """A migration window over ``family`` on ``client`` (borrowed: it must stay open while the
    window is used). Options, all checked by the core: ``copy_forward`` (a read that finds only
    the old key copies it to the new shape, value and expiry), ``close_after_ms`` (unix ms from
    which the window acts closed without a scan; 0: never), ``old_writes`` (``"existing"``: writes
    go to old keys that still exist, the default; ``"always"``: they create old keys too, while
    programs that only know the old shape still run), ``delete_guard_ms`` (how long a delete keeps
    copies forward away; 0: 10 s). Usable from many threads at once; each call blocks with the
    GIL released."""

    __slots__ = ()

    def _run(self, call: _Call, values: Values) -> Any:
        reply = self._command(call.write, values, call.args)
        return call.convert(reply) if call.convert else reply

    def write(self, values: Values, *command: str | bytes | int | float) -> Any:
        """A write through the window: ``command`` without its key (``"SET", "v"``); the new key's
        reply, as :meth:`crossredis.Client.command` gives it."""
        return self._command(True, values, command)

    def read(self, values: Values, *command: str | bytes | int | float) -> Any:
        """A read through the window (``"GET"``, ``"LRANGE", 0, -1``): the reply of the key that
        holds the value (the new key's when neither does)."""
        return self._command(False, values, command)

    def delete(self, values: Values) -> int:
        """Deletes both keys of the member (old first); how many of the two existed."""
        return self._delete(values)

    def close(self) -> None:
        """Closes the window once no old-shape key is left (a SCAN of every master):
        :class:`crossredis.AlreadyExistsError` with their count and one of them while some remain
        (the window stays open). Closed, the old shape is never read nor written again."""
        self._close()

    # -- typed helpers (the replies as redis-py gives them) --

    def set(self, values: Values, value: str | bytes | int | float, *, ex: int | None = None, px: int | None = None,
            nx: bool = False, xx: bool = False, keepttl: bool = False) -> bool:
        """SET: True when written (False when NX or XX said no)."""
        return self._run(_set(value, ex, px, nx, xx, keepttl), values)  # type: ignore[no-any-return]

    def get(self, values: Values) -> Optional[bytes]:
        """GET: the value, None when there is none."""
        return self._run(_GET, values)  # type: ignore[no-any-return]

    def rpush(self, values: Values, *items: str | bytes | int | float) -> int:
        """RPUSH: the list's length after."""
        return self._run(_Call(True, ("RPUSH", *items)), values)  # type: ignore[no-any-return]

    def lrange(self, values: Values, start: int = 0, stop: int = -1) -> List[bytes]:
        """LRANGE: the items from ``start`` to ``stop`` (inclusive; negative: from the end)."""
        return self._run(_Call(False, ("LRANGE", start, stop)), values)  # type: ignore[no-any-return]

    def sadd(self, values: Values, *members: str | bytes | int | float) -> int:
        """SADD: how many members were new."""
        return self._run(_Call(True, ("SADD", *members)), values)  # type: ignore[no-any-return]

    def smembers(self, values: Values) -> Set[bytes]:
        """SMEMBERS: the members as a set."""
        return self._run(_SMEMBERS, values)  # type: ignore[no-any-return]

    def hset(self, values: Values, mapping: Mapping[str | bytes, str | bytes | int | float]) -> int:
        """HSET of every field of ``mapping``: how many fields were new."""
        return self._run(_Call(True, ("HSET", *_flatten(mapping, "mapping"))), values)  # type: ignore[no-any-return]

    def hgetall(self, values: Values) -> Dict[bytes, bytes]:
        """HGETALL: the fields and their values as a dict."""
        return self._run(_HGETALL, values)  # type: ignore[no-any-return]

    def zadd(self, values: Values, mapping: Mapping[str | bytes, float]) -> int:
        """ZADD of ``{member: score}``: how many members were new."""
        return self._run(_Call(True, ("ZADD", *_flatten(mapping, "mapping", swap=True))), values)  # type: ignore[no-any-return]

    def zrange(self, values: Values, start: int = 0, stop: int = -1, withscores: bool = False) -> List[Any]:
        """Members by rank (``[(member, score), ...]`` with ``withscores``)."""
        return self._run(_zrange(start, stop, withscores), values)  # type: ignore[no-any-return]

    def expire(self, values: Values, seconds: int) -> bool:
        """EXPIRE of the new key (and of the old one while it exists): True when the key exists."""
        return self._run(_Call(True, ("EXPIRE", seconds), bool), values)  # type: ignore[no-any-return]

    def __enter__(self) -> Window:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


class AsyncWindow(_WindowBase):
    """:class:`Window` for asyncio: the same options and methods as coroutines, each call run in a
    worker thread (a window's call is several round trips, each on whichever node holds its key).
    ``async with`` releases it."""

    __slots__ = ()

    async def _run(self, call: _Call, values: Values) -> Any:
        reply = await asyncio.to_thread(self._command, call.write, values, call.args)
        return call.convert(reply) if call.convert else reply

    async def write(self, values: Values, *command: str | bytes | int | float) -> Any:
        """As :meth:`Window.write`."""
        return await asyncio.to_thread(self._command, True, values, command)

    async def read(self, values: Values, *command: str | bytes | int | float) -> Any:
        """As :meth:`Window.read`."""
        return await asyncio.to_thread(self._command, False, values, command)

    async def delete(self, values: Values) -> int:
        """As :meth:`Window.delete`."""
        return await asyncio.to_thread(self._delete, values)

    async def close(self) -> None:
        """As :meth:`Window.close`."""
        await asyncio.to_thread(self._close)

    async def set(self, values: Values, value: str | bytes | int | float, *, ex: int | None = None,
                  px: int | None = None, nx: bool = False, xx: bool = False, keepttl: bool = False) -> bool:
        """As :meth:`Window.set`."""
        return await self._run(_set(value, ex, px, nx, xx, keepttl), values)  # type: ignore[no-any-return]

    async def get(self, values: Values) -> Optional[bytes]:
        """As :meth:`Window.get`."""
        return await self._run(_GET, values)  # type: ignore[no-any-return]

    async def rpush(self, values: Values, *items: str | bytes | int | float) -> int:
        """As :meth:`Window.rpush`."""
        return await self._run(_Call(True, ("RPUSH", *items)), values)  # type: ignore[no-any-return]

    async def lrange(self, values: Values, start: int = 0, stop: int = -1) -> List[bytes]:
        """As :meth:`Window.lrange`."""
        return await self._run(_Call(False, ("LRANGE", start, stop)), values)  # type: ignore[no-any-return]

    async def sadd(self, values: Values, *members: str | bytes | int | float) -> int:
        """As :meth:`Window.sadd`."""
        return await self._run(_Call(True, ("SADD", *members)), values)  # type: ignore[no-any-return]

    async def smembers(self, values: Values) -> Set[bytes]:
        """As :meth:`Window.smembers`."""
        return await self._run(_SMEMBERS, values)  # type: ignore[no-any-return]

    async def hset(self, values: Values, mapping: Mapping[str | bytes, str | bytes | int | float]) -> int:
        """As :meth:`Window.hset`."""
        return await self._run(_Call(True, ("HSET", *_flatten(mapping, "mapping"))), values)  # type: ignore[no-any-return]

    async def hgetall(self, values: Values) -> Dict[bytes, bytes]:
        """As :meth:`Window.hgetall`."""
        return await self._run(_HGETALL, values)  # type: ignore[no-any-return]

    async def zadd(self, values: Values, mapping: Mapping[str | bytes, float]) -> int:
        """As :meth:`Window.zadd`."""
        return await self._run(_Call(True, ("ZADD", *_flatten(mapping, "mapping", swap=True))), values)  # type: ignore[no-any-return]

    async def zrange(self, values: Values, start: int = 0, stop: int = -1, withscores: bool = False) -> List[Any]:
        """As :meth:`Window.zrange`."""
        return await self._run(_zrange(start, stop, withscores), values)  # type: ignore[no-any-return]

    async def expire(self, values: Values, seconds: int) -> bool:
        """As :meth:`Window.expire`."""
        return await self._run(_Call(True, ("EXPIRE", seconds), bool), values)  # type: ignore[no-any-return]

    async def __aenter__(self) -> AsyncWindow:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.release()
