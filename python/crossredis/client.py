"""The client: one handle for a Redis server (TCP, unix socket or TLS) with a pool of connections,
safe to share between threads; every network call releases the GIL."""

from __future__ import annotations

import inspect
import operator
from types import TracebackType
from typing import Any

from . import _native
from ._guard import Guard

__all__ = ["Client"]


def redact_url(url: str | None) -> str | None:
    """``url`` with its password shown as ``***`` (``redis://user:***@host:6379``)."""
    return None if url is None else _native.xr_binding_url_redact(url)


def check_client_options(options: dict[str, Any]) -> None:
    """TypeError for a keyword :class:`Client` does not take, when an adapter is made (not later,
    when it connects)."""
    unknown = sorted(set(options) - _CLIENT_OPTIONS)
    if unknown:
        raise TypeError(f"unexpected keyword argument {unknown[0]!r}: the Client options are "
                        f"{', '.join(sorted(_CLIENT_OPTIONS))}")

_INT_OPTIONS = ("connect_timeout_ms", "command_timeout_ms", "pool_size", "db")


def _int_option(name: str, value: int | None) -> int:
    if value is None:
        return -1
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not bool")
    try:
        n = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int, not {type(value).__name__}") from None
    if n < 0:
        raise ValueError(f"{name} must be >= 0, not {n}")
    if n > 2**31 - 1:
        raise ValueError(f"{name} is too large: {n}")
    return n


def _str_option(name: str, value: str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)) and name in ("ca_pem", "cert_pem", "key_pem"):
        return bytes(value).decode("ascii")
    raise TypeError(f"{name} must be a str, not {type(value).__name__}")


class Client:
    """A Redis client made by the C core.

    ``url`` is ``redis://[[user]:password@]host[:port][/db][?option=value&...]``, ``rediss://...``
    (TLS) or ``unix:///path/to/socket``; ``None`` means ``redis://127.0.0.1:6379``. Keyword options
    override what the URL says:

    - ``connect_timeout_ms`` (default 5000), ``command_timeout_ms`` (per reply, default 3000),
      ``pool_size`` (connections at most, default 8), ``username``, ``password``, ``db``,
      ``client_name`` (CLIENT SETNAME on each connection);
    - TLS: ``ca_file`` or ``ca_pem``, ``cert_file`` and ``key_file`` or ``cert_pem`` and
      ``key_pem``, ``server_name`` (SNI and verification), ``insecure`` (no peer verification).
      Any of them turns TLS on.

    Opening connects once and sends PING, so a wrong address, password or certificate fails here
    with its own :class:`crossredis.ConnectionError` subclass.

    A client may be used from many threads at once. :meth:`close` (or leaving a ``with`` block)
    waits for the calls in progress, then closes every connection; later calls raise
    :class:`crossredis.ClientClosedError`.
    """

    __slots__ = ("_guard", "_address", "__weakref__")

    def __init__(
        self,
        url: str | None = None,
        *,
        connect_timeout_ms: int | None = None,
        command_timeout_ms: int | None = None,
        pool_size: int | None = None,
        username: str | None = None,
        password: str | None = None,
        db: int | None = None,
        client_name: str | None = None,
        ca_file: str | None = None,
        ca_pem: str | None = None,
        cert_file: str | None = None,
        key_file: str | None = None,
        cert_pem: str | None = None,
        key_pem: str | None = None,
        server_name: str | None = None,
        insecure: bool | None = None,
    ) -> None:
        if url is not None and not isinstance(url, str):
            raise TypeError(f"url must be a str, not {type(url).__name__}")
        if insecure is not None and not isinstance(insecure, bool):
            raise TypeError(f"insecure must be a bool, not {type(insecure).__name__}")
        _, handle = _native.xr_binding_client_open(
            url,
            _int_option("connect_timeout_ms", connect_timeout_ms),
            _int_option("command_timeout_ms", command_timeout_ms),
            _int_option("pool_size", pool_size),
            _str_option("username", username),
            _str_option("password", password),
            _int_option("db", db),
            _str_option("client_name", client_name),
            _str_option("ca_file", ca_file),
            _str_option("ca_pem", ca_pem),
            _str_option("cert_file", cert_file),
            _str_option("key_file", key_file),
            _str_option("cert_pem", cert_pem),
            _str_option("key_pem", key_pem),
            _str_option("server_name", server_name),
            -1 if insecure is None else int(insecure),
        )
        self._address: str = _native.xr_client_address(handle)
        # closing wakes the calls that wait inside (a blocking acquire, a wait for a connection)
        self._guard = Guard(handle, _native.xr_client_close, f"the client of {self._address}",
                            interrupt=_native.xr_client_shutdown)

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def address(self) -> str:
        """``host:port`` or the socket path."""
        return self._address

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._guard.closed

    def close(self) -> None:
        """Waits for the calls in progress, then closes every connection. Idempotent."""
        self._guard.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __del__(self) -> None:
        guard = getattr(self, "_guard", None)
        if guard is not None:
            try:
                guard.close()
            except Exception:  # interpreter shutdown
                pass

    def __repr__(self) -> str:
        return f"<crossredis.Client {self._address}{' closed' if self.closed else ''}>"

    # -- commands -----------------------------------------------------------------------------

    def command(self, *args: str | bytes | int | float) -> Any:
        """Sends one command and returns its reply as Python values: bulk strings as ``bytes``,
        status replies as ``str``, integers, ``None`` for nil, lists for arrays, sets and maps.
        Arguments are ``str`` (sent as UTF-8), ``bytes``, ``int`` or ``float``. An error reply
        raises :class:`crossredis.ResponseError` (WRONGTYPE: :class:`crossredis.WrongTypeError`).
        """
        if not args:
            raise TypeError("command() needs at least the command's name")
        return self._guard.call(_native.xr_client_command, args)[1]

    def ping(self) -> bool:
        """PING; True when the server answered PONG."""
        self._guard.call(_native.xr_client_ping)
        return True

    # -- for the layers above -----------------------------------------------------------------

    def _enter(self) -> Any:
        return self._guard.enter()

    def _leave(self) -> None:
        self._guard.leave()


_CLIENT_OPTIONS = frozenset(name for name, p in inspect.signature(Client.__init__).parameters.items()
                            if p.kind is p.KEYWORD_ONLY)
