/* JSON text as JavaScript and Python write it (SPEC.md 1.4, 2.1) and the writer of values for all
 * three runtimes, and jansson parsing. Values come from jansson; the writers never use jansson's
 * encoder because its escaping and number formatting match none of the runtimes. Go's own string
 * escaping and its compaction of raw JSON: codec/json_go.c; numbers: codec/number.c. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crossredis/json.h"
#include "base/internal.h"
#include "codec/json_internal.h"
#include "codec/number.h"

/* Deepest nesting the writers accept: the same limit jansson's parser has, so anything parsed can
 * be written, while a hand-built value cannot exhaust the stack. */
#define XR_JSON_MAX_DEPTH 2048

static const char hex_digits[] = "0123456789abcdef";

int xr_json_valid_dialect(xr_json_dialect d) {
  return d == XR_JSON_JS || d == XR_JSON_PYTHON || d == XR_JSON_GO;
}

static const unsigned known_flags =
    XR_JSON_SORT_KEYS | XR_JSON_GO_NO_HTML_ESCAPE | XR_JSON_GO_RAW_FFFD | XR_JSON_SORT_KEYS_UTF16;

/* ---- UTF-8 ------------------------------------------------------------------------------------ */

static int is_surrogate(uint32_t cp) { return cp >= 0xD800 && cp <= 0xDFFF; }
static int is_high_surrogate(uint32_t cp) { return cp >= 0xD800 && cp <= 0xDBFF; }
static int is_low_surrogate(uint32_t cp) { return cp >= 0xDC00 && cp <= 0xDFFF; }

size_t xr_json_utf8_decode(const unsigned char *s, size_t avail, int allow_surrogate, uint32_t *cp) {
  unsigned char c = s[0];
  size_t n;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  if (c < 0xC2) return 0;
  if (c < 0xE0) {
    n = 2;
    *cp = c & 0x1Fu;
  } else if (c < 0xF0) {
    n = 3;
    *cp = c & 0x0Fu;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED && !allow_surrogate) hi = 0x9F;
  } else if (c < 0xF5) {
    n = 4;
    *cp = c & 0x07u;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (avail < n || s[1] < lo || s[1] > hi) return 0;
  for (size_t i = 1; i < n; i++) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    *cp = (*cp << 6) | (s[i] & 0x3Fu);
  }
  return n;
}

static void put_utf8(xr_buf *b, uint32_t cp) {
  char u[4];
  size_t n;
  if (cp < 0x80) {
    u[0] = (char)cp;
    n = 1;
  } else if (cp < 0x800) {
    u[0] = (char)(0xC0 | (cp >> 6));
    u[1] = (char)(0x80 | (cp & 0x3F));
    n = 2;
  } else if (cp < 0x10000) {
    u[0] = (char)(0xE0 | (cp >> 12));
    u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    u[2] = (char)(0x80 | (cp & 0x3F));
    n = 3;
  } else {
    u[0] = (char)(0xF0 | (cp >> 18));
    u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    u[3] = (char)(0x80 | (cp & 0x3F));
    n = 4;
  }
  xr_buf_append(b, u, n);
}

/* ---- string escaping -------------------------------------------------------------------------- */

void xr_json_put_u4(xr_buf *b, uint32_t u) {
  char e[6] = {'\\', 'u', hex_digits[(u >> 12) & 15], hex_digits[(u >> 8) & 15],
               hex_digits[(u >> 4) & 15], hex_digits[u & 15]};
  xr_buf_append(b, e, sizeof e);
}

void xr_json_put_escape(xr_buf *b, unsigned char c) {
  const char *e = NULL;
  switch (c) {
  case '"': e = "\\\""; break;
  case '\\': e = "\\\\"; break;
  case '\b': e = "\\b"; break;
  case '\f': e = "\\f"; break;
  case '\n': e = "\\n"; break;
  case '\r': e = "\\r"; break;
  case '\t': e = "\\t"; break;
  default: xr_json_put_u4(b, c); return;
  }
  xr_buf_append(b, e, 2);
}

void xr_json_flush_run(xr_buf *b, const unsigned char *s, size_t *start, size_t end) {
  if (end > *start) xr_buf_append(b, s + *start, end - *start);
  *start = end;
}

static int bad_utf8(const unsigned char *s, size_t at, const char *what) {
  return xr_fail(XR_EINVAL, "invalid UTF-8 in %s at byte %zu (0x%02x)", what, at, s[at]);
}

