/* Keys: Redis Cluster slots, the hash-tag convention (MPP rediskey), and escaping a prefix for
 * SCAN MATCH. Pure functions: no I/O, reentrant. All key arguments are binary-safe byte spans. */
#ifndef CROSSREDIS_KEYS_H
#define CROSSREDIS_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "export.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XR_CLUSTER_SLOTS 16384

/* CRC-16/XMODEM (poly 0x1021, init 0, no reflection, no final xor): CRC16("123456789") = 0x31C3. */
XR_API uint16_t xr_crc16(const void *data, size_t len);

/* The span Redis hashes for `key`: the bytes between the first '{' and the first '}' after it
 * when that span is non-empty, else the whole key. */
XR_API void xr_key_hash_span(const char **span, size_t *span_len, const char *key, size_t len);

/* The Redis Cluster slot of `key` (0..16383): CRC16 of its hash span mod 16384. */
XR_API unsigned xr_key_slot(const char *key, size_t len);

/* MPP rediskey.Part: lower-cases and trims white space (as Go's strings.ToLower and TrimSpace do,
 * Unicode included); keeps [a-z0-9-_:.]; each run of other characters (a non-ASCII character or an
 * invalid UTF-8 byte counts as one) becomes one '-'; trims '-'; empty becomes "unknown".
 * *out is allocated (xr_free). */
XR_API int xr_key_part(char **out, size_t *outlen, const char *value, size_t len);

/* MPP rediskey.Tag: "{" Part(scope) ":" Part(value) "}". Note that Part keeps ':', so
 * Tag("a", "b:c") equals Tag("a:b", "c"). *out is allocated (xr_free). */
XR_API int xr_key_tag(char **out, size_t *outlen, const char *scope, size_t scope_len,
                      const char *value, size_t value_len);

/* MPP rediskey.ExtractTag: the bytes between the first '{' and the first '}' after it; false when
 * there is no '{', no closing '}', or the span is empty. *tag points into `key`. */
XR_API bool xr_key_extract_tag(const char **tag, size_t *tag_len, const char *key, size_t len);

/* MPP rediskey.ShareTag: true when every key carries a tag and all the tags are equal; true for
 * n == 0. lens[i] is the length of keys[i]; lens may be NULL for NUL-terminated keys. */
XR_API bool xr_key_share_tag(const char *const *keys, const size_t *lens, size_t n);

/* Escapes a literal prefix for a SCAN MATCH glob: a backslash before each of * ? [ ] \ so that
 * "<escaped>*" matches exactly the keys that start with the prefix. *out is allocated (xr_free). */
XR_API int xr_key_escape_glob(char **out, size_t *outlen, const char *prefix, size_t len);

/* The SCAN MATCH pattern of the keys that start with a literal prefix: the prefix escaped
 * (xr_key_escape_glob) and "*". *out is allocated (xr_free). */
XR_API int xr_key_prefix_pattern(char **out, size_t *outlen, const char *prefix, size_t len);

#ifdef __cplusplus
}
#endif
#endif
