"""The Chat SDK state adapter, byte for byte what the TypeScript ``chat`` SDK and its Python port
(``chat_sdk``) write (keys ``<prefix>:subscriptions``, ``:lock:<id>``, ``:cache:<key>``,
``:list:<key>``, ``:queue:<id>``).

- :class:`RedisStateAdapter` (and :class:`IoRedisStateAdapter`, :func:`create_redis_state`):
  asyncio, a drop-in for ``chat_sdk.state.redis``'s classes. Calls made in one event-loop turn
  go out as one pipeline, run in an executor thread.
- :class:`State`: the same methods, synchronous, for threads.
- ``with state.lock(id):`` / ``async with adapter.lock(id):``: a lock held for the block,
  extended by the core's watchdog while held, released on exit.

Defaults are the port's: token ``redis_<ms>_<32 hex>``, values as Python ``json.dumps`` writes
them, queue entries ``{"enqueued_at": …, "expires_at": …, "message": …}``, an empty key prefix
kept. ``token_suffix="base36"``, ``json_dialect="js"`` and ``queue_dialect="ts"`` (or
``"both"``, readable by both runtimes) write what the TypeScript adapters write.
"""

from __future__ import annotations

import asyncio
import os
import threading
import weakref
from types import TracebackType
from typing import Any

from . import _native
from ._batch import Batcher
from ._chatcore import (
    ACQUIRE_LOCK,
    APPEND_TO_LIST,
    DELETE,
    DEQUEUE,
    ENQUEUE,
    EXTEND_LOCK,
    FINISHED,
    FORCE_RELEASE_LOCK,
    GET,
    GET_LIST,
    IS_SUBSCRIBED,
    LOST,
    QUEUE_DEPTH,
    RELEASE_LOCK,
    SET,
    SET_IF_NOT_EXISTS,
    SUBSCRIBE,
    UNSUBSCRIBE,
    Core,
    Lock,
    Op,
    Options,
    QueueEntry,
    ReliableQueueEntry,
    StateNotConnectedError,
    ACK,
    DEQUEUE_RELIABLE,
    REQUEUE_PROCESSING,
    entry_raw,
    Watchdog,
    check_int,
    check_str,
    dumps,
    lock_from_wait,
    lock_parts,
    message_json,
    not_connected,
)
from .client import Client, ClientConfig, redact_url
from .errors import Error

__all__ = [
    "AsyncHeldLock",
    "HeldLock",
    "IoRedisStateAdapter",
    "Lock",
    "LockLost",
    "LockNotAcquired",
    "QueueEntry",
    "RedisStateAdapter",
    "ReliableQueueEntry",
    "State",
    "StateNotConnectedError",
    "create_redis_state",
]


for _cls in (Lock, QueueEntry, ReliableQueueEntry, StateNotConnectedError):
    _cls.__module__ = __name__  # defined with the shared code, public here
del _cls


class LockNotAcquired(Error):
    """``lock()`` could not acquire the lock within its ``wait``: another owner holds it."""


class LockLost(Error):
    """The watchdog found the lock gone or taken by another owner while the block held it
    (raised when the block ends, unless the block raised an exception of its own)."""


# ---- shared by the sync and async adapters ----------------------------------------------------


class _Base:
    _name = "State"

    def __init__(self, url: str | None, client: Client | None, key_prefix: str, token_prefix: str,
                 token_suffix: str, json_dialect: str, queue_dialect: str, client_options: dict[str, Any]) -> None:
        self._options = Options.make(key_prefix, token_prefix, token_suffix, json_dialect, queue_dialect)
        self._core: Core | None = None
        self._url: str | None = None
        self._config: ClientConfig | None = None
        if client is not None:
            if not isinstance(client, Client):
                raise TypeError(f"client must be a crossredis.Client, not {type(client).__name__}")
            if client_options:
                raise TypeError(f"client options ({', '.join(sorted(client_options))}) apply only with url")
            self._client: Client | None = client
            self._owns_client = False
        else:
            resolved = url or os.environ.get("REDIS_URL")
            if not resolved:
                raise ValueError("Redis url is required. Set REDIS_URL or provide url in options.")
            # the core checks the URL and every client option now, not when the adapter connects
            self._config = ClientConfig(resolved, client_options, url_source=None if url else "REDIS_URL")
            self._url = resolved
            self._client = None
            self._owns_client = True

    @property
    def key_prefix(self) -> str:
        """The key prefix ("" kept, as the port keeps it)."""
        return self._options.key_prefix

    @property
    def token_prefix(self) -> str:
        """What lock tokens start with ("redis", "ioredis", ...)."""
        return self._options.token_prefix

    def get_client(self) -> Client | None:
        """The :class:`crossredis.Client` underneath (None before the first connect when the
        adapter opens its own)."""
        return self._client

    def _open(self) -> Core:
        """Opens the client (when owned) and the native adapter; blocking."""
        if self._owns_client:
            assert self._config is not None
            client = Client._from_config(self._config)
        else:
            assert self._client is not None
            client = self._client
            client.ping()
        try:
            core = Core(client, self._owns_client, self._options)
        except BaseException:
            if self._owns_client:
                client.close()
            raise
        self._client = client
        return core

    def _connected_core(self) -> Core:
        core = self._core
        if core is None:
            raise not_connected(self._name)
        return core

    def __repr__(self) -> str:
        where = self._client.address if self._client is not None else redact_url(self._url)
        state = "connected" if self._core is not None else "not connected"
        return f"<crossredis.chat.{type(self).__name__} {where} prefix={self.key_prefix!r} {state}>"


