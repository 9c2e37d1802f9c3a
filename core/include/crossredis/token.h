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
 * last two characters of its suffix are a check over the rest, so a crossredis token can be told
 * apart: an upstream token passes the check by chance once in 1296 (base36) or 256 (hex).
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
 * characters, NUL-terminated, into buf (size >= XR_TOKEN_MAX is always enough). Returns the length,
 * or XR_EINVAL (prefix empty, longer than XR_TOKEN_PREFIX_MAX, or holding bytes outside
 * [A-Za-z0-9_-]; now_ms negative; unknown shape; buf too small), or XR_EIO when the system's
 * random source fails. */
XR_API int xr_token_make(char *buf, size_t size, const char *prefix, size_t prefix_len, int64_t now_ms,
                         xr_token_suffix shape);

/* Fills buf with n bytes from the system CSPRNG (getrandom), through a per-thread buffer.
 * XR_EIO when the system's random source fails. */
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
  int64_t created_ms;   /* the <ms> part; -1 when the token has none (pg, unknown) */
  const char *prefix;   /* points into the token; the part before the first '_' */
  size_t prefix_len;
} xr_token_info;

/* Classifies `token` (binary-safe). Returns its origin; fills *info when info is not NULL. */
XR_API xr_token_origin xr_token_origin_of(xr_token_info *info, const char *token, size_t len);

/* "ts-node-redis", "ts-ioredis", "ts-memory", "ts-pg", "python-redis", "python-ioredis",
 * "crossredis", "unknown". */
XR_API const char *xr_token_origin_name(xr_token_origin origin);

/* The origin with that name; XR_EINVAL listing the valid names when there is none. */
XR_API int xr_token_origin_parse(xr_token_origin *out, const char *name);

#ifdef __cplusplus
}
#endif
#endif
