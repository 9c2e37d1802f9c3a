/* The origin of a Chat SDK lock token: which runtime wrote it (SPEC.md 1.3: the TS adapters, the
 * Python port, crossredis), read from its shape and crossredis's check characters (token.h makes
 * the tokens). Used by the lock report, drain and the interop suite. Pure functions: no I/O, any
 * thread. */
#ifndef CROSSREDIS_CHAT_ORIGIN_H
#define CROSSREDIS_CHAT_ORIGIN_H

#include <stddef.h>
#include <stdint.h>

#include "export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum xr_chat_origin {
  XR_CHAT_ORIGIN_UNKNOWN = 0,
  XR_CHAT_ORIGIN_TS_NODE_REDIS = 1,
  XR_CHAT_ORIGIN_TS_IOREDIS = 2,
  XR_CHAT_ORIGIN_TS_MEMORY = 3,
  XR_CHAT_ORIGIN_TS_PG = 4,
  XR_CHAT_ORIGIN_PYTHON_REDIS = 5,
  XR_CHAT_ORIGIN_PYTHON_IOREDIS = 6,
  XR_CHAT_ORIGIN_CROSSREDIS = 7
} xr_chat_origin;

typedef struct xr_chat_token_info {
  xr_chat_origin origin;
  /* The upstream writer whose shape the token has (for a crossredis token: the one it mimics,
   * e.g. XR_CHAT_ORIGIN_TS_IOREDIS for ioredis_<ms>_<13 base36>); XR_CHAT_ORIGIN_UNKNOWN when none. */
  xr_chat_origin shape_of;
  int64_t created_ms;   /* the <ms> part; -1 when the token has none (pg, most unknown ones) */
  const char *prefix;   /* points into the token; the part before the first '_' */
  size_t prefix_len;
} xr_chat_token_info;

/* Classifies `token` (binary-safe; NULL or any NUL byte: unknown). Returns its origin, the first
 * writer it may come from (crossredis for a token that passes the check); fills *info when info is
 * not NULL. A crossredis answer is not always certain: when info->shape_of names an upstream
 * writer the token is also a valid token of that writer (xr_chat_origins gives both). The token is read as "<prefix>_<ms>_<suffix>": prefix [A-Za-z0-9-]+ up
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
XR_API xr_chat_origin xr_chat_origin_of(xr_chat_token_info *info, const char *token, size_t len);

/* One origin as a bit of a set of origins (xr_chat_origins). */
#define XR_CHAT_ORIGIN_BIT(origin) (1u << (unsigned)(origin))

/* Every writer `token` may come from, as a set of XR_CHAT_ORIGIN_BIT()s, read as xr_chat_origin_of
 * reads it (since 0.2). Exactly one bit when the shape tells: an upstream token that fails the
 * check (its writer), a checked token whose prefix no upstream writer uses with that suffix
 * (crossredis), a ts-pg UUID, or a token of no known shape (XR_CHAT_ORIGIN_UNKNOWN). Two bits when it
 * cannot: a token that passes the check in an upstream writer's shape is crossredis's or, by a
 * 1-in-1296 (base36) / 1-in-256 (hex) chance, that writer's (XR_CHAT_ORIGIN_CROSSREDIS and
 * info->shape_of). Never 0. */
XR_API unsigned xr_chat_origins(const char *token, size_t len);

/* "ts-node-redis", "ts-ioredis", "ts-memory", "ts-pg", "python-redis", "python-ioredis",
 * "crossredis", "unknown" (also for values outside the enum). Static strings. */
XR_API const char *xr_chat_origin_name(xr_chat_origin origin);

/* A set of origins as text, NUL-terminated into buf (truncated to size - 1): the names joined by
 * " or ", crossredis first, then the others in enum order ("python-redis", "crossredis or
 * python-redis"); bits outside the enum are left out, and an empty set is "unknown". Returns the
 * length of the whole text (without the NUL), as snprintf does; buf may be NULL when size is 0.
 * XR_CHAT_ORIGINS_TEXT_MAX bytes hold the text of any set. */
#define XR_CHAT_ORIGINS_TEXT_MAX 128
XR_API size_t xr_chat_origins_text(unsigned origins, char *buf, size_t size);

/* The origin with that name (case-sensitive; "unknown" included); XR_EINVAL listing the valid
 * names when there is none, *out then untouched. */
XR_API int xr_chat_origin_parse(xr_chat_origin *out, const char *name);

/* The names before 0.1.0's restructure (origins are the Chat SDK state's): kept for callers. */
#ifndef SWIG
#define xr_token_origin xr_chat_origin
#define xr_token_info xr_chat_token_info
#define xr_token_origin_of xr_chat_origin_of
#define xr_token_origins xr_chat_origins
#define xr_token_origin_name xr_chat_origin_name
#define xr_token_origins_text xr_chat_origins_text
#define xr_token_origin_parse xr_chat_origin_parse
#define XR_ORIGIN_BIT XR_CHAT_ORIGIN_BIT
#define XR_ORIGINS_TEXT_MAX XR_CHAT_ORIGINS_TEXT_MAX
#define XR_ORIGIN_UNKNOWN XR_CHAT_ORIGIN_UNKNOWN
#define XR_ORIGIN_TS_NODE_REDIS XR_CHAT_ORIGIN_TS_NODE_REDIS
#define XR_ORIGIN_TS_IOREDIS XR_CHAT_ORIGIN_TS_IOREDIS
#define XR_ORIGIN_TS_MEMORY XR_CHAT_ORIGIN_TS_MEMORY
#define XR_ORIGIN_TS_PG XR_CHAT_ORIGIN_TS_PG
#define XR_ORIGIN_PYTHON_REDIS XR_CHAT_ORIGIN_PYTHON_REDIS
#define XR_ORIGIN_PYTHON_IOREDIS XR_CHAT_ORIGIN_PYTHON_IOREDIS
#define XR_ORIGIN_CROSSREDIS XR_CHAT_ORIGIN_CROSSREDIS
#endif

#ifdef __cplusplus
}
#endif
#endif