def _wait_ms(wait: float | None) -> int:
    if wait is None:
        return 0
    if isinstance(wait, bool) or not isinstance(wait, (int, float)):
        raise TypeError(f"wait must be a number of seconds, not {type(wait).__name__}")
    if wait < 0:
        raise ValueError(f"wait must be >= 0 seconds, not {wait}")
    return int(wait * 1000)


def _lock_args(thread_id: Any, ttl_ms: Any, wait: float | None, max_lifetime_ms: Any) -> tuple[str, int, int, int]:
    tid = check_str("thread_id", thread_id)
    ttl = check_int("ttl_ms", ttl_ms)
    if ttl < 3:
        raise ValueError(f"ttl_ms must be at least 3 for the watchdog to extend every ttl/3, not {ttl}")
    return tid, ttl, _wait_ms(wait), check_int("max_lifetime_ms", max_lifetime_ms, allow_none=True)


# ---- synchronous ------------------------------------------------------------------------------


class State(_Base):
    """The Chat SDK state, synchronous: the methods of :class:`RedisStateAdapter` without
    ``async``, safe to call from many threads at once. Connects when made (``url``, else
    ``$REDIS_URL``, or an open ``client``); a context manager that disconnects on exit.

    Keywords: ``key_prefix`` ("chat-sdk"), ``token_prefix`` ("redis"), ``token_suffix``
    ("hex32" or "base36"), ``json_dialect`` ("python" or "js"), ``queue_dialect`` ("python",
    "ts" or "both"); any other keyword is a :class:`crossredis.Client` option (with ``url``).
    """

    def __init__(self, url: str | None = None, client: Client | None = None, *, key_prefix: str = "chat-sdk",
                 token_prefix: str = "redis", token_suffix: str = "hex32", json_dialect: str = "python",
                 queue_dialect: str = "python", **client_options: Any) -> None:
        super().__init__(url, client, key_prefix, token_prefix, token_suffix, json_dialect, queue_dialect,
                         client_options)
        self._lock = threading.Lock()
        self.connect()

    # -- lifecycle ----------------------------------------------------------------------------

    def connect(self) -> None:
        """Opens the client (when the adapter owns it) and checks the server. Idempotent."""
        with self._lock:
            if self._core is None:
                self._core = self._open()

    def disconnect(self) -> None:
        """Waits for the calls in progress, then frees the adapter and closes its own client
        (a client passed in stays open). Later calls raise StateNotConnectedError. Idempotent."""
        with self._lock:
            core, self._core = self._core, None
        if core is not None:
            core.close()

    close = disconnect

    def __enter__(self) -> State:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.disconnect()

    def _do(self, op: Op, args: tuple[Any, ...], ctx: Any = None) -> Any:
        return op.decode(self._connected_core().call(op.alone, *args), ctx)

    # -- subscriptions ------------------------------------------------------------------------

    def subscribe(self, thread_id: str) -> None:
        """SADD <prefix>:subscriptions <thread id>."""
        self._do(SUBSCRIBE, (check_str("thread_id", thread_id),))

    def unsubscribe(self, thread_id: str) -> None:
        """SREM <prefix>:subscriptions <thread id>."""
        self._do(UNSUBSCRIBE, (check_str("thread_id", thread_id),))

    def is_subscribed(self, thread_id: str) -> bool:
        """SISMEMBER <prefix>:subscriptions <thread id>."""
        return self._do(IS_SUBSCRIBED, (check_str("thread_id", thread_id),))  # type: ignore[no-any-return]

    # -- locks --------------------------------------------------------------------------------

    def acquire_lock(self, thread_id: str, ttl_ms: int, *, wait_ms: int | None = None) -> Lock | None:
        """SET <prefix>:lock:<id> <new token> PX ttl NX: the Lock, or None when another owner
        holds it. With ``wait_ms``, retries (backoff 10 ms doubling to 250 ms, with jitter) until
        acquired or ``wait_ms`` passed."""
        tid = check_str("thread_id", thread_id)
        ttl = check_int("ttl_ms", ttl_ms)
        wait = check_int("wait_ms", wait_ms, allow_none=True)
        if wait > 0:
            core = self._connected_core()
            return lock_from_wait(core.call(_native.xr_chat_acquire_lock_wait, tid, ttl, wait), tid)
        return self._do(ACQUIRE_LOCK, (tid, ttl), tid)  # type: ignore[no-any-return]

    def release_lock(self, lock: Any) -> None:
        """Deletes the lock if it still holds ``lock.token`` (a crossredis or chat_sdk Lock)."""
        self._do(RELEASE_LOCK, lock_parts(lock))

    def extend_lock(self, lock: Any, ttl_ms: int) -> bool:
        """Sets the lock's TTL if it still holds ``lock.token``; never re-creates it."""
        return self._do(EXTEND_LOCK, (*lock_parts(lock), check_int("ttl_ms", ttl_ms)))  # type: ignore[no-any-return]

    def force_release_lock(self, thread_id: str) -> None:
        """DEL <prefix>:lock:<id>, whoever holds it."""
        self._do(FORCE_RELEASE_LOCK, (check_str("thread_id", thread_id),))

    def release_lock_if_queue_empty(self, lock: Any) -> tuple[bool, int]:
        """Beyond upstream (vercel/chat #928): in one script, releases the lock when it holds
        ``lock.token`` and the thread's queue is empty. Returns (released, queue depth); the
        depth is -1 when the lock was not held by that token."""
        tid, token = lock_parts(lock)
        res = self._connected_core().call(_native.xr_chat_release_lock_if_queue_empty, tid, token)
        return bool(res[1]), int(res[2])

    def lock(self, thread_id: str, ttl_ms: int = 30000, wait: float | None = 0.0,
             max_lifetime_ms: int | None = None) -> HeldLock:
        """A lock for a ``with`` block: acquired on entry (waiting up to ``wait`` seconds, else
        :class:`LockNotAcquired`), extended every ttl/3 by a watchdog thread while held (up to
        ``max_lifetime_ms``, None: no limit), released on exit; :class:`LockLost` on exit when
        the watchdog found it lost."""
        return HeldLock(self, *_lock_args(thread_id, ttl_ms, wait, max_lifetime_ms))

    # -- key/value ----------------------------------------------------------------------------

    def get(self, key: str) -> Any:
        """GET <prefix>:cache:<key>, JSON-parsed (the raw text when it is not JSON); None when
        missing."""
        return self._do(GET, (check_str("key", key),))

    def set(self, key: str, value: Any, ttl_ms: int | None = None) -> None:
        """SET <prefix>:cache:<key> <value as JSON> [PX ttl]."""
        self._do(SET, (check_str("key", key), dumps(value), check_int("ttl_ms", ttl_ms, allow_none=True)))

    def set_if_not_exists(self, key: str, value: Any, ttl_ms: int | None = None) -> bool:
        """SET ... NX [PX ttl]; whether it was written."""
        return self._do(SET_IF_NOT_EXISTS, (check_str("key", key), dumps(value),  # type: ignore[no-any-return]
                                            check_int("ttl_ms", ttl_ms, allow_none=True)))

    def delete(self, key: str) -> None:
        """DEL <prefix>:cache:<key>."""
        self._do(DELETE, (check_str("key", key),))

    # -- lists --------------------------------------------------------------------------------

    def append_to_list(self, key: str, value: Any, *, max_length: int | None = None,
                       ttl_ms: int | None = None) -> None:
        """RPUSH <prefix>:list:<key>, keeping the newest ``max_length``, with ``ttl_ms``."""
        self._do(APPEND_TO_LIST, (check_str("key", key), dumps(value),
                                  check_int("max_length", max_length, allow_none=True),
                                  check_int("ttl_ms", ttl_ms, allow_none=True)))

    def get_list(self, key: str) -> list[Any]:
        """LRANGE <prefix>:list:<key> 0 -1, each element JSON-parsed (raw text when not JSON)."""
        return self._do(GET_LIST, (check_str("key", key),))  # type: ignore[no-any-return]

    # -- queues -------------------------------------------------------------------------------

    def enqueue(self, thread_id: str, entry: Any, max_size: int) -> int:
        """RPUSH the entry on <prefix>:queue:<id> (dropping the oldest past ``max_size``), with a
        TTL of max(expires_at - now, 60 s); returns the queue's length. ``entry`` is a
        crossredis or chat_sdk QueueEntry; its message is serialized as the port does
        (``to_json()``, a dict, or ``__dict__``)."""
        tid = check_str("thread_id", thread_id)
        return self._do(ENQUEUE, (tid, *_entry_args(entry), check_int("max_size", max_size)))  # type: ignore

    def dequeue(self, thread_id: str) -> QueueEntry | None:
        """LPOP <prefix>:queue:<id>: the oldest entry (either runtime's spelling; ``enqueued_at``
        -1 when it has none), or None. An entry that is not one raises DataError with its bytes
        in ``raw`` (it was popped)."""
        return self._do(DEQUEUE, (check_str("thread_id", thread_id),))  # type: ignore[no-any-return]

    def queue_depth(self, thread_id: str) -> int:
        """LLEN <prefix>:queue:<id>."""
        return self._do(QUEUE_DEPTH, (check_str("thread_id", thread_id),))  # type: ignore[no-any-return]

    def dequeue_reliable(self, thread_id: str) -> ReliableQueueEntry | None:
        """Beyond upstream: :meth:`dequeue` that keeps the entry in
        ``<prefix>:queue-processing:<id>`` until :meth:`ack`; after a lost reply or a consumer
        that died, :meth:`requeue_processing` puts unacknowledged entries back (see the C API's
        xr_chat_dequeue_reliable; two keys, so not on a Cluster)."""
        return self._do(DEQUEUE_RELIABLE, (check_str("thread_id", thread_id),))  # type: ignore[no-any-return]

    def ack(self, thread_id: str, entry: ReliableQueueEntry) -> bool:
        """Removes an entry :meth:`dequeue_reliable` returned from the processing list; whether
        it was there."""
        return self._do(ACK, (check_str("thread_id", thread_id), entry_raw(entry)))  # type: ignore[no-any-return]

    def requeue_processing(self, thread_id: str) -> int:
        """Moves every unacknowledged entry back to the head of the queue, oldest first; how many."""
        return self._do(REQUEUE_PROCESSING, (check_str("thread_id", thread_id),))  # type: ignore[no-any-return]


