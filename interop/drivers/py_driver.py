#!/usr/bin/env python3
"""The Python-runtime driver of the interop contract (interop/CONTRACT.md).

    REDIS_URL=URL .venv/bin/python interop/drivers/py_driver.py --impl NAME [--prefix PREFIX]

The server is $REDIS_URL (the runner passes it there: a command line is visible to ps); --url URL
is taken too, for a run by hand.

impls:
  py-port             chat_sdk.state.redis.RedisStateAdapter (the upstream port, redis.asyncio)
  py-crossredis       crossredis.chat.RedisStateAdapter with the port's defaults
  py-crossredis-both  the same with token_prefix="ioredis", queue_dialect="both"

One asyncio loop for the whole process; requests are handled strictly one at a time, in order.
stdout carries only protocol lines (anything else printed goes to stderr). A library error is
reported as {"ok": false, "error": {"kind": <class name>, "message": str(e)}}; a malformed
request as kind "BadRequest", an unknown op as "UnknownOp". stdin EOF: disconnect, exit 0.

Values are handed to the adapters as the Python runtime's own objects: cache/list values as the
parsed JSON (dicts, lists, ...), locks as chat_sdk.types.Lock, queue entries as
chat_sdk.types.QueueEntry whose message is a chat_sdk.types.Message (what the port's Chat core
passes), for every impl: crossredis's adapter is a drop-in and takes the port's types.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import os
import sys
import traceback
from typing import Any

# Keep the protocol stream to ourselves: whatever a library prints lands on stderr.
_PROTO = sys.stdout
sys.stdout = sys.stderr

IMPLS = ("py-port", "py-crossredis", "py-crossredis-both")


def log(*parts: Any) -> None:
    print("py_driver:", *parts, file=sys.stderr, flush=True)


def emit(obj: dict[str, Any]) -> None:
    try:
        line = json.dumps(obj, allow_nan=False)
    except (TypeError, ValueError) as e:  # a result JSON cannot carry (bytes, NaN, an object)
        line = json.dumps({"id": obj.get("id"), "ok": False,
                           "error": {"kind": "Unserializable",
                                     "message": f"result not representable as JSON: {e}: {obj.get('result')!r}"}})
    _PROTO.write(line + "\n")
    _PROTO.flush()


class BadRequest(Exception):
    """The request itself is wrong (not the library's error)."""


class UnknownOp(Exception):
    pass


def _arg(args: dict[str, Any], name: str, kind: type | tuple[type, ...] | None = None) -> Any:
    if name not in args:
        raise BadRequest(f"missing argument {name!r}")
    v = args[name]
    if kind is not None and (not isinstance(v, kind) or (kind is int and isinstance(v, bool))):
        raise BadRequest(f"argument {name!r} must be {getattr(kind, '__name__', kind)}, not {type(v).__name__}")
    return v


def _int(args: dict[str, Any], name: str) -> int:
    v = _arg(args, name)
    if isinstance(v, bool) or not isinstance(v, int):
        raise BadRequest(f"argument {name!r} must be an integer, not {type(v).__name__}")
    return v


def _opt_int(args: dict[str, Any], name: str) -> int | None:
    """An integer where 0 (or absent/null) means "none": passed to the adapter as None, as the
    Chat core does when it has no TTL / limit to give."""
    if args.get(name) is None:
        return None
    v = _int(args, name)
    return v or None


def message_out(msg: Any) -> Any:
    """A message as JSON: what the port's adapter would serialize for it (``to_json()``, a
    dict, or ``__dict__``, the same three cases as RedisStateAdapter.enqueue)."""
    if hasattr(msg, "to_json"):
        return msg.to_json()
    if isinstance(msg, (dict, list, str, int, float, bool)) or msg is None:
        return msg
    return dict(msg.__dict__)


class Driver:
    def __init__(self, impl: str, url: str, prefix: str) -> None:
        from chat_sdk import types as ct

        self.impl = impl
        self.types = ct
        if impl == "py-port":
            from chat_sdk.state.redis import RedisStateAdapter as PortAdapter

            self.adapter: Any = PortAdapter(url=url, key_prefix=prefix)
            self.library = "chat-sdk@" + importlib.metadata.version("chat-sdk")
        else:
            from crossredis.chat import RedisStateAdapter as CrAdapter

            if impl == "py-crossredis":
                self.adapter = CrAdapter(url=url, key_prefix=prefix)
            else:
                self.adapter = CrAdapter(url=url, key_prefix=prefix, token_prefix="ioredis", queue_dialect="both")
            self.library = "crossredis@" + importlib.metadata.version("crossredis")

        # The port's Chat core turns a queued entry's message back into a Message with
        # Chat._rehydrate_message (chat_sdk/chat.py) before its expiry check. That method uses
        # nothing of the Chat instance, so it is called unbound here (no adapter: no
        # attachment re-hydration hook, as with an adapter that declares none).
        from chat_sdk.chat import Chat

        self._rehydrate = lambda raw: Chat._rehydrate_message(None, raw, None)  # type: ignore[arg-type]

    async def connect(self) -> None:
        await self.adapter.connect()

    async def disconnect(self) -> None:
        await self.adapter.disconnect()

    # -- ops -----------------------------------------------------------------------------------

    async def op(self, op: str, args: dict[str, Any]) -> Any:
        a = self.adapter
        ct = self.types
        if op == "lock.acquire":
            lock = await a.acquire_lock(_arg(args, "thread", str), _int(args, "ttl_ms"))
            if lock is None:
                return None
            return {"thread": lock.thread_id, "token": lock.token, "expires_at": lock.expires_at}
        if op == "lock.release":
            # The Chat core hands back the Lock it got; only thread_id and token matter to the
            # adapter (expires_at is client-side bookkeeping, never sent).
            await a.release_lock(ct.Lock(thread_id=_arg(args, "thread", str), token=_arg(args, "token", str),
                                         expires_at=0))
            return None
        if op == "lock.extend":
            lock = ct.Lock(thread_id=_arg(args, "thread", str), token=_arg(args, "token", str), expires_at=0)
            return bool(await a.extend_lock(lock, _int(args, "ttl_ms")))
        if op == "lock.force_release":
            await a.force_release_lock(_arg(args, "thread", str))
            return None
        if op == "cache.set":
            await a.set(_arg(args, "key", str), _arg(args, "value"), _opt_int(args, "ttl_ms"))
            return None
        if op == "cache.get":
            return await a.get(_arg(args, "key", str))
        if op == "cache.set_if_not_exists":
            return bool(await a.set_if_not_exists(_arg(args, "key", str), _arg(args, "value"),
                                                  _opt_int(args, "ttl_ms")))
        if op == "cache.delete":
            await a.delete(_arg(args, "key", str))
            return None
        if op == "list.append":
            await a.append_to_list(_arg(args, "key", str), _arg(args, "value"),
                                   max_length=_opt_int(args, "max_length"), ttl_ms=_opt_int(args, "ttl_ms"))
            return None
        if op == "list.get":
            return await a.get_list(_arg(args, "key", str))
        if op == "sub.subscribe":
            await a.subscribe(_arg(args, "thread", str))
            return None
        if op == "sub.unsubscribe":
            await a.unsubscribe(_arg(args, "thread", str))
            return None
        if op == "sub.is_subscribed":
            return bool(await a.is_subscribed(_arg(args, "thread", str)))
        if op == "queue.enqueue":
            return await self.enqueue(args)
        if op == "queue.read":
            return await self.read(_arg(args, "thread", str), _int(args, "now"))
        if op == "queue.depth":
            return int(await a.queue_depth(_arg(args, "thread", str)))
        raise UnknownOp(f"unknown op {op!r}")

    async def enqueue(self, args: dict[str, Any]) -> int:
        ct = self.types
        thread = _arg(args, "thread", str)
        raw = _arg(args, "message")
        # The port's Chat core (Chat._handle_queue_or_debounce) enqueues
        # QueueEntry(message=<Message>, enqueued_at=now, expires_at=now + ttl); the adapter then
        # writes message.to_json(). A chat:Message JSON becomes that Message; anything else is
        # handed over as the dict/value (the adapter's dict branch), so a test can still put an
        # odd message on the wire through the library.
        if isinstance(raw, dict) and raw.get("_type") == "chat:Message":
            message: Any = ct.Message.from_json(raw)
        else:
            message = raw
        entry = ct.QueueEntry(enqueued_at=_int(args, "enqueued_at"), expires_at=_int(args, "expires_at"),
                              message=message)
        return int(await self.adapter.enqueue(thread, entry, _int(args, "max_size")))

    async def read(self, thread: str, now: int) -> dict[str, Any]:
        """The Python side's reader: the port's Chat core draining a thread's queue.

        Reproduced from chat_sdk/chat.py, Chat._drain_queue (queue strategy; the
        debounce loop, Chat._debounce_loop, pops with the same expiry test): it pops entries
        with adapter.dequeue(lock_key) until it returns None; each entry's message is turned
        back into a Message (Chat._rehydrate_message) *before* the expiry test; the entry is
        kept for the handler when now <= entry.expires_at and logged as expired otherwise
        (strictly later than expires_at is expired). The kept messages all reach the handler
        call (the last as the message, the earlier ones as context.skipped), so all of them
        are reported as delivered, in queue order. The core's clock
        (datetime.now() in ms) is replaced by ``now``. Whatever dequeue or the test raises
        (the port: KeyError 'enqueued_at' on a TS entry) propagates as the response's error.
        The same loop serves the crossredis impls, with their adapter's dequeue.
        """
        delivered: list[Any] = []
        expired = 0
        while True:
            entry = await self.adapter.dequeue(thread)
            if entry is None:
                break
            msg = self._rehydrate(entry.message)
            if now <= entry.expires_at:
                delivered.append(message_out(msg))
            else:
                expired += 1
        return {"delivered": delivered, "expired": expired}


async def serve(driver: Driver) -> None:
    loop = asyncio.get_running_loop()
    stdin = sys.stdin.buffer
    while True:
        line = await loop.run_in_executor(None, stdin.readline)
        if not line:
            return
        text = line.strip()
        if not text:
            continue
        rid: Any = None
        try:
            try:
                req = json.loads(text)
            except ValueError as e:
                raise BadRequest(f"request is not JSON: {e}") from None
            if not isinstance(req, dict):
                raise BadRequest("request must be a JSON object")
            rid = req.get("id")
            op = req.get("op")
            if not isinstance(op, str):
                raise BadRequest("request has no op")
            args = req.get("args")
            if args is None:
                args = {}
            if not isinstance(args, dict):
                raise BadRequest("args must be a JSON object")
            result = await driver.op(op, args)
        except (BadRequest, UnknownOp) as e:
            emit({"id": rid, "ok": False, "error": {"kind": type(e).__name__, "message": str(e)}})
        except Exception as e:  # the library raised: report it and go on
            log(f"request {rid}: {type(e).__name__}: {e}")
            traceback.print_exc(file=sys.stderr)
            emit({"id": rid, "ok": False, "error": {"kind": type(e).__name__, "message": str(e)}})
        else:
            emit({"id": rid, "ok": True, "result": result})


async def main_async(ns: argparse.Namespace) -> int:
    try:
        driver = Driver(ns.impl, ns.url, ns.prefix)
        await driver.connect()
    except Exception as e:
        traceback.print_exc(file=sys.stderr)
        emit({"ready": False, "error": f"{type(e).__name__}: {e}"})
        return 1
    emit({"ready": True, "impl": ns.impl, "runtime": "python", "library": driver.library})
    try:
        await serve(driver)
    finally:
        try:
            await driver.disconnect()
        except Exception as e:
            log(f"disconnect: {type(e).__name__}: {e}")
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--impl", required=True)
    p.add_argument("--url", default=os.environ.get("REDIS_URL") or None,
                   help="the server (default $REDIS_URL, which keeps a password off the command line)")
    p.add_argument("--prefix", default="chat-sdk")
    ns = p.parse_args()
    if not ns.url:
        emit({"ready": False, "error": "no server: set REDIS_URL (or pass --url)"})
        return 1
    if ns.impl not in IMPLS:
        emit({"ready": False, "error": f"unknown impl {ns.impl!r} (known: {', '.join(IMPLS)})"})
        return 1
    return asyncio.run(main_async(ns))


if __name__ == "__main__":
    sys.exit(main())
