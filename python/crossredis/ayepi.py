"""ayepi's Redis stores and broker (``@ayepi/redis`` 0.4, SPEC.md 3) with their keys, commands and
bytes, from Python, so Python services share them with ayepi's TypeScript ones:

- :class:`RedisStore` / :class:`AsyncRedisStore`: the work engine's ``Store`` (``get``, ``set``,
  ``delete``, ``set_if_not_exists``, ``increment``; prefix ``""`` by default);
- :class:`RedisCache` / :class:`AsyncRedisCache`: the response cache's ``CacheStore`` (entries as
  ``JSON.stringify`` writes them, prefix ``ayepi:cache:``), with :class:`CacheEntry` and
  :class:`CacheInfo` (what ``invalidate``'s predicate sees);
- :class:`RedisBroker` / :class:`AsyncRedisBroker`: the pub/sub broker (channel ``ayepi``);
- :func:`envelope`, :func:`done_notification`, :func:`group_done_notification`,
  :func:`cache_key`: the texts ayepi's core publishes and keys its cache by.

The C core owns the wire (core/include/crossredis/ayepi.h): the keys, the commands, the entry's bytes,
the checks of every value (an empty key, a negative TTL: :class:`crossredis.InvalidArgumentError` in
the core's words) and the retry policy (:class:`Retry`: ayepi's 3 attempts, 1 s doubling to 30 s,
jitter 0.5), with its fixes of upstream: a call is tried again only when the repeat cannot change
its outcome (an ``increment`` is never sent twice, a ``set_if_not_exists`` whose reply was lost reads
the key back instead of losing the caller's own claim). The sync classes run each call in the core
(blocking, the GIL released); the asyncio classes send the calls of one event-loop turn as one
pipeline on a connection the loop drives and wait between attempts with ``asyncio.sleep``, the core
telling them what to do after each failure (``xr_ayepi_retry_next``). ``on_error(exc)`` is called
once when a call finally fails (an exception it raises is swallowed), then the error is raised.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import queue
import select
import threading
import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable, Iterator, Mapping, NamedTuple, Sequence, Union

from . import _native
from ._chatcore import Core, Op, check_int, check_int32, check_str, system_ops
from ._chatcore import dumps_json as _dumps
from ._loop import PollWatch
from ._owner import AsyncOwner, Owner, SyncOwner
from .client import Client
from .errors import Error

__all__ = ["Retry", "CacheEntry", "CacheInfo", "RedisStore", "AsyncRedisStore", "RedisCache", "AsyncRedisCache",
           "RedisBroker", "AsyncRedisBroker", "envelope", "done_notification", "group_done_notification",
           "cache_key", "STORE_PREFIX", "CACHE_PREFIX", "CHANNEL"]

STORE_PREFIX: str = _native.XR_AYEPI_STORE_PREFIX
CACHE_PREFIX: str = _native.XR_AYEPI_CACHE_PREFIX
CHANNEL: str = _native.XR_AYEPI_CHANNEL

OnError = Callable[[BaseException], Any]


# ---- the retry policy ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Retry:
    """ayepi's retry policy (``retry`` of ``redisStore`` / ``redisCache``): ``attempts`` tries in all,
    the first included (1: none); the wait before attempt n+1 is
    ``round(min(base_ms * factor**(n-1), max_ms) * (1 - jitter * random))``. The core checks the
    numbers when a store is made (attempts >= 1, the others >= 0, jitter within [0, 1])."""

    attempts: int = 3
    base_ms: int = 1000
    factor: float = 2.0
    max_ms: int = 30000
    jitter: float = 0.5

    def native_args(self) -> tuple[int, int, float, int, float]:
        return (check_int32("retry.attempts", self.attempts), check_int("retry.base_ms", self.base_ms),
                _number("retry.factor", self.factor), check_int("retry.max_ms", self.max_ms),
                _number("retry.jitter", self.jitter))


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    return float(value)


def _retry(retry: Retry | None) -> Retry:
    if retry is None:
        return Retry()
    if not isinstance(retry, Retry):
        raise TypeError(f"retry must be a crossredis.ayepi.Retry, not {type(retry).__name__}")
    return retry


def _report(on_error: OnError | None, e: BaseException) -> None:
    """on_error(e), once per failed call; what it raises is swallowed (upstream's rule)."""
    if on_error is not None:
        try:
            on_error(e)
        except Exception:
            pass


# ---- the operations: ayepi.def's rows ----------------------------------------------------------

_GIVE_UP, _TRY_AGAIN, _READ_BACK = _native.XR_AYEPI_GIVE_UP, _native.XR_AYEPI_TRY_AGAIN, _native.XR_AYEPI_READ_BACK


OPS = system_ops("ayepi")
_GET = OPS["get"]
_PUBLISH_TO = OPS["publish_to"]
_SET_IF_NOT_EXISTS = OPS["set_if_not_exists"]


def _ttl(name: str, ttl_ms: Any) -> int:
    """A TTL in ms; None (upstream's undefined) is 0, the core's "none"."""
    return check_int(name, ttl_ms, allow_none=True)


def _text(value: bytes | None) -> str | None:
    # as ioredis hands ayepi a value: UTF-8, an invalid sequence as U+FFFD
    return None if value is None else value.decode("utf-8", "replace")


# ---- the stores: what the sync and async classes share ---------------------------------------


class _StoreBase(Owner):
    """A store's options (the prefix, the policy, on_error) and its native store (_owner.Owner: the
    client, given or opened from ``url`` / ``REDIS_URL`` with client options)."""

    _cache = 0
    _default_prefix = STORE_PREFIX
    _what = "the ayepi store"
    _system = OPS["get"].system

    def __init__(self, url: str | None = None, client: Client | None = None, *, prefix: str | None = None,
                 retry: Retry | None = None, on_error: OnError | None = None, **client_options: Any) -> None:
        prefix = self._default_prefix if prefix is None else prefix
        self._prefix = check_str("prefix", prefix)
        self._retry = _retry(retry)
        self._retry_args = self._retry.native_args()
        if on_error is not None and not callable(on_error):
            raise TypeError(f"on_error must be callable, not {type(on_error).__name__}")
        self._on_error = on_error
        super().__init__(url, client, client_options)

    def _make(self, client_handle: Any) -> Any:
        return _native.xr_binding_ayepi_store_new(client_handle, self._prefix, self._cache, *self._retry_args)[1]

    def _free(self, handle: Any) -> None:
        _native.xr_ayepi_store_free(handle)

    @property
    def prefix(self) -> str:
        return self._prefix

    @property
    def retry(self) -> Retry:
        return self._retry

    def __repr__(self) -> str:
        return f"<{type(self).__name__} prefix={self._prefix!r}>"


class _SyncStore(_StoreBase, SyncOwner):
    """Each call runs in the core under the retry policy (xr_ayepi_call: blocking, its waits
    included, the GIL released)."""

    def _call(self, name: str, *args: Any) -> Any:
        op = OPS[name]
        try:
            return self._live().call(op.alone, *args)
        except Error as e:
            _report(self._on_error, e)
            raise


class _AsyncStore(_StoreBase, AsyncOwner):
    """Calls go through the asyncio :class:`Batcher` (one pipeline per loop turn), each under the
    policy run here: the core says after each failure whether to try again (after a delay slept
    with ``asyncio.sleep``), read a lost claim back, or give up."""

    def _next(self, op: Op, e: Error, attempt: int) -> tuple[int, int]:
        """What the policy says after ``e`` on ``attempt``: (next step, delay in ms, -1: none left)."""
        code = getattr(e, "code", 0)
        if not isinstance(code, int) or code >= 0 or self._core is None:
            return _GIVE_UP, -1
        step, delay = self._core.call(_native.xr_ayepi_retry_next, op.code, code, attempt)
        return int(step), int(delay)

    async def _policy(self, op: Op, args: tuple[Any, ...]) -> Any:
        """Row ``op`` under the retry policy, not reported (the caller reports once)."""
        attempt = 1
        while True:
            try:
                return await self._submit(op, args)
            except Error as e:
                step, delay = self._next(op, e, attempt)
                if step == _GIVE_UP:
                    raise
                if step == _READ_BACK:
                    held = await self._read_back(args, e)
                    if held is not None:
                        return held
                    if delay < 0:
                        raise type(e)("ayepi.set_if_not_exists: the reply was lost and the key is not set") from e
            await asyncio.sleep(delay / 1000)
            attempt += 1

    async def _read_back(self, args: tuple[Any, ...], lost: Error) -> bool | None:
        """After a lost SET NX reply: the key read (the get row, under its own policy). True when it
        holds the caller's value, False another's, None when it is absent (claim again)."""
        try:
            value = await self._policy(_GET, args[:1])
        except Error as e:
            raise type(lost)(f"{lost} (and reading the claim back failed: {e})") from lost
        if value is None:
            return None
        mine = args[1].encode("utf-8") if isinstance(args[1], str) else bytes(args[1])
        return bool(value == mine)

    async def _call(self, name: str, *args: Any) -> Any:
        try:
            return await self._policy(OPS[name], args)
        except Error as e:
            _report(self._on_error, e)
            raise


# ---- the work Store ----------------------------------------------------------------------------


class RedisStore(_SyncStore):
    """ayepi's work ``Store`` (``redisStore``), sync: keys ``<prefix><key>`` (prefix ``""`` by
    default). ``url`` (or ``REDIS_URL``) and client options, or a :class:`crossredis.Client` the
    store borrows; ``retry``: the policy (:class:`Retry`); ``on_error``: called once with the
    exception of a call that finally failed. Connects when made."""

    def get(self, key: str) -> str | None:
        """``get <key>``: the value (UTF-8), None when there is none."""
        return _text(self._call("get", check_str("key", key)))

    def set(self, key: str, value: str, ttl_ms: int | None = None) -> None:
        """``set <key> <value> [PX <ttl_ms>]``."""
        self._call("set", check_str("key", key), check_str("value", value), _ttl("ttl_ms", ttl_ms))

    def delete(self, key: str) -> None:
        """``del <key>`` (a missing key is no error)."""
        self._call("delete", check_str("key", key))

    def set_if_not_exists(self, key: str, value: str, ttl_ms: int | None = None) -> bool:
        """``set <key> <value> [PX <ttl_ms>] NX``: True when it was set. A lost reply reads the key
        back: holding ``value``, the claim is the caller's (so use a value of your own)."""
        return bool(self._call("set_if_not_exists", check_str("key", key), check_str("value", value),
                               _ttl("ttl_ms", ttl_ms)))

    def increment(self, key: str, by: int = 1, ttl_ms: int | None = None) -> int:
        """``incrby <key> <by>`` (with ``ttl_ms``: and ``pexpire``, in one script): the new value.
        Never sent twice: a lost reply is raised (it may have counted)."""
        return int(self._call("increment", check_str("key", key), check_int("by", by), _ttl("ttl_ms", ttl_ms)))


class AsyncRedisStore(_AsyncStore):
    """:class:`RedisStore` for asyncio (connects at the first call, or ``await connect()``)."""

    async def get(self, key: str) -> str | None:
        return _text(await self._call("get", check_str("key", key)))

    async def set(self, key: str, value: str, ttl_ms: int | None = None) -> None:
        await self._call("set", check_str("key", key), check_str("value", value), _ttl("ttl_ms", ttl_ms))

    async def delete(self, key: str) -> None:
        await self._call("delete", check_str("key", key))

    async def set_if_not_exists(self, key: str, value: str, ttl_ms: int | None = None) -> bool:
        return bool(await self._call("set_if_not_exists", check_str("key", key), check_str("value", value),
                                     _ttl("ttl_ms", ttl_ms)))

    async def increment(self, key: str, by: int = 1, ttl_ms: int | None = None) -> int:
        return int(await self._call("increment", check_str("key", key), check_int("by", by), _ttl("ttl_ms", ttl_ms)))


# ---- the response cache -----------------------------------------------------------------------

_JSON_NAMES = (("body", "body"), ("status", "status"), ("headers", "headers"), ("stored_at", "storedAt"),
               ("expires", "expires"), ("stale_until", "staleUntil"), ("bytes", "bytes"), ("method", "method"),
               ("path", "path"), ("key", "key"))
_INFO_NAMES = ("key", "method", "path", "stored_at", "expires", "stale_until", "bytes")
_CAMEL = dict(_JSON_NAMES)


def _default_headers() -> list[tuple[str, str]]:
    return [("content-type", "application/json")]


@dataclass
class CacheEntry:
    """A cached response as ayepi stores it. Times are Unix ms; ``bytes`` is the UTF-8 length of
    ``body`` (computed when None); ``path`` the route's pattern (``/users/:id``); ``key`` the cache
    key text (:func:`cache_key`). :meth:`to_json` / :meth:`from_json` use ayepi's field names
    (``storedAt``, ``staleUntil``); the bytes written to Redis are the core's (JSON.stringify's, in
    ayepi's key order), whatever order or spacing the JSON given has."""

    body: str
    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=_default_headers)
    stored_at: int = 0
    expires: int = 0
    stale_until: int = 0
    bytes: int | None = None
    method: str = "GET"
    path: str = ""
    key: str = ""

    def __post_init__(self) -> None:
        if self.bytes is None and isinstance(self.body, str):
            self.bytes = len(self.body.encode("utf-8", "surrogatepass"))

    def to_dict(self) -> dict[str, Any]:
        """The entry with ayepi's names, in its order (headers as [name, value] lists)."""
        out = {camel: getattr(self, name) for name, camel in _JSON_NAMES}
        if isinstance(out["headers"], (list, tuple)):
            out["headers"] = [list(h) if isinstance(h, tuple) else h for h in out["headers"]]
        return out

    def to_json(self) -> str:
        """JSON text with ayepi's names (the core re-writes it as JSON.stringify does)."""
        return _dumps(self.to_dict(), "entry")

    @classmethod
    def from_json(cls, data: str | bytes | Mapping[str, Any]) -> CacheEntry:
        """An entry from ayepi's JSON (text or parsed); fields it lacks take the defaults, fields it
        does not know are ignored."""
        obj = json.loads(data) if isinstance(data, (str, bytes)) else data
        if not isinstance(obj, Mapping):
            raise TypeError(f"a cache entry is a JSON object, not {type(obj).__name__}")
        kwargs = {name: obj[camel] for name, camel in _JSON_NAMES if camel in obj}
        if isinstance(kwargs.get("headers"), list):
            kwargs["headers"] = [tuple(h) if isinstance(h, list) else h for h in kwargs["headers"]]
        if "body" not in kwargs:
            kwargs["body"] = ""
        return cls(**kwargs)


