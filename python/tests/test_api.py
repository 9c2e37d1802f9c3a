"""The public surface: __all__, docstrings, typing files, and the exception names type checkers see."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import crossredis
import crossredis.chat
import crossredis.client
import crossredis.errors
import crossredis.window
from crossredis import _native

PACKAGE = Path(crossredis.__file__).parent
MODULES = [crossredis, crossredis.chat, crossredis.client, crossredis.errors, crossredis.window]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_every_public_name_is_exported_and_documented(module) -> None:
    assert module.__doc__
    assert module.__all__
    for name in module.__all__:
        obj = getattr(module, name)  # exists
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert obj.__doc__, f"{module.__name__}.{name} has no docstring"
        if inspect.isclass(obj):
            for attr, member in vars(obj).items():
                if attr.startswith("_") or not (inspect.isfunction(member) or isinstance(member, property)):
                    continue
                assert member.__doc__, f"{module.__name__}.{name}.{attr} has no docstring"


def test_the_package_is_typed() -> None:
    assert (PACKAGE / "py.typed").is_file()
    assert (PACKAGE / "_native.pyi").is_file()


def test_type_checkers_see_every_exception_class() -> None:
    """errors.py makes its classes from the core's table at import; the TYPE_CHECKING block that
    names them for type checkers must list the same classes with the same parents."""
    tree = ast.parse((PACKAGE / "errors.py").read_text())
    declared: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for cls in node.body:
                assert isinstance(cls, ast.ClassDef)
                declared[cls.name] = cls.bases[0].id  # type: ignore[attr-defined]
    table: dict[str, str] = {}
    i = 0
    while (row := _native.xr_error_info_at(i)) is not None:
        i += 1
        if row.code != 0:
            table[row.class_name] = row.parent_class
    assert declared == table
    for name, parent in table.items():
        cls = getattr(crossredis, name)
        assert cls.__bases__[0] is getattr(crossredis, parent) and name in crossredis.__all__


def test_exceptions_also_derive_from_the_builtin_ones() -> None:
    """``except TimeoutError`` / ``except ConnectionError`` / ``except ValueError`` written for
    the built-ins catch crossredis's (and the TYPE_CHECKING block says so too)."""
    import builtins
    assert issubclass(crossredis.TimeoutError, builtins.TimeoutError)
    assert issubclass(crossredis.TimeoutError, crossredis.ConnectionError)
    assert issubclass(crossredis.ConnectionError, builtins.ConnectionError)
    assert issubclass(crossredis.ConnectionLostError, builtins.ConnectionError)
    assert issubclass(crossredis.InvalidArgumentError, ValueError)
    assert issubclass(crossredis.OutOfRangeError, ValueError)
    assert not issubclass(crossredis.ResponseError, ValueError)
    try:
        crossredis.Client("redis://127.0.0.1:1", connect_timeout_ms=200)
    except ConnectionError as e:  # the built-in name
        assert isinstance(e, crossredis.ConnectionError)
        assert "127.0.0.1:1" in str(e)
    else:
        raise AssertionError("a refused connection did not raise")
    tree = ast.parse((PACKAGE / "errors.py").read_text())
    bases = {c.name: [ast.unparse(b) for b in c.bases] for c in ast.walk(tree) if isinstance(c, ast.ClassDef)}
    assert bases["TimeoutError"] == ["ConnectionError", "builtins.TimeoutError"]
    assert bases["ConnectionError"] == ["Error", "builtins.ConnectionError"]
    assert bases["InvalidArgumentError"] == ["Error", "builtins.ValueError"]


def test_the_chat_names_match_the_port() -> None:
    import chat_sdk.state.redis as chat_sdk_redis  # installed by the bootstrap: missing is a failure
    for name in ("RedisStateAdapter", "IoRedisStateAdapter"):
        ours, theirs = getattr(crossredis.chat, name), getattr(chat_sdk_redis, name)
        port_methods = {n for n, m in vars(chat_sdk_redis.RedisStateAdapter).items()
                        if inspect.isfunction(m) and not n.startswith("_")}
        for method in port_methods:
            mine = getattr(ours, method)
            assert inspect.iscoroutinefunction(mine) == inspect.iscoroutinefunction(getattr(theirs, method)), method
            port_params = inspect.signature(getattr(theirs, method)).parameters
            my_params = inspect.signature(mine).parameters
            for p in port_params.values():  # every keyword of the port is accepted, same default
                assert p.name in my_params, f"{name}.{method}({p.name})"
                assert my_params[p.name].default == p.default or p.name in ("url", "client"), (method, p.name)
    import chat_sdk.types

    for cls in ("Lock", "QueueEntry"):
        ours_fields = list(getattr(crossredis.chat, cls).__dataclass_fields__)
        assert ours_fields == list(getattr(chat_sdk.types, cls).__dataclass_fields__)
    # the sync twin has the same methods
    for method in vars(crossredis.chat.RedisStateAdapter):
        if not method.startswith("_") and method != "batcher":
            assert hasattr(crossredis.chat.State, method), method
