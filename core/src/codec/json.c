/* JSON text as JavaScript, Python and Go write it (SPEC.md 1.4, 2.1), jansson parsing, and Go's
 * compaction of raw JSON. Values come from jansson; the writers never use jansson's encoder
 * because its escaping and number formatting match none of the three runtimes. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crossredis/json.h"
#include "base/internal.h"
#include "codec/json_internal.h"

/* Deepest nesting the writers accept: the same limit jansson's parser has, so anything parsed can
 * be written, while a hand-built value cannot exhaust the stack. */
#define XR_JSON_MAX_DEPTH 2048
/* Go's scanner limit (encoding/json maxNestingDepth). */
#define GO_MAX_DEPTH 10000
/* Room for any formatted double: the longest is Go's/JS's "-0.0000012345678901234567" (25). */
#define NUM_BUF 32

static const char hex_digits[] = "0123456789abcdef";

static int valid_dialect(xr_json_dialect d) {
  return d == XR_JSON_JS || d == XR_JSON_PYTHON || d == XR_JSON_GO;
}

static const unsigned known_flags = XR_JSON_SORT_KEYS | XR_JSON_GO_NO_HTML_ESCAPE;

/* ---- UTF-8 ------------------------------------------------------------------------------------ */

static int is_surrogate(uint32_t cp) { return cp >= 0xD800 && cp <= 0xDFFF; }
static int is_high_surrogate(uint32_t cp) { return cp >= 0xD800 && cp <= 0xDBFF; }
static int is_low_surrogate(uint32_t cp) { return cp >= 0xDC00 && cp <= 0xDFFF; }

/* Decodes the UTF-8 sequence at s (avail bytes left). Returns its length and sets *cp, or 0 when
 * it is not well formed: the rules of Unicode table 3-7, which Go's utf8.DecodeRune also follows
 * (no overlongs, nothing above U+10FFFF, no truncation). With allow_surrogate, ED A0..BF xx is
 * accepted too: that is how WTF-8 carries a lone surrogate from a JS or Python string. */
static size_t utf8_decode(const unsigned char *s, size_t avail, int allow_surrogate,
                          uint32_t *cp) {
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

/* \uXXXX with lowercase hex: the spelling all three runtimes use. */
static void put_u4(xr_buf *b, uint32_t u) {
  char e[6] = {'\\', 'u', hex_digits[(u >> 12) & 15], hex_digits[(u >> 8) & 15],
               hex_digits[(u >> 4) & 15], hex_digits[u & 15]};
  xr_buf_append(b, e, sizeof e);
}

/* The escape for an ASCII character that must not appear raw. The two-character forms are the
 * same in all three runtimes (Go has used \b and \f since 1.22). */
static void put_escape(xr_buf *b, unsigned char c) {
  const char *e = NULL;
  switch (c) {
  case '"': e = "\\\""; break;
  case '\\': e = "\\\\"; break;
  case '\b': e = "\\b"; break;
  case '\f': e = "\\f"; break;
  case '\n': e = "\\n"; break;
  case '\r': e = "\\r"; break;
  case '\t': e = "\\t"; break;
  default: put_u4(b, c); return;
  }
  xr_buf_append(b, e, 2);
}

/* Copies the raw bytes s[*start, end) and moves *start past them. */
static void flush_run(xr_buf *b, const unsigned char *s, size_t *start, size_t end) {
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
      flush_run(b, s, &start, i);
      put_escape(b, c);
      start = ++i;
      continue;
    }
    uint32_t cp, low;
    size_t n = utf8_decode(s + i, len - i, 1, &cp);
    if (n == 0) return bad_utf8(s, i, what);
    if (!is_surrogate(cp)) {
      i += n;
      continue;
    }
    flush_run(b, s, &start, i);
    if (is_high_surrogate(cp) && i + n < len && utf8_decode(s + i + n, len - i - n, 1, &low) == 3 &&
        is_low_surrogate(low)) {
      put_utf8(b, 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00));
      n += 3;
    } else {
      put_u4(b, cp);
    }
    i += n;
    start = i;
  }
  flush_run(b, s, &start, len);
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
    flush_run(b, s, &start, i);
    if (c < 0x80) {
      put_escape(b, c);
      start = ++i;
      continue;
    }
    uint32_t cp;
    size_t n = utf8_decode(s + i, len - i, 1, &cp);
    if (n == 0) return bad_utf8(s, i, what);
    if (cp >= 0x10000) {
      put_u4(b, 0xD800 + ((cp - 0x10000) >> 10));
      put_u4(b, 0xDC00 + ((cp - 0x10000) & 0x3FF));
    } else {
      put_u4(b, cp);
    }
    i += n;
    start = i;
  }
  flush_run(b, s, &start, len);
  return XR_OK;
}

static int go_safe_ascii(unsigned char c, int escape_html) {
  if (c < 0x20 || c == '"' || c == '\\') return 0;
  return !(escape_html && (c == '<' || c == '>' || c == '&'));
}

/* encoding/json appendString: each byte that does not start a valid sequence (surrogates
 * included) becomes \ufffd on its own; U+2028/U+2029 are always escaped. Never fails. */
