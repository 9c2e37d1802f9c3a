/* Key patterns: the one language in which crossredis declares a shape of keys, for the inventory
 * (which keys a pattern classifies) and for migration families (an old and a new shape with the
 * same fields). Pure functions: no I/O; a parsed pattern is immutable and may be shared by threads.
 *
 * A pattern is literal bytes and fields:
 *
 *   mpp:browser:session:<id>                  a field named id, of the default class
 *   mpp:browser:session:{session:<id:uuid>}   a field of class uuid; '{' and '}' are literal bytes
 *   auth:code:{email:<sha256>}:<scene>        a field named after a class is of that class
 *   chat-sdk:lock:<thread>                    the last field takes the rest of the key
 *
 * A field is `<name>` or `<name:class>` (name: [A-Za-z_][A-Za-z0-9_]*); a name that is a class name
 * (`<uuid>`) is of that class. `\<` and `\\` write a literal '<' and '\'; any other byte is
 * literal. The classes and the values they take (one or more bytes each):
 *
 *   any      (the default) no '{' or '}', and not the first byte of the literal text that
 *            follows the field (a field at the end takes the rest of the key)
 *   segment  no ':', '{' or '}'
 *   uuid     8-4-4-4-12 hexadecimal digits (either case) with '-'
 *   sha256   64 hexadecimal digits; hex32: 32 hexadecimal digits
 *   number   decimal digits
 *   rest     any bytes, '{' and '}' included; only as the last thing in a pattern (a key that
 *            embeds another key: `xr:window:deleted:{<slot:number>}:<key:rest>`)
 *
 * Matching is anchored (the whole key) and linear: each field stops where its class or the next
 * literal says, no backtracking. Two fields side by side must be told apart by their classes: a
 * field of class any or segment followed directly by another field is refused at parse time.
 * A name may appear twice (`<id>:{x:<id>}`): both places then hold the same value. */
#ifndef CROSSREDIS_KEY_PATTERN_H
#define CROSSREDIS_KEY_PATTERN_H

#include <stdbool.h>
#include <stddef.h>

#include "export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xr_key_pattern xr_key_pattern;

typedef enum xr_key_class {
  XR_KEY_CLASS_ANY = 0,
  XR_KEY_CLASS_SEGMENT = 1,
  XR_KEY_CLASS_UUID = 2,
  XR_KEY_CLASS_SHA256 = 3,
  XR_KEY_CLASS_HEX32 = 4,
  XR_KEY_CLASS_NUMBER = 5,
  XR_KEY_CLASS_REST = 6
} xr_key_class;

/* A byte span inside a key (a field's value as matched). */
typedef struct xr_key_span {
  const char *ptr;
  size_t len;
} xr_key_span;

/* Parses text[0..len). XR_EINVAL naming the pattern and what is wrong at which byte (an unclosed
 * '<', an unknown class, two fields that cannot be told apart, a rest field before the end, an
 * empty pattern). */
XR_API int xr_key_pattern_parse(xr_key_pattern **out, const char *text, size_t len);
XR_API void xr_key_pattern_free(xr_key_pattern *p);

/* The text it was parsed from (NUL-terminated, owned by p). */
XR_API const char *xr_key_pattern_text(const xr_key_pattern *p, size_t *len);

/* Its distinct field names, in the order they first appear (owned by p), and their classes. */
XR_API size_t xr_key_pattern_field_count(const xr_key_pattern *p);
XR_API const char *xr_key_pattern_field_name(const xr_key_pattern *p, size_t i);
XR_API xr_key_class xr_key_pattern_field_class(const xr_key_pattern *p, size_t i);
/* The index of a field by name, or -1. */
XR_API int xr_key_pattern_field_index(const xr_key_pattern *p, const char *name, size_t name_len);

/* Whether key[0..len) has the shape. values (may be NULL) receives field_count spans pointing
 * into key, in field order. */
XR_API bool xr_key_pattern_match(const xr_key_pattern *p, const char *key, size_t len, xr_key_span *values);

/* The key with the given field values (values[i] for field i, n == field_count). XR_EINVAL when
 * a value does not fit its field's class (the key would not match the pattern back), naming the
 * field and the value. *out is allocated (xr_free), NUL-terminated. */
XR_API int xr_key_pattern_render(const xr_key_pattern *p, char **out, size_t *out_len, const xr_key_span *values,
                                 size_t n);

/* The SCAN MATCH glob that selects at least every key of the shape: literal bytes escaped
 * (keys.h's xr_key_escape_glob), each field '*'. Callers still check each key with
 * xr_key_pattern_match. *out is allocated (xr_free). */
XR_API int xr_key_pattern_glob(const xr_key_pattern *p, char **out, size_t *out_len);

/* Whether some key has both shapes. When it does and witness is not NULL, *witness is one such
 * key (allocated, xr_free): what an error message shows. A field whose name repeats inside one
 * pattern is searched as if each use could hold its own value: for such a pattern the answer may
 * be true (and the witness not have the shape) where only keys with differing values would
 * collide; without repeated names the answer is exact. */
XR_API bool xr_key_pattern_overlap(const xr_key_pattern *a, const xr_key_pattern *b, char **witness,
                                   size_t *witness_len);

#ifdef __cplusplus
}
#endif
#endif
