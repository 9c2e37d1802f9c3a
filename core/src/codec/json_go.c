/* Go's encoding/json: its string escaping (the writer of values in codec/json.c calls it for the
 * Go dialect) and the compaction of a json.RawMessage, whose scanner also lists an object's
 * members for the queue-entry reader. */
#include <stdint.h>
#include <string.h>

#include "crossredis/json.h"
#include "base/internal.h"
#include "codec/json_internal.h"

/* Go's scanner limit (encoding/json maxNestingDepth). */
#define GO_MAX_DEPTH 10000

/* ---- strings ---------------------------------------------------------------------------------- */

/* What each byte is to Go's JSON (json_internal.h, XR_GO_BYTE_*): plain inside a string read,
 * written as it is without and with HTML escaping. */
const unsigned char xr_json_go_bytes[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    7, 7, 0, 7, 7, 7, 3, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 3, 7, 3, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 0, 7, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

void xr_json_go_string(xr_buf *b, const unsigned char *s, size_t len, int escape_html, int raw_fffd) {
  size_t start = 0, i = 0;
  unsigned char plain = escape_html ? XR_GO_BYTE_WRITE_HTML : XR_GO_BYTE_WRITE;
  while (i < len) {
    while (i < len && (xr_json_go_bytes[s[i]] & plain)) i++; /* the run written as it is */
    if (i >= len) break;
    unsigned char c = s[i];
    if (c < 0x80) { /* ASCII the run stopped at: escaped */
      xr_json_flush_run(b, s, &start, i);
      xr_json_put_escape(b, c);
      start = ++i;
      continue;
    }
    uint32_t cp;
    size_t n = xr_json_utf8_decode(s + i, len - i, 0, &cp);
    if (n == 0) {
      xr_json_flush_run(b, s, &start, i);
      xr_buf_puts(b, raw_fffd ? "\xef\xbf\xbd" : "\\ufffd");
      start = ++i;
    } else if (cp == 0x2028 || cp == 0x2029) {
      xr_json_flush_run(b, s, &start, i);
      xr_json_put_u4(b, cp);
      i += n;
      start = i;
    } else {
      i += n;
    }
  }
  xr_json_flush_run(b, s, &start, len);
}

/* ---- compaction of raw JSON ------------------------------------------------------------------- */

/* A scanner that validates one JSON value with Go's grammar and copies it without white space,
 * as encoding/json appendCompact does for a json.RawMessage. */
typedef struct compactor {
  const unsigned char *s;
  size_t len, i;
  xr_buf *b;
  int escape; /* Go's escapeHTML: '<' '>' '&' and U+2028/U+2029 */
  int depth;
  unsigned char is_object[GO_MAX_DEPTH / 8 + 1]; /* one bit per open container */
} compactor;

static int compact_error(const compactor *c, const char *what) {
  if (c->i >= c->len)
    return xr_fail(XR_EPARSE, "JSON text: %s: unexpected end at byte %zu", what, c->i);
  return xr_fail(XR_EPARSE, "JSON text: %s at byte %zu (0x%02x)", what, c->i, c->s[c->i]);
}

static void skip_space(compactor *c) {
  while (c->i < c->len) {
    unsigned char ch = c->s[c->i];
    if (ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r') return;
    c->i++;
  }
}

static int peek(const compactor *c) { return c->i < c->len ? c->s[c->i] : -1; }

static void copy_byte(compactor *c) { xr_buf_putc(c->b, (char)c->s[c->i++]); }

static int is_hex(int ch) {
  return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

/* Copies the backslash escape at c->i unchanged. */
static int copy_escape(compactor *c) {
  copy_byte(c);
  int ch = peek(c);
  /* ch <= 0 first: strchr would find a NUL byte at the end of the set */
  if (ch <= 0 || !strchr("\"\\/bfnrtu", ch)) return compact_error(c, "invalid escape in string");
  copy_byte(c);
  if (ch != 'u') return XR_OK;
  for (int k = 0; k < 4; k++) {
    if (!is_hex(peek(c))) return compact_error(c, "invalid \\u escape in string");
    copy_byte(c);
  }
  return XR_OK;
}

static int at_line_separator(const compactor *c) {
  const unsigned char *s = c->s + c->i;
  return c->i + 2 < c->len && s[0] == 0xE2 && s[1] == 0x80 && (s[2] == 0xA8 || s[2] == 0xA9);
}

/* Go checks no UTF-8 inside strings: bytes >= 0x20 other than '"' and '\\' pass as they are. */
static int copy_string(compactor *c) {
  copy_byte(c); /* the opening quote */
  for (;;) {
    int ch = peek(c);
    if (ch < 0) return compact_error(c, "unterminated string");
    if (ch == '"') {
      copy_byte(c);
      return XR_OK;
    }
    if (ch < 0x20) return compact_error(c, "control character in string");
    if (ch == '\\') {
      int rc = copy_escape(c);
      if (rc) return rc;
    } else if (c->escape && (ch == '<' || ch == '>' || ch == '&')) {
      xr_json_put_u4(c->b, (uint32_t)ch);
      c->i++;
    } else if (c->escape && at_line_separator(c)) {
      xr_json_put_u4(c->b, c->s[c->i + 2] == 0xA8 ? 0x2028 : 0x2029);
      c->i += 3;
    } else {
      copy_byte(c);
    }
  }
}

static int copy_digits(compactor *c) {
  int ch = peek(c);
  if (ch < '0' || ch > '9') return compact_error(c, "digit expected in number");
  while ((ch = peek(c)) >= '0' && ch <= '9') copy_byte(c);
  return XR_OK;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, copied as written. */
static int copy_number(compactor *c) {
  if (peek(c) == '-') copy_byte(c);
  int rc;
  if (peek(c) == '0')
    copy_byte(c);
  else if ((rc = copy_digits(c)) != XR_OK)
    return rc;
  if (peek(c) == '.') {
    copy_byte(c);
    if ((rc = copy_digits(c)) != XR_OK) return rc;
  }
  if (peek(c) == 'e' || peek(c) == 'E') {
    copy_byte(c);
    if (peek(c) == '+' || peek(c) == '-') copy_byte(c);
    if ((rc = copy_digits(c)) != XR_OK) return rc;
  }
  return XR_OK;
}

static int copy_literal(compactor *c, const char *word) {
  size_t n = strlen(word);
  if (c->len - c->i < n || memcmp(c->s + c->i, word, n) != 0)
    return compact_error(c, "invalid literal");
  xr_buf_append(c->b, word, n);
  c->i += n;
  return XR_OK;
}

static int top_is_object(const compactor *c) {
  int d = c->depth - 1;
  return (c->is_object[d / 8] >> (d % 8)) & 1;
}

static int open_container(compactor *c, int object) {
  if (c->depth >= GO_MAX_DEPTH) return compact_error(c, "nesting exceeds Go's maximum depth");
  int d = c->depth++;
  if (object)
    c->is_object[d / 8] |= (unsigned char)(1u << (d % 8));
  else
    c->is_object[d / 8] &= (unsigned char)~(1u << (d % 8));
  copy_byte(c);
  return XR_OK;
}

/* An object key and its colon, with the white space around them dropped. */
static int copy_key(compactor *c) {
  skip_space(c);
  if (peek(c) != '"') return compact_error(c, "object key expected");
  int rc = copy_string(c);
  if (rc) return rc;
  skip_space(c);
  if (peek(c) != ':') return compact_error(c, "':' expected after object key");
  copy_byte(c);
  return XR_OK;
}

/* Starts the value at c->i. Returns 1 when the value is complete (a scalar or an empty
 * container), 0 when it opened a container whose first value comes next, or an error. */
static int begin_value(compactor *c) {
  skip_space(c);
  int ch = peek(c), rc;
  if (ch == '{' || ch == '[') {
    if ((rc = open_container(c, ch == '{')) != XR_OK) return rc;
    skip_space(c);
    if (peek(c) == (ch == '{' ? '}' : ']')) {
      copy_byte(c);
      c->depth--;
      return 1;
    }
    return ch == '{' ? copy_key(c) : 0;
  }
  if (ch == '"') rc = copy_string(c);
  else if (ch == '-' || (ch >= '0' && ch <= '9')) rc = copy_number(c);
  else if (ch == 't') rc = copy_literal(c, "true");
  else if (ch == 'f') rc = copy_literal(c, "false");
  else if (ch == 'n') rc = copy_literal(c, "null");
  else rc = compact_error(c, "value expected");
  return rc ? rc : 1;
}

/* After a complete value: closes the containers it ends and consumes the ',' (and the next key)
 * before the next value. Returns 1 when the depth is back at stop_depth (the value that started
 * there is done), 0 when a value comes next. */
static int end_value(compactor *c, int stop_depth) {
  for (;;) {
    skip_space(c);
    if (c->depth == stop_depth) return 1;
    int object = top_is_object(c), ch = peek(c);
    if (ch == ',') {
      copy_byte(c);
      return object ? copy_key(c) : 0;
    }
    if (ch != (object ? '}' : ']'))
      return compact_error(c, object ? "',' or '}' expected" : "',' or ']' expected");
    copy_byte(c);
    c->depth--;
  }
}

/* One whole value from c->i, containers included. */
static int scan_value(compactor *c) {
  int stop = c->depth;
  for (;;) {
    int rc = begin_value(c);
    if (rc < 0) return rc;
    if (rc == 0) continue;
    rc = end_value(c, stop);
    if (rc != 0) return rc < 0 ? rc : XR_OK;
  }
}

static int compact_text(compactor *c) {
  int rc = scan_value(c);
  if (rc) return rc;
  skip_space(c);
  return c->i == c->len ? XR_OK : compact_error(c, "text after the JSON value");
}

static compactor *new_compactor(const char *text, size_t len, xr_buf *b, int escape) {
  compactor *c = xr_calloc(1, sizeof *c);
  if (!c) return NULL;
  c->s = (const unsigned char *)text;
  c->len = len;
  c->b = b;
  c->escape = escape;
  return c;
}

int xr_json_object_members(const char *text, size_t len, xr_json_member *members, size_t max, size_t *count) {
  *count = 0;
  xr_buf scratch = XR_BUF_INIT; /* the scanner copies as it validates; the copy is not used */
  compactor *c = new_compactor(text, len, &scratch, 0);
  if (!c) return xr_fail_nomem();
  int rc = XR_OK;
  skip_space(c);
  if (peek(c) != '{') {
    rc = compact_error(c, "a JSON object expected");
    goto done;
  }
  if ((rc = open_container(c, 1))) goto done;
  skip_space(c);
  if (peek(c) == '}') {
    copy_byte(c);
    c->depth--;
  }
  while (c->depth == 1) {
    skip_space(c);
    if (peek(c) != '"') {
      rc = compact_error(c, "object key expected");
      goto done;
    }
    xr_json_member m;
    m.key_off = c->i + 1;
    if ((rc = copy_string(c))) goto done;
    m.key_len = c->i - 1 - m.key_off;
    skip_space(c);
    if (peek(c) != ':') {
      rc = compact_error(c, "':' expected after object key");
      goto done;
    }
    copy_byte(c);
    skip_space(c);
    m.value_off = c->i;
    if ((rc = scan_value(c))) goto done;
    m.value_len = c->i - m.value_off;
    if (*count < max) members[*count] = m;
    (*count)++;
    skip_space(c);
    if (peek(c) == ',') {
      copy_byte(c);
    } else if (peek(c) == '}') {
      copy_byte(c);
      c->depth--;
    } else {
      rc = compact_error(c, "',' or '}' expected");
      goto done;
    }
  }
  skip_space(c);
  if (c->i != c->len) rc = compact_error(c, "text after the JSON value");
done:
  xr_free(c);
  xr_buf_free(&scratch);
  return rc;
}

int xr_json_go_compact(char **out, size_t *outlen, const char *text, size_t len, unsigned flags) {
  int rc = xr_json_check_output(out, outlen, XR_JSON_GO, flags);
  if (rc) return rc;
  if (!text) return xr_fail(XR_EINVAL, "JSON text is NULL");
  xr_buf b = XR_BUF_INIT;
  compactor *c = new_compactor(text, len, &b, !(flags & XR_JSON_GO_NO_HTML_ESCAPE));
  if (!c) return xr_fail_nomem();
  rc = compact_text(c);
  xr_free(c);
  if (rc) {
    xr_buf_free(&b);
    return rc;
  }
  return xr_buf_finish(&b, out, outlen);
}