class CacheInfo(NamedTuple):
    """What :meth:`RedisCache.invalidate`'s predicate sees of an entry (upstream's ``{key, method,
    path, storedAt, expires, staleUntil, bytes}``) as attributes with Python's names
    (``info.stored_at``); ``info["storedAt"]`` and ``info["stored_at"]`` work too, so a predicate
    written for upstream's object reads it. ``key`` is the entry's cache key text; ``redis_key`` the
    Redis key it is stored under (the prefix included)."""

    key: Any
    method: Any
    path: Any
    stored_at: Any
    expires: Any
    stale_until: Any
    bytes: Any
    redis_key: str

    def __getitem__(self, name: Any) -> Any:  # type: ignore[override]
        if isinstance(name, int):
            return tuple.__getitem__(self, name)
        for snake, camel in _CAMEL.items():
            if name == camel and snake in self._fields:
                name = snake
                break
        if name not in self._fields:
            raise KeyError(name)
        return getattr(self, name)

    def get(self, name: str, default: Any = None) -> Any:
        try:
            return self[name]
        except KeyError:
            return default


def _info(redis_key: bytes, entry: bytes) -> CacheInfo | None:
    """The predicate's view of a stored entry; None when the text is no JSON object (not an
    entry: never chosen)."""
    try:
        obj = json.loads(entry)
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    return CacheInfo(*(obj.get(_CAMEL[n]) for n in _INFO_NAMES), redis_key=redis_key.decode("utf-8", "replace"))


