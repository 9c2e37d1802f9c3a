"""The Chat SDK state adapter, byte for byte what the TypeScript ``chat`` SDK and its Python port
(``chat_sdk``) write (keys ``<prefix>:subscriptions``, ``:lock:<id>``, ``:cache:<key>``,
``:list:<key>``, ``:queue:<id>``).

- :class:`RedisStateAdapter` (and :class:`IoRedisStateAdapter`, :func:`create_redis_state`):
  asyncio, a drop-in for ``chat_sdk.state.redis``'s classes. Calls made in one event-loop turn
  go out as one pipeline, on the client's connection for that loop, driven by the loop itself
  (crossredis._loop); in an executor thread while that connection is busy or not open yet.
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
import inspect
import os
import re
import threading
from types import TracebackType
from typing import TYPE_CHECKING, Any, Callable, Coroutine, Generic, TypeVar, overload

from . import _native
from ._chat_batch import Batcher
from ._chatcore import (
    ACK,
    ACQUIRE_LOCK,
    ACQUIRE_LOCK_WAIT,
    APPEND_TO_LIST,
    DELETE,
    DEQUEUE,
    DEQUEUE_RELIABLE,
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
    RELEASE_LOCK_IF_QUEUE_EMPTY,
    REQUEUE_PROCESSING,
    SET,
    SET_IF_NOT_EXISTS,
    SUBSCRIBE,
    UNSUBSCRIBE,
    Blocking,
    Core,
    Lock,
    Op,
    Options,
    QueueEntry,
    ReliableQueueEntry,
    StateNotConnectedError,
    Watchdog,
    check_int,
    check_str,
    dumps,
    entry_raw,
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


# ---- the operations, each written once -------------------------------------------------------
# A method of the Chat SDK state is written once, in _Base below, as a builder: it checks its
# arguments and returns the _Call it makes (which operation, with which values). State gets a plain
# method that runs the call, RedisStateAdapter a coroutine method that awaits it; each is a real
# function of the class with the builder's name, signature and docstring.

_T = TypeVar("_T")


class _Call(Generic[_T]):
    """What one method asks of the core: ``op`` (a row of the table, batched under asyncio, or a
    :class:`Blocking` call made alone), its argument values, and the context its decode takes
    (the thread id a lock is made for)."""

    __slots__ = ("op", "args", "ctx")

    def __init__(self, op: Op | Blocking, *args: Any, ctx: Any = None) -> None:
        self.op = op
        self.args = args
        self.ctx = ctx


if TYPE_CHECKING:
    from typing import Concatenate, ParamSpec

    _P = ParamSpec("_P")

    class _operation(Generic[_P, _T]):
        """For type checkers: an operation is a method of ``State`` returning the value, and a
        coroutine method of ``RedisStateAdapter``."""

        build: Callable[..., _Call[Any]]

        def __init__(self, build: Callable[Concatenate[Any, _P], _Call[_T]]) -> None: ...

        @overload
        def __get__(self, obj: State, owner: Any = None) -> Callable[_P, _T]: ...

        @overload
        def __get__(self, obj: RedisStateAdapter, owner: Any = None) -> Callable[_P, Coroutine[Any, Any, _T]]: ...

        @overload
        def __get__(self, obj: None, owner: Any = None) -> _operation[_P, _T]: ...

        def __get__(self, obj: Any, owner: Any = None) -> Any: ...
else:
    class _operation:
        """A builder in _Base; each subclass replaces it with a method of its own kind."""

        def __init__(self, build):
            self.build = build


def _method_like(method: Callable[..., Any], build: Callable[..., Any], owner: type) -> Callable[..., Any]:
    """``method`` named, documented and signed as ``build``, returning what its _Call decodes to."""
    name = build.__name__
    method.__name__ = name
    method.__qualname__ = f"{owner.__qualname__}.{name}"
    method.__module__ = owner.__module__
    method.__doc__ = build.__doc__
    sig = inspect.signature(build)
    returns = re.fullmatch(r"_Call\[(.*)\]", str(sig.return_annotation))
    method.__signature__ = sig.replace(return_annotation=returns.group(1) if returns else sig.empty)  # type: ignore[attr-defined]
    method.__annotations__ = {**build.__annotations__, "return": method.__signature__.return_annotation}  # type: ignore[attr-defined]
    return method


# ---- shared by the sync and async adapters ----------------------------------------------------


class _Base:
    _name = "State"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name, member in vars(_Base).items():
            if isinstance(member, _operation) and isinstance(getattr(cls, name), _operation):
                setattr(cls, name, _method_like(cls._method(member.build), member.build, cls))

    @staticmethod
    def _method(build: Callable[..., _Call[Any]]) -> Callable[..., Any]:
        """The class's kind of method for an operation's builder (State: runs it; asyncio:
        awaits it)."""
        raise NotImplementedError


    def __init__(self, url: str | None, client: Client | None, key_prefix: str, token_prefix: str,
                 token_suffix: str, json_dialect: str, queue_dialect: str, min_replicas: int | None,
                 min_replicas_timeout_ms: int | None, layout: str, client_options: dict[str, Any]) -> None:
        self._options = Options.make(key_prefix, token_prefix, token_suffix, json_dialect, queue_dialect,
                                     min_replicas, min_replicas_timeout_ms, layout)
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

    @property
    def layout(self) -> str:
        """Where a thread's keys live: "upstream" (``<prefix>:lock:<id>``), "tagged"
        (``<prefix>:lock:{<id>}``) or "bridge" (both, one script each: the move between them)."""
        names = {_native.XR_CHAT_LAYOUT_TAGGED: "tagged", _native.XR_CHAT_LAYOUT_BRIDGE: "bridge"}
        return names.get(self._options.layout, "upstream")

    @property
    def min_replicas(self) -> int:
        """How many replicas must acknowledge an acquire or extend (0: off; see the class)."""
        return self._options.min_replicas

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

    # -- subscriptions ------------------------------------------------------------------------

    @_operation
    def subscribe(self, thread_id: str) -> _Call[None]:
        """SADD <prefix>:subscriptions <thread id>."""
        return _Call(SUBSCRIBE, check_str("thread_id", thread_id))

    @_operation
    def unsubscribe(self, thread_id: str) -> _Call[None]:
        """SREM <prefix>:subscriptions <thread id>."""
        return _Call(UNSUBSCRIBE, check_str("thread_id", thread_id))

    @_operation
    def is_subscribed(self, thread_id: str) -> _Call[bool]:
        """SISMEMBER <prefix>:subscriptions <thread id>."""
        return _Call(IS_SUBSCRIBED, check_str("thread_id", thread_id))

    # -- locks --------------------------------------------------------------------------------

    @_operation
    def acquire_lock(self, thread_id: str, ttl_ms: int, *, wait_ms: int | None = None) -> _Call[Lock | None]:
        """SET <prefix>:lock:<id> <new token> PX ttl NX: the Lock, or None when another owner
        holds it. With ``wait_ms``, retries (backoff 10 ms doubling to 250 ms, with jitter; under
        asyncio in an executor thread) until acquired or ``wait_ms`` passed."""
        tid = check_str("thread_id", thread_id)
        ttl = check_int("ttl_ms", ttl_ms)
        wait = check_int("wait_ms", wait_ms, allow_none=True)
        if wait > 0:
            return _Call(ACQUIRE_LOCK_WAIT, tid, ttl, wait, ctx=tid)
        return _Call(ACQUIRE_LOCK, tid, ttl, ctx=tid)

    @_operation
    def release_lock(self, lock: Any) -> _Call[None]:
        """Deletes the lock if it still holds ``lock.token`` (a crossredis or chat_sdk Lock)."""
        return _Call(RELEASE_LOCK, *lock_parts(lock))

    @_operation
    def extend_lock(self, lock: Any, ttl_ms: int) -> _Call[bool]:
        """Sets the lock's TTL if it still holds ``lock.token``; never re-creates it."""
        return _Call(EXTEND_LOCK, *lock_parts(lock), check_int("ttl_ms", ttl_ms))

    @_operation
    def force_release_lock(self, thread_id: str) -> _Call[None]:
        """DEL <prefix>:lock:<id>, whoever holds it."""
        return _Call(FORCE_RELEASE_LOCK, check_str("thread_id", thread_id))

    @_operation
    def release_lock_if_queue_empty(self, lock: Any) -> _Call[tuple[bool, int]]:
        """Beyond upstream (vercel/chat #928): in one script, releases the lock when it holds
        ``lock.token`` and the thread's queue is empty. Returns (released, queue depth); the
        depth is -1 when the lock was not held by that token. Two keys: on a Cluster only with
        ``layout="tagged"`` (CrossSlotError otherwise)."""
        return _Call(RELEASE_LOCK_IF_QUEUE_EMPTY, *lock_parts(lock))

    # -- key/value ----------------------------------------------------------------------------

    @_operation
    def get(self, key: str) -> _Call[Any]:
        """GET <prefix>:cache:<key>, JSON-parsed (the raw text when it is not JSON); None when
        missing."""
        return _Call(GET, check_str("key", key))

    @_operation
    def set(self, key: str, value: Any, ttl_ms: int | None = None) -> _Call[None]:
        """SET <prefix>:cache:<key> <value as JSON> [PX ttl]."""
        return _Call(SET, check_str("key", key), dumps(value), check_int("ttl_ms", ttl_ms, allow_none=True))

    @_operation
    def set_if_not_exists(self, key: str, value: Any, ttl_ms: int | None = None) -> _Call[bool]:
        """SET ... NX [PX ttl]; whether it was written."""
        return _Call(SET_IF_NOT_EXISTS, check_str("key", key), dumps(value),
                     check_int("ttl_ms", ttl_ms, allow_none=True))

    @_operation
    def delete(self, key: str) -> _Call[None]:
        """DEL <prefix>:cache:<key>."""
        return _Call(DELETE, check_str("key", key))

    # -- lists --------------------------------------------------------------------------------

    @_operation
    def append_to_list(self, key: str, value: Any, *, max_length: int | None = None,
                       ttl_ms: int | None = None) -> _Call[None]:
        """RPUSH <prefix>:list:<key>, keeping the newest ``max_length``, with ``ttl_ms``."""
        return _Call(APPEND_TO_LIST, check_str("key", key), dumps(value),
                     check_int("max_length", max_length, allow_none=True),
                     check_int("ttl_ms", ttl_ms, allow_none=True))

    @_operation
    def get_list(self, key: str) -> _Call[list[Any]]:
        """LRANGE <prefix>:list:<key> 0 -1, each element JSON-parsed (raw text when not JSON)."""
        return _Call(GET_LIST, check_str("key", key))

    # -- queues -------------------------------------------------------------------------------

    @_operation
    def enqueue(self, thread_id: str, entry: Any, max_size: int) -> _Call[int]:
        """RPUSH the entry on <prefix>:queue:<id> (dropping the oldest past ``max_size``), with a
        TTL of max(expires_at - now, 60 s); returns the queue's length. ``entry`` is a
        crossredis or chat_sdk QueueEntry; its message is serialized as the port does
        (``to_json()``, a dict, or ``__dict__``)."""
        tid = check_str("thread_id", thread_id)
        return _Call(ENQUEUE, tid, *_entry_args(entry), check_int("max_size", max_size))

    @_operation
    def dequeue(self, thread_id: str) -> _Call[QueueEntry | None]:
        """LPOP <prefix>:queue:<id>: the oldest entry (either runtime's spelling; ``enqueued_at``
        -1 when it has none), or None; a ``chat:Message`` comes back as
        ``chat_sdk.types.Message`` when chat_sdk is installed. An entry that is not one raises
        DataError with its bytes in ``raw`` (it was popped)."""
        return _Call(DEQUEUE, check_str("thread_id", thread_id))

    @_operation
    def queue_depth(self, thread_id: str) -> _Call[int]:
        """LLEN <prefix>:queue:<id>."""
        return _Call(QUEUE_DEPTH, check_str("thread_id", thread_id))

    @_operation
    def dequeue_reliable(self, thread_id: str) -> _Call[ReliableQueueEntry | None]:
        """Beyond upstream: :meth:`dequeue` that keeps the entry in
        ``<prefix>:queue-processing:<id>`` until :meth:`ack`; after a lost reply or a consumer
        that died, :meth:`requeue_processing` puts unacknowledged entries back (see the C API's
        xr_chat_dequeue_reliable; two keys: on a Cluster only with ``layout="tagged"``)."""
        return _Call(DEQUEUE_RELIABLE, check_str("thread_id", thread_id))

    @_operation
    def ack(self, thread_id: str, entry: ReliableQueueEntry) -> _Call[bool]:
        """Removes an entry :meth:`dequeue_reliable` returned from the processing list; whether
        it was there."""
        return _Call(ACK, check_str("thread_id", thread_id), entry_raw(entry))

    @_operation
    def requeue_processing(self, thread_id: str) -> _Call[int]:
        """Moves every unacknowledged entry back to the head of the queue, oldest first; how many."""
        return _Call(REQUEUE_PROCESSING, check_str("thread_id", thread_id))


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