static void go_string(xr_buf *b, const unsigned char *s, size_t len, int escape_html) {
  size_t start = 0, i = 0;
  while (i < len) {
    unsigned char c = s[i];
    if (c < 0x80) {
      if (!go_safe_ascii(c, escape_html)) {
        flush_run(b, s, &start, i);
        put_escape(b, c);
        start = i + 1;
      }
      i++;
      continue;
    }
    uint32_t cp;
    size_t n = utf8_decode(s + i, len - i, 0, &cp);
    if (n == 0) {
      flush_run(b, s, &start, i);
      xr_buf_puts(b, "\\ufffd");
      start = ++i;
    } else if (cp == 0x2028 || cp == 0x2029) {
      flush_run(b, s, &start, i);
      put_u4(b, cp);
      i += n;
      start = i;
    } else {
      i += n;
    }
  }
  flush_run(b, s, &start, len);
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
    go_string(b, s, len, !(flags & XR_JSON_GO_NO_HTML_ESCAPE));
  xr_buf_putc(b, '"');
  return rc;
}

/* ---- numbers ---------------------------------------------------------------------------------- */

/* The shortest decimal that reads back as the same double, closest to it among those of that
 * length: what V8, CPython's repr and Go's strconv all print. v = 0.d[0]d[1]..d[k-1] x 10^point,
 * i.e. `point` is ECMA-262's n. */
typedef struct digits {
  char d[20];
  int k;
  int point;
} digits;

/* Reads "d.ddde[+-]x" (as printf %e writes it) into out; true when it reads back as v. printf and
 * strtod use the same locale, so only the digits are taken: the decimal point may be a comma. */
static int take_if_exact(const char *text, double v, digits *out) {
  if (strtod(text, NULL) != v) return 0;
  out->k = 0;
  const char *p = text;
  for (; *p && *p != 'e'; p++)
    if (*p >= '0' && *p <= '9') out->d[out->k++] = *p;
  out->point = atoi(p + 1) + 1;
  while (out->k > 1 && out->d[out->k - 1] == '0') out->k--;
  return 1;
}

/* The same digits with the last one raised by one, unless that carries (the result would have
 * fewer digits, and those were tried already). */
static int next_up(const char *text, char *out, size_t size) {
  const char *e = strchr(text, 'e');
  size_t last = (size_t)(e - text) - 1;
  if (text[last] == '9') return 0;
  snprintf(out, size, "%s", text);
  out[last]++;
  return 1;
}

/* A normal power of two: the next double down is half as far as the next one up, so the interval
 * of decimals that read back as v reaches twice as far above v as below it. */
static int lopsided(double v) {
  int e;
  return frexp(v, &e) == 0.5 && v > DBL_MIN;
}

/* True when some decimal of `prec` digits reads back as v, stored in out. printf's correctly
 * rounded %.*e gives the nearest one; when the interval is lopsided the nearest can lie below it
 * while the next one up is inside. */
static int digits_of_length(double v, int prec, digits *out) {
  char text[40], other[40];
  snprintf(text, sizeof text, "%.*e", prec - 1, v);
  if (take_if_exact(text, v, out)) return 1;
  return lopsided(v) && next_up(text, other, sizeof other) && take_if_exact(other, v, out);
}

/* Integers up to 2^53 are exact and no shorter decimal reads back as them (neighbouring doubles
 * are at most 1 apart): their digits are the integer's, found without any probing. */
static int integer_digits(double v, digits *out) {
  if (v > 9007199254740992.0 || v != floor(v)) return 0;
  out->k = snprintf(out->d, sizeof out->d, "%lld", (long long)v);
  out->point = out->k;
  while (out->k > 1 && out->d[out->k - 1] == '0') out->k--;
  return 1;
}

/* v finite and > 0. A decimal that round-trips with k digits also does with k+1 (append a zero),
 * so the shortest length is found by bisection; 17 digits always round-trip. */
static void shortest_digits(double v, digits *out) {
  if (integer_digits(v, out)) return;
  int lo = 1, hi = 17, found = 0;
  digits probe;
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    if (digits_of_length(v, mid, &probe)) {
      hi = mid;
      *out = probe;
      found = 1;
    } else {
      lo = mid + 1;
    }
  }
  if (!found) digits_of_length(v, 17, out);
}

static char *put_zeros(char *p, int n) {
  while (n-- > 0) *p++ = '0';
  return p;
}

/* Positional notation: "1230", "12.3", "0.00123". */
static char *put_fixed(char *p, const digits *g) {
  if (g->point >= g->k) {
    memcpy(p, g->d, (size_t)g->k);
    return put_zeros(p + g->k, g->point - g->k);
  }
  if (g->point > 0) {
    memcpy(p, g->d, (size_t)g->point);
    p += g->point;
    *p++ = '.';
    memcpy(p, g->d + g->point, (size_t)(g->k - g->point));
    return p + (g->k - g->point);
  }
  *p++ = '0';
  *p++ = '.';
  p = put_zeros(p, -g->point);
  memcpy(p, g->d, (size_t)g->k);
  return p + g->k;
}

