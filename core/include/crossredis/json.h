/* JSON text exactly as each runtime writes it, and a parser for any of them.
 *
 * Writers reproduce, byte for byte, what one runtime's standard encoder emits for the same value
 * (SPEC.md 1.4 and 2.1):
 *   XR_JSON_JS      JavaScript JSON.stringify: compact; raw UTF-8; escapes only '"' '\\' and
 *                   U+0000..U+001F (\b \f \n \r \t, else \u00xx lowercase) and lone surrogates;
 *                   numbers as Number#toString (every number is a double: a jansson integer is
 *                   written as the nearest double, 9007199254740993 as 9007199254740992); array
 *                   index keys ("0".."4294967294", no leading zeros) first in ascending numeric
 *                   order, then the others in order, as JS objects enumerate them.
 *   XR_JSON_PYTHON  Python json.dumps defaults: ", " and ": " separators; ensure_ascii (every
 *                   character outside 0x20..0x7e as \uXXXX lowercase, astral as a surrogate pair,
 *                   DEL as \u007f); reals as repr(float) ("1.0", "1e-05", "-0.0"); integers as
 *                   digits.
 *   XR_JSON_GO      Go encoding/json: compact; '<' '>' '&' as \u003c \u003e \u0026; U+2028/U+2029
 *                   escaped (always); invalid UTF-8 as \ufffd per byte; reals as float64 ("1",
 *                   "1e-7", "-0"); integers as digits (int64 fields).
 *
 * Values are jansson values (json_t), whose objects keep insertion order; strings and keys are
 * taken with their lengths, so they may hold NUL bytes. Strings are UTF-8; a UTF-16 surrogate code
 * point encoded as a 3-byte sequence (WTF-8, what a JS or Python string with a lone surrogate
 * becomes) is written as a \udxxx escape by the JS and Python writers (JS writes a high surrogate
 * directly followed by a low one as the character they form, as JS sees one character there); any
 * other invalid UTF-8 is XR_EINVAL for those two and U+FFFD for Go, as Go does. Build such strings
 * with json_stringn_nocheck: jansson's checking constructors refuse them.
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
  /* Object keys sorted by their UTF-8 bytes, the shorter first on a common prefix (Go maps;
   * Python sort_keys=True sorts by code point, which is the same order). With XR_JSON_JS the
   * array index keys still come first, as in a JS object built with its keys in that order. */
  XR_JSON_SORT_KEYS = 1u << 0,
  /* Go only (ignored by the other writers): leave '<' '>' '&' raw, as an Encoder with
   * SetEscapeHTML(false). The writers still escape U+2028/U+2029, as Go does;
   * xr_json_go_compact leaves them raw too, as Go's compaction does. */
  XR_JSON_GO_NO_HTML_ESCAPE = 1u << 1,
  /* Go only: invalid UTF-8 in a string becomes the raw bytes of U+FFFD (EF BF BD) per bad byte, as
   * Go 1.27's encoding/json writes it, instead of Go 1.26's \ufffd escape. */
  XR_JSON_GO_RAW_FFFD = 1u << 2,
  /* Object keys sorted by their UTF-16 code units, as JS's default sort() orders strings (a key
   * with a character above U+FFFF sorts before one with U+E000..U+FFFF there, after it in
   * XR_JSON_SORT_KEYS's byte order); with XR_JSON_JS the array index keys still come first. */
  XR_JSON_SORT_KEYS_UTF16 = 1u << 3
};

/* Writes `value` as `dialect`'s runtime would. On success *out is a NUL-terminated text allocated
 * with the library allocator (free with xr_free) and *outlen its length (outlen may be NULL).
 * Errors: XR_EINVAL for a NULL value or out, an unknown dialect or flag, invalid UTF-8 (JS,
 * Python; the message names the byte offset and whether it was a key) or nesting deeper than
 * 2048 levels; XR_ENOMEM. (jansson values cannot hold NaN or infinities.) */
XR_API int xr_json_write(char **out, size_t *outlen, const json_t *value, xr_json_dialect dialect,
                         unsigned flags);

/* Writes one string (with its quotes) as `dialect` escapes it (Go: with HTML escaping). s may be
 * NULL when len is 0. Same errors as xr_json_write. */
XR_API int xr_json_write_string(char **out, size_t *outlen, const char *s, size_t len,
                                xr_json_dialect dialect);

/* Formats a double as `dialect` writes a number into buf (at least 32 bytes, NUL-terminated);
 * returns the length, or XR_EINVAL for NaN and infinities (JS writes those as null: the caller
 * decides), a smaller buffer or an unknown dialect. */
XR_API int xr_json_format_double(char *buf, size_t size, double v, xr_json_dialect dialect);

/* Parses JSON text of any dialect with jansson. Keeps key order and unknown members; of
 * duplicate keys the last value wins, in the position of the first (as JS, Python and Go do);
 * \u0000 inside strings is allowed. Integers without '.' or an exponent become jansson integers,
 * other numbers reals. On success *out is a new reference (json_decref it).
 * Errors: XR_EPARSE with "JSON text line L column C (byte B): <jansson's reason>" in the
 * last-error message (the column counts characters, the byte offset is where jansson stopped);
 * XR_EINVAL for NULL text or out.
 * jansson refuses some texts the runtimes write or accept, each XR_EPARSE: a \u escape of a lone
 * surrogate ("\ud800", which the JS and Python writers produce for WTF-8), \u0000 in an object
 * key, integers outside 64 bits, reals that overflow to infinity. A raw NUL byte anywhere is
 * refused too (it is never valid JSON; jansson alone would take one after the value as the end). */
XR_API int xr_json_parse(json_t **out, const char *text, size_t len);

/* Parses `text` and writes it again as `dialect` (with `flags`). For XR_JSON_JS every number is
 * read as a double, as JSON.parse does, so integers of any size are accepted and rounded; for the
 * others integer text must fit 64 bits (Python would keep any size: XR_EPARSE here). */
XR_API int xr_json_transcode(char **out, size_t *outlen, const char *text, size_t len,
                             xr_json_dialect dialect, unsigned flags);

/* What Go does to a json.RawMessage when marshalling it: removes insignificant white space and,
 * unless XR_JSON_GO_NO_HTML_ESCAPE is in flags, rewrites '<' '>' '&' and U+2028/U+2029 inside
 * strings as \u escapes; every other byte, number text and escape stays as it was (like Go, it
 * does not check UTF-8 inside strings). The text is validated with Go's grammar, nesting up to
 * Go's 10000 levels; XR_JSON_SORT_KEYS is ignored (Go does not reorder raw JSON). Errors:
 * XR_EPARSE when the text is not one valid JSON value, with the byte offset in the message;
 * XR_EINVAL for NULL text or out or an unknown flag. */
XR_API int xr_json_go_compact(char **out, size_t *outlen, const char *text, size_t len,
                              unsigned flags);

#ifdef __cplusplus
}
#endif
#endif
