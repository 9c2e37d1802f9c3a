/* Reading JSON text as Go's encoding/json does, with its error texts (codec/json_go_read.c): the
 * syntax check json.Unmarshal makes of the whole text first (its scanner), string unquoting, and
 * walking a value already checked. Two toolchains differ in the texts (SPEC.md 2.4): Go 1.26's
 * scanner ("invalid character ' ' in string escape code", "... after decimal point in numeric
 * literal") and Go 1.27's encoding/json over json/v2 ("invalid escape sequence `\q` in string",
 * "unexpected end of JSON input" for any text cut short, every number error "in numeric
 * literal"). Reentrant. */
#ifndef CROSSREDIS_JSON_GO_READ_H
#define CROSSREDIS_JSON_GO_READ_H

#include <stddef.h>

#include "base/internal.h"

/* XR_OK when text is one JSON value (white space around it allowed), else XR_EPARSE whose message
 * is Go's error text, nothing else ("invalid character 'b' looking for beginning of object key
 * string", "unexpected end of JSON input"). go127: 0 Go 1.26's texts; 1 Go 1.27's when it
 * unmarshals; 2 Go 1.27's when it validates a json.RawMessage to marshal it (json/v2's own
 * wording: "after array value"). */
int xr_go_json_check(const char *text, size_t len, int go127);

/* In checked text: the index of the first byte at or after i that is not white space. */
size_t xr_go_json_skip_space(const char *text, size_t len, size_t i);

/* In checked text: the index just after the value that starts at i. */
size_t xr_go_json_value_end(const char *text, size_t len, size_t i);

/* Appends the string token text[i..end) (its quotes included, checked) unquoted as Go unquotes:
 * escapes decoded, a lone or reversed surrogate escape and each byte of invalid UTF-8 as U+FFFD.
 * Never fails (out-of-memory shows in b->oom). */
void xr_go_json_unquote(xr_buf *b, const char *text, size_t i, size_t end);

/* Go's quoteChar: how its messages show the character at text[i] ('x', '\x01', '"', '\''): the
 * byte as a rune (Go 1.26) or the UTF-8 rune there (Go 1.27). Writes into buf (>= 16 bytes). */
void xr_go_json_quote_char(char *buf, size_t size, const char *text, size_t len, size_t i, int go127);

#endif
