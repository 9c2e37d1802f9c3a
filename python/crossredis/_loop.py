"""The asyncio adapter of loop.h, the core's pollable contract (as the Node addon has its libuv
one, bindings/javascript/bridge.cc's UvWatch and LoopConn, and hiredis its adapters/*.h):

- :class:`PollWatch` watches any xr_pollable on one event loop: its descriptor with
  ``add_reader`` / ``add_writer`` for what it asks, a ``call_later`` timer for its deadline, one
  ``xr_pollable_process`` step when either fires.
- :class:`LoopConn` is a client's connection driven that way by one event loop: one batch at a
  time, its results read on the loop's thread, no executor hop.
- :class:`LoopConns` holds a client's loop connections, one per event loop, and closes them
  before the client (loop.h's rule).

Threads: a loop connection is driven from its loop's thread only. Another thread touches it only
when that loop no longer runs (closed or stopped), or by handing the work to the loop
(``call_soon_threadsafe``) and waiting.
"""

from __future__ import annotations

import asyncio
import os
import threading
import weakref
from typing import Any, Callable

from . import _native
from ._guard import Guard
from .errors import ClientClosedError, Error

__all__: list[str] = []

READ, WRITE = _native.XR_WAIT_READ, _native.XR_WAIT_WRITE
_DONE = _native.XR_POLL_DONE