def _entry_json(entry: Any) -> str:
    if isinstance(entry, CacheEntry):
        return entry.to_json()
    if isinstance(entry, Mapping):
        return _dumps(dict(entry), "entry")
    raise TypeError(f"entry must be a CacheEntry or a dict, not {type(entry).__name__}")


def _entry(key: str, raw: bytes | None) -> CacheEntry | None:
    if raw is None:
        return None
    try:
        return CacheEntry.from_json(raw)
    except (ValueError, TypeError) as e:
        from .errors import DataError

        raise DataError(f"ayepi cache: the value of {key!r} is not an entry: {e}") from None


Predicate = Callable[[CacheInfo], Any]


class _Sweep:
    """A pass over the cache's keys (xr_ayepi_sweep_*: SCAN on every master, page by page, each step
    retried by the core) inside the store's guards; blocking steps, so the asyncio cache runs them
    in a worker thread and the predicate on its loop."""

    def __init__(self, core: Core, entries: bool) -> None:
        self._core = core
        self._s = core.enter()
        try:
            self._w = _native.xr_ayepi_sweep_new(self._s, entries)[1]
        except BaseException:
            core.leave()
            raise
        self.removed = 0

    def next_page(self) -> tuple[int, bool]:
        rc, count, done = _native.xr_ayepi_sweep_next(self._w)
        return int(count), bool(done)

    def page(self, count: int) -> list[tuple[int, bytes, bytes | None]]:
        out = []
        for i in range(count):
            key = _native.xr_ayepi_sweep_key(self._w, i)[1]
            out.append((i, key, _native.xr_ayepi_sweep_entry(self._w, i)[1]))
        return out

    def choose(self, i: int) -> None:
        _native.xr_ayepi_sweep_choose(self._w, i)

    def delete(self) -> None:
        self.removed += int(_native.xr_ayepi_sweep_delete(self._w)[1])

    def close(self) -> None:
        w, self._w = self._w, None
        if w is not None:
            _native.xr_ayepi_sweep_free(w)
            self._core.leave()


