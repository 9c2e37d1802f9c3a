/* Lock tokens as each upstream runtime writes them, from a CSPRNG, and the origin of a token:
 * which writer made it, from its prefix and suffix shape (SPEC.md 1.3).
 *
 *   writer                       token
 *   TS node-redis adapter        redis_<ms>_<base36, 1..13 chars>
 *   TS ioredis adapter           ioredis_<ms>_<base36, 1..13 chars>
 *   TS memory adapter            mem_<ms>_<base36>
 *   TS pg adapter                pg_<uuid>
 *   Python port, redis           redis_<ms>_<32 lower-case hex>
 *   Python port, ioredis-compat  ioredis_<ms>_<32 lower-case hex>
 *   crossredis                   <prefix>_<ms>_<suffix in either shape, with check characters>
 *
 * crossredis writes the same shapes (upstream compares tokens only as whole strings), but the
 * last two characters of its suffix are a check over the rest. A token that fails the check is
 * not crossredis's. A token that passes it may still be an upstream one: a genuine upstream token
 * of 13 base36 or 32 hex characters passes by chance once in 1296 (base36) or 256 (hex), so the
 * shape alone cannot tell "crossredis" from "the upstream writer of that shape"
 * (xr_chat_origins says which writers a token may come from). The check is h = FNV-1a 32 over
 * "crossredis:" followed by the token's bytes before the check characters; base36 writes
 * h % 1296 as two [0-9a-z] digits, hex32 h % 256 as two hex digits, high digit first. It tells
 * writers apart; it is no protection against forgery.
 *
 * Thread safety: reentrant. Random bytes come from getrandom(2), buffered per thread; a forked
 * child never reuses its parent's buffered bytes. */
#ifndef CROSSREDIS_TOKEN_H
#define CROSSREDIS_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum xr_token_suffix {
  XR_TOKEN_BASE36 = 1, /* 13 chars of [0-9a-z], like the TS adapters' Math.random() suffix */
  XR_TOKEN_HEX32 = 2   /* 32 lower-case hex digits, like the Python port's secrets.token_hex(16) */
} xr_token_suffix;

/* The longest token prefix accepted, and room for any token xr_token_make writes (with NUL). */
#define XR_TOKEN_PREFIX_MAX 64
#define XR_TOKEN_MAX 128

/* Writes "<prefix>_<now_ms>_<suffix>" with a random suffix of `shape` and crossredis's check
 * characters, NUL-terminated, into buf (size >= XR_TOKEN_MAX is always enough). now_ms is written
 * in decimal without leading zeros. The suffix is 11 random [0-9a-z] (uniform, no modulo bias)
 * plus 2 check characters, or 30 random hex digits plus 2. Returns the length (without the NUL),
 * or XR_EINVAL (buf NULL; prefix NULL, empty, longer than XR_TOKEN_PREFIX_MAX, or holding bytes
 * outside [A-Za-z0-9-]: a '_' would move the boundary xr_chat_origin_of reads; now_ms
 * negative; unknown shape; buf too small), or XR_EIO when the system's random source fails. On
 * failure buf holds "" when size > 0. */
XR_API int xr_token_make(char *buf, size_t size, const char *prefix, size_t prefix_len, int64_t now_ms,
                         xr_token_suffix shape);

/* Fills buf with n bytes from the system CSPRNG (getrandom), through a per-thread buffer;
 * requests larger than the buffer go to the kernel directly. Returns 0; XR_EINVAL when buf is
 * NULL and n > 0; XR_EIO when the system's random source fails (e.g. ENOSYS). n == 0 always
 * succeeds. */
XR_API int xr_random_bytes(void *buf, size_t n);

/* A random (version 4) UUID as text, as Python's str(uuid.uuid4()) writes it: 36 characters,
 * lower-case hex in 8-4-4-4-12 groups, the version nibble 4 and the variant bits 10, 122 bits
 * from the system CSPRNG; NUL-terminated in out. Returns 0, XR_EINVAL when out is NULL, XR_EIO
 * when the random source fails. */
#define XR_UUID4_LEN 36
XR_API int xr_uuid4(char out[XR_UUID4_LEN + 1]);

#ifdef __cplusplus
}
#endif

/* Which runtime wrote a lock token is the Chat SDK state's business: chat_origin.h. */
#include "chat_origin.h"
#endif
