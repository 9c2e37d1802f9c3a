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
 * (xr_token_origins says which writers a token may come from). The check is h = FNV-1a 32 over
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
 * outside [A-Za-z0-9-]: a '_' would move the boundary xr_token_origin_of reads; now_ms
 * negative; unknown shape; buf too small), or XR_EIO when the system's random source fails. On
 * failure buf holds "" when size > 0. */
XR_API int xr_token_make(char *buf, size_t size, const char *prefix, size_t prefix_len, int64_t now_ms,
                         xr_token_suffix shape);

/* Fills buf with n bytes from the system CSPRNG (getrandom), through a per-thread buffer;
 * requests larger than the buffer go to the kernel directly. Returns 0; XR_EINVAL when buf is
 * NULL and n > 0; XR_EIO when the system's random source fails (e.g. ENOSYS). n == 0 always
 * succeeds. */
XR_API int xr_random_bytes(void *buf, size_t n);

typedef enum xr_token_origin {
  XR_ORIGIN_UNKNOWN = 0,
  XR_ORIGIN_TS_NODE_REDIS = 1,
  XR_ORIGIN_TS_IOREDIS = 2,
  XR_ORIGIN_TS_MEMORY = 3,
  XR_ORIGIN_TS_PG = 4,
  XR_ORIGIN_PYTHON_REDIS = 5,
  XR_ORIGIN_PYTHON_IOREDIS = 6,
  XR_ORIGIN_CROSSREDIS = 7
} xr_token_origin;

typedef struct xr_token_info {
  xr_token_origin origin;
  /* The upstream writer whose shape the token has (for a crossredis token: the one it mimics,
   * e.g. XR_ORIGIN_TS_IOREDIS for ioredis_<ms>_<13 base36>); XR_ORIGIN_UNKNOWN when none. */
  xr_token_origin shape_of;
  int64_t created_ms;   /* the <ms> part; -1 when the token has none (pg, most unknown ones) */
  const char *prefix;   /* points into the token; the part before the first '_' */
  size_t prefix_len;
} xr_token_info;

/* Classifies `token` (binary-safe; NULL or any NUL byte: unknown). Returns its origin, the first
 * writer it may come from (crossredis for a token that passes the check); fills *info when info is
 * not NULL. A crossredis answer is not always certain: when info->shape_of names an upstream
 * writer the token is also a valid token of that writer (xr_token_origins gives both). The token is read as "<prefix>_<ms>_<suffix>": prefix [A-Za-z0-9-]+ up
 * to the first '_', ms 1..20 decimal digits up to INT64_MAX, suffix the rest. In order:
 *   - "pg_" + a lower-case 8-4-4-4-12 hex UUID: ts-pg (created_ms -1);
 *   - a 13-char [0-9a-z] or 32-char [0-9a-f] suffix whose check passes, prefix at most
 *     XR_TOKEN_PREFIX_MAX: crossredis, shape_of the upstream writer with that prefix and shape
 *     (redis/ioredis/mem + base36: the TS adapters; redis/ioredis + hex: the Python port; other
 *     prefixes: unknown);
 *   - redis/ioredis/mem + 1..13 [0-9a-z]: the TS adapter (a short suffix of hex letters is TS);
 *   - redis/ioredis + exactly 32 [0-9a-f]: the Python port;
 *   - anything else: unknown, created_ms set when an <ms> part parsed.
 * info->prefix is NULL (prefix_len 0) when the token does not start with "<prefix>_". */
XR_API xr_token_origin xr_token_origin_of(xr_token_info *info, const char *token, size_t len);

/* One origin as a bit of a set of origins (xr_token_origins). */
#define XR_ORIGIN_BIT(origin) (1u << (unsigned)(origin))

/* Every writer `token` may come from, as a set of XR_ORIGIN_BIT()s, read as xr_token_origin_of
 * reads it (since 0.2). Exactly one bit when the shape tells: an upstream token that fails the
 * check (its writer), a checked token whose prefix no upstream writer uses with that suffix
 * (crossredis), a ts-pg UUID, or a token of no known shape (XR_ORIGIN_UNKNOWN). Two bits when it
 * cannot: a token that passes the check in an upstream writer's shape is crossredis's or, by a
 * 1-in-1296 (base36) / 1-in-256 (hex) chance, that writer's (XR_ORIGIN_CROSSREDIS and
 * info->shape_of). Never 0. */
XR_API unsigned xr_token_origins(const char *token, size_t len);

/* "ts-node-redis", "ts-ioredis", "ts-memory", "ts-pg", "python-redis", "python-ioredis",
 * "crossredis", "unknown" (also for values outside the enum). Static strings. */
XR_API const char *xr_token_origin_name(xr_token_origin origin);

/* A set of origins as text, NUL-terminated into buf (truncated to size - 1): the names joined by
 * " or ", crossredis first, then the others in enum order ("python-redis", "crossredis or
 * python-redis"); bits outside the enum are left out, and an empty set is "unknown". Returns the
 * length of the whole text (without the NUL), as snprintf does; buf may be NULL when size is 0.
 * XR_ORIGINS_TEXT_MAX bytes hold the text of any set. */
#define XR_ORIGINS_TEXT_MAX 128
XR_API size_t xr_token_origins_text(unsigned origins, char *buf, size_t size);

/* The origin with that name (case-sensitive; "unknown" included); XR_EINVAL listing the valid
 * names when there is none, *out then untouched. */
XR_API int xr_token_origin_parse(xr_token_origin *out, const char *name);

#ifdef __cplusplus
}
#endif
#endif