/* Scientific notation "d.ddde+x" with a signed exponent of at least min_exp_digits digits. */
static char *put_exponential(char *p, const digits *g, int min_exp_digits) {
  *p++ = g->d[0];
  if (g->k > 1) {
    *p++ = '.';
    memcpy(p, g->d + 1, (size_t)(g->k - 1));
    p += g->k - 1;
  }
  int e = g->point - 1;
  return p + sprintf(p, "e%c%0*d", e < 0 ? '-' : '+', min_exp_digits, e < 0 ? -e : e);
}

/* Number::toString (ECMA-262 6.1.6.1.20). Go's float64 encoding is the same text: it switches to
 * exponents at the same bounds (1e-6, 1e21) and trims "e-07" to "e-7"; only -0 differs. */
static char *format_js_or_go(char *p, double v, int keep_negative_zero) {
  if (v == 0) {
    if (keep_negative_zero && signbit(v)) *p++ = '-';
    *p++ = '0';
    return p;
  }
  if (v < 0) *p++ = '-';
  digits g;
  shortest_digits(fabs(v), &g);
  if (g.point > -6 && g.point <= 21) return put_fixed(p, &g);
  return put_exponential(p, &g, 1);
}

/* float.__repr__: positional for exponents -4..15 with ".0" on integral values, else
 * "d.ddde+XX" with at least two exponent digits. */
static char *format_python(char *p, double v) {
  if (signbit(v)) *p++ = '-';
  if (v == 0) {
    memcpy(p, "0.0", 3);
    return p + 3;
  }
  digits g;
  shortest_digits(fabs(v), &g);
  int exp10 = g.point - 1;
  if (exp10 < -4 || exp10 >= 16) return put_exponential(p, &g, 2);
  p = put_fixed(p, &g);
  if (g.point >= g.k) {
    memcpy(p, ".0", 2);
    p += 2;
  }
  return p;
}

/* buf has NUM_BUF bytes; v is finite. */
static size_t format_double(char *buf, double v, xr_json_dialect d) {
  char *end = d == XR_JSON_PYTHON ? format_python(buf, v) : format_js_or_go(buf, v, d == XR_JSON_GO);
  *end = '\0';
  return (size_t)(end - buf);
}

int xr_json_format_double(char *buf, size_t size, double v, xr_json_dialect dialect) {
  if (!buf || size < NUM_BUF) return xr_fail(XR_EINVAL, "number buffer needs %d bytes", NUM_BUF);
  if (!valid_dialect(dialect)) return xr_fail(XR_EINVAL, "unknown JSON dialect %d", (int)dialect);
  if (!isfinite(v)) return xr_fail(XR_EINVAL, "%s has no JSON number form", isnan(v) ? "NaN" : "infinity");
  return (int)format_double(buf, v, dialect);
}

static void put_real(xr_buf *b, double v, xr_json_dialect d) {
  char num[NUM_BUF];
  xr_buf_append(b, num, format_double(num, v, d));
}

/* JS has only doubles: an integer is written as the double nearest to it, as JSON.parse would
 * have read it. */
static void put_integer(xr_buf *b, json_int_t v, xr_json_dialect d) {
  if (d == XR_JSON_JS)
    put_real(b, (double)v, d);
  else
    xr_buf_printf(b, "%" JSON_INTEGER_FORMAT, v);
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
  case JSON_INTEGER: put_integer(&w->buf, json_integer_value(v), w->dialect); break;
  case JSON_REAL: put_real(&w->buf, json_real_value(v), w->dialect); break;
  case JSON_TRUE: xr_buf_puts(&w->buf, "true"); break;
  case JSON_FALSE: xr_buf_puts(&w->buf, "false"); break;
  case JSON_NULL: xr_buf_puts(&w->buf, "null"); break;
  }
  return XR_OK;
}

static int check_output_args(char **out, size_t *outlen, xr_json_dialect dialect, unsigned flags) {
  if (!out) return xr_fail(XR_EINVAL, "JSON output pointer is NULL");
  *out = NULL;
  if (outlen) *outlen = 0;
  if (!valid_dialect(dialect)) return xr_fail(XR_EINVAL, "unknown JSON dialect %d", (int)dialect);
  if (flags & ~known_flags) return xr_fail(XR_EINVAL, "unknown JSON flags 0x%x", flags & ~known_flags);
  return XR_OK;
}

int xr_json_write(char **out, size_t *outlen, const json_t *value, xr_json_dialect dialect,
                  unsigned flags) {
  int rc = check_output_args(out, outlen, dialect, flags);
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
  int rc = check_output_args(out, outlen, dialect, 0);
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
  int rc = check_output_args(out, outlen, dialect, flags);
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

/* ---- Go's compaction of raw JSON -------------------------------------------------------------- */

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
      put_u4(c->b, (uint32_t)ch);
      c->i++;
    } else if (c->escape && at_line_separator(c)) {
      put_u4(c->b, c->s[c->i + 2] == 0xA8 ? 0x2028 : 0x2029);
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
  int rc = check_output_args(out, outlen, XR_JSON_GO, flags);
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
