"""A native handle shared by many threads and closed once: calls count themselves in and out, and
closing waits until no call is inside, so the C object is never freed under a running call."""

from __future__ import annotations

import threading
from typing import Any, Callable

from .errors import ClientClosedError

__all__: list[str] = []


class Guard:
    """Holds a native handle; ``enter()`` returns it (or raises ClientClosedError), ``leave()``
    ends the call; ``close()`` marks it closed, waits for the calls inside, then frees it."""

    __slots__ = ("_lock", "_cond", "_active", "_handle", "_free", "_what", "_interrupt")

    def __init__(self, handle: Any, free: Callable[[Any], None], what: str,
                 interrupt: Callable[[Any], None] | None = None) -> None:
        self._lock = threading.Lock()  # enter and leave take it directly (cheaper than the Condition)
        self._cond = threading.Condition(self._lock)
        self._active = 0
        self._handle = handle
        self._free = free
        self._what = what
        self._interrupt = interrupt  # wakes calls waiting inside, so close() need not wait them out

    @property
    def closed(self) -> bool:
        return self._handle is None

    @property
    def handle(self) -> Any:
        """The handle (None once closing began), for a caller inside the guard."""
        return self._handle

    def enter(self) -> Any:
        with self._lock:
            if self._handle is None:
                raise ClientClosedError(f"{self._what} is closed")
            self._active += 1
            return self._handle

    def leave(self) -> None:
        with self._lock:
            self._active -= 1
            # only close() waits, and only once it has set the handle to None under this lock
            if self._active == 0 and self._handle is None:
                self._cond.notify_all()

    def close(self) -> bool:
        """Frees the handle once no call is inside; False when it was already closed."""
        with self._cond:
            handle = self._handle
            if handle is None:
                return False
            self._handle = None  # new calls fail from now on
            busy = self._active > 0
        if busy and self._interrupt is not None:
            self._interrupt(handle)  # unlocked: it may end calls, which leave()
        with self._cond:
            while self._active:
                self._cond.wait()
        self._free(handle)
        return True

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(handle, *args)`` inside the guard."""
        handle = self.enter()
        try:
            return fn(handle, *args)
        finally:
            self.leave()
