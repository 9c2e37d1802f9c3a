"""toolhive's transport-session stores (Go ``github.com/stacklok/toolhive`` ``pkg/transport/session``)
with their keys, commands and bytes, from Python: :class:`RedisStorage` (proxy sessions, one record
per session) and :class:`RedisSessionDataStorage` (vMCP, one string map per session), sync, and
:class:`AsyncRedisStorage` / :class:`AsyncRedisSessionDataStorage` for asyncio (the calls of one
event-loop turn go out as one pipeline, on a connection the loop drives).

Records are written byte for byte as toolhive writes them (Go's encoding/json of Go 1.27 by
default, ``go="1.26"`` for toolhive up to v0.48.0) and read as it reads them; the C core does both
(core/include/crossredis/session.h). Times keep their nanoseconds and UTC offset: a
:class:`Session` carries the exact text next to the ``datetime`` (which stops at microseconds), and
the text is written back unchanged as long as the ``datetime`` was not changed; the same for the
raw JSON of ``data``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from . import _native
from ._chatcore import system_ops
from ._owner import AsyncOwner, Owner, SyncOwner
from .client import Client
from .errors import AlreadyExistsError, NotFoundError

__all__ = ["Session", "RedisStorage", "RedisSessionDataStorage", "AsyncRedisStorage",
           "AsyncRedisSessionDataStorage", "SessionNotFoundError", "SessionExistsError", "BINDING_KEY",
           "PROXY_PREFIX", "VMCP_PREFIX"]

#: "session not found" (toolhive's ErrSessionNotFound): the core's XR_ENOTFOUND.
SessionNotFoundError = NotFoundError
#: "session already exists" (toolhive's ErrSessionAlreadyExists): the core's XR_EEXISTS.
SessionExistsError = AlreadyExistsError

BINDING_KEY: str = _native.XR_SESSION_BINDING_KEY
PROXY_PREFIX: str = _native.XR_SESSION_PROXY_PREFIX
VMCP_PREFIX: str = _native.XR_SESSION_VMCP_PREFIX
_PROXY_TTL = timedelta(hours=2)
_VMCP_TTL = timedelta(minutes=30)
_GO = {"1.26": _native.XR_GO_1_26, "1.27": _native.XR_GO_1_27}


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Session:
    """A transport session as toolhive holds it. ``type`` is ``"mcp"``, ``"sse"``,
    ``"streamable"`` or any other text (kept as it is; a streamable session keeps no data, as
    toolhive's). ``data`` is the parsed JSON value (None: none); ``metadata`` a dict of strings
    (the owner is ``metadata[BINDING_KEY]``). ``created_at_text``, ``updated_at_text`` and
    ``data_text`` are what the store read (RFC 3339 with nanoseconds, the raw JSON); they are
    written back while the matching ``datetime`` or value is unchanged."""

    id: str
    type: str = "mcp"
    created_at: datetime = field(default_factory=_now)
    updated_at: datetime = field(default_factory=_now)
    data: Any = None
    metadata: dict[str, str] = field(default_factory=dict)
    created_at_text: str | None = field(default=None, repr=False)
    updated_at_text: str | None = field(default=None, repr=False)
    data_text: str | None = field(default=None, repr=False)

    def touch(self) -> None:
        """updated_at = now (toolhive's Touch)."""
        self.updated_at = _now()

    def _json(self) -> str:
        """The session as session_json (session.def): the core reads it as toolhive reads a record."""
        read = self.__dict__.get("_read")  # (created text, datetime, updated text, datetime) as loaded
        created = _time_text(self.created_at, self.created_at_text, "created_at", read and read[0:2])
        updated = _time_text(self.updated_at, self.updated_at_text, "updated_at", read and read[2:4])
        parts = [f'"id":{_dumps(self.id, "id")}', f'"type":{_dumps(self.type, "type")}',
                 f'"created_at":{_dumps(created, "created_at")}', f'"updated_at":{_dumps(updated, "updated_at")}']
        data = self._data_json()
        if data is not None:
            parts.append(f'"data":{data}')
        if self.metadata:
            parts.append(f'"metadata":{_dumps(self.metadata, "metadata")}')
        return "{" + ",".join(parts) + "}"

    def _data_json(self) -> str | None:
        if self.data_text is not None:
            try:
                if json.loads(self.data_text) == self.data:
                    return self.data_text
            except ValueError:
                pass
        if self.data is None:
            return None
        return _dumps(self.data, "data")


def _dumps(value: Any, name: str) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as e:
        raise TypeError(f"session {name}: {e}") from None


def _time_text(value: datetime, text: str | None, name: str, read: tuple[str, datetime] | None = None) -> str:
    """The text a time is written as: `text` (the nanoseconds and the offset as read) while the
    datetime still is the one read from it, else the datetime's. `read`: the text and datetime a
    load made, which spares parsing the text again."""
    if read and text is read[0] and value is read[1]:
        return text  # untouched since the load
    if not isinstance(value, datetime):
        raise TypeError(f"session {name} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"session {name} must be timezone-aware (toolhive's times carry their UTC offset)")
    if text is not None and _parse_time(text) == value:
        return text  # unchanged: the nanoseconds and the offset as read
    return value.isoformat()


def _parse_time(text: str) -> datetime:
    """Go's RFC 3339 text (what the core returns) as a datetime, the fraction cut to
    microseconds; a year Python cannot hold (0) becomes the first it can."""
    try:  # Python 3.11 reads Go's texts, cutting the fraction as below, except those of the end
        return datetime.fromisoformat(text)
    except ValueError:
        return _parse_time_by_hand(text)


def _parse_time_by_hand(text: str) -> datetime:
    date, _, rest = text.partition("T")
    clock, zone = rest, "+00:00"
    if rest.endswith("Z"):
        clock = rest[:-1]
    else:
        for sign in "+-":
            at = rest.rfind(sign)
            if at > 0:
                clock, zone = rest[:at], rest[at:]
                break
    whole, _, frac = clock.partition(".")
    micro = int((frac + "000000")[:6]) if frac else 0
    year, month, day = (int(x) for x in date.split("-"))
    hour, minute, second = (int(x) for x in whole.split(":"))
    sign = -1 if zone[0] == "-" else 1
    offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])) * sign
    tz = timezone(offset) if abs(offset) < timedelta(hours=24) else timezone.utc
    if year < 1:
        return datetime(1, 1, 1, tzinfo=tz)
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)