/* JSON.stringify: only '"', '\\' and controls are escaped; a lone surrogate becomes \udxxx (ES2019
 * well-formed stringify). A high+low pair written as two WTF-8 sequences is one character to JS,
 * so it comes out as that character's 4-byte UTF-8. */
static int js_string(xr_buf *b, const unsigned char *s, size_t len, const char *what) {
  size_t start = 0, i = 0;
  while (i < len) {
    unsigned char c = s[i];
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
      i++;
      continue;
    }
    if (c < 0x80) {
      xr_json_flush_run(b, s, &start, i);
      xr_json_put_escape(b, c);
      start = ++i;
      continue;
    }
    uint32_t cp, low;
    size_t n = xr_json_utf8_decode(s + i, len - i, 1, &cp);
    if (n == 0) return bad_utf8(s, i, what);
    if (!is_surrogate(cp)) {
      i += n;
      continue;
    }
    xr_json_flush_run(b, s, &start, i);
    if (is_high_surrogate(cp) && i + n < len && xr_json_utf8_decode(s + i + n, len - i - n, 1, &low) == 3 &&
        is_low_surrogate(low)) {
      put_utf8(b, 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00));
      n += 3;
    } else {
      xr_json_put_u4(b, cp);
    }
    i += n;
    start = i;
  }
  xr_json_flush_run(b, s, &start, len);
  return XR_OK;
}

/* json.dumps with ensure_ascii: everything outside 0x20..0x7e is escaped, astral characters as a
 * UTF-16 surrogate pair; lone surrogates (WTF-8) as themselves. */
static int python_string(xr_buf *b, const unsigned char *s, size_t len, const char *what) {
  size_t start = 0, i = 0;
  while (i < len) {
    unsigned char c = s[i];
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      i++;
      continue;
    }
    xr_json_flush_run(b, s, &start, i);
    if (c < 0x80) {
      xr_json_put_escape(b, c);
      start = ++i;
      continue;
    }
    uint32_t cp;
    size_t n = xr_json_utf8_decode(s + i, len - i, 1, &cp);
    if (n == 0) return bad_utf8(s, i, what);
    if (cp >= 0x10000) {
      xr_json_put_u4(b, 0xD800 + ((cp - 0x10000) >> 10));
      xr_json_put_u4(b, 0xDC00 + ((cp - 0x10000) & 0x3FF));
    } else {
      xr_json_put_u4(b, cp);
    }
    i += n;
    start = i;
  }
  xr_json_flush_run(b, s, &start, len);
  return XR_OK;
}

/* One quoted string; `what` names it in an error ("string", "object key"). */
static int put_string(xr_buf *b, const char *str, size_t len, xr_json_dialect d, unsigned flags,
                      const char *what) {
  const unsigned char *s = (const unsigned char *)str;
  int rc = XR_OK;
  xr_buf_putc(b, '"');
  if (d == XR_JSON_JS)
    rc = js_string(b, s, len, what);
  else if (d == XR_JSON_PYTHON)
    rc = python_string(b, s, len, what);
  else
    xr_json_go_string(b, s, len, !(flags & XR_JSON_GO_NO_HTML_ESCAPE), (flags & XR_JSON_GO_RAW_FFFD) != 0);
  xr_buf_putc(b, '"');
  return rc;
}

/* ---- values ----------------------------------------------------------------------------------- */

typedef struct writer {
  xr_buf buf;
  xr_json_dialect dialect;
  unsigned flags;
  const char *comma; /* ", " for Python, "," otherwise */
  const char *colon; /* ": " for Python, ":" otherwise */
} writer;

typedef struct member {
  const char *key;
  size_t len;
  json_t *value;
  size_t pos;      /* order before the JS reordering: insertion order, or byte order */
  uint32_t index;  /* numeric value when is_index */
  int is_index;
} member;

static int write_value(writer *w, const json_t *v, int depth);

/* An ECMAScript array index: canonical decimal of an integer 0..2^32-2. V8 enumerates such keys
 * of any object first, ascending, before the other keys in insertion order. */
static int js_array_index(const char *k, size_t len, uint32_t *out) {
  if (len == 0 || len > 10 || (k[0] == '0' && len > 1)) return 0;
  uint64_t v = 0;
  for (size_t i = 0; i < len; i++) {
    if (k[i] < '0' || k[i] > '9') return 0;
    v = v * 10 + (uint64_t)(k[i] - '0');
  }
  if (v > 4294967294u) return 0;
  *out = (uint32_t)v;
  return 1;
}

static int by_key_bytes(const void *pa, const void *pb) {
  const member *a = pa, *b = pb;
  int c = memcmp(a->key, b->key, a->len < b->len ? a->len : b->len);
  if (c) return c;
  return a->len < b->len ? -1 : a->len > b->len;
}

