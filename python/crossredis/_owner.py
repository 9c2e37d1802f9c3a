"""What the stores of the systems over a native handle share (crossredis.sessions, crossredis.ayepi):
the client, given or opened from ``url`` / ``REDIS_URL`` with client options; the native handle made
over it behind a :class:`Core`; for the sync classes, closing and ``with``; for the asyncio ones,
connecting in an executor thread, the calls through this loop's :class:`Batcher`, ``async with``."""

from __future__ import annotations

import abc
import asyncio
import os
from typing import Any

from ._chat_batch import Batcher
from ._chatcore import Core, Op, System
from .client import Client, ClientConfig

__all__: list[str] = []


class Owner(abc.ABC):
    """A native handle over a client. Subclasses give ``_make(client handle) -> handle``,
    ``_free(handle)``, ``_what`` (for "... is closed") and ``_system`` (the generic functions its
    batches run); ``_ping_given``: whether a given client is pinged when the handle is made."""

    _what = "the store"
    _system: System
    _ping_given = False

    def __init__(self, url: str | None, client: Client | None, client_options: dict[str, Any]) -> None:
        self._core: Core | None = None
        if client is not None:
            if not isinstance(client, Client):
                raise TypeError(f"client must be a crossredis.Client, not {type(client).__name__}")
            if client_options or url is not None:
                raise TypeError("url and client options apply only without a client")
            self._client: Client | None = client
            self._config: ClientConfig | None = None
        else:
            resolved = url or os.environ.get("REDIS_URL")
            if not resolved:
                raise ValueError("Redis url is required. Set REDIS_URL or provide url in options.")
            self._config = ClientConfig(resolved, client_options, url_source=None if url else "REDIS_URL")
            self._client = None

    @abc.abstractmethod
    def _make(self, client_handle: Any) -> Any:
        """The system's native handle over the client's (xr_binding_<system>_new)."""

    @abc.abstractmethod
    def _free(self, handle: Any) -> None:
        """Frees what _make made (xr_<system>_free)."""

    def _open(self) -> Core:
        """Opens the client when this object owns it (connecting: blocking), then the handle."""
        owns = self._config is not None
        client = Client._from_config(self._config) if self._config is not None else self._client
        assert client is not None
        if not owns and self._ping_given:
            client.ping()
        try:
            core = Core(client, owns, make=self._make, free=self._free, what=self._what, system=self._system)
        except BaseException:
            if owns:
                client.close()
            raise
        self._client = client
        return core

    @property
    def client(self) -> Client | None:
        """The client (None until an asyncio object connected)."""
        return self._client

    def _live(self) -> Core:
        core = self._core
        if core is None:
            raise RuntimeError(f"{type(self).__name__} is closed")
        return core


class SyncOwner(Owner):
    """Opens the handle when made (connecting); :meth:`close` and ``with``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._core = self._open()

    def close(self) -> None:
        """Closes the store (and its client when it opened it). Idempotent."""
        core, self._core = self._core, None
        if core is not None:
            core.close()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class AsyncOwner(Owner):
    """Connects at the first call (or ``await connect()``) in an executor thread; calls go through
    this loop's :class:`Batcher` (:meth:`_submit`); ``await close()`` and ``async with``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._connect_lock: asyncio.Lock | None = None
        self._batchers: dict[asyncio.AbstractEventLoop, Batcher] = {}
        self._closed = False

    async def connect(self) -> None:
        """Opens the client (when the store owns it) in an executor thread. Idempotent; the first
        call connects by itself."""
        if self._core is not None:
            return
        if self._closed:
            raise RuntimeError(f"{type(self).__name__} is closed")
        if self._connect_lock is None:
            self._connect_lock = asyncio.Lock()
        async with self._connect_lock:
            if self._core is None:
                self._core = await asyncio.get_running_loop().run_in_executor(None, self._open)

    async def close(self) -> None:
        """Closes the store (and its client when it opened it). Idempotent."""
        self._closed = True
        core, self._core = self._core, None
        self._batchers.clear()
        if core is not None:
            await asyncio.get_running_loop().run_in_executor(None, core.close)

    async def _connected(self) -> Core:
        if self._core is None:
            await self.connect()
        core = self._core
        assert core is not None
        return core

    async def _submit(self, op: Op, args: tuple[Any, ...]) -> Any:
        """Row ``op`` once, in this loop turn's batch."""
        core = await self._connected()
        return await self._submit_now(core, op, args)

    def _submit_now(self, core: Core, op: Op, args: tuple[Any, ...]) -> asyncio.Future[Any]:
        """Row ``op`` joins this loop turn's batch now (on the loop's thread, connected): its
        future, so several calls made one after the other keep their order in the batch."""
        loop = asyncio.get_running_loop()
        b = self._batchers.get(loop)
        if b is None or b.core is not core:
            b = self._batchers[loop] = Batcher(core, loop)
        return b.submit(op, args)

    @property
    def batcher(self) -> Batcher | None:
        """This loop's batcher (``exec_count``, ``op_count``: what it sent); None before a call."""
        try:
            return self._batchers.get(asyncio.get_running_loop())
        except RuntimeError:
            return None

    async def __aenter__(self) -> Any:
        await self.connect()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()
