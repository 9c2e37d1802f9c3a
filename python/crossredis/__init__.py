"""crossredis: Redis state shared byte for byte across runtimes (C core, SWIG-generated binding)."""

from __future__ import annotations

from .errors import *  # noqa: F401,F403  (the exception classes)
from .errors import Error, error_class

__version__ = "0.1.0"
__all__ = ["Error", "error_class", "__version__"]
