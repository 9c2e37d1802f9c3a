"""The private SWIG module: exceptions made from the core's error table, values in and out."""

from __future__ import annotations

import pytest

import crossredis
from crossredis import _native


def open_client(url: str):
    """A client from a configuration holding the URL alone (every other option at its default)."""
    _, config = _native.xr_client_config_new()
    try:
        assert _native.xr_client_config_set_text(config, "url", url.encode()) == 0
        rc, client = _native.xr_tls_client_open_config(config)
    finally:
        _native.xr_client_config_free(config)
    assert rc == 0
    return client


def test_exception_classes_follow_the_error_table() -> None:
    assert issubclass(crossredis.TimeoutError, crossredis.ConnectionError)
    assert issubclass(crossredis.WrongTypeError, crossredis.ResponseError)
    assert issubclass(crossredis.ConnectionError, crossredis.Error)
    assert crossredis.TimeoutError.code == -5 and crossredis.TimeoutError.name == "ETIMEOUT"
    assert crossredis.error_class(-10) is crossredis.WrongTypeError


def test_refused_connection_names_the_address() -> None:
    with pytest.raises(crossredis.ConnectionError, match=r"cannot connect to 127\.0\.0\.1:1: Connection refused"):
        open_client("redis://127.0.0.1:1")


def test_binary_values_and_error_replies(redis_server) -> None:
    c = open_client(redis_server.url)
    try:
        assert _native.xr_client_command(c, ["SET", "py:k", b"v\x00x"]) == [0, "OK"]
        assert _native.xr_client_command(c, ["GET", "py:k"]) == [0, b"v\x00x"]
        assert _native.xr_client_command(c, ["RPUSH", "py:l", 1, 2.5]) == [0, 2]
        assert _native.xr_client_command(c, ["LRANGE", "py:l", 0, -1]) == [0, [b"1", b"2.5"]]
        with pytest.raises(crossredis.WrongTypeError, match="WRONGTYPE"):
            _native.xr_client_command(c, ["LPUSH", "py:k", "x"])
        with pytest.raises(TypeError, match="command argument 1 is dict"):
            _native.xr_client_command(c, ["GET", {}])
    finally:
        _native.xr_client_close(c)
