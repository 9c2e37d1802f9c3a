/* Keys: CRC16 and Redis Cluster slots, MPP's hash-tag convention, SCAN MATCH escaping. */
#include <string.h>

#include "crossredis/keys.h"
#include "base/internal.h"

/* ---- CRC-16/XMODEM --------------------------------------------------------------------------- */

/* crc16_table[b] is the CRC register after shifting the byte b through a zero register: the
 * polynomial 0x1021 applied bit by bit, most significant bit first. Computed at compile time
 * by the macros below so the table needs no initialisation at run time (reentrant). */
#define XR_CRC_STEP(c) ((uint16_t)(((c) & 0x8000u) ? (((c) << 1) ^ 0x1021u) : ((c) << 1)))
#define XR_CRC_2(c) XR_CRC_STEP(XR_CRC_STEP(c))
#define XR_CRC_8(c) XR_CRC_2(XR_CRC_2(XR_CRC_2(XR_CRC_2(c))))
#define XR_CRC_T(b) XR_CRC_8((uint16_t)((unsigned)(b) << 8))
#define XR_CRC_ROW(b)                                                                            \
  XR_CRC_T(b), XR_CRC_T(b + 1), XR_CRC_T(b + 2), XR_CRC_T(b + 3), XR_CRC_T(b + 4),             \
      XR_CRC_T(b + 5), XR_CRC_T(b + 6), XR_CRC_T(b + 7)

static const uint16_t crc16_table[256] = {
    XR_CRC_ROW(0),   XR_CRC_ROW(8),   XR_CRC_ROW(16),  XR_CRC_ROW(24),  XR_CRC_ROW(32),
    XR_CRC_ROW(40),  XR_CRC_ROW(48),  XR_CRC_ROW(56),  XR_CRC_ROW(64),  XR_CRC_ROW(72),
    XR_CRC_ROW(80),  XR_CRC_ROW(88),  XR_CRC_ROW(96),  XR_CRC_ROW(104), XR_CRC_ROW(112),
    XR_CRC_ROW(120), XR_CRC_ROW(128), XR_CRC_ROW(136), XR_CRC_ROW(144), XR_CRC_ROW(152),
    XR_CRC_ROW(160), XR_CRC_ROW(168), XR_CRC_ROW(176), XR_CRC_ROW(184), XR_CRC_ROW(192),
    XR_CRC_ROW(200), XR_CRC_ROW(208), XR_CRC_ROW(216), XR_CRC_ROW(224), XR_CRC_ROW(232),
    XR_CRC_ROW(240), XR_CRC_ROW(248),
};

uint16_t xr_crc16(const void *data, size_t len) {
  const unsigned char *p = data;
  uint16_t crc = 0;
  for (size_t i = 0; i < len; i++)
    crc = (uint16_t)((crc << 8) ^ crc16_table[((crc >> 8) ^ p[i]) & 0xffu]);
  return crc;
}

/* ---- hash tags ------------------------------------------------------------------------------- */

/* The bytes between the first '{' and the first '}' after it; false when either is missing or
 * the span is empty. Redis's rule and MPP's ExtractTag agree on this. */
static bool find_tag(const char **tag, size_t *tag_len, const char *key, size_t len) {
  if (key == NULL || len == 0) return false;
  const char *open = memchr(key, '{', len);
  if (open == NULL) return false;
  size_t rest = len - (size_t)(open - key) - 1;
  const char *close = rest ? memchr(open + 1, '}', rest) : NULL;
  if (close == NULL || close == open + 1) return false;
  *tag = open + 1;
  *tag_len = (size_t)(close - open - 1);
  return true;
}

void xr_key_hash_span(const char **span, size_t *span_len, const char *key, size_t len) {
  if (!find_tag(span, span_len, key, len)) {
    *span = key;
    *span_len = len;
  }
}

unsigned xr_key_slot(const char *key, size_t len) {
  const char *span;
  size_t span_len;
  xr_key_hash_span(&span, &span_len, key, len);
  return (unsigned)(xr_crc16(span, span_len) & (XR_CLUSTER_SLOTS - 1));
}

