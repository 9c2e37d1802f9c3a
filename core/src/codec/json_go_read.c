/* Go's encoding/json reading of JSON text (codec/json_go_read.h): its scanner's verdict with its
 * messages, for Go 1.26 (the scanner of encoding/json) and Go 1.27 (encoding/json over json/v2),
 * and its unquoting. Checked against both toolchains' json.Unmarshal (tests/unit/
 * test_session_record.c). */
#include <stdio.h>
#include <string.h>

#include "codec/json_go_read.h"
#include "codec/json_internal.h"

#define GO_MAX_DEPTH 10000

typedef struct scan {
  const unsigned char *s;
  size_t n, i;
  int go127;
  int value_words; /* json/v2's own wording ("after array value"): Go 1.27 validating a RawMessage */
  int depth;
} scan;

static int is_space(int c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
static int is_digit(int c) { return c >= '0' && c <= '9'; }
static int is_hex(int c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

/* strconv.IsPrint, closely: the code points it calls unprintable that are likely in practice
 * (controls, format characters, separators other than U+0020, private use, noncharacters).
 * Unassigned code points are treated as printable (a known difference, in messages only). */
static int go_is_print(uint32_t r) {
  if (r < 0x20 || r == 0x7f) return 0;
  if (r < 0x80) return 1;
  if (r <= 0xa0 || r == 0xad || r == 0x34f || (r >= 0x600 && r <= 0x605) || r == 0x61c || r == 0x6dd || r == 0x70f ||
      r == 0x180e || (r >= 0x2000 && r <= 0x200f) || (r >= 0x2028 && r <= 0x202f) || (r >= 0x205f && r <= 0x206f) ||
      r == 0x3000 || (r >= 0xd800 && r <= 0xf8ff) || r == 0xfeff || (r >= 0xfff0 && r <= 0xfffb) || r == 0xfffe ||
      r == 0xffff || (r >= 0xe0000 && r <= 0xe0fff) || r >= 0xf0000)
    return 0;
  return 1;
}

static size_t put_utf8(char *p, uint32_t r) {
  if (r < 0x80) return p[0] = (char)r, 1;
  if (r < 0x800) return p[0] = (char)(0xc0 | (r >> 6)), p[1] = (char)(0x80 | (r & 0x3f)), 2;
  if (r < 0x10000) {
    p[0] = (char)(0xe0 | (r >> 12));
    p[1] = (char)(0x80 | ((r >> 6) & 0x3f));
    p[2] = (char)(0x80 | (r & 0x3f));
    return 3;
  }
  p[0] = (char)(0xf0 | (r >> 18));
  p[1] = (char)(0x80 | ((r >> 12) & 0x3f));
  p[2] = (char)(0x80 | ((r >> 6) & 0x3f));
  p[3] = (char)(0x80 | (r & 0x3f));
  return 4;
}

void xr_go_json_quote_char(char *buf, size_t size, const char *text, size_t len, size_t i, int go127) {
  const unsigned char *s = (const unsigned char *)text;
  uint32_t r = s[i];
  int invalid = 0;
  if (go127 && r >= 0x80) {
    uint32_t cp;
    size_t n = xr_json_utf8_decode(s + i, len - i, 0, &cp);
    if (n) r = cp;
    else invalid = 1;
  }
  if (r == '\'') {
    snprintf(buf, size, "'\\''");
    return;
  }
  if (r == '"') {
    snprintf(buf, size, "'\"'");
    return;
  }
  static const char short_esc[] = "abtnvfr"; /* \a (7) .. \r (13) */
  char in[16];
  if (invalid) snprintf(in, sizeof in, "\\x%02x", (unsigned)r);
  else if (r == '\\') snprintf(in, sizeof in, "\\\\");
  else if (r >= 7 && r <= 13) snprintf(in, sizeof in, "\\%c", short_esc[r - 7]);
  else if (r < 0x20 || r == 0x7f) snprintf(in, sizeof in, "\\x%02x", (unsigned)r);
  else if (go_is_print(r)) in[put_utf8(in, r)] = '\0';
  else if (r < 0x10000) snprintf(in, sizeof in, "\\u%04x", (unsigned)r);
  else snprintf(in, sizeof in, "\\U%08x", (unsigned)r);
  snprintf(buf, size, "'%s'", in);
}

/* How json/v2 shows an escape sequence: backquoted when strconv.CanBackquote allows it, else
 * strconv.Quote's form. */
static void quote_seq(char *out, size_t size, const unsigned char *p, size_t n) {
  int back = 1;
  for (size_t i = 0; i < n && back;) {
    uint32_t r;
    size_t w = p[i] < 0x80 ? (r = p[i], 1) : xr_json_utf8_decode(p + i, n - i, 0, &r);
    /* strconv.CanBackquote, and no white space (json/v2 quotes those) */
    if (w == 0 || (w == 1 && (r <= ' ' || r == '`' || r == 0x7f)) || r == 0xfeff) back = 0;
    i += w ? w : 1;
  }
  size_t o = 0;
  if (back) {
    snprintf(out, size, "`%.*s`", (int)n, (const char *)p);
    return;
  }
  o += (size_t)snprintf(out + o, size - o, "\"");
  for (size_t i = 0; i < n && o + 12 < size;) {
    uint32_t r;
    size_t w = p[i] < 0x80 ? (r = p[i], 1) : xr_json_utf8_decode(p + i, n - i, 0, &r);
    if (w == 0) {
      o += (size_t)snprintf(out + o, size - o, "\\x%02x", p[i]);
      i++;
      continue;
    }
    if (r == '"' || r == '\\') o += (size_t)snprintf(out + o, size - o, "\\%c", (char)r);
    else if (go_is_print(r)) o += put_utf8(out + o, r);
    else if (r >= 7 && r <= 13) o += (size_t)snprintf(out + o, size - o, "\\%c", "abtnvfr"[r - 7]);
    else if (r < 0x20 || r == 0x7f) o += (size_t)snprintf(out + o, size - o, "\\x%02x", (unsigned)r);
    else if (r < 0x10000) o += (size_t)snprintf(out + o, size - o, "\\u%04x", (unsigned)r);
    else o += (size_t)snprintf(out + o, size - o, "\\U%08x", (unsigned)r);
    i += w;
  }
  snprintf(out + o, size - o, "\"");
}

static int peek(const scan *sc) { return sc->i < sc->n ? sc->s[sc->i] : -1; }

/* "invalid character 'x' <context>", or at the end of the text what Go says there: Go 1.27
 * "unexpected end of JSON input"; Go 1.26 feeds the scanner a space, so a context that refuses a
 * space names it ("invalid character ' ' in string escape code"), any other ends the input. */
static int bad(const scan *sc, const char *context, int space_refused) {
  if (sc->i >= sc->n) {
    if (!sc->go127 && space_refused) return xr_fail(XR_EPARSE, "invalid character ' ' %s", context);
    return xr_fail(XR_EPARSE, "unexpected end of JSON input");
  }
  char q[24];
  xr_go_json_quote_char(q, sizeof q, (const char *)sc->s, sc->n, sc->i, sc->go127);
  return xr_fail(XR_EPARSE, "invalid character %s %s", q, context);
}

static void skip_space(scan *sc) {
  while (sc->i < sc->n && is_space(sc->s[sc->i])) sc->i++;
}

static int scan_value(scan *sc);



static int scan_string(scan *sc) {
  sc->i++; /* the opening quote */
  for (;;) {
    /* the plain bytes in one tight loop: everything but a quote, a backslash and controls */
    while (sc->i < sc->n && (xr_json_go_bytes[sc->s[sc->i]] & XR_GO_BYTE_READ)) sc->i++;
    int c = peek(sc);
    if (c < 0) return bad(sc, "in string literal", 0);
    if (c == '"') {
      sc->i++;
      return XR_OK;
    }
    if (c < 0x20) return bad(sc, sc->go127 ? "in string" : "in string literal", 1);
    if (c != '\\') {
      sc->i++;
      continue;
    }
    size_t esc = sc->i++;
    c = peek(sc);
    if (c >= 0 && strchr("bfnrt\\/\"", c) && c != 0) {
      sc->i++;
      continue;
    }
    if (c == 'u') {
      sc->i++;
      for (int k = 0; k < 4; k++) {
        c = peek(sc);
        if (c >= 0 && is_hex(c)) {
          sc->i++;
          continue;
        }
        if (sc->go127) {
          if (c < 0) return xr_fail(XR_EPARSE, "unexpected end of JSON input");
          char q[64];
          quote_seq(q, sizeof q, sc->s + esc, sc->n - esc < 6 ? sc->n - esc : 6);
          return xr_fail(XR_EPARSE, "invalid escape sequence %s in string", q);
        }
        return bad(sc, "in \\u hexadecimal character escape", 1);
      }
      continue;
    }
    if (sc->go127) {
      if (c < 0) return xr_fail(XR_EPARSE, "unexpected end of JSON input");
      char q[64]; /* the backslash and one byte */
      quote_seq(q, sizeof q, sc->s + esc, 2);
      return xr_fail(XR_EPARSE, "invalid escape sequence %s in string", q);
    }
    return bad(sc, "in string escape code", 1);
  }
}

static int scan_number(scan *sc) {
  const char *numeric = "in numeric literal";
  if (peek(sc) == '-') {
    sc->i++;
    int c = peek(sc);
    if (c < 0 || !is_digit(c)) return bad(sc, numeric, 1);
  }
  if (peek(sc) == '0') sc->i++;
  else
    while (sc->i < sc->n && is_digit(sc->s[sc->i])) sc->i++;
  if (peek(sc) == '.') {
    sc->i++;
    int c = peek(sc);
    if (c < 0 || !is_digit(c)) return bad(sc, sc->go127 ? numeric : "after decimal point in numeric literal", 1);
    while (sc->i < sc->n && is_digit(sc->s[sc->i])) sc->i++;
  }
  int c = peek(sc);
  if (c == 'e' || c == 'E') {
    sc->i++;
    c = peek(sc);
    if (c == '+' || c == '-') sc->i++;
    c = peek(sc);
    if (c < 0 || !is_digit(c)) return bad(sc, sc->go127 ? numeric : "in exponent of numeric literal", 1);
    while (sc->i < sc->n && is_digit(sc->s[sc->i])) sc->i++;
  }
  return XR_OK;
}

static int scan_literal(scan *sc, const char *word) {
  char context[48];
  for (size_t k = 1; word[k]; k++) {
    sc->i++;
    if (peek(sc) != word[k]) {
      snprintf(context, sizeof context, "in literal %s (expecting '%c')", word, word[k]);
      return bad(sc, context, 1);
    }
  }
  sc->i++;
  return XR_OK;
}

static int scan_container(scan *sc, int object) {
  if (++sc->depth > GO_MAX_DEPTH) return xr_fail(XR_EPARSE, "exceeded max depth");
  sc->i++;
  skip_space(sc);
  int close = object ? '}' : ']';
  if (peek(sc) == close) {
    sc->i++;
    sc->depth--;
    return XR_OK;
  }
  for (;;) {
    int rc;
    if (object) {
      skip_space(sc);
      if (peek(sc) != '"') return bad(sc, "looking for beginning of object key string", 0);
      if ((rc = scan_string(sc))) return rc;
      skip_space(sc);
      if (peek(sc) != ':') return bad(sc, "after object key", 0);
      sc->i++;
    }
    if ((rc = scan_value(sc))) return rc;
    skip_space(sc);
    int c = peek(sc);
    if (c == ',') {
      sc->i++;
      continue;
    }
    if (c == close) {
      sc->i++;
      sc->depth--;
      return XR_OK;
    }
    return bad(sc, object ? "after object key:value pair" : sc->value_words ? "after array value" : "after array element", 0);
  }
}

static int scan_value(scan *sc) {
  skip_space(sc);
  int c = peek(sc);
  switch (c) {
    case '{': return scan_container(sc, 1);
    case '[': return scan_container(sc, 0);
    case '"': return scan_string(sc);
    case 't': return scan_literal(sc, "true");
    case 'f': return scan_literal(sc, "false");
    case 'n': return scan_literal(sc, "null");
    default:
      if (c == '-' || is_digit(c)) return scan_number(sc);
      return bad(sc, "looking for beginning of value", 0);
  }
}

int xr_go_json_check(const char *text, size_t len, int go127) {
  scan sc = {(const unsigned char *)text, len, 0, go127 != 0, go127 == 2, 0};
  int rc = scan_value(&sc);
  if (rc) return rc;
  skip_space(&sc);
  if (sc.i < sc.n) return bad(&sc, "after top-level value", 0);
  return XR_OK;
}

size_t xr_go_json_skip_space(const char *text, size_t len, size_t i) {
  while (i < len && is_space((unsigned char)text[i])) i++;
  return i;
}

/* Whether c ends a number or a literal. */
static int ends_bare(unsigned char c) {
  return c == ',' || c == ':' || c == ']' || c == '}' || is_space(c);
}

size_t xr_go_json_value_end(const char *text, size_t len, size_t i) {
  const unsigned char *s = (const unsigned char *)text;
  int depth = 0;
  do {
    unsigned char c = s[i];
    if (c == '"') {
      for (i++; i < len; i++) {
        const unsigned char *q = memchr(s + i, '"', len - i); /* the next quote, then whether it is escaped */
        if (!q) {
          i = len;
          break;
        }
        size_t k = (size_t)(q - s), backslashes = 0;
        while (k - backslashes > i && s[k - backslashes - 1] == '\\') backslashes++;
        i = k;
        if (backslashes % 2 == 0) break;
      }
      i++;
    } else if (c == '{' || c == '[') {
      depth++;
      i++;
    } else if (c == '}' || c == ']') {
      depth--;
      i++;
    } else if (c == ',' || c == ':' || is_space(c)) {
      i++;
    } else { /* a number or a literal */
      while (i < len && !ends_bare(s[i])) i++;
    }
  } while (depth > 0 && i < len);
  return i;
}

static unsigned hex4(const unsigned char *p) {
  unsigned v = 0;
  for (int k = 0; k < 4; k++) {
    unsigned c = p[k];
    v = v * 16 + (is_digit((int)c) ? c - '0' : (c | 0x20) - 'a' + 10);
  }
  return v;
}

static void put_rune(xr_buf *b, uint32_t r) {
  char u[4];
  xr_buf_append(b, u, put_utf8(u, r));
}

void xr_go_json_unquote(xr_buf *b, const char *text, size_t i, size_t end) {
  const unsigned char *s = (const unsigned char *)text;
  size_t stop = end - 1; /* the closing quote */
  for (i++; i < stop;) {
    size_t run = i; /* ASCII without escapes, copied at once */
    while (i < stop && s[i] < 0x80 && s[i] != '\\') i++;
    if (i > run) xr_buf_append(b, s + run, i - run);
    if (i >= stop) break;
    unsigned char c = s[i];
    if (c == '\\') {
      unsigned char e = s[i + 1];
      if (e != 'u') {
        static const char from[] = "bfnrt\\/\"", to[] = "\b\f\n\r\t\\/\"";
        xr_buf_putc(b, to[strchr(from, e) - from]);
        i += 2;
        continue;
      }
      uint32_t r = hex4(s + i + 2);
      i += 6;
      if (r >= 0xd800 && r < 0xdc00 && i + 6 <= stop && s[i] == '\\' && s[i + 1] == 'u') {
        uint32_t lo = hex4(s + i + 2);
        if (lo >= 0xdc00 && lo < 0xe000) {
          put_rune(b, 0x10000 + ((r - 0xd800) << 10) + (lo - 0xdc00));
          i += 6;
          continue;
        }
      }
      put_rune(b, r >= 0xd800 && r < 0xe000 ? 0xfffd : r);
      continue;
    }
    if (c < 0x80) {
      xr_buf_putc(b, (char)c);
      i++;
      continue;
    }
    uint32_t cp;
    size_t n = xr_json_utf8_decode(s + i, stop - i, 0, &cp);
    if (n == 0) {
      put_rune(b, 0xfffd);
      i++;
    } else {
      xr_buf_append(b, s + i, n);
      i += n;
    }
  }
}
