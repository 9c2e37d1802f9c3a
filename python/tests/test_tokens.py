"""crossredis.token_origin / token_origins: which runtime wrote a lock token. The tokens are
fixed vectors, so nothing here depends on a random token passing or failing crossredis's check."""

from __future__ import annotations

import pytest

import crossredis

# Captured from the upstream runtimes (they fail crossredis's check: certain).
PY_PORT = "redis_1795298445478_1e5da04afffc52455cb070715847468d"
TS_IOREDIS = "ioredis_1795298431807_j5nlkbnyltf"
TS_IOREDIS_13 = "ioredis_1795298431807_j5nlkbnyltfaa"  # 13 base36 characters, failing the check
# The same shapes with the two last characters that pass the check: what an upstream runtime
# writes once in 256 (hex) / 1296 (base36) tokens, and what crossredis always writes.
PY_PORT_PASSING = "redis_1795298445478_1e5da04afffc52455cb070715847408b"
TS_IOREDIS_PASSING = "ioredis_1795298431807_j5nlkbnyltfgc"


@pytest.mark.parametrize("token, origin, origins", [
    (PY_PORT, "python-redis", ["python-redis"]),
    (TS_IOREDIS, "ts-ioredis", ["ts-ioredis"]),
    (TS_IOREDIS_13, "ts-ioredis", ["ts-ioredis"]),
    (PY_PORT_PASSING, "crossredis", ["crossredis", "python-redis"]),
    (TS_IOREDIS_PASSING, "crossredis", ["crossredis", "ts-ioredis"]),
    ("pg_3b241101-e2bb-4255-8caf-4136c566a962", "ts-pg", ["ts-pg"]),
    ("something-else", "unknown", ["unknown"]),
    ("", "unknown", ["unknown"]),
])
def test_origins(token: str, origin: str, origins: list[str]) -> None:
    assert crossredis.token_origin(token) == origin
    assert crossredis.token_origins(token) == origins
    assert crossredis.token_origins(token.encode()) == origins


def test_crossredis_tokens(server) -> None:
    """Tokens the adapter makes: crossredis or the upstream writer whose shape they have."""
    from crossredis.chat import State

    for kwargs, upstream in [({}, "python-redis"), ({"token_prefix": "ioredis"}, "python-ioredis"),
                             ({"token_prefix": "ioredis", "token_suffix": "base36"}, "ts-ioredis")]:
        with State(server.url, key_prefix="py-tokens", **kwargs) as st:
            lock = st.acquire_lock("t", 5000)
            assert lock is not None
            assert crossredis.token_origin(lock.token) == "crossredis"
            assert crossredis.token_origins(lock.token) == ["crossredis", upstream]
            st.release_lock(lock)


def test_not_a_string() -> None:
    with pytest.raises(TypeError):
        crossredis.token_origins(5)  # type: ignore[arg-type]