bool xr_key_extract_tag(const char **tag, size_t *tag_len, const char *key, size_t len) {
  const char *t = NULL;
  size_t n = 0;
  bool ok = find_tag(&t, &n, key, len);
  if (tag) *tag = ok ? t : NULL;
  if (tag_len) *tag_len = n;
  return ok;
}

bool xr_key_share_tag(const char *const *keys, const size_t *lens, size_t n) {
  if (n == 0) return true;
  if (keys == NULL) return false;
  const char *first;
  size_t first_len;
  if (!find_tag(&first, &first_len, keys[0], lens ? lens[0] : (keys[0] ? strlen(keys[0]) : 0)))
    return false;
  for (size_t i = 1; i < n; i++) {
    const char *t;
    size_t tl;
    size_t kl = lens ? lens[i] : (keys[i] ? strlen(keys[i]) : 0);
    if (!find_tag(&t, &tl, keys[i], kl) || tl != first_len || memcmp(t, first, tl) != 0)
      return false;
  }
  return true;
}

/* ---- MPP rediskey.Part ----------------------------------------------------------------------- */

#define XR_RUNE_ERROR 0xFFFDu

/* Decodes one rune at p[0..n) the way Go's utf8.DecodeRuneInString does: any invalid or
 * truncated sequence (overlong, surrogate, above U+10FFFF) yields U+FFFD and consumes one
 * byte. Returns the rune; *width gets the bytes consumed. n > 0. */
static uint32_t decode_rune(const unsigned char *p, size_t n, size_t *width) {
  unsigned char b0 = p[0];
  *width = 1;
  if (b0 < 0x80) return b0;
  size_t need;
  uint32_t r;
  unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 2;
    r = b0 & 0x1Fu;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 3;
    r = b0 & 0x0Fu;
    if (b0 == 0xE0) lo = 0xA0; /* no overlongs */
    if (b0 == 0xED) hi = 0x9F; /* no surrogates */
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 4;
    r = b0 & 0x07u;
    if (b0 == 0xF0) lo = 0x90; /* no overlongs */
    if (b0 == 0xF4) hi = 0x8F; /* nothing above U+10FFFF */
  } else {
    return XR_RUNE_ERROR;
  }
  if (n < need || p[1] < lo || p[1] > hi) return XR_RUNE_ERROR;
  r = (r << 6) | (p[1] & 0x3Fu);
  for (size_t i = 2; i < need; i++) {
    if (p[i] < 0x80 || p[i] > 0xBF) return XR_RUNE_ERROR;
    r = (r << 6) | (p[i] & 0x3Fu);
  }
  *width = need;
  return r;
}

/* Go's unicode.IsSpace. */
static bool is_go_space(uint32_t r) {
  switch (r) {
  case '\t': case '\n': case '\v': case '\f': case '\r': case ' ':
  case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F:
  case 0x3000:
    return true;
  default:
    return r >= 0x2000 && r <= 0x200A;
  }
}

/* Go's unicode.ToLower, as far as Part's output can tell: ASCII letters, and the only two
 * non-ASCII runes whose simple lower-case mapping is ASCII (checked with Go over every rune):
 * U+0130 LATIN CAPITAL LETTER I WITH DOT ABOVE -> 'i' and U+212A KELVIN SIGN -> 'k'. Every other
 * non-ASCII rune stays non-ASCII and Part turns it into a dash whatever its case. */
static uint32_t go_to_lower(uint32_t r) {
  if (r >= 'A' && r <= 'Z') return r + ('a' - 'A');
  if (r == 0x130) return 'i';
  if (r == 0x212A) return 'k';
  return r;
}

