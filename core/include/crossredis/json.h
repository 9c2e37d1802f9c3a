/* JSON text exactly as each runtime writes it, and a parser for any of them.
 *
 * Writers reproduce, byte for byte, what one runtime's standard encoder emits for the same value
 * (SPEC.md 1.4 and 2.1):
 *   XR_JSON_JS      JavaScript JSON.stringify: compact; raw UTF-8; escapes only '"' '\\' and
 *                   U+0000..U+001F (\b \f \n \r \t, else \u00xx lowercase) and lone surrogates;
 *                   numbers as Number#toString (every number is a double); integer-like object
 *                   keys first in ascending order, as JS objects enumerate them.
 *   XR_JSON_PYTHON  Python json.dumps defaults: ", " and ": " separators; ensure_ascii (every byte
 *                   outside 0x20..0x7e as \uXXXX lowercase, astral as a surrogate pair); floats as
 *                   repr(); integers as digits.
 *   XR_JSON_GO      Go encoding/json: compact; '<' '>' '&' as \u003c \u003e \u0026; U+2028/U+2029
 *                   escaped; invalid UTF-8 as \ufffd; float64 as Go formats it.
 *
 * Values are jansson values (json_t), whose objects keep insertion order. Strings are UTF-8;
 * a UTF-16 surrogate code point encoded as a 3-byte sequence (WTF-8, what a JS or Python string
 * with a lone surrogate becomes) is written as a \udxxx escape by the JS and Python writers; any
 * other invalid UTF-8 is XR_EINVAL for those two and U+FFFD for Go, as Go does.
 *
 * Thread safety: all functions are reentrant; values may be shared read-only between threads. */
#ifndef CROSSREDIS_JSON_H
#define CROSSREDIS_JSON_H

#include <stddef.h>
#include <jansson.h>

#include "export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum xr_json_dialect {
  XR_JSON_JS = 1,
  XR_JSON_PYTHON = 2,
  XR_JSON_GO = 3
} xr_json_dialect;

/* Flags for the writers. */
enum {
  /* Object keys sorted by their UTF-8 bytes (Go maps; Python sort_keys=True sorts by code point,
   * which is the same order for valid UTF-8). */
  XR_JSON_SORT_KEYS = 1u << 0,
  /* Go only: leave '<' '>' '&' raw, as an Encoder with SetEscapeHTML(false). */
  XR_JSON_GO_NO_HTML_ESCAPE = 1u << 1
};

/* Writes `value` as `dialect`'s runtime would. On success *out is a NUL-terminated text allocated
 * with the library allocator (free with xr_free) and *outlen its length (outlen may be NULL).
 * Errors: XR_EINVAL for a NULL value, an unknown dialect, invalid UTF-8 (JS, Python) or a
 * non-finite number; XR_ENOMEM. */
XR_API int xr_json_write(char **out, size_t *outlen, const json_t *value, xr_json_dialect dialect,
                         unsigned flags);

/* Writes one string (with its quotes) as `dialect` escapes it. Same errors as xr_json_write. */
XR_API int xr_json_write_string(char **out, size_t *outlen, const char *s, size_t len,
                                xr_json_dialect dialect);

/* Formats a double as `dialect` writes a number into buf (at least 32 bytes); returns the length,
 * or XR_EINVAL for NaN and infinities (JS writes those as null: the caller decides). */
XR_API int xr_json_format_double(char *buf, size_t size, double v, xr_json_dialect dialect);

/* Parses JSON text of any dialect. Keeps key order, duplicate keys (the last one wins, in the
 * position of the first) and unknown members; NUL bytes inside strings are allowed. On success
 * *out is a new reference (json_decref it). Errors: XR_EPARSE with the line, column and reason
 * in the last-error message; XR_EINVAL for NULL text. */
XR_API int xr_json_parse(json_t **out, const char *text, size_t len);

/* Parses `text` and writes it again as `dialect` (with `flags`). */
XR_API int xr_json_transcode(char **out, size_t *outlen, const char *text, size_t len,
                             xr_json_dialect dialect, unsigned flags);

/* What Go does to a json.RawMessage when marshalling it: removes insignificant white space and,
 * unless XR_JSON_GO_NO_HTML_ESCAPE is in flags, rewrites '<' '>' '&' and U+2028/U+2029 inside
 * strings as \u escapes; every other byte, number text and escape stays as it was. Errors:
 * XR_EPARSE when the text is not one valid JSON value. */
XR_API int xr_json_go_compact(char **out, size_t *outlen, const char *text, size_t len,
                              unsigned flags);

#ifdef __cplusplus
}
#endif
#endif
