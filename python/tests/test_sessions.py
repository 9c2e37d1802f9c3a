"""crossredis.sessions: toolhive's session stores from Python, sync and asyncio, on a standalone
server, the run's Sentinel set and its Cluster (the ``topo`` fixture): the bytes stored are the
captured toolhive v0.66.0 record's, times keep their nanoseconds and offsets through a load and a
store, toolhive's errors and owners, the vMCP data store, batching on the event loop, bad input."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from crossredis import DataError, InvalidArgumentError
from crossredis.sessions import (BINDING_KEY, AsyncRedisSessionDataStorage, AsyncRedisStorage,
                                 RedisSessionDataStorage, RedisStorage, Session, SessionExistsError,
                                 SessionNotFoundError)

# tests/vectors/toolhive-v0.66.0.tagged.txt, "Store SSE session": what toolhive v0.66.0 stored
CAPTURED_ID = "11111111-1111-4111-8111-111111111111"
CAPTURED = (b'{"id":"11111111-1111-4111-8111-111111111111","type":"sse","created_at":"2026-12-04T13:23:50.733781078Z",'
            b'"updated_at":"2026-12-04T13:23:50.733781078Z","data":{"client":"sse","n":1},"metadata":{"backend_url":'
            b'"http://10.0.0.5:8080","vmcp.identity.binding":"https://issuer.example\\u0000subject-42"}}')
OWNER = "https://issuer.example\x00subject-42"


def prefix(topo, kind: str = "proxy") -> str:
    return f"{topo.prefix}:{kind}:"


def captured_session() -> Session:
    t = datetime(2026, 12, 4, 13, 23, 50, 733781, tzinfo=timezone.utc)
    return Session(id=CAPTURED_ID, type="sse", created_at=t, updated_at=t, data={"client": "sse", "n": 1},
                   metadata={"backend_url": "http://10.0.0.5:8080", BINDING_KEY: OWNER},
                   created_at_text="2026-12-04T13:23:50.733781078Z", updated_at_text="2026-12-04T13:23:50.733781078Z")


def test_store_writes_toolhives_bytes(topo) -> None:
    with RedisStorage(topo.url, key_prefix=prefix(topo)) as st:
        st.store(captured_session())
        key = prefix(topo) + CAPTURED_ID
        assert topo.checker.get(key) == CAPTURED
        assert 7199 <= topo.checker.ttl(key) <= 7200
        loaded = st.load(CAPTURED_ID)
        assert loaded.created_at_text == "2026-12-04T13:23:50.733781078Z"
        assert loaded.data == {"client": "sse", "n": 1} and loaded.metadata[BINDING_KEY] == OWNER
        st.store(loaded)  # loaded, stored again: the same bytes (nanoseconds kept)
        assert topo.checker.get(key) == CAPTURED
        loaded.touch()  # a changed time is written from the datetime
        st.store(loaded)
        assert b'"created_at":"2026-12-04T13:23:50.733781078Z"' in topo.checker.get(key)
        assert b'"updated_at":"2026-12-04T13:23:50.733781078Z"' not in topo.checker.get(key)


def test_offsets_and_types(topo) -> None:
    with RedisStorage(topo.url, key_prefix=prefix(topo), ttl=timedelta(seconds=90.5), go="1.26") as st:
        ist = timezone(timedelta(hours=5, minutes=30))
        s = Session(id="o1", type="streamable", created_at=datetime(2026, 1, 2, 3, 4, 5, 500000, tzinfo=ist),
                    updated_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc), data={"dropped": True},
                    metadata={"k": "\u2028<\xff>"})
        st.store(s)
        raw = topo.checker.get(prefix(topo) + "o1")
        assert raw == (b'{"id":"o1","type":"streamable","created_at":"2026-01-02T03:04:05.5+05:30",'
                       b'"updated_at":"2026-01-02T03:04:05Z","metadata":{"k":"\\u2028\\u003c\xc3\xbf\\u003e"}}')
        assert 89000 <= topo.checker.pttl(prefix(topo) + "o1") <= 90500  # px: not a whole number of seconds
        back = st.load("o1")
        assert back.created_at == s.created_at and back.created_at.utcoffset() == timedelta(hours=5, minutes=30)
        assert back.data is None  # a streamable session keeps no data, as toolhive's


def test_missing_existing_owners(topo) -> None:
    with RedisStorage(topo.url, key_prefix=prefix(topo)) as st:
        with pytest.raises(SessionNotFoundError, match="session not found"):
            st.load("nobody")
        with pytest.raises(SessionNotFoundError):
            st.load_metadata("nobody")
        s = Session(id="own", metadata={BINDING_KEY: OWNER})
        st.create(s)
        with pytest.raises(SessionExistsError, match="session already exists"):
            st.create(s)
        with pytest.raises(SessionNotFoundError):
            st.load_if_owner("own", "someone-else")
        assert st.load_if_owner("own", OWNER).id == "own"
        assert st.store_if_owner(s, "someone-else") is False
        assert st.store_if_owner(s, OWNER) is True
        assert st.delete_if_owner("own", "someone-else") is False
        assert st.delete_if_owner("own", OWNER) is True
        with pytest.raises(SessionNotFoundError):
            st.load("own")
        st.store(Session(id="bare"))
        assert st.load_metadata("bare") is None  # Go's nil map
        st.delete("bare")
        st.delete("bare")  # missing: no error
        st.delete_expired(datetime.now(timezone.utc))


def test_data_store(topo) -> None:
    with RedisSessionDataStorage(topo.url, key_prefix=prefix(topo, "vmcp")) as d:
        assert d.ttl == timedelta(minutes=30)
        assert d.update("d1", {"a": "1"}) is False
        assert d.create("d1", {"b": "2", "a": "<1>"}) is True
        assert d.create("d1", {}) is False
        key = prefix(topo, "vmcp") + "d1"
        assert topo.checker.get(key) == b'{"a":"\\u003c1\\u003e","b":"2"}'
        assert d.update("d1", None) is True
        assert d.load("d1") == {}
        topo.checker.set(key, b"null")
        assert d.load_metadata("d1") is None
        d.delete("d1")
        with pytest.raises(SessionNotFoundError):
            d.load("d1")


def test_bad_input_changes_nothing(topo) -> None:
    with RedisStorage(topo.url, key_prefix=prefix(topo)) as st:
        st.store(Session(id="good"))
        before = topo.checker.get(prefix(topo) + "good")
        with pytest.raises(InvalidArgumentError, match="cannot load session with empty ID"):
            st.load("")
        with pytest.raises(InvalidArgumentError, match="cannot store session with empty ID"):
            st.store(Session(id=""))
        with pytest.raises(ValueError, match="timezone-aware"):
            st.store(Session(id="good", created_at=datetime(2026, 1, 1)))
        with pytest.raises(InvalidArgumentError, match="sessionData.metadata.n of type string"):
            st.store(Session(id="good", metadata={"n": 1}))  # type: ignore[dict-item]
        with pytest.raises(TypeError):
            st.load(5)  # type: ignore[arg-type]
        topo.checker.set(prefix(topo) + "bad", b"{bad")
        with pytest.raises(DataError, match="failed to unmarshal session data: invalid character 'b' looking for beginning"):
            st.load("bad")
        assert topo.checker.get(prefix(topo) + "good") == before
    with pytest.raises(InvalidArgumentError, match="must end with ':'"):
        RedisStorage(topo.url, key_prefix="thv:proxy:session")
    with pytest.raises(InvalidArgumentError, match="ttl must be a positive duration"):
        RedisStorage(topo.url, ttl=-1)
    # 0, and a ttl that rounds to 0 ms, are refused as toolhive refuses them: never the default 2 h
    for ttl in (0, 0.0004, timedelta(0)):
        for store in (RedisStorage, RedisSessionDataStorage):
            with pytest.raises(InvalidArgumentError, match=r"ttl must be a positive duration \(ttl_ms 0\)"):
                store(topo.url, ttl=ttl)
    with pytest.raises(ValueError, match="go must be one of"):
        RedisStorage(topo.url, go="1.25")


def test_asyncio(topo) -> None:
    async def main() -> None:
        async with AsyncRedisStorage(topo.url, key_prefix=prefix(topo)) as st:
            await st.store(captured_session())
            loads = await asyncio.gather(*[st.load(CAPTURED_ID) for _ in range(64)])
            assert all(s.created_at_text == "2026-12-04T13:23:50.733781078Z" for s in loads)
            assert st.batcher is not None and st.batcher.exec_count <= 3  # one batch per loop turn
            with pytest.raises(SessionNotFoundError):
                await st.load("nobody")
            assert await st.delete_if_owner(CAPTURED_ID, OWNER) is True
        async with AsyncRedisSessionDataStorage(topo.url, key_prefix=prefix(topo, "vmcp")) as d:
            assert await d.create("x", {"k": "v"}) is True
            assert await d.load("x") == {"k": "v"}
    asyncio.run(main())
    assert topo.checker.get(prefix(topo) + CAPTURED_ID) is None


def test_time_texts_parse_the_same_either_way() -> None:
    """The fast reading of Go's RFC 3339 texts (datetime.fromisoformat) gives what the reading by
    hand gives: the fraction cut to microseconds, the offset kept, year 0 as year 1."""
    from crossredis.sessions import _parse_time, _parse_time_by_hand
    texts = ["2026-12-05T09:00:00.123456789Z", "2026-12-05T09:00:00.5+05:30", "0001-01-01T00:00:00Z",
             "0000-01-01T00:00:00Z", "2026-12-05T23:59:59.999999999-07:00", "2026-12-05T09:00:00+23:59",
             "9999-12-31T23:59:59.000000001-00:00", "2024-02-29T12:00:00.1Z"]
    for t in texts:
        fast, slow = _parse_time(t), _parse_time_by_hand(t)
        assert (fast, fast.utcoffset()) == (slow, slow.utcoffset()), t


def test_a_loaded_session_is_written_back_with_its_texts(topo) -> None:
    """A loaded session stored unchanged keeps its nanoseconds and offsets; a changed time is
    written from the datetime (the texts as read no longer apply)."""
    with RedisStorage(topo.url, key_prefix=prefix(topo)) as st:
        topo.checker.set(prefix(topo) + "wb", '{"id":"wb","type":"sse","created_at":"2026-12-05T09:00:00.123456789+05:30",'
                                              '"updated_at":"2026-12-05T09:30:00.987654321Z"}')
        s = st.load("wb")
        st.store(s)
        assert topo.checker.get(prefix(topo) + "wb") == (
            b'{"id":"wb","type":"sse","created_at":"2026-12-05T09:00:00.123456789+05:30",'
            b'"updated_at":"2026-12-05T09:30:00.987654321Z"}')
        s.updated_at = datetime(2027, 1, 2, 3, 4, 5, 600000, tzinfo=timezone.utc)
        st.store(s)
        assert b'"updated_at":"2027-01-02T03:04:05.6Z"' in topo.checker.get(prefix(topo) + "wb")
        assert b'"created_at":"2026-12-05T09:00:00.123456789+05:30"' in topo.checker.get(prefix(topo) + "wb")