/* A code point's place in UTF-16 order: above U+FFFF it is its lead surrogate's (0xD800..0xDBFF,
 * below U+E000), ties among those broken by the code point itself. */
static uint32_t utf16_rank(uint32_t cp) { return cp < 0x10000 ? cp << 11 : ((0xD800 + ((cp - 0x10000) >> 10)) << 11) | (cp & 0x3FF); }

int xr_json_utf16_cmp(const char *a, size_t an, const char *b, size_t bn) {
  const unsigned char *s = (const unsigned char *)a, *t = (const unsigned char *)b;
  size_t i = 0, j = 0;
  while (i < an && j < bn) {
    uint32_t x = 0, y = 0;
    size_t n = xr_json_utf8_decode(s + i, an - i, 1, &x), m = xr_json_utf8_decode(t + j, bn - j, 1, &y);
    if (!n) x = s[i], n = 1; /* not UTF-8 (the writers refuse it): by byte */
    if (!m) y = t[j], m = 1;
    if (x != y) return utf16_rank(x) < utf16_rank(y) ? -1 : 1;
    i += n;
    j += m;
  }
  return (i < an) - (j < bn);
}

static int by_key_utf16(const void *pa, const void *pb) {
  const member *a = pa, *b = pb;
  return xr_json_utf16_cmp(a->key, a->len, b->key, b->len);
}

static int by_js_enumeration(const void *pa, const void *pb) {
  const member *a = pa, *b = pb;
  if (a->is_index != b->is_index) return a->is_index ? -1 : 1;
  if (a->is_index) return a->index < b->index ? -1 : a->index > b->index;
  return a->pos < b->pos ? -1 : a->pos > b->pos;
}

/* jansson's iteration API takes non-const objects; it does not modify them. */
static size_t collect_members(const json_t *obj, member *m) {
  json_t *o = (json_t *)obj;
  size_t n = 0;
  for (void *it = json_object_iter(o); it; it = json_object_iter_next(o, it)) {
    m[n].key = json_object_iter_key(it);
    m[n].len = json_object_iter_key_len(it);
    m[n].value = json_object_iter_value(it);
    n++;
  }
  return n;
}

/* The order the runtime writes the members in. */
static void order_members(const writer *w, member *m, size_t n) {
  if (w->flags & XR_JSON_SORT_KEYS) qsort(m, n, sizeof *m, by_key_bytes);
  else if (w->flags & XR_JSON_SORT_KEYS_UTF16) qsort(m, n, sizeof *m, by_key_utf16);
  if (w->dialect != XR_JSON_JS) return;
  for (size_t i = 0; i < n; i++) {
    m[i].pos = i;
    m[i].is_index = js_array_index(m[i].key, m[i].len, &m[i].index);
  }
  qsort(m, n, sizeof *m, by_js_enumeration);
}

static int write_members(writer *w, const member *m, size_t n, int depth) {
  for (size_t i = 0; i < n; i++) {
    if (i) xr_buf_puts(&w->buf, w->comma);
    int rc = put_string(&w->buf, m[i].key, m[i].len, w->dialect, w->flags, "object key");
    if (rc) return rc;
    xr_buf_puts(&w->buf, w->colon);
    rc = write_value(w, m[i].value, depth + 1);
    if (rc) return rc;
  }
  return XR_OK;
}

static int write_object(writer *w, const json_t *obj, int depth) {
  size_t n = json_object_size(obj);
  xr_buf_putc(&w->buf, '{');
  if (n) {
    member *m = xr_malloc(n * sizeof *m);
    if (!m) return xr_fail_nomem();
    n = collect_members(obj, m);
    order_members(w, m, n);
    int rc = write_members(w, m, n, depth);
    xr_free(m);
    if (rc) return rc;
  }
  xr_buf_putc(&w->buf, '}');
  return XR_OK;
}

static int write_array(writer *w, const json_t *arr, int depth) {
  xr_buf_putc(&w->buf, '[');
  for (size_t i = 0; i < json_array_size(arr); i++) {
    if (i) xr_buf_puts(&w->buf, w->comma);
    int rc = write_value(w, json_array_get(arr, i), depth + 1);
    if (rc) return rc;
  }
  xr_buf_putc(&w->buf, ']');
  return XR_OK;
}