# what a loop connection tells its batch's owner: None (finished) or the error that failed it
Finished = Callable[[Any], None]


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _driven(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether ``loop`` runs in another thread now, so work for it must go through it."""
    return not loop.is_closed() and loop.is_running() and loop is not _running_loop()


class PollWatch:
    """Watches one xr_pollable on one event loop, from the loop's thread. After every step it
    reads the descriptor, the events and the deadline again and re-arms; a step that ends the
    work (XR_POLL_DONE) or fails (the negative code, raised) is reported to ``outcome(None)`` or
    ``outcome(error)``, which re-arms or closes. It knows nothing of what the pollable is."""

    __slots__ = ("_loop", "_p", "_outcome", "_fd", "_events", "_timer", "_due")

    def __init__(self, loop: asyncio.AbstractEventLoop, pollable: Any, outcome: Finished) -> None:
        self._loop = loop
        self._p: Any = pollable
        self._outcome = outcome
        self._fd = -1
        self._events = 0
        self._timer: asyncio.TimerHandle | None = None
        self._due = -1  # when the timer fires, on xr_monotonic_ms's clock

    def arm(self) -> None:
        p = self._p
        fd = _native.xr_pollable_fd(p)
        events = _native.xr_pollable_events(p) if fd >= 0 else 0
        if fd != self._fd or events != self._events:
            self._watch(fd, events)
        deadline = _native.xr_pollable_deadline(p)
        # A timer that fires early, or finds the work done, is a step that does nothing (the
        # pollable says so): one timer then serves many batches instead of one made and
        # cancelled per batch.
        if deadline >= 0 and (self._timer is None or deadline < self._due):
            if self._timer is not None:
                self._timer.cancel()
            self._due = deadline
            self._timer = self._loop.call_later(max(0, deadline - _native.xr_monotonic_ms()) / 1000, self._on_timer)

    def _watch(self, fd: int, events: int) -> None:
        loop, old = self._loop, self._events
        if self._fd >= 0 and fd != self._fd:
            self._unwatch()
            old = 0
        if fd >= 0:
            if events & READ and not old & READ:
                loop.add_reader(fd, self._step, READ)
            elif old & READ and not events & READ:
                loop.remove_reader(fd)
            if events & WRITE and not old & WRITE:
                loop.add_writer(fd, self._step, WRITE)
            elif old & WRITE and not events & WRITE:
                loop.remove_writer(fd)
        self._fd, self._events = fd, events

    def _unwatch(self) -> None:
        if self._events & READ:
            self._loop.remove_reader(self._fd)
        if self._events & WRITE:
            self._loop.remove_writer(self._fd)
        self._fd, self._events = -1, 0

    def _on_timer(self) -> None:
        self._timer = None
        self._step(0)

    def _step(self, ready: int) -> None:
        if self._p is None:
            return  # closed while the loop had this call queued
        try:
            rc = _native.xr_pollable_process(self._p, ready, _native.xr_monotonic_ms())
        except Exception as e:
            self._outcome(e)
            return
        if rc == _DONE:
            self._outcome(None)
        else:
            self.arm()

    def close(self, *, watched: bool = True) -> None:
        """Stops watching (before the pollable's descriptor closes); ``watched=False`` in a forked
        child, where the loop's epoll is the parent's too and must not be touched."""
        if watched and self._fd >= 0 and not self._loop.is_closed():
            self._unwatch()
        self._fd, self._events, self._p = -1, 0, None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class LoopConn:
    """A client's connection (xr_loop_conn) driven by one event loop: :meth:`run` starts a batch
    on it and tells ``finished`` on the loop's thread when it ended. Idle, its descriptor is
    watched for reads, so a server that closes it is noticed. A connection that failed (lost,
    timed out, cancelled) is retired: closed, and the loop has none until :meth:`LoopConns.open`
    makes the next."""

    __slots__ = ("loop", "pid", "_conns", "_handle", "_watch", "_running")

    def __init__(self, conns: LoopConns, loop: asyncio.AbstractEventLoop, handle: Any) -> None:
        self.loop = loop
        self.pid = os.getpid()
        self._conns = conns
        self._handle: Any = handle
        self._watch: PollWatch | None = None
        self._running: Finished | None = None

    @property
    def busy(self) -> bool:
        return self._running is not None

    def install(self) -> None:
        """Starts watching, on the loop's thread (the connection was opened in another)."""
        if self._watch is None and self._handle is not None:
            self._watch = PollWatch(self.loop, _native.xr_loop_conn_pollable(self._handle), self._outcome)
            self._watch.arm()

    def run(self, start: Callable[[Any], Any], finished: Finished) -> None:
        """On the loop's thread, the connection free: ``start(handle)`` starts a batch on it
        (``[code, wait]``, as xr_chat_batch_start returns); ``finished(None)`` once every reply
        is in, ``finished(error)`` when the connection failed first (the batch's operations
        without a reply carry that error)."""
        assert self._watch is not None and self._running is None
        self._running = finished
        try:
            wait = start(self._handle)[1]
        except Exception as e:
            self._finish(e)
            return
        if wait:
            self._watch.arm()
        else:
            self._finish(None)

    def _outcome(self, error: Any) -> None:
        if self._running is not None:
            self._finish(error)
        else:  # idle: the server closed the connection (or sent what nobody asked for)
            self.retire()

    def _finish(self, error: Any) -> None:
        finished, self._running = self._running, None
        h = self._handle
        if h is None or _native.xr_loop_conn_broken(h):
            self.retire()
        elif self._watch is not None:
            self._watch.arm()
        if finished is not None:
            finished(error)  # last: its callers may start the next batch

    def cancel(self) -> None:
        """Fails the running batch's operations without a reply with ClientClosedError, now (the
        client or adapter closes and the loop cannot finish the batch)."""
        h = self._handle
        if self._running is not None and h is not None:
            _native.xr_loop_conn_cancel(h, ClientClosedError.code)
            self._finish(None)  # each operation carries its own error

    def retire(self) -> None:
        """Stops watching and closes the connection. On the loop's thread, or in any thread once
        the loop no longer runs; idempotent."""
        if self._watch is not None:
            self._watch.close(watched=self.pid == os.getpid())
        self._conns._closed(self)

    def retire_from_here(self) -> None:
        """:meth:`retire` from any thread: through the loop when it runs in another thread."""
        if self.pid != os.getpid() or not _driven(self.loop):
            self.retire()
            return
        done = threading.Event()

        def retire() -> None:
            self.retire()
            done.set()

        try:
            self.loop.call_soon_threadsafe(retire)
        except RuntimeError:  # closed meanwhile
            self.retire()
            return
        while not done.wait(0.05):
            if not _driven(self.loop):  # stopped meanwhile, with the call still queued
                self.retire()
                return


class LoopConns:
    """A client's loop connections, one per event loop. The first batch on a loop runs in an
    executor thread, as do those that find the loop's connection busy; the first of those that
    reached the server opens the loop's connection there (connecting blocks), and the batches
    after it run on the loop. Closed before the client, when no call is inside it."""

    __slots__ = ("_guard", "_lock", "_by_loop", "_opening", "_unwatchable", "_closing")

    def __init__(self, client_guard: Guard) -> None:
        self._guard = client_guard
        self._lock = threading.Lock()
        self._by_loop: dict[asyncio.AbstractEventLoop, LoopConn] = {}
        self._opening: set[asyncio.AbstractEventLoop] = set()
        # loops without add_reader (Windows' proactor): their batches keep to executor threads
        self._unwatchable: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()
        self._closing = False

    def get(self, loop: asyncio.AbstractEventLoop) -> LoopConn | None:
        """On the loop's thread: its connection when it has one that is free, else None."""
        lc = self._by_loop.get(loop)
        if lc is None:
            return None
        if lc.pid != os.getpid():  # a forked child's copy of its parent's: never used here
            lc.retire()
            return None
        try:
            lc.install()
        except NotImplementedError:
            self._unwatchable.add(loop)
            lc.retire()
            return None
        return None if lc.busy or lc._handle is None else lc

    def want_open(self, loop: asyncio.AbstractEventLoop) -> bool:
        """On the loop's thread, for a batch going to an executor thread: whether it should open
        the loop's connection there (the loop has none, and no other batch is opening it)."""
        with self._lock:
            if self._closing or loop in self._by_loop or loop in self._opening or loop in self._unwatchable:
                return False
            self._opening.add(loop)
            return True

    def open(self, loop: asyncio.AbstractEventLoop, reached: bool) -> None:
        """In the executor thread, inside the client's guard, after a batch that :meth:`want_open`
        chose: opens the loop's connection when the batch ``reached`` the server (against a dead
        one the next batch tries again rather than this one waiting for a connect timeout)."""
        handle = None
        client = self._guard.handle
        if reached and client is not None:
            try:
                handle = _native.xr_loop_conn_open(client)[1]
            except Error:
                handle = None
        with self._lock:
            self._opening.discard(loop)
            gone = [lc for lc in self._by_loop.values() if lc.loop.is_closed()]
            if handle is not None:
                if self._closing or loop.is_closed():
                    _native.xr_loop_conn_close(handle)
                else:
                    self._by_loop[loop] = LoopConn(self, loop, handle)
        for lc in gone:  # loops that ended (asyncio.run) leave their connections behind
            lc.retire()

    def _closed(self, lc: LoopConn) -> None:
        with self._lock:
            if self._by_loop.get(lc.loop) is lc:
                del self._by_loop[lc.loop]
            handle, lc._handle = lc._handle, None
            if handle is not None:
                _native.xr_loop_conn_close(handle)  # under the lock: never after the client closed

    def cancel_stuck(self) -> None:
        """The client or an adapter is closing with calls inside: a batch whose loop cannot
        finish it (closed, stopped, or this thread's own, which waits for the close) is failed
        now with ClientClosedError; one whose loop runs in another thread finishes there."""
        with self._lock:
            conns = list(self._by_loop.values())
        for lc in conns:
            if lc.busy and lc.pid == os.getpid() and not _driven(lc.loop):
                lc.cancel()

    def close(self) -> None:
        """Closes every loop connection (the client closes next; no call is inside it)."""
        with self._lock:
            self._closing = True
            conns = list(self._by_loop.values())
        for lc in conns:
            lc.retire_from_here()