def _entry_args(entry: Any) -> tuple[str, int, int]:
    try:
        message, enqueued_at, expires_at = entry.message, entry.enqueued_at, entry.expires_at
    except AttributeError:
        raise TypeError("entry must be a QueueEntry (with message, enqueued_at and expires_at), "
                        f"not {type(entry).__name__}") from None
    return message_json(message), check_int("entry.enqueued_at", enqueued_at), check_int("entry.expires_at",
                                                                                         expires_at)


# ---- asyncio ----------------------------------------------------------------------------------


class RedisStateAdapter(_Base):
    """The Chat SDK state for asyncio: a drop-in for ``chat_sdk.state.redis.RedisStateAdapter``
    (same keywords, async methods and results; pass it as ``ChatConfig(state=...)``), writing
    the same bytes through crossredis's C core.

    ``url`` (else ``$REDIS_URL``) or an open :class:`crossredis.Client` as ``client``. Beyond the
    port's keywords: ``token_suffix`` ("hex32" or "base36"), ``json_dialect`` ("python" or
    "js"), ``queue_dialect`` ("python", "ts" or "both"), and :class:`crossredis.Client` options
    (with ``url``).

    Call :meth:`connect` first (the Chat class does). Calls made in one event-loop turn are sent
    as one pipeline from an executor thread; the loop never waits on the network. Beyond the
    port: ``acquire_lock(..., wait_ms=)``, :meth:`release_lock_if_queue_empty` and
    ``async with adapter.lock(id):``.
    """

    _name = "RedisStateAdapter"

    def __init__(self, url: str | None = None, client: Client | None = None, *, key_prefix: str = "chat-sdk",
                 token_prefix: str = "redis", token_suffix: str = "hex32", json_dialect: str = "python",
                 queue_dialect: str = "python", **client_options: Any) -> None:
        super().__init__(url, client, key_prefix, token_prefix, token_suffix, json_dialect, queue_dialect,
                         client_options)
        self._connect_lock: asyncio.Lock | None = None
        # one batcher per event loop (an adapter may serve loops in several threads)
        self._batchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Batcher] = weakref.WeakKeyDictionary()
        self._batcher: Batcher | None = None  # the last one used

    # -- lifecycle ----------------------------------------------------------------------------

    async def connect(self) -> None:
        """Opens the client (when the adapter owns it) and checks the server, in an executor
        thread. Idempotent."""
        if self._core is not None:
            return
        if self._connect_lock is None:
            self._connect_lock = asyncio.Lock()
        async with self._connect_lock:
            if self._core is not None:
                return
            self._core = await asyncio.get_running_loop().run_in_executor(None, self._open)

    async def disconnect(self) -> None:
        """Waits for the calls in progress, then frees the adapter and closes its own client (a
        client passed in stays open). Idempotent; :meth:`connect` may be called again."""
        core, self._core = self._core, None
        self._batchers.clear()
        if core is not None:
            await asyncio.get_running_loop().run_in_executor(None, core.close)

    @property
    def batcher(self) -> Batcher | None:
        """The batcher last used (one per event loop and connection; ``exec_count``,
        ``op_count`` and ``largest`` count what it sent); None before the first call."""
        return self._batcher

    def _submit(self, op: Op, args: tuple[Any, ...], ctx: Any = None) -> asyncio.Future[Any]:
        core = self._connected_core()
        loop = asyncio.get_running_loop()
        b = self._batchers.get(loop)
        if b is None or b.core is not core:
            b = self._batchers[loop] = Batcher(core)
        self._batcher = b
        return b.submit(op, args, ctx)

    async def _alone(self, fn: Any, *args: Any) -> Any:
        """A call that does not batch (it may block for long), alone in an executor thread."""
        core = self._connected_core()
        return await asyncio.get_running_loop().run_in_executor(None, core.call, fn, *args)

    # -- subscriptions ------------------------------------------------------------------------

    async def subscribe(self, thread_id: str) -> None:
        """SADD <prefix>:subscriptions <thread id>."""
        await self._submit(SUBSCRIBE, (check_str("thread_id", thread_id),))

    async def unsubscribe(self, thread_id: str) -> None:
        """SREM <prefix>:subscriptions <thread id>."""
        await self._submit(UNSUBSCRIBE, (check_str("thread_id", thread_id),))

    async def is_subscribed(self, thread_id: str) -> bool:
        """SISMEMBER <prefix>:subscriptions <thread id>."""
        return await self._submit(IS_SUBSCRIBED, (check_str("thread_id", thread_id),))  # type: ignore

    # -- locks --------------------------------------------------------------------------------

    async def acquire_lock(self, thread_id: str, ttl_ms: int, *, wait_ms: int | None = None) -> Lock | None:
        """SET <prefix>:lock:<id> <new token> PX ttl NX: the Lock, or None when another owner
        holds it. With ``wait_ms``, retries in an executor thread (backoff 10 ms doubling to
        250 ms, with jitter) until acquired or ``wait_ms`` passed."""
        tid = check_str("thread_id", thread_id)
        ttl = check_int("ttl_ms", ttl_ms)
        wait = check_int("wait_ms", wait_ms, allow_none=True)
        if wait <= 0:
            return await self._submit(ACQUIRE_LOCK, (tid, ttl), tid)  # type: ignore[no-any-return]
        core = self._connected_core()
        running = asyncio.get_running_loop().run_in_executor(
            None, core.call, _native.xr_chat_acquire_lock_wait, tid, ttl, wait)
        try:
            return lock_from_wait(await asyncio.shield(running), tid)
        except asyncio.CancelledError:
            running.add_done_callback(lambda f: self._release_orphan(f, tid))
            raise

    def _release_orphan(self, f: asyncio.Future[Any], thread_id: str) -> None:
        """The caller of a waiting acquire was cancelled: give back a lock it got meanwhile."""
        if f.cancelled() or f.exception() is not None:
            return
        lock = lock_from_wait(f.result(), thread_id)
        if lock is not None and self._core is not None:
            self._submit(RELEASE_LOCK, (lock.thread_id, lock.token)).add_done_callback(
                lambda g: g.cancelled() or g.exception())

    async def release_lock(self, lock: Any) -> None:
        """Deletes the lock if it still holds ``lock.token`` (a crossredis or chat_sdk Lock)."""
        await self._submit(RELEASE_LOCK, lock_parts(lock))

    async def extend_lock(self, lock: Any, ttl_ms: int) -> bool:
        """Sets the lock's TTL if it still holds ``lock.token``; never re-creates it."""
        return await self._submit(EXTEND_LOCK, (*lock_parts(lock), check_int("ttl_ms", ttl_ms)))  # type: ignore

    async def force_release_lock(self, thread_id: str) -> None:
        """DEL <prefix>:lock:<id>, whoever holds it."""
        await self._submit(FORCE_RELEASE_LOCK, (check_str("thread_id", thread_id),))

    async def release_lock_if_queue_empty(self, lock: Any) -> tuple[bool, int]:
        """Beyond upstream (vercel/chat #928): in one script, releases the lock when it holds
        ``lock.token`` and the thread's queue is empty. Returns (released, queue depth); the
        depth is -1 when the lock was not held by that token."""
        tid, token = lock_parts(lock)
        res = await self._alone(_native.xr_chat_release_lock_if_queue_empty, tid, token)
        return bool(res[1]), int(res[2])

    def lock(self, thread_id: str, ttl_ms: int = 30000, wait: float | None = 0.0,
             max_lifetime_ms: int | None = None) -> AsyncHeldLock:
        """A lock for an ``async with`` block: acquired on entry (waiting up to ``wait``
        seconds, else :class:`LockNotAcquired`), extended every ttl/3 by a watchdog task while
        held (up to ``max_lifetime_ms``, None: no limit), released on exit; :class:`LockLost` on
        exit when the watchdog found it lost."""
        return AsyncHeldLock(self, *_lock_args(thread_id, ttl_ms, wait, max_lifetime_ms))

    # -- key/value ----------------------------------------------------------------------------

    async def get(self, key: str) -> Any:
        """GET <prefix>:cache:<key>, JSON-parsed (the raw text when it is not JSON); None when
        missing."""
        return await self._submit(GET, (check_str("key", key),))

    async def set(self, key: str, value: Any, ttl_ms: int | None = None) -> None:
        """SET <prefix>:cache:<key> <value as JSON> [PX ttl]."""
        await self._submit(SET, (check_str("key", key), dumps(value), check_int("ttl_ms", ttl_ms, allow_none=True)))

    async def set_if_not_exists(self, key: str, value: Any, ttl_ms: int | None = None) -> bool:
        """SET ... NX [PX ttl]; whether it was written."""
        return await self._submit(SET_IF_NOT_EXISTS, (check_str("key", key), dumps(value),  # type: ignore
                                                      check_int("ttl_ms", ttl_ms, allow_none=True)))

    async def delete(self, key: str) -> None:
        """DEL <prefix>:cache:<key>."""
        await self._submit(DELETE, (check_str("key", key),))

    # -- lists --------------------------------------------------------------------------------

    async def append_to_list(self, key: str, value: Any, *, max_length: int | None = None,
                             ttl_ms: int | None = None) -> None:
        """RPUSH <prefix>:list:<key>, keeping the newest ``max_length``, with ``ttl_ms``."""
        await self._submit(APPEND_TO_LIST, (check_str("key", key), dumps(value),
                                            check_int("max_length", max_length, allow_none=True),
                                            check_int("ttl_ms", ttl_ms, allow_none=True)))

    async def get_list(self, key: str) -> list[Any]:
        """LRANGE <prefix>:list:<key> 0 -1, each element JSON-parsed (raw text when not JSON)."""
        return await self._submit(GET_LIST, (check_str("key", key),))  # type: ignore[no-any-return]

    # -- queues -------------------------------------------------------------------------------

    async def enqueue(self, thread_id: str, entry: Any, max_size: int) -> int:
        """RPUSH the entry on <prefix>:queue:<id> (dropping the oldest past ``max_size``), with a
        TTL of max(expires_at - now, 60 s); returns the queue's length. ``entry`` is a
        crossredis or chat_sdk QueueEntry; its message is serialized as the port does."""
        tid = check_str("thread_id", thread_id)
        return await self._submit(ENQUEUE, (tid, *_entry_args(entry), check_int("max_size", max_size)))  # type: ignore

    async def dequeue(self, thread_id: str) -> QueueEntry | None:
        """LPOP <prefix>:queue:<id>: the oldest entry (either runtime's spelling; ``enqueued_at``
        -1 when it has none), or None; a ``chat:Message`` comes back as
        ``chat_sdk.types.Message`` when chat_sdk is installed. An entry that is not one raises
        DataError with its bytes in ``raw`` (it was popped)."""
        return await self._submit(DEQUEUE, (check_str("thread_id", thread_id),))  # type: ignore[no-any-return]

    async def queue_depth(self, thread_id: str) -> int:
        """LLEN <prefix>:queue:<id>."""
        return await self._submit(QUEUE_DEPTH, (check_str("thread_id", thread_id),))  # type: ignore

    async def dequeue_reliable(self, thread_id: str) -> ReliableQueueEntry | None:
        """Beyond upstream: :meth:`State.dequeue_reliable`."""
        return await self._submit(DEQUEUE_RELIABLE, (check_str("thread_id", thread_id),))  # type: ignore

    async def ack(self, thread_id: str, entry: ReliableQueueEntry) -> bool:
        """Beyond upstream: :meth:`State.ack`."""
        return await self._submit(ACK, (check_str("thread_id", thread_id), entry_raw(entry)))  # type: ignore

    async def requeue_processing(self, thread_id: str) -> int:
        """Beyond upstream: :meth:`State.requeue_processing`."""
        return await self._submit(REQUEUE_PROCESSING, (check_str("thread_id", thread_id),))  # type: ignore


