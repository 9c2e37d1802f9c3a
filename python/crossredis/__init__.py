"""crossredis: Redis state shared byte for byte across runtimes (C core, SWIG-generated binding).

- :class:`Client`: a thread-safe Redis client over the C core (``command()``, ``ping()``).
- :mod:`crossredis.chat`: the Chat SDK state adapter (asyncio drop-in for ``chat_sdk``'s
  ``RedisStateAdapter``, and the synchronous :class:`crossredis.chat.State`).
- :mod:`crossredis.sessions`: toolhive's transport-session stores.
- :mod:`crossredis.ayepi`: ayepi's work Store, response cache and pub/sub broker.
- :mod:`crossredis.window`: key families and migration windows (an old key shape to a new one).
- Exceptions: :class:`Error` and its subclasses, made from the core's error table.
- :func:`token_origin`, :func:`token_origins`: which runtime wrote a lock token.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import errors as _errors
from .client import Client
from .errors import *  # noqa: F401,F403  (the exception classes)
from .errors import Error, error_class
from .tokens import token_origin, token_origins

from . import chat  # noqa: E402  (imports the classes above)
from . import sessions  # noqa: E402
from . import ayepi  # noqa: E402
from . import window  # noqa: E402

if TYPE_CHECKING:  # the table's classes, named for type checkers
    from .errors import (AlreadyExistsError, AuthenticationError, BusyLoadingError, CallbackError, ClientClosedError, ClusterDownError,
                         ConnectionError, ConnectionLostError, CrossSlotError, DataError, InvalidArgumentError,
                         MasterNotFoundError, NoReplicasError, NotFoundError, OutOfMemoryError, OutOfRangeError,
                         ProtocolError, ReadOnlyError, ResponseError, TimeoutError, TLSError, TooManyRedirectsError,
                         UnsupportedError, WrongTypeError)

__version__ = "0.1.0"
__all__ = ["Client", "Error", "chat", "sessions", "ayepi", "window", "error_class", "token_origin", "token_origins", "__version__",
           *[name for name in _errors.__all__ if name != "Error"]]