static bool part_keeps(uint32_t r) {
  return (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '-' || r == '_' || r == ':' ||
         r == '.';
}

/* Appends Part(value) to b. */
static void append_part(xr_buf *b, const char *value, size_t len) {
  const unsigned char *p = (const unsigned char *)value;
  size_t start = 0, end = len, w;

  /* strings.TrimSpace: leading and trailing Unicode white space. A rune decoded forwards from a
   * rune boundary is the same rune Go decodes backwards from the end. */
  while (start < end) {
    uint32_t r = decode_rune(p + start, end - start, &w);
    if (!is_go_space(r)) break;
    start += w;
  }
  size_t last_kept = start; /* end of the last rune that is not white space */
  for (size_t i = start; i < end; i += w) {
    uint32_t r = decode_rune(p + i, end - i, &w);
    if (!is_go_space(r)) last_kept = i + w;
  }
  end = last_kept;

  /* strings.ToLower then the rune loop, fused: a kept rune is copied, any other starts a run
   * that writes a single '-'. The leading and trailing dashes are trimmed afterwards. */
  size_t base = b->len;
  bool last_dash = false;
  for (size_t i = start; i < end; i += w) {
    uint32_t r = go_to_lower(decode_rune(p + i, end - i, &w));
    if (part_keeps(r)) {
      xr_buf_putc(b, (char)r);
      last_dash = false;
    } else if (!last_dash) {
      xr_buf_putc(b, '-');
      last_dash = true;
    }
  }
  if (b->oom) return;

  /* strings.Trim(result, "-") */
  size_t lo = base, hi = b->len;
  while (lo < hi && b->data[lo] == '-') lo++;
  while (hi > lo && b->data[hi - 1] == '-') hi--;
  if (lo == hi) {
    b->len = base;
    xr_buf_puts(b, "unknown");
    return;
  }
  if (lo > base) memmove(b->data + base, b->data + lo, hi - lo);
  b->len = base + (hi - lo);
  b->data[b->len] = '\0';
}

int xr_key_part(char **out, size_t *outlen, const char *value, size_t len) {
  if (out == NULL) return xr_fail(XR_EINVAL, "xr_key_part: out is NULL");
  *out = NULL;
  if (outlen) *outlen = 0;
  if (value == NULL && len) return xr_fail(XR_EINVAL, "xr_key_part: value is NULL");
  xr_buf b = XR_BUF_INIT;
  xr_buf_reserve(&b, len + 8);
  append_part(&b, value, len);
  return xr_buf_finish(&b, out, outlen);
}

int xr_key_tag(char **out, size_t *outlen, const char *scope, size_t scope_len, const char *value,
               size_t value_len) {
  if (out == NULL) return xr_fail(XR_EINVAL, "xr_key_tag: out is NULL");
  *out = NULL;
  if (outlen) *outlen = 0;
  if (scope == NULL && scope_len) return xr_fail(XR_EINVAL, "xr_key_tag: scope is NULL");
  if (value == NULL && value_len) return xr_fail(XR_EINVAL, "xr_key_tag: value is NULL");
  xr_buf b = XR_BUF_INIT;
  xr_buf_putc(&b, '{');
  append_part(&b, scope, scope_len);
  xr_buf_putc(&b, ':');
  append_part(&b, value, value_len);
  xr_buf_putc(&b, '}');
  return xr_buf_finish(&b, out, outlen);
}

/* ---- SCAN MATCH ------------------------------------------------------------------------------ */

int xr_key_escape_glob(char **out, size_t *outlen, const char *prefix, size_t len) {
  if (out == NULL) return xr_fail(XR_EINVAL, "xr_key_escape_glob: out is NULL");
  *out = NULL;
  if (outlen) *outlen = 0;
  if (prefix == NULL && len) return xr_fail(XR_EINVAL, "xr_key_escape_glob: prefix is NULL");
  xr_buf b = XR_BUF_INIT;
  xr_buf_reserve(&b, len + len / 4 + 1);
  for (size_t i = 0; i < len; i++) {
    char c = prefix[i];
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') xr_buf_putc(&b, '\\');
    xr_buf_putc(&b, c);
  }
  return xr_buf_finish(&b, out, outlen);
}

int xr_key_prefix_pattern(char **out, size_t *outlen, const char *prefix, size_t len) {
  size_t n = 0;
  int rc = xr_key_escape_glob(out, &n, prefix, len);
  if (rc) return rc;
  char *p = xr_realloc(*out, n + 2);
  if (!p) {
    xr_free(*out);
    *out = NULL;
    return xr_fail_nomem();
  }
  memcpy(p + n, "*", 2);
  *out = p;
  if (outlen) *outlen = n + 1;
  return XR_OK;
}