def _judge(predicate: Predicate, key: bytes, entry: bytes | None) -> Any:
    if entry is None:
        return False  # vanished, or not a string: not an entry
    info = _info(key, entry)
    return False if info is None else predicate(info)


def _check_predicate(predicate: Any) -> None:
    if not callable(predicate):
        raise TypeError(f"predicate must be callable, not {type(predicate).__name__}")


class _CacheBase(_StoreBase):
    _cache = 1
    _default_prefix = CACHE_PREFIX

    def __init__(self, url: str | None = None, client: Client | None = None, *, prefix: str | None = None,
                 retry: Retry | None = None, on_error: OnError | None = None,
                 now: Callable[[], int] | None = None, **client_options: Any) -> None:
        if now is not None and not callable(now):
            raise TypeError(f"now must be callable (returning Unix ms), not {type(now).__name__}")
        self._now = now
        super().__init__(url, client, prefix=prefix, retry=retry, on_error=on_error, **client_options)

    def _now_ms(self) -> int:
        """The cache's clock for a set's PX (0: the core reads this machine's)."""
        return 0 if self._now is None else check_int("now()", self._now())


class RedisCache(_CacheBase, _SyncStore):
    """ayepi's response cache (``redisCache``), sync: entries under ``<prefix><key>`` (prefix
    ``ayepi:cache:``), each ``SET ... PX max(1, staleUntil - now)``; ``now``: a callable returning
    Unix ms (default: this machine's clock). ``retry``, ``on_error`` and the client as
    :class:`RedisStore`."""

    def get(self, key: str) -> CacheEntry | None:
        """``get <key>``: the entry, None when there is none."""
        return _entry(key, self._call("cache_get", check_str("key", key)))

    def set(self, key: str, entry: CacheEntry | Mapping[str, Any]) -> None:
        """``set <key> <entry> PX max(1, staleUntil - now)``; a dict uses ayepi's names (the core
        names a field that is missing, unknown or of the wrong type)."""
        self._call("cache_set", check_str("key", key), _entry_json(entry), self._now_ms())

    def delete(self, key: str) -> bool:
        """``del <key>``: True when there was one."""
        return bool(self._call("cache_delete", check_str("key", key)))

    def clear(self) -> int:
        """Deletes every entry under the prefix (SCAN ``<prefix>*`` on every master, the prefix's
        glob characters escaped, one DEL per key): how many."""
        return self._sweep(None)

    def invalidate(self, predicate: Predicate) -> int:
        """Deletes the entries ``predicate(CacheInfo)`` accepts: how many. A value that is not an
        entry (not JSON, not a string) is left alone."""
        _check_predicate(predicate)
        return self._sweep(predicate)

    def _sweep(self, predicate: Predicate | None) -> int:
        w = _Sweep(self._live(), predicate is not None)
        try:
            done = False
            while not done:
                count, done = w.next_page()
                if predicate is not None:
                    for i, key, entry in w.page(count):
                        if _judge(predicate, key, entry):
                            w.choose(i)
                w.delete()
            return w.removed
        except Error as e:
            _report(self._on_error, e)
            raise
        finally:
            w.close()