class IoRedisStateAdapter(RedisStateAdapter):
    """:class:`RedisStateAdapter` writing ``ioredis_``-prefixed lock tokens, as
    ``chat_sdk.state.redis.IoRedisStateAdapter`` does."""

    _name = "IoRedisStateAdapter"

    def __init__(self, url: str | None = None, client: Client | None = None, *, token_prefix: str = "ioredis",
                 **kwargs: Any) -> None:
        super().__init__(url, client, token_prefix=token_prefix, **kwargs)


def create_redis_state(url: str | None = None, client: Client | None = None, *, key_prefix: str = "chat-sdk",
                       token_prefix: str = "redis", **kwargs: Any) -> RedisStateAdapter:
    """A new :class:`RedisStateAdapter`, as ``chat_sdk.state.redis.create_redis_state``."""
    return RedisStateAdapter(url, client, key_prefix=key_prefix, token_prefix=token_prefix, **kwargs)


# ---- locks held for a block -------------------------------------------------------------------


class _HeldBase:
    def __init__(self, thread_id: str, ttl_ms: int, wait_ms: int, max_lifetime_ms: int) -> None:
        self.thread_id = thread_id
        self.ttl_ms = ttl_ms
        self._wait_ms = wait_ms
        self._max_lifetime_ms = max_lifetime_ms
        self.lock: Lock | None = None
        self._watchdog: Watchdog | None = None
        self._expires_at = 0

    @property
    def token(self) -> str | None:
        """The lock's token (None until acquired)."""
        return self.lock.token if self.lock is not None else None

    @property
    def expires_at(self) -> int:
        """When the lock expires as far as the watchdog knows (Unix ms)."""
        w = self._watchdog
        return w.expires_at if w is not None else self._expires_at

    @property
    def last_error(self) -> Error | None:
        """The last failed extension's error (extensions are retried until the lock expires)."""
        return self._watchdog.last_error if self._watchdog is not None else self._last_error

    _last_error: Error | None = None

    def _not_acquired(self) -> LockNotAcquired:
        waited = f" within {self._wait_ms / 1000:g} s" if self._wait_ms else ""
        return LockNotAcquired(f"{self.thread_id}: the lock is held by another owner (not acquired{waited})")

    def _lost_error(self) -> LockLost:
        why = f" ({self.last_error})" if self.last_error is not None else ""
        return LockLost(f"{self.thread_id}: the lock was lost while held{why}")

    def _stopped(self, w: Watchdog) -> None:
        self._expires_at = w.expires_at
        self._last_error = w.last_error
        self._watchdog = None
        w.free()


