"""Exceptions, made from the C core's error table (core/include/crossredis/errors.def).

Every error crossredis raises is a :class:`Error`; connection trouble is a
:class:`ConnectionError` (with :class:`TimeoutError`, :class:`AuthenticationError`,
:class:`TLSError` and :class:`ConnectionLostError` under it); error replies are
:class:`ResponseError` (:class:`WrongTypeError` for WRONGTYPE). The message is the core's: it
names what failed ("cannot connect to 127.0.0.1:6390: Connection refused").

:class:`ConnectionError` and :class:`TimeoutError` also derive from the built-in exceptions of the
same names, and :class:`InvalidArgumentError` from :class:`ValueError`, so ``except TimeoutError``
or ``except ValueError`` catch them as well.
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING

from . import _native

__all__ = ["Error"]


class Error(Exception):
    """The root of every crossredis error. ``code`` is the core's XR_E* value, ``name`` its name."""

    code: int = 0
    name: str = "OK"


if TYPE_CHECKING:  # what _build() makes from the table, for type checkers (tests keep it in step)
    class InvalidArgumentError(Error, builtins.ValueError): ...
    class OutOfMemoryError(Error): ...
    class ConnectionError(Error, builtins.ConnectionError): ...
    class ConnectionLostError(ConnectionError): ...
    class TimeoutError(ConnectionError, builtins.TimeoutError): ...
    class AuthenticationError(ConnectionError): ...
    class TLSError(ConnectionError): ...
    class ProtocolError(Error): ...
    class ResponseError(Error): ...
    class WrongTypeError(ResponseError): ...
    class NotFoundError(Error): ...
    class DataError(Error): ...
    class ClientClosedError(Error): ...
    class CallbackError(Error): ...
    class UnsupportedError(Error): ...
    class OutOfRangeError(InvalidArgumentError): ...
    class CrossSlotError(ResponseError): ...
    class ClusterDownError(ResponseError): ...
    class TooManyRedirectsError(ResponseError): ...
    class ReadOnlyError(ResponseError): ...
    class MasterNotFoundError(ConnectionError): ...
    class NoReplicasError(ResponseError): ...
    class BusyLoadingError(ConnectionError): ...
    class AlreadyExistsError(Error): ...


# Built-in exceptions some classes also derive from, so code that catches those catches ours:
# ``except TimeoutError`` (the built-in) catches a crossredis timeout, ``except ValueError`` a
# refused argument.
_ALSO = {"InvalidArgumentError": builtins.ValueError, "ConnectionError": builtins.ConnectionError,
         "TimeoutError": builtins.TimeoutError}


def _build() -> dict[int, type[Error]]:
    classes: dict[str, type[Error]] = {"Error": Error}
    by_code: dict[int, type[Error]] = {}
    i = 0
    while True:
        row = _native.xr_error_info_at(i)
        if row is None:
            break
        i += 1
        if row.code == 0:
            continue
        cls = classes.get(row.class_name)
        if cls is None:
            parent = classes[row.parent_class]
            also = _ALSO.get(row.class_name)
            bases: tuple[type, ...] = (parent, also) if also is not None else (parent,)
            cls = type(row.class_name, bases, {"__doc__": row.description[:1].upper() + row.description[1:] + ".",
                                                  "__module__": __name__, "code": row.code, "name": row.name})
            classes[row.class_name] = cls
            __all__.append(row.class_name)
        by_code[row.code] = cls
    globals().update(classes)
    return by_code


_BY_CODE = _build()
_native.xr_py_set_error_classes(_BY_CODE)


def error_class(code: int) -> type[Error]:
    """The exception class of a core error code."""
    return _BY_CODE.get(code, Error)