def _session(value: Any, ctx: Any = None) -> Session:
    id_, type_, created, updated, data, metadata, _raw = value
    created_text, updated_text = created.decode(), updated.decode()
    data_text = data.decode() if data is not None else None
    created_at, updated_at = _parse_time(created_text), _parse_time(updated_text)
    s = Session(id=id_.decode(), type=type_.decode(), created_at=created_at, updated_at=updated_at,
                data=json.loads(data_text) if data_text is not None else None, metadata=json.loads(metadata),
                created_at_text=created_text, updated_at_text=updated_text, data_text=data_text)
    s.__dict__["_read"] = (created_text, created_at, updated_text, updated_at)  # what _json may skip
    return s


def _map(value: Any, ctx: Any = None) -> dict[str, str] | None:
    return json.loads(value[0])  # type: ignore[no-any-return]


OPS = system_ops("session", {_native.XR_RESULT_SESSION: _session, _native.XR_RESULT_MAP: _map})


def _ttl_ms(ttl: float | timedelta) -> int:
    if isinstance(ttl, timedelta):
        return int(ttl / timedelta(milliseconds=1))
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)):
        raise TypeError(f"ttl must be seconds (int or float) or a timedelta, not {type(ttl).__name__}")
    return int(round(ttl * 1000))


def _go(go: str) -> int:
    if go not in _GO:
        raise ValueError(f"go must be one of {', '.join(map(repr, _GO))}, not {go!r}")
    return _GO[go]