def _entry_args(entry: Any) -> tuple[str, int, int]:
    try:
        message, enqueued_at, expires_at = entry.message, entry.enqueued_at, entry.expires_at
    except AttributeError:
        raise TypeError("entry must be a QueueEntry (with message, enqueued_at and expires_at), "
                        f"not {type(entry).__name__}") from None
    return message_json(message), check_int("entry.enqueued_at", enqueued_at), check_int("entry.expires_at",
                                                                                         expires_at)


# ---- synchronous ------------------------------------------------------------------------------


class State(_Base):
    """The Chat SDK state, synchronous: the methods of :class:`RedisStateAdapter` without
    ``async``, safe to call from many threads at once. Connects when made (``url``, else
    ``$REDIS_URL``, or an open ``client``); a context manager that disconnects on exit.

    Keywords: ``key_prefix`` ("chat-sdk"), ``token_prefix`` ("redis"), ``token_suffix``
    ("hex32" or "base36"), ``json_dialect`` ("python" or "js"), ``queue_dialect`` ("python",
    "ts" or "both"), ``min_replicas``, ``min_replicas_timeout_ms`` and ``layout`` (as
    :class:`RedisStateAdapter`); any other keyword is a :class:`crossredis.Client` option (with
    ``url``).
    """

    def __init__(self, url: str | None = None, client: Client | None = None, *, key_prefix: str = "chat-sdk",
                 token_prefix: str = "redis", token_suffix: str = "hex32", json_dialect: str = "python",
                 queue_dialect: str = "python", min_replicas: int = 0, min_replicas_timeout_ms: int = 0,
                 layout: str = "upstream", **client_options: Any) -> None:
        super().__init__(url, client, key_prefix, token_prefix, token_suffix, json_dialect, queue_dialect,
                         min_replicas, min_replicas_timeout_ms, layout, client_options)
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

    def lock(self, thread_id: str, ttl_ms: int = 30000, wait: float | None = 0.0,
             max_lifetime_ms: int | None = None) -> HeldLock:
        """A lock for a ``with`` block: acquired on entry (waiting up to ``wait`` seconds, else
        :class:`LockNotAcquired`), extended every ttl/3 by a watchdog thread while held (up to
        ``max_lifetime_ms``, None: no limit), released on exit; :class:`LockLost` on exit when
        the watchdog found it lost."""
        return HeldLock(self, *_lock_args(thread_id, ttl_ms, wait, max_lifetime_ms))

    # -- the operations (_Base) run here, in the caller's thread ---------------------------------

    @staticmethod
    def _method(build: Callable[..., _Call[Any]]) -> Callable[..., Any]:
        def method(self: State, *args: Any, **kwargs: Any) -> Any:
            call = build(self, *args, **kwargs)
            op = call.op
            return op.decode(self._connected_core().call(op.alone, *call.args), call.ctx)
        return method


