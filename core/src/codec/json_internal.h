/* What the core's other modules use of the JSON code beyond json.h, and what the JSON sources
 * (codec/json.c, codec/json_go.c, codec/number.c) share. */
#ifndef CROSSREDIS_JSON_INTERNAL_H
#define CROSSREDIS_JSON_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "crossredis/json.h"
#include "base/internal.h"

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

/* ---- shared by the JSON sources ------------------------------------------------------------- */

/* 1 for XR_JSON_JS, XR_JSON_PYTHON and XR_JSON_GO. */
int xr_json_valid_dialect(xr_json_dialect d);

/* Checks a writer's arguments (output pointer, dialect, flags) and clears the outputs. */
int xr_json_check_output(char **out, size_t *outlen, xr_json_dialect dialect, unsigned flags);

/* Decodes the UTF-8 sequence at s (avail bytes left). Returns its length and sets *cp, or 0 when
 * it is not well formed: the rules of Unicode table 3-7, which Go's utf8.DecodeRune also follows
 * (no overlongs, nothing above U+10FFFF, no truncation). With allow_surrogate, ED A0..BF xx is
 * accepted too: that is how WTF-8 carries a lone surrogate from a JS or Python string. */
size_t xr_json_utf8_decode(const unsigned char *s, size_t avail, int allow_surrogate, uint32_t *cp);

/* The bytes Go's JSON reader and writer pass over in one run (json_go.c): XR_GO_BYTE_READ inside a
 * string read (all but controls, '"' and '\\'), XR_GO_BYTE_WRITE written as it is (ASCII but
 * those), XR_GO_BYTE_WRITE_HTML the same with HTML escaping ('<' '>' '&' not). */
enum { XR_GO_BYTE_READ = 1, XR_GO_BYTE_WRITE = 2, XR_GO_BYTE_WRITE_HTML = 4 };
extern const unsigned char xr_json_go_bytes[256];

/* UTF-8 texts compared by their UTF-16 code units, as JS compares strings: <0, 0, >0. */
int xr_json_utf16_cmp(const char *a, size_t an, const char *b, size_t bn);

/* \uXXXX with lowercase hex: the spelling all three runtimes use. */
void xr_json_put_u4(xr_buf *b, uint32_t u);

/* The escape for an ASCII character that must not appear raw. The two-character forms are the
 * same in all three runtimes (Go has used \b and \f since 1.22). */
void xr_json_put_escape(xr_buf *b, unsigned char c);

/* Copies the raw bytes s[*start, end) and moves *start past them. */
void xr_json_flush_run(xr_buf *b, const unsigned char *s, size_t *start, size_t end);

/* encoding/json appendString (codec/json_go.c), without the quotes: each byte that does not start
 * a valid sequence (surrogates included) becomes \ufffd on its own (Go 1.26), or the raw bytes of
 * U+FFFD with raw_fffd (Go 1.27); U+2028/U+2029 are always escaped; '<', '>' and '&' with
 * escape_html. Never fails. */
void xr_json_go_string(xr_buf *b, const unsigned char *s, size_t len, int escape_html, int raw_fffd);

#endif