class HeldLock(_HeldBase):
    """``with state.lock(id) as held:`` — the lock held for the block. ``held.lock`` is the
    :class:`Lock`; ``held.lost`` (and the ``held.lost_event`` threading.Event) say whether the
    watchdog found it lost, for code that wants to stop early."""

    def __init__(self, state: State, thread_id: str, ttl_ms: int, wait_ms: int, max_lifetime_ms: int) -> None:
        super().__init__(thread_id, ttl_ms, wait_ms, max_lifetime_ms)
        self._state = state
        self.lost_event = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def lost(self) -> bool:
        """Whether the watchdog found the lock gone or taken by another owner."""
        return self.lost_event.is_set()

    def __enter__(self) -> HeldLock:
        if self.lock is not None or self._stop.is_set():
            raise RuntimeError("a HeldLock is entered once; call state.lock() again")
        lock = self._state.acquire_lock(self.thread_id, self.ttl_ms, wait_ms=self._wait_ms)
        if lock is None:
            raise self._not_acquired()
        self.lock = lock
        self._expires_at = lock.expires_at
        try:
            w = Watchdog(self._state._connected_core(), self.thread_id, lock.token, lock.expires_at, self.ttl_ms,
                         self._max_lifetime_ms)
        except BaseException:
            self._state.release_lock(lock)
            raise
        self._watchdog = w
        self._thread = threading.Thread(target=self._watch, args=(w,), daemon=True,
                                        name=f"crossredis watchdog {self.thread_id}")
        self._thread.start()
        return self

    def _watch(self, w: Watchdog) -> None:
        while True:
            due = w.due_in_s()
            if due is None or self._stop.wait(due):
                return
            state = w.tick()
            if state == LOST:
                self.lost_event.set()
                return
            if state == FINISHED:
                return

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._watchdog is not None:
            self._stopped(self._watchdog)
        assert self.lock is not None
        try:
            self._state.release_lock(self.lock)
        except Error:
            if exc_type is None and not self.lost:
                raise
        if self.lost and exc_type is None:
            raise self._lost_error()