# ---- asyncio ----------------------------------------------------------------------------------


class RedisStateAdapter(_Base):
    """The Chat SDK state for asyncio: a drop-in for ``chat_sdk.state.redis.RedisStateAdapter``
    (same keywords, async methods and results; pass it as ``ChatConfig(state=...)``), writing
    the same bytes through crossredis's C core.

    ``url`` (else ``$REDIS_URL``) or an open :class:`crossredis.Client` as ``client``. Beyond the
    port's keywords: ``token_suffix`` ("hex32" or "base36"), ``json_dialect`` ("python" or
    "js"), ``queue_dialect`` ("python", "ts" or "both"), ``min_replicas`` (0: off) and
    ``min_replicas_timeout_ms`` (0: 1000; below the client's command timeout): a lock counts as
    acquired or extended only once that many replicas acknowledged the write (``WAIT`` on the
    same connection), else :class:`crossredis.NoReplicasError` and an acquired lock is given
    back (README, "Locks across a failover", says what this does and does not guarantee);
    ``layout`` ("upstream", the port's keys; "tagged": a thread's lock, queue and processing
    list under ``<prefix>:lock:{<id>}``... so they share a Cluster slot; "bridge": both at once,
    what a deployment runs while it moves, one node only: README "Chat SDK tagged layout"); and
    :class:`crossredis.Client` options (with ``url``: ``sentinels``/``master_name``,
    ``cluster_nodes``, ...).

    Call :meth:`connect` first (the Chat class does). Calls made in one event-loop turn are sent
    as one pipeline on the client's connection for this loop, which the loop drives (no thread
    hop); while that connection is busy, or before the loop's first batch opened it, from an
    executor thread. The loop never waits on the network. Beyond the
    port: ``acquire_lock(..., wait_ms=)``, :meth:`release_lock_if_queue_empty` and
    ``async with adapter.lock(id):``.
    """

    _name = "RedisStateAdapter"

    def __init__(self, url: str | None = None, client: Client | None = None, *, key_prefix: str = "chat-sdk",
                 token_prefix: str = "redis", token_suffix: str = "hex32", json_dialect: str = "python",
                 queue_dialect: str = "python", min_replicas: int = 0, min_replicas_timeout_ms: int = 0,
                 layout: str = "upstream", **client_options: Any) -> None:
        super().__init__(url, client, key_prefix, token_prefix, token_suffix, json_dialect, queue_dialect,
                         min_replicas, min_replicas_timeout_ms, layout, client_options)
        self._connect_lock: asyncio.Lock | None = None
        # one batcher per event loop (an adapter may serve loops in several threads); those of
        # closed loops go when the next one is made
        self._batchers: dict[asyncio.AbstractEventLoop, Batcher] = {}
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

    def lock(self, thread_id: str, ttl_ms: int = 30000, wait: float | None = 0.0,
             max_lifetime_ms: int | None = None) -> AsyncHeldLock:
        """A lock for an ``async with`` block: acquired on entry (waiting up to ``wait``
        seconds, else :class:`LockNotAcquired`), extended every ttl/3 by a watchdog task while
        held (up to ``max_lifetime_ms``, None: no limit), released on exit; :class:`LockLost` on
        exit when the watchdog found it lost."""
        return AsyncHeldLock(self, *_lock_args(thread_id, ttl_ms, wait, max_lifetime_ms))

    # -- the operations (_Base) are awaited here ------------------------------------------------

    @staticmethod
    def _method(build: Callable[..., _Call[Any]]) -> Callable[..., Any]:
        async def method(self: RedisStateAdapter, *args: Any, **kwargs: Any) -> Any:
            return await self._start(build(self, *args, **kwargs))
        return method

    def _start(self, call: _Call[Any]) -> asyncio.Future[Any]:
        """A table operation joins this loop turn's batch; a blocking call runs alone in an
        executor thread. A caller cancelled meanwhile does not stop it: a lock it got is given
        back."""
        op = call.op
        if isinstance(op, Op):
            return self._batcher_here().submit(op, call.args, call.ctx)
        core = self._connected_core()
        loop = asyncio.get_running_loop()
        running = loop.run_in_executor(None, core.call, op.alone, *call.args)
        caller = loop.create_future()
        running.add_done_callback(lambda f: self._settle_alone(f, caller, op, call.ctx))
        return caller

    def _settle_alone(self, running: asyncio.Future[Any], caller: asyncio.Future[Any], op: Blocking,
                      ctx: Any) -> None:
        if running.cancelled():
            caller.cancel()
            return
        error = running.exception()
        try:
            value = None if error is not None else op.decode(running.result(), ctx)
        except Exception as e:
            error = e
        if not caller.cancelled():
            if error is not None:
                caller.set_exception(error)
            else:
                caller.set_result(value)
        elif isinstance(value, Lock) and self._core is not None:
            self._batcher_here().give_back(value)

    def _batcher_here(self) -> Batcher:
        """The running loop's batcher for the connected adapter."""
        loop = asyncio.get_running_loop()
        b = self._batcher
        if b is not None and b.loop is loop and b.core is self._core:
            return b
        core = self._connected_core()
        b = self._batchers.get(loop)
        if b is None or b.core is not core:
            for other in list(self._batchers):  # a copy: other threads may add theirs
                if other.is_closed():
                    self._batchers.pop(other, None)
            b = self._batchers[loop] = Batcher(core, loop)
        self._batcher = b
        return b


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