static int write_value(writer *w, const json_t *v, int depth) {
  if (depth > XR_JSON_MAX_DEPTH)
    return xr_fail(XR_EINVAL, "JSON value nested deeper than %d levels", XR_JSON_MAX_DEPTH);
  switch (json_typeof(v)) {
  case JSON_OBJECT: return write_object(w, v, depth);
  case JSON_ARRAY: return write_array(w, v, depth);
  case JSON_STRING:
    return put_string(&w->buf, json_string_value(v), json_string_length(v), w->dialect, w->flags,
                      "string");
  case JSON_INTEGER: xr_number_put_integer(&w->buf, json_integer_value(v), w->dialect); break;
  case JSON_REAL: xr_number_put_real(&w->buf, json_real_value(v), w->dialect); break;
  case JSON_TRUE: xr_buf_puts(&w->buf, "true"); break;
  case JSON_FALSE: xr_buf_puts(&w->buf, "false"); break;
  case JSON_NULL: xr_buf_puts(&w->buf, "null"); break;
  }
  return XR_OK;
}

int xr_json_check_output(char **out, size_t *outlen, xr_json_dialect dialect, unsigned flags) {
  if (!out) return xr_fail(XR_EINVAL, "JSON output pointer is NULL");
  *out = NULL;
  if (outlen) *outlen = 0;
  if (!xr_json_valid_dialect(dialect)) return xr_fail(XR_EINVAL, "unknown JSON dialect %d", (int)dialect);
  if (flags & ~known_flags) return xr_fail(XR_EINVAL, "unknown JSON flags 0x%x", flags & ~known_flags);
  return XR_OK;
}

int xr_json_write(char **out, size_t *outlen, const json_t *value, xr_json_dialect dialect,
                  unsigned flags) {
  int rc = xr_json_check_output(out, outlen, dialect, flags);
  if (rc) return rc;
  if (!value) return xr_fail(XR_EINVAL, "JSON value is NULL");
  int py = dialect == XR_JSON_PYTHON;
  writer w = {XR_BUF_INIT, dialect, flags, py ? ", " : ",", py ? ": " : ":"};
  rc = write_value(&w, value, 0);
  if (rc) {
    xr_buf_free(&w.buf);
    return rc;
  }
  return xr_buf_finish(&w.buf, out, outlen);
}

int xr_json_write_string(char **out, size_t *outlen, const char *s, size_t len,
                         xr_json_dialect dialect) {
  int rc = xr_json_check_output(out, outlen, dialect, 0);
  if (rc) return rc;
  if (!s && len) return xr_fail(XR_EINVAL, "string is NULL");
  xr_buf b = XR_BUF_INIT;
  rc = put_string(&b, s ? s : "", len, dialect, 0, "string");
  if (rc) {
    xr_buf_free(&b);
    return rc;
  }
  return xr_buf_finish(&b, out, outlen);
}

/* ---- parsing ---------------------------------------------------------------------------------- */

static int parse_with(json_t **out, const char *text, size_t len, size_t extra_flags) {
  if (!out) return xr_fail(XR_EINVAL, "JSON output pointer is NULL");
  *out = NULL;
  if (!text) return xr_fail(XR_EINVAL, "JSON text is NULL");
  /* A raw NUL byte is never valid JSON text, but jansson takes one right after the value for the
   * end of the input. */
  const char *nul = memchr(text, '\0', len);
  if (nul)
    return xr_fail(XR_EPARSE, "JSON text: NUL byte at byte %zu", (size_t)(nul - text));
  json_error_t err;
  json_t *v = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL | extra_flags, &err);
  if (v) {
    *out = v;
    return XR_OK;
  }
  if (json_error_code(&err) == json_error_out_of_memory) return xr_fail_nomem();
  return xr_fail(XR_EPARSE, "JSON text line %d column %d (byte %d): %s", err.line, err.column,
                 err.position, err.text);
}

int xr_json_parse(json_t **out, const char *text, size_t len) {
  return parse_with(out, text, len, 0);
}

int xr_json_transcode(char **out, size_t *outlen, const char *text, size_t len,
                      xr_json_dialect dialect, unsigned flags) {
  int rc = xr_json_check_output(out, outlen, dialect, flags);
  if (rc) return rc;
  json_t *v;
  /* JSON.parse reads every number as a double; reading integers as reals gives the same value
   * (strtod rounds the decimal text once, as JS does) and lifts jansson's 64-bit integer limit. */
  rc = parse_with(&v, text, len, dialect == XR_JSON_JS ? JSON_DECODE_INT_AS_REAL : 0);
  if (rc) return rc;
  rc = xr_json_write(out, outlen, v, dialect, flags);
  json_decref(v);
  return rc;
}