def _check_id(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    return value


class _Store(Owner):
    """What the four stores share: options checked by the core when made, the client (given, or
    opened from ``url`` / ``REDIS_URL`` with client options, _owner.Owner), the native store."""

    _default_prefix = PROXY_PREFIX
    _default_ttl = _PROXY_TTL
    _what = "the session storage"
    _system = OPS["load"].system
    _ping_given = True  # toolhive's constructors connect (and ping)

    def __init__(self, url: str | None = None, client: Client | None = None, *, key_prefix: str | None = None,
                 ttl: float | timedelta | None = None, go: str = "1.27", **client_options: Any) -> None:
        prefix = self._default_prefix if key_prefix is None else key_prefix
        if not isinstance(prefix, str):
            raise TypeError(f"key_prefix must be a str, not {type(prefix).__name__}")
        self._args = (prefix, _ttl_ms(self._default_ttl if ttl is None else ttl), _go(go))
        _native.xr_binding_session_check(*self._args)  # toolhive's refusals, now
        super().__init__(url, client, client_options)

    def _make(self, client_handle: Any) -> Any:
        return _native.xr_binding_session_storage_new(client_handle, *self._args)[1]

    def _free(self, handle: Any) -> None:
        _native.xr_session_storage_free(handle)

    @property
    def key_prefix(self) -> str:
        return self._args[0]

    @property
    def ttl(self) -> timedelta:
        return timedelta(milliseconds=self._args[1])

    def __repr__(self) -> str:
        return f"<{type(self).__name__} prefix={self.key_prefix!r} ttl={self.ttl}>"


class _Sync(_Store, SyncOwner):
    def _call(self, name: str, *args: Any) -> Any:
        op = OPS[name]
        return op.decode(self._live().call(op.alone, *args), None)


class RedisStorage(_Sync):
    """toolhive's ``RedisStorage`` (default prefix ``thv:proxy:session:``, TTL 2 h)."""

    def store(self, session: Session) -> None:
        """``set <key> <record> ex <ttl>``: overwrites, re-applies the TTL."""
        self._call("store", session._json())

    def load(self, id: str) -> Session:
        """``getex <key> ex <ttl>`` (the TTL slides). :class:`SessionNotFoundError` when missing."""
        return self._call("load", _check_id("id", id))  # type: ignore[no-any-return]

    def delete(self, id: str) -> None:
        self._call("delete", _check_id("id", id))

    def delete_expired(self, before: datetime | None = None) -> None:
        """Nothing to do, as toolhive's: Redis expires records by their TTL."""

    def create(self, session: Session) -> None:
        """``set ... nx``: :class:`SessionExistsError` when the session exists."""
        self._call("create", session._json())

    def load_metadata(self, id: str) -> dict[str, str] | None:
        """The record's metadata by ``get`` (no TTL change); None when it has none (Go's nil map)."""
        return self._call("load_metadata", _check_id("id", id))  # type: ignore[no-any-return]

    def load_if_owner(self, id: str, owner: str) -> Session:
        """The session when ``metadata[BINDING_KEY] == owner`` (its TTL renewed), else
        :class:`SessionNotFoundError` (as toolhive, a missing and a foreign session look the same)."""
        return self._call("load_if_owner", _check_id("id", id), _check_id("owner", owner))  # type: ignore[no-any-return]

    def store_if_owner(self, session: Session, owner: str) -> bool:
        return bool(self._call("store_if_owner", session._json(), _check_id("owner", owner)))

    def delete_if_owner(self, id: str, owner: str) -> bool:
        return bool(self._call("delete_if_owner", _check_id("id", id), _check_id("owner", owner)))


class RedisSessionDataStorage(_Sync):
    """toolhive's ``RedisSessionDataStorage`` (default prefix ``thv:vmcp:session:``, TTL 30 min)."""

    _default_prefix = VMCP_PREFIX
    _default_ttl = _VMCP_TTL

    def create(self, id: str, data: dict[str, str] | None) -> bool:
        """``set ... nx``: False when it exists."""
        return bool(self._call("data_create", _check_id("id", id), _dumps(data or {}, "data")))

    def update(self, id: str, data: dict[str, str] | None) -> bool:
        """``set ... XX``: False when there is none."""
        return bool(self._call("data_update", _check_id("id", id), _dumps(data or {}, "data")))

    def load(self, id: str) -> dict[str, str] | None:
        """``getex`` (the TTL slides); None for a stored ``null``; :class:`SessionNotFoundError`."""
        return self._call("data_load", _check_id("id", id))  # type: ignore[no-any-return]

    def load_metadata(self, id: str) -> dict[str, str] | None:
        """The same by ``get`` (no TTL change)."""
        return self._call("data_load_metadata", _check_id("id", id))  # type: ignore[no-any-return]

    def delete(self, id: str) -> None:
        self._call("data_delete", _check_id("id", id))


class _Async(_Store, AsyncOwner):
    async def _call(self, name: str, *args: Any) -> Any:
        return await self._submit(OPS[name], args)


class AsyncRedisStorage(_Async):
    """:class:`RedisStorage` for asyncio."""

    async def store(self, session: Session) -> None:
        await self._call("store", session._json())

    async def load(self, id: str) -> Session:
        return await self._call("load", _check_id("id", id))  # type: ignore[no-any-return]

    async def delete(self, id: str) -> None:
        await self._call("delete", _check_id("id", id))

    async def delete_expired(self, before: datetime | None = None) -> None:
        """Nothing to do, as toolhive's."""

    async def create(self, session: Session) -> None:
        await self._call("create", session._json())

    async def load_metadata(self, id: str) -> dict[str, str] | None:
        return await self._call("load_metadata", _check_id("id", id))  # type: ignore[no-any-return]

    async def load_if_owner(self, id: str, owner: str) -> Session:
        return await self._call("load_if_owner", _check_id("id", id), _check_id("owner", owner))  # type: ignore[no-any-return]

    async def store_if_owner(self, session: Session, owner: str) -> bool:
        return bool(await self._call("store_if_owner", session._json(), _check_id("owner", owner)))

    async def delete_if_owner(self, id: str, owner: str) -> bool:
        return bool(await self._call("delete_if_owner", _check_id("id", id), _check_id("owner", owner)))


class AsyncRedisSessionDataStorage(_Async):
    """:class:`RedisSessionDataStorage` for asyncio."""

    _default_prefix = VMCP_PREFIX
    _default_ttl = _VMCP_TTL

    async def create(self, id: str, data: dict[str, str] | None) -> bool:
        return bool(await self._call("data_create", _check_id("id", id), _dumps(data or {}, "data")))

    async def update(self, id: str, data: dict[str, str] | None) -> bool:
        return bool(await self._call("data_update", _check_id("id", id), _dumps(data or {}, "data")))

    async def load(self, id: str) -> dict[str, str] | None:
        return await self._call("data_load", _check_id("id", id))  # type: ignore[no-any-return]

    async def load_metadata(self, id: str) -> dict[str, str] | None:
        return await self._call("data_load_metadata", _check_id("id", id))  # type: ignore[no-any-return]

    async def delete(self, id: str) -> None:
        await self._call("data_delete", _check_id("id", id))