class AsyncRedisCache(_CacheBase, _AsyncStore):
    """:class:`RedisCache` for asyncio. ``clear`` and ``invalidate`` run each page's SCAN, GETs and
    DELs in a worker thread and the predicate on the loop (a coroutine function is awaited)."""

    async def get(self, key: str) -> CacheEntry | None:
        return _entry(key, await self._call("cache_get", check_str("key", key)))

    async def set(self, key: str, entry: CacheEntry | Mapping[str, Any]) -> None:
        await self._call("cache_set", check_str("key", key), _entry_json(entry), self._now_ms())

    async def delete(self, key: str) -> bool:
        return bool(await self._call("cache_delete", check_str("key", key)))

    async def clear(self) -> int:
        return await self._sweep(None)

    async def invalidate(self, predicate: Callable[[CacheInfo], Any]) -> int:
        _check_predicate(predicate)
        return await self._sweep(predicate)

    async def _sweep(self, predicate: Callable[[CacheInfo], Any] | None) -> int:
        if self._core is None:
            await self.connect()
        core = self._core
        assert core is not None
        w = await asyncio.to_thread(_Sweep, core, predicate is not None)
        try:
            done = False
            while not done:
                count, done = await asyncio.to_thread(w.next_page)
                if predicate is not None and count:
                    for i, key, entry in w.page(count):
                        verdict = _judge(predicate, key, entry)
                        if inspect.isawaitable(verdict):
                            verdict = await verdict
                        if verdict:
                            w.choose(i)
                await asyncio.to_thread(w.delete)
            return w.removed
        except Error as e:
            _report(self._on_error, e)
            raise
        finally:
            w.close()


# ---- the broker ----------------------------------------------------------------------------------

Listener = Callable[[Any], Any]


def _message(message: Any) -> Any:
    if not isinstance(message, (str, bytes, bytearray)):
        raise TypeError(f"message must be a str or bytes, not {type(message).__name__}")
    return message


class _BrokerBase(Owner):
    """The broker over its client: ``publish <channel> <message>`` on the client, a subscriber of
    its own that SUBSCRIBEs once, at the first subscribe or iteration. Messages are handed over as
    ``str`` (UTF-8, an invalid sequence as U+FFFD, as ioredis hands ayepi's listeners) or, with
    ``raw=True``, as the ``bytes`` published."""

    _what = "the ayepi broker"
    _system = OPS["get"].system  # unused: a broker runs no batch

    def __init__(self, url: str | None = None, client: Client | None = None, *, channel: str | None = None,
                 on_error: OnError | None = None, raw: bool = False, **client_options: Any) -> None:
        self._channel = check_str("channel", CHANNEL if channel is None else channel)
        if on_error is not None and not callable(on_error):
            raise TypeError(f"on_error must be callable, not {type(on_error).__name__}")
        self._on_error = on_error
        self._raw = bool(raw)
        self._listeners: list[Listener] = []
        self._listening = False
        super().__init__(url, client, client_options)

    def _make(self, client_handle: Any) -> Any:
        return _native.xr_binding_ayepi_broker_new(client_handle, self._channel)[1]

    def _free(self, handle: Any) -> None:
        _native.xr_ayepi_broker_free(handle)

    @property
    def channel(self) -> str:
        return self._channel

    def _decode(self, payload: bytes) -> Any:
        return payload if self._raw else payload.decode("utf-8", "replace")

    def _take(self, b: Any) -> list[Any]:
        """The messages waiting in the subscriber (on the thread that drives it)."""
        out = []
        while True:
            got, payload = _native.xr_ayepi_broker_next(b)
            if not got:
                return out
            out.append(self._decode(payload))

    def _dispatch(self, messages: list[Any]) -> None:
        """Each message to every listener, in order; a listener that raises goes to on_error and
        the others still run."""
        for m in messages:
            for listener in list(self._listeners):
                try:
                    listener(m)
                except Exception as e:
                    _report(self._on_error, e)

    def _unsubscriber(self, listener: Listener) -> Callable[[], None]:
        def unsubscribe() -> None:
            try:
                self._listeners.remove(listener)
            except ValueError:
                pass

        return unsubscribe

    def __repr__(self) -> str:
        return f"<{type(self).__name__} channel={self._channel!r}>"


