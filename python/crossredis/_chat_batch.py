"""The asyncio batcher: the adapter calls made in one event-loop turn go out as one native batch
(one pipeline on one pooled connection), run in an executor thread so the loop never waits on
the network; each caller's future gets its own result or exception."""

from __future__ import annotations

import asyncio
from typing import Any

from . import _native
from ._chatcore import RELEASE_LOCK, Core, Lock, Op

__all__: list[str] = []


class _Pending:
    __slots__ = ("op", "args", "ctx", "future", "index")

    def __init__(self, op: Op, args: tuple[Any, ...], ctx: Any, future: asyncio.Future[Any]) -> None:
        self.op = op
        self.args = args
        self.ctx = ctx
        self.future = future
        self.index = -1


class Batcher:
    """Collects operations for one event loop. The first one in a turn schedules a flush with
    ``loop.call_soon``; the flush builds one native batch of everything collected and runs it in
    the loop's default executor, where ``xr_chat_batch_exec`` sends it and each operation's
    result is read; back on the loop, each caller's future is set. Counters for tests and
    tuning: ``exec_count`` (native exec calls), ``op_count`` (operations sent), ``largest`` (the
    largest batch)."""

    def __init__(self, core: Core) -> None:
        self.core = core  # the loop is the running one: a batcher is kept per loop, weakly
        self._queue: list[_Pending] = []
        self.exec_count = 0
        self.op_count = 0
        self.largest = 0

    def submit(self, op: Op, args: tuple[Any, ...], ctx: Any = None) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        self._queue.append(_Pending(op, args, ctx, fut))
        if len(self._queue) == 1:
            loop.call_soon(self._flush)
        return fut

    def _flush(self) -> None:
        ops, self._queue = self._queue, []
        try:
            s = self.core.enter()
        except BaseException as e:  # closed adapter or client
            for p in ops:
                _fail(p.future, e)
            return
        batch = None
        try:
            batch = _native.xr_chat_batch_new(s)[1]
            live: list[_Pending] = []
            for p in ops:
                if p.future.cancelled():  # the caller gave up before it was sent
                    continue
                try:
                    p.index = p.op.add(batch, *p.args)
                except BaseException as e:  # this operation's own bad argument
                    _fail(p.future, e)
                    continue
                live.append(p)
            if not live:
                raise _Nothing
            self.exec_count += 1
            self.op_count += len(live)
            self.largest = max(self.largest, len(live))
            running = asyncio.get_running_loop().run_in_executor(None, self._run, batch, live)
        except BaseException as e:
            if batch is not None:
                _native.xr_chat_batch_free(batch)
            self.core.leave()
            if not isinstance(e, _Nothing):
                for p in ops:
                    _fail(p.future, e)
            return
        running.add_done_callback(lambda f: self._deliver(f, live))

    def _run(self, batch: Any, live: list[_Pending]) -> list[tuple[bool, Any]]:
        """In the executor thread: sends the batch, reads every result, frees the batch and
        leaves the guard (here, so nothing stays held if the loop is gone before it is told)."""
        try:
            try:
                _native.xr_chat_batch_exec(batch)
                exec_error: BaseException | None = None
            except BaseException as e:
                exec_error = e
            results: list[tuple[bool, Any]] = []
            for p in live:
                try:
                    # after a failed exec, operations that got their reply still decode (an
                    # acquired lock must not be reported as failed); the others carry the
                    # connection's error
                    results.append((True, p.op.decode(p.op.result(batch, p.index), p.ctx)))
                except BaseException as e:
                    same = exec_error is not None and _same_code(e, exec_error)
                    results.append((False, exec_error if same else e))
            return results
        finally:
            _native.xr_chat_batch_free(batch)
            self.core.leave()

    def _deliver(self, running: asyncio.Future[list[tuple[bool, Any]]], live: list[_Pending]) -> None:
        """Back on the loop: each caller's future gets its result or exception."""
        if running.cancelled() or running.exception() is not None:
            error = running.exception() if not running.cancelled() else asyncio.CancelledError()
            for p in live:
                _fail(p.future, error)  # type: ignore[arg-type]
            return
        for p, (ok, value) in zip(live, running.result()):
            fut = p.future
            if fut.cancelled():
                if ok and isinstance(value, Lock):
                    self.give_back(value)
                continue
            if ok:
                fut.set_result(value)
            else:
                fut.set_exception(value)

    def give_back(self, lock: Lock) -> None:
        """A caller cancelled while its acquire was in flight: give the lock back."""
        try:
            fut = self.submit(RELEASE_LOCK, (lock.thread_id, lock.token))
        except BaseException:
            return
        fut.add_done_callback(_swallow)


class _Nothing(Exception):
    pass


def _fail(fut: asyncio.Future[Any], e: BaseException) -> None:
    if not fut.done():
        fut.set_exception(e)


def _same_code(a: BaseException, b: BaseException) -> bool:
    return getattr(a, "code", None) is not None and getattr(a, "code", None) == getattr(b, "code", None)


def _swallow(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()
