# The private SWIG module: typed loosely on purpose (the public layer above is what users call).
from typing import Any

def __getattr__(name: str) -> Any: ...
