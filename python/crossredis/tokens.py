"""Which runtime wrote a Chat SDK lock token, told from its shape (the C core's token.h).

Names: "ts-node-redis", "ts-ioredis", "ts-memory", "ts-pg", "python-redis", "python-ioredis",
"crossredis", "unknown". crossredis writes the upstream shapes with two check characters at the
end; a genuine upstream token of the same shape passes that check by chance (1 in 1296 for 13
base36 characters, 1 in 256 for 32 hex digits), so the shape cannot always tell.
"""

from __future__ import annotations

from . import _native

# crossredis first (what token_origin answers), then the others in the core's enum order.
_ORDER = [_native.XR_CHAT_ORIGIN_CROSSREDIS] + [o for o in range(_native.XR_CHAT_ORIGIN_CROSSREDIS + 1)
                                           if o != _native.XR_CHAT_ORIGIN_CROSSREDIS]


def token_origin(token: str | bytes) -> str:
    """The first runtime that may have written `token`: "crossredis" for a token that passes
    crossredis's check, else the upstream writer of its shape, "unknown" for none. Whether that
    is certain: :func:`token_origins`."""
    return str(_native.xr_binding_token_origin(token))


def token_origins(token: str | bytes) -> list[str]:
    """Every runtime that may have written `token`, the first as :func:`token_origin` says it.
    One name when the shape tells; two (``["crossredis", "python-redis"]``) for a token that
    passes crossredis's check in an upstream writer's shape: crossredis writes those, and the
    upstream writer does too once in 256 (hex) or 1296 (base36) tokens."""
    bits = int(_native.xr_chat_origins(token))
    return [str(_native.xr_chat_origin_name(o)) for o in _ORDER if bits & (1 << o)]