class RedisBroker(_BrokerBase, SyncOwner):
    """ayepi's pub/sub broker (``redisBroker``), sync. Connects when made; listening starts at the
    first :meth:`subscribe` or :meth:`messages`: a thread of this object then waits on the
    subscriber's descriptor (poll) and calls the listeners, in that thread, in their order."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._lock = threading.RLock()  # the native broker is one thread's at a time
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._confirmed = threading.Event()
        self._queues: list[queue.Queue[Any]] = []
        self._wake_r, self._wake_w = os.pipe()
        try:
            super().__init__(*args, **kwargs)  # connects
        except BaseException:
            os.close(self._wake_r)
            os.close(self._wake_w)
            raise

    def publish(self, message: str | bytes) -> None:
        """``publish <channel> <message>``. Never raises a failure: it goes to on_error (upstream's
        rule); a message that is not str or bytes is a TypeError."""
        _message(message)
        try:
            # publish reads only the broker's client and channel, never its subscriber: no lock
            self._live().call(_native.xr_ayepi_broker_publish, message)
        except (Error, RuntimeError) as e:
            _report(self._on_error, e)

    def subscribe(self, listener: Listener, *, timeout: float = 5.0) -> Callable[[], None]:
        """Adds a listener (called with each message of the channel); returns the function that
        removes it. The first one starts listening: SUBSCRIBE, then up to ``timeout`` seconds for the
        server's confirmation, so a message published after this returns reaches it. A failure to
        subscribe goes to on_error (the subscriber keeps trying)."""
        if not callable(listener):
            raise TypeError(f"listener must be callable, not {type(listener).__name__}")
        self._listeners.append(listener)
        self._listen(timeout)
        return self._unsubscriber(listener)

    def messages(self, timeout: float | None = None) -> Iterator[Any]:
        """The channel's messages as they come, from now on; the iteration ends after ``timeout``
        seconds without one (None: never) or when the broker closes."""
        self._live()  # a closed broker: RuntimeError, not an iteration that never ends
        q: queue.Queue[Any] = queue.Queue()
        self._queues.append(q)
        unsubscribe = self.subscribe(q.put)
        try:
            while True:
                try:
                    m = q.get(timeout=timeout)
                except queue.Empty:
                    return
                if m is _CLOSED:
                    return
                yield m
        finally:
            unsubscribe()
            self._queues.remove(q)

    @property
    def listening(self) -> bool:
        """Whether the server confirmed the subscription."""
        return self._confirmed.is_set()

    def _listen(self, timeout: float) -> None:
        with self._lock:
            if not self._listening:
                try:
                    self._live().call(_native.xr_ayepi_broker_listen)
                except (Error, RuntimeError) as e:
                    _report(self._on_error, e)
                    return
                self._listening = True
                self._thread = threading.Thread(target=self._run, name=f"ayepi broker {self._channel}", daemon=True)
                self._thread.start()
        self._confirmed.wait(timeout)

    def _run(self) -> None:
        """The listening thread: waits for the subscriber's descriptor or deadline, steps it, hands
        the messages over; ends when the broker closes."""
        poller = select.poll()
        poller.register(self._wake_r, select.POLLIN)
        watched = -1
        core = self._core
        assert core is not None
        while not self._stop.is_set():
            with self._lock:
                try:
                    b = core.enter()
                except Error:
                    return
                try:
                    p = _native.xr_ayepi_broker_pollable(b)
                    fd, deadline = _native.xr_pollable_fd(p), _native.xr_pollable_deadline(p)
                finally:
                    core.leave()
            if fd != watched:
                if watched >= 0:
                    poller.unregister(watched)
                if fd >= 0:
                    poller.register(fd, select.POLLIN)
                watched = fd
            wait = 1000 if deadline < 0 else max(0, min(1000, deadline - _native.xr_monotonic_ms()))
            ready = 0
            for got_fd, _ in poller.poll(wait):
                if got_fd == fd:
                    ready = _native.XR_WAIT_READ
            if self._stop.is_set():
                break
            messages: list[Any] = []
            with self._lock:
                try:
                    b = core.enter()
                except Error:
                    return
                try:
                    _native.xr_pollable_process(p, ready, _native.xr_monotonic_ms())
                    messages = self._take(b)
                    if _native.xr_ayepi_broker_listening(b):
                        self._confirmed.set()
                except Error as e:
                    _report(self._on_error, e)
                    return
                finally:
                    core.leave()
            self._dispatch(messages)

    def close(self) -> None:
        """Stops listening, closes the subscriber (and the client when the broker opened it);
        iterations end. Idempotent."""
        with self._lock:
            if self._core is None:
                return
            self._stop.set()
            os.write(self._wake_w, b"x")
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join()
        with self._lock:
            super().close()
        os.close(self._wake_r)
        os.close(self._wake_w)
        for q in list(self._queues):
            q.put(_CLOSED)


_CLOSED = object()  # ends a messages() iteration


class AsyncRedisBroker(_BrokerBase, AsyncOwner):
    """:class:`RedisBroker` for asyncio, without a thread: the subscriber's descriptor is watched by
    the event loop (crossredis._loop.PollWatch) and the listeners run on it. Connects at the first
    call (or ``await connect()``); ``async for message in broker`` iterates the channel's messages."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._watch: PollWatch | None = None
        self._queues: list[asyncio.Queue[Any]] = []
        self._publisher: AsyncRedisStore | None = None  # its batches carry the publishes (publish_to)
        self._outbox: list[tuple[bytes, asyncio.Future[None] | None]] = []  # publishes not sent yet
        self._sending = False

    async def connect(self) -> None:
        """Opens the client (when the broker owns it) in an executor thread. Idempotent; the first
        call connects by itself."""
        await super().connect()
        if self._publisher is None:
            publisher = AsyncRedisStore(client=self._client)
            await publisher.connect()
            if self._publisher is None and not self._closed:
                self._publisher = publisher
            else:  # another connect got there first, or close came meanwhile
                await publisher.close()

    async def publish(self, message: str | bytes) -> None:
        """``publish <channel> <message>``, in the order of the calls, without a thread: sent
        through the event loop's connection (the Batcher: a batch per loop turn), one batch at a
        time; a publish made while one is on its way waits for the next batch. Never raises a
        failure: it goes to on_error; a message that is not str or bytes is a TypeError."""
        _message(message)
        if self._publisher is None:
            try:
                await self.connect()
            except (Error, RuntimeError) as e:
                _report(self._on_error, e)
                return
        data = message.encode("utf-8") if isinstance(message, str) else bytes(message)
        if self._sending:  # a batch is on its way: this one goes in the next
            sent = asyncio.get_running_loop().create_future()
            self._outbox.append((data, sent))
            await sent
            return
        self._sending = True  # nothing on its way: this caller sends its own message now
        try:
            await self._send_batch([(data, None)])
        finally:
            if self._outbox:
                asyncio.get_running_loop().create_task(self._send())
            else:
                self._sending = False

    async def _send_batch(self, batch: list[tuple[bytes, asyncio.Future[None] | None]]) -> None:
        """``batch``'s messages as publish_to rows of one loop turn's batch, awaited; a failure to
        on_error; each waiting publish's future ends."""
        outcomes: list[Any]
        try:
            publisher = self._publisher
            if publisher is None or self._closed:
                raise RuntimeError(f"{type(self).__name__} is closed")
            core = publisher._live()
            rows = [publisher._submit_now(core, _PUBLISH_TO, (self._channel, m)) for m, _ in batch]
            outcomes = [await rows[0]] if len(rows) == 1 else await asyncio.gather(*rows, return_exceptions=True)
        except (Error, RuntimeError) as e:
            outcomes = [e] * len(batch)
        for (_, sent), outcome in zip(batch, outcomes):
            if isinstance(outcome, (Error, RuntimeError)):
                _report(self._on_error, outcome)
            if sent is not None and not sent.done():
                sent.set_result(None)

    async def _send(self) -> None:
        """Sends the outbox, batch after batch (the next once the last was answered: one channel's
        messages reach the server in the order of the calls), until it is empty."""
        try:
            while self._outbox:
                batch, self._outbox = self._outbox, []
                await self._send_batch(batch)
        finally:
            self._sending = False
            for _, sent in self._outbox:  # cancelled on the way: no publish waits forever
                if sent is not None and not sent.done():
                    sent.set_result(None)

    async def subscribe(self, listener: Listener, *, timeout: float = 5.0) -> Callable[[], None]:
        """Adds a listener (called on the loop with each message; a coroutine it returns is not
        awaited by the broker); returns the function that removes it. The first starts listening
        and waits up to ``timeout`` seconds for the server's confirmation."""
        if not callable(listener):
            raise TypeError(f"listener must be callable, not {type(listener).__name__}")
        self._listeners.append(listener)
        await self._listen(timeout)
        return self._unsubscriber(listener)

    def __aiter__(self) -> AsyncIterator[Any]:
        return self.messages()

    async def messages(self, timeout: float | None = None) -> AsyncIterator[Any]:
        """The channel's messages from now on; ends after ``timeout`` seconds without one (None:
        never) or when the broker closes."""
        if self._closed:  # RuntimeError, not an iteration that never ends
            raise RuntimeError(f"{type(self).__name__} is closed")
        q: asyncio.Queue[Any] = asyncio.Queue()
        self._queues.append(q)
        unsubscribe = await self.subscribe(q.put_nowait)
        try:
            while True:
                try:
                    m = await asyncio.wait_for(q.get(), timeout)
                except asyncio.TimeoutError:
                    return
                if m is _CLOSED:
                    return
                yield m
        finally:
            unsubscribe()
            self._queues.remove(q)

    @property
    def listening(self) -> bool:
        """Whether the server confirmed the subscription."""
        core = self._core
        if core is None or self._watch is None:
            return False
        try:
            return bool(core.call(_native.xr_ayepi_broker_listening))
        except Error:
            return False

    async def _listen(self, timeout: float) -> None:
        if not self._listening:
            self._listening = True
            try:
                await self.connect()
                core = self._live()
                await asyncio.get_running_loop().run_in_executor(None, core.call, _native.xr_ayepi_broker_listen)
                b = core.enter()
                try:
                    self._watch = PollWatch(asyncio.get_running_loop(), _native.xr_ayepi_broker_pollable(b),
                                            self._outcome)
                finally:
                    core.leave()
                self._watch.arm()
                self._step_done()
            except (Error, RuntimeError) as e:
                self._listening = False
                _report(self._on_error, e)
                return
        # the confirmation arrives in a step that hands no message over (PollWatch reports only
        # those): looked at here until it came
        deadline = time.monotonic() + timeout
        while not self.listening and self._watch is not None and time.monotonic() < deadline:
            await asyncio.sleep(0.005)

    def _outcome(self, error: Any) -> None:
        """PollWatch's report: messages wait (None) or the subscriber failed (the error)."""
        if error is not None:
            _report(self._on_error, error)
            if self._watch is not None:
                self._watch.close()
                self._watch = None
            return
        self._step_done()
        if self._watch is not None:
            self._watch.arm()

    def _step_done(self) -> None:
        core = self._core
        if core is None:
            return
        try:
            b = core.enter()
        except Error:
            return
        try:
            messages = self._take(b)
        finally:
            core.leave()
        self._dispatch(messages)

    async def close(self) -> None:
        """Stops watching, closes the subscriber (and the client when the broker opened it);
        iterations end. Idempotent."""
        if self._watch is not None:
            self._watch.close()
            self._watch = None
        for q in self._queues:
            q.put_nowait(_CLOSED)
        self._closed = True
        publisher, self._publisher = self._publisher, None
        if publisher is not None:
            await publisher.close()
        await super().close()


