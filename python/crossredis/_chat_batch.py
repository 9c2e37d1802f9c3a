"""The asyncio batcher of a system's calls (the Chat SDK state, the session stores): the calls made
in one event-loop turn go out as one native batch (one pipeline), on the client's connection for this loop, driven by the loop
itself (crossredis._loop); when that connection is busy, or the loop has none yet, in an executor
thread on a pooled connection. Each caller's future gets its own result or exception."""

from __future__ import annotations

import asyncio
import re
from functools import partial
from typing import Any

from ._chatcore import ACQUIRE_LOCK, RELEASE_LOCK, Core, Lock, Op
from .errors import Error, NoReplicasError

__all__: list[str] = []


class _Pending:
    __slots__ = ("op", "args", "ctx", "future", "index")

    def __init__(self, op: Op, args: tuple[Any, ...], ctx: Any, future: asyncio.Future[Any]) -> None:
        self.op = op
        self.args = args
        self.ctx = ctx
        self.future = future
        self.index = -1


Results = list[tuple[bool, Any]]  # per operation: (True, value) or (False, exception)


class Batcher:
    """Collects operations for one event loop. The first one in a turn schedules a flush with
    ``loop.call_soon``; the flush builds one native batch of everything collected and starts it
    on the loop's connection (``xr_chat_batch_start``, then the loop drives it), or runs it in
    the loop's default executor (``xr_chat_batch_exec``) when that connection is busy or not
    open yet. Either way each operation's result is read where the batch finished and each
    caller's future is set on the loop. Counters for tests and tuning: ``exec_count`` (batches
    sent), ``loop_count`` (those run by the loop), ``op_count`` (operations sent), ``largest``
    (the largest batch)."""

    def __init__(self, core: Core, loop: asyncio.AbstractEventLoop) -> None:
        self.core = core
        self.loop = loop  # kept per loop, weakly (RedisStateAdapter._batchers)
        self._loops = core.client._loops
        self._queue: list[_Pending] = []
        self.exec_count = 0
        self.loop_count = 0
        self.op_count = 0
        self.largest = 0

    def submit(self, op: Op, args: tuple[Any, ...], ctx: Any = None) -> asyncio.Future[Any]:
        """On the loop's thread: the operation joins this turn's batch."""
        fut: asyncio.Future[Any] = self.loop.create_future()
        self._queue.append(_Pending(op, args, ctx, fut))
        if len(self._queue) == 1:
            self.loop.call_soon(self._flush)
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
        opening = False
        try:
            batch = self.core.system.batch_new(s)[1]
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
            loop = self.loop
            conn = self._loops.get(loop)
            if conn is None:
                opening = self._loops.want_open(loop)
                running = loop.run_in_executor(None, self._run, batch, live, loop if opening else None)
        except BaseException as e:
            if opening:
                self._loops.open(loop, False)
            if batch is not None:
                self.core.system.batch_free(batch)
            self.core.leave()
            if not isinstance(e, _Nothing):
                for p in ops:
                    _fail(p.future, e)
            return
        if conn is not None:
            self.loop_count += 1
            conn.run(partial(self.core.system.batch_start, batch), partial(self._ran, batch, live))
        else:
            running.add_done_callback(partial(self._deliver, live, loop if opening else None))

    def _ran(self, batch: Any, live: list[_Pending], error: BaseException | None) -> None:
        """On the loop's thread, the batch finished on the loop's connection (``error``: the
        connection failed first)."""
        try:
            results = _results(batch, live, error)
        finally:
            self._end(batch)
        self._settle(live, results)

    def _run(self, batch: Any, live: list[_Pending], opening: asyncio.AbstractEventLoop | None) -> Results:
        """In the executor thread: sends the batch, reads every result, opens the loop's
        connection when asked, frees the batch and leaves the guard (here, so nothing stays held
        if the loop is gone before it is told)."""
        try:
            try:
                self.core.system.batch_exec(batch)
                exec_error: BaseException | None = None
            except BaseException as e:
                exec_error = e
            results = _results(batch, live, exec_error)
            if opening is not None:
                self._loops.open(opening, exec_error is None)
            return results
        finally:
            self._end(batch)

    def _end(self, batch: Any) -> None:
        self.core.system.batch_free(batch)
        self.core.leave()

    def _deliver(self, live: list[_Pending], opened: asyncio.AbstractEventLoop | None,
                 running: asyncio.Future[Results]) -> None:
        """Back on the loop from the executor: each caller's future gets its result or
        exception; a connection opened for this loop starts being watched."""
        if opened is not None:
            self._loops.get(opened)
        if running.cancelled() or running.exception() is not None:
            error = running.exception() if not running.cancelled() else asyncio.CancelledError()
            for p in live:
                _fail(p.future, error)  # type: ignore[arg-type]
            return
        self._settle(live, running.result())

    def _settle(self, live: list[_Pending], results: Results) -> None:
        for p, (ok, value) in zip(live, results):
            if not ok and p.op is ACQUIRE_LOCK and isinstance(value, NoReplicasError):
                self._give_back_unacknowledged(p, value)
                continue
            fut = p.future
            if fut.cancelled():
                if ok and isinstance(value, Lock):
                    self.give_back(value)
                continue
            try:
                if ok:
                    fut.set_result(value)
                else:
                    fut.set_exception(value)
            except RuntimeError:  # its loop closed (a batch cancelled when the client closed)
                pass

    def _give_back_unacknowledged(self, p: _Pending, error: Error) -> None:
        """An acquire the master granted but fewer than min_replicas replicas acknowledged: the
        core cannot send more from inside a batch, so it names the token and the lock is given
        back here (token-checked, in the next batch); the caller hears NoReplicasError once that
        is done, in the words of the sequential acquire (which gives it back itself)."""
        message = str(error)
        found = _UNACKED.search(message)
        if found is None:  # not the core's words: tell as it is
            _fail(p.future, error)
            return
        cls = type(error)

        def released(f: asyncio.Future[Any]) -> None:
            failed = f.cancelled() or f.exception() is not None
            outcome = "not held, and releasing it failed (it expires with its TTL)" if failed else "released, not held"
            _fail(p.future, cls(message[:found.start()] + outcome + message[found.end():]))

        try:
            fut = self.submit(RELEASE_LOCK, (p.ctx, found.group(1)))
        except BaseException:  # the loop is closing
            _fail(p.future, error)
            return
        fut.add_done_callback(released)

    def give_back(self, lock: Lock) -> None:
        """A caller cancelled while its acquire was in flight: give the lock back (on the loop,
        still running; its batch may have been failed by a close elsewhere)."""
        try:
            if asyncio.get_running_loop() is not self.loop:
                return
            fut = self.submit(RELEASE_LOCK, (lock.thread_id, lock.token))
        except BaseException:
            return
        fut.add_done_callback(_swallow)


def _results(batch: Any, live: list[_Pending], exec_error: BaseException | None) -> Results:
    """Every operation's result, where the batch finished. After a failed batch, operations that
    got their reply still decode (an acquired lock must not be reported as failed); the others
    carry the connection's error."""
    results: Results = []
    for p in live:
        try:
            results.append((True, p.op.decode(p.op.result(batch, p.index), p.ctx)))
        except BaseException as e:
            same = exec_error is not None and _same_code(e, exec_error)
            results.append((False, exec_error if same else e))
    return results


# The core's words for a batched acquire that too few replicas acknowledged (chat.c, unacked)
_UNACKED = re.compile(r"not held; release it \(token ([A-Za-z0-9_-]+)\) or let it expire")


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
