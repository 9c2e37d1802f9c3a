"""The client: one handle for a Redis server (TCP, unix socket or TLS) with a pool of connections,
safe to share between threads; every network call releases the GIL."""

from __future__ import annotations

import operator
from types import TracebackType
from typing import Any

from . import _native
from ._guard import Guard
from ._loop import LoopConns
from .errors import Error, InvalidArgumentError

__all__ = ["Client", "ClientConfig"]


def redact_url(url: str | None) -> str | None:
    """``url`` with its password shown as ``***`` (``redis://user:***@host:6379``)."""
    return None if url is None else _native.xr_binding_url_redact(url)


# The core's option table (core/include/crossredis/client_options.def): each option's kind.
_KINDS: dict[str, int] = {}
for _i in range(1 << 16):
    _row = _native.xr_client_option_info_at(_i)
    if _row is None:
        break
    _KINDS[_row.name] = _row.kind
del _i, _row

_TEXTS = (_native.XR_OPTION_TEXT, _native.XR_OPTION_SECRET)


def _set_option(handle: Any, name: str, value: Any) -> None:
    """Hands one option to the core as the value it is; here only what a Python value cannot say
    in C (its type for the option's kind, an int past 64 bits), in the words the Node binding
    uses. What the value may be is the core's to say."""
    kind = _KINDS.get(name)
    if kind is None:
        raise TypeError(f"unexpected keyword argument {name!r}: the Client options are "
                        f"{', '.join(sorted(n for n in _KINDS if n != 'url'))}")
    if kind in _TEXTS:
        if isinstance(value, str):  # a lone surrogate travels as WTF-8, for the core to name it
            data = value.encode("utf-8", "surrogatepass")
        elif isinstance(value, (bytes, bytearray)):
            data = bytes(value)
        else:
            raise TypeError(f"{name} must be a string, not {type(value).__name__}")
        _native.xr_client_config_set_text(handle, name, data)
    elif kind == _native.XR_OPTION_INTEGER:
        if isinstance(value, bool):
            raise TypeError(f"{name} must be an integer, not bool")
        try:
            n = operator.index(value)
        except TypeError:
            raise TypeError(f"{name} must be an integer, not {type(value).__name__}") from None
        if not -(2**63) <= n < 2**63:
            raise InvalidArgumentError(f"{name}: {n} is out of range for a 64-bit integer")
        _native.xr_client_config_set_integer(handle, name, n)
    else:
        if not isinstance(value, bool):
            raise TypeError(f"{name} must be a boolean, not {type(value).__name__}")
        _native.xr_client_config_set_boolean(handle, name, value)


class ClientConfig:
    """The core's configuration of a client (core/include/crossredis/config.h): each option given
    (None: not given) handed to the core, which checks it now, so a bad option fails when a client
    or an adapter is made, not when it connects. ``url_source`` names where the URL came from
    (``REDIS_URL``) in its errors."""

    __slots__ = ("_handle",)

    def __init__(self, url: str | None, options: dict[str, Any], url_source: str | None = None) -> None:
        self._handle = _native.xr_client_config_new()[1]
        if url is not None:
            try:
                _set_option(self._handle, "url", url)
            except Error as e:
                if url_source is None:
                    raise
                raise type(e)(f"{url_source}: {e}") from None
        for name, value in options.items():
            if value is not None:
                _set_option(self._handle, name, value)

    def __del__(self) -> None:
        handle = getattr(self, "_handle", None)
        if handle is not None:
            self._handle = None
            _native.xr_client_config_free(handle)


class Client:
    """A Redis client made by the C core.

    ``url`` is ``redis://[[user]:password@]host[:port][/db][?option=value&...]``, ``rediss://...``
    (TLS), ``unix:///path/to/socket``, ``redis+sentinel://host:26379,host:26379/master_name[/db]``
    or ``redis+cluster://host:7000,host:7001`` (``rediss+...`` for TLS); ``None`` means
    ``redis://127.0.0.1:6379``. Keyword options override what the URL says:

    - ``connect_timeout_ms`` (default 5000), ``command_timeout_ms`` (per reply, default 3000),
      ``pool_size`` (connections at most, default 8), ``username``, ``password``, ``db``,
      ``client_name`` (CLIENT SETNAME on each connection);
    - TLS: ``ca_file`` or ``ca_pem``, ``cert_file`` and ``key_file`` or ``cert_pem`` and
      ``key_pem``, ``server_name`` (SNI and verification), ``insecure`` (no peer verification).
      Any of them turns TLS on.
    - Sentinel: ``sentinels`` (``"host:port,host:port"``) with ``master_name``, the sentinels' own
      ``sentinel_username`` and ``sentinel_password``, ``sentinel_tls`` (default: as the data
      nodes); Cluster: ``cluster_nodes`` (seed nodes), ``max_redirects`` (default 16); both:
      ``replica_reads`` (read-only commands may go to a replica).

    Opening connects once and sends PING, so a wrong address, password or certificate fails here
    with its own :class:`crossredis.ConnectionError` subclass.

    A client may be used from many threads at once. :meth:`close` (or leaving a ``with`` block)
    waits for the calls in progress, then closes every connection; later calls raise
    :class:`crossredis.ClientClosedError`.
    """

    __slots__ = ("_guard", "_address", "_loops", "__weakref__")

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
        sentinels: str | None = None,
        master_name: str | None = None,
        cluster_nodes: str | None = None,
        sentinel_username: str | None = None,
        sentinel_password: str | None = None,
        sentinel_tls: bool | None = None,
        replica_reads: bool | None = None,
        max_redirects: int | None = None,
    ) -> None:
        # every parameter is an option of the core's table, named as it names them
        given = {name: value for name, value in locals().items() if name in _KINDS}
        self._open(ClientConfig(given.pop("url"), given))

    @classmethod
    def _from_config(cls, config: ClientConfig) -> Client:
        """A client opened from a configuration made before (by an adapter, when it was made)."""
        client = cls.__new__(cls)
        client._open(config)
        return client

    def _open(self, config: ClientConfig) -> None:
        _, handle = _native.xr_tls_client_open_config(config._handle)
        self._address: str = _native.xr_client_address(handle)
        loops: LoopConns

        def interrupt(h: Any) -> None:
            # closing wakes the calls that wait inside (a blocking acquire, a wait for a
            # connection) and fails the batches that no event loop will finish
            _native.xr_client_shutdown(h)
            loops.cancel_stuck()

        def close(h: Any) -> None:
            loops.close()  # the event loops' connections go before their client
            _native.xr_client_close(h)

        self._guard = Guard(handle, close, f"the client of {self._address}", interrupt=interrupt)
        self._loops = loops = LoopConns(self._guard)

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def address(self) -> str:
        """``host:port`` or the socket path; ``cluster host:port (+N)`` (the first seed node and how
        many more), ``master 'name' of sentinels host:port,...``."""
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