# ---- the texts ayepi's core writes -------------------------------------------------------------


def envelope(ch: str, data: Any, params: Mapping[str, Any] | None = None) -> str:
    """The event envelope ayepi's core publishes: ``JSON.stringify({ch, params: params ?? {},
    data})`` (JSON values given as Python values; the core writes them as JavaScript does)."""
    params_json = None if params is None else _dumps(params, "params")
    return _native.xr_ayepi_envelope_write(check_str("ch", ch), params_json, _dumps(data, "data"))[1].decode()


def done_notification(id: str, group_id: str, error: str | None = None) -> str:
    """The work engine's ``{"kind":"done","id","groupId"[,"error"]}``."""
    err = None if error is None else check_str("error", error)
    return _native.xr_ayepi_done_write(check_str("id", id), check_str("group_id", group_id), err)[1].decode()


def group_done_notification(group_id: str) -> str:
    """The work engine's ``{"kind":"group-done","groupId"}``."""
    return _native.xr_ayepi_group_done_write(check_str("group_id", group_id))[1].decode()


Query = Union[str, Mapping[str, Any], Sequence[Sequence[str]]]


def _query_pairs(query: Query) -> list[list[str]]:
    """A query as [name, value] pairs: a query string (``a=1&b=2``, as URLSearchParams reads it), a
    mapping (a list value: one pair per item) or a sequence of pairs."""
    if isinstance(query, str):
        from urllib.parse import parse_qsl

        return [[k, v] for k, v in parse_qsl(query.lstrip("?"), keep_blank_values=True)]
    if isinstance(query, Mapping):
        pairs = []
        for k, v in query.items():
            for item in (v if isinstance(v, (list, tuple)) else [v]):
                pairs.append([k, item])
        return pairs
    return [list(p) for p in query]


def cache_key(method: str, path: str, query: Query | None = None, body: Any = None, vary: Any = None) -> str:
    """The default cache key of ayepi's cache middleware: ``JSON.stringify([METHOD, path, the query
    pairs sorted, body ?? null, vary ?? null])`` with every object's keys sorted (JavaScript's
    order), written by the core."""
    q = None if query is None else _dumps(_query_pairs(query), "query")
    b = None if body is None else _dumps(body, "body")
    v = None if vary is None else _dumps(vary, "vary")
    return _native.xr_ayepi_cache_key(check_str("method", method), check_str("path", path), q, b, v)[1].decode()