class AsyncHeldLock(_HeldBase):
    """``async with adapter.lock(id) as held:`` — the lock held for the block, extended by a
    watchdog task. ``held.lost`` (and the ``held.lost_event`` asyncio.Event) say whether the
    watchdog found it lost."""

    def __init__(self, adapter: RedisStateAdapter, thread_id: str, ttl_ms: int, wait_ms: int,
                 max_lifetime_ms: int) -> None:
        super().__init__(thread_id, ttl_ms, wait_ms, max_lifetime_ms)
        self._adapter = adapter
        self._lost = False
        self._events: tuple[asyncio.Event, asyncio.Event] | None = None  # (lost, stop), made on the loop
        self._task: asyncio.Task[None] | None = None

    @property
    def lost(self) -> bool:
        """Whether the watchdog found the lock gone or taken by another owner."""
        return self._lost

    @property
    def lost_event(self) -> asyncio.Event:
        """Set when the watchdog finds the lock lost (await it to stop early)."""
        if self._events is None:
            self._events = (asyncio.Event(), asyncio.Event())
        return self._events[0]

    async def __aenter__(self) -> AsyncHeldLock:
        if self.lock is not None or self._task is not None:
            raise RuntimeError("an AsyncHeldLock is entered once; call adapter.lock() again")
        lost_event = self.lost_event
        assert self._events is not None
        lock = await self._adapter.acquire_lock(self.thread_id, self.ttl_ms, wait_ms=self._wait_ms)
        if lock is None:
            raise self._not_acquired()
        self.lock = lock
        self._expires_at = lock.expires_at
        try:
            w = Watchdog(self._adapter._connected_core(), self.thread_id, lock.token, lock.expires_at,
                         self.ttl_ms, self._max_lifetime_ms)
        except BaseException:
            await self._adapter.release_lock(lock)
            raise
        self._watchdog = w
        self._task = asyncio.get_running_loop().create_task(self._watch(w, lost_event, self._events[1]))
        return self

    async def _watch(self, w: Watchdog, lost_event: asyncio.Event, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        owned = True  # the task frees the watchdog, unless a tick still runs in its thread
        try:
            while True:
                due = w.due_in_s()
                if due is None:
                    return
                try:
                    await asyncio.wait_for(stop.wait(), due)
                    return
                except asyncio.TimeoutError:
                    pass
                ticking = loop.run_in_executor(None, w.tick)
                try:
                    state = await asyncio.shield(ticking)
                except asyncio.CancelledError:
                    owned = False
                    ticking.add_done_callback(lambda f: self._stopped(w))
                    raise
                if state == LOST:
                    self._lost = True
                    lost_event.set()
                    return
                if state == FINISHED:
                    return
        finally:
            if owned:
                self._stopped(w)

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        assert self._events is not None and self._task is not None and self.lock is not None
        self._events[1].set()
        await self._task
        try:
            await self._adapter.release_lock(self.lock)
        except Error:
            if exc_type is None and not self.lost:
                raise
        if self.lost and exc_type is None:
            raise self._lost_error()
