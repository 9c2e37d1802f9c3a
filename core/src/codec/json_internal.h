/* What the core's other modules use of the JSON code beyond json.h. */
#ifndef CROSSREDIS_JSON_INTERNAL_H
#define CROSSREDIS_JSON_INTERNAL_H

#include <stddef.h>

/* A member of a JSON object, as spans of its text: the key's bytes between the quotes (escapes
 * as written) and the value's text. */
typedef struct xr_json_member {
  size_t key_off, key_len;
  size_t value_off, value_len;
} xr_json_member;

/* Validates `text` as one JSON object (Go's grammar, the strictest of the three runtimes') and
 * lists its top-level members in order; up to `max` go into members, *count says how many there
 * are. Numbers and strings are not converted: any size and any escape passes as written.
 * XR_EPARSE with the byte offset otherwise. */
int xr_json_object_members(const char *text, size_t len, xr_json_member *members, size_t max, size_t *count);

#endif
