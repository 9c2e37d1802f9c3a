/* Lock tokens read back from Redis, written by any runtime: xr_chat_origin_of (and the origin
 * names), and xr_token_make's tokens read back by it.
 *
 * Input: the token's bytes (NUL bytes included). The same bytes also drive one xr_token_make:
 * byte 0's low bit picks the suffix shape, byte 1 the prefix length (1..64), the prefix
 * characters come from the next bytes mapped onto [A-Za-z0-9-], and 8 more bytes give now_ms.
 *
 * Properties:
 *   - the returned origin is info->origin; origins and shapes are known values whose names parse
 *     back to them;
 *   - info->prefix, when set, is the token's start up to its first '_' and made of [A-Za-z0-9-];
 *     created_ms is -1 or the decimal after it;
 *   - each origin has its documented shape (prefix, suffix length and alphabet);
 *   - a token with a NUL byte is unknown;
 *   - xr_chat_origins is the origin alone, or crossredis and the upstream writer whose shape a
 *     checked token has; any set's text fits XR_CHAT_ORIGINS_TEXT_MAX and truncates as snprintf;
 *   - every token xr_token_make writes reads back as crossredis, with its prefix and time. */
#include <stdbool.h>

#include "crossredis/token.h"
#include "fuzz.h"

static bool in_set(char c, const char *set) { return c != '\0' && strchr(set, c) != NULL; }

static const char prefix_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-";
static const char b36[] = "0123456789abcdefghijklmnopqrstuvwxyz";
static const char hex[] = "0123456789abcdef";

static bool all_in(const char *s, size_t n, const char *set) {
  for (size_t i = 0; i < n; i++)
    if (!in_set(s[i], set)) return false;
  return true;
}

static bool prefix_is(const xr_chat_token_info *t, const char *p) {
  return t->prefix_len == strlen(p) && memcmp(t->prefix, p, t->prefix_len) == 0;
}

static void check_known(xr_chat_origin o) {
  FUZZ_CHECK(o >= XR_CHAT_ORIGIN_UNKNOWN && o <= XR_CHAT_ORIGIN_CROSSREDIS, "origin %d", (int)o);
  xr_chat_origin back = (xr_chat_origin)-1;
  FUZZ_CHECK(xr_chat_origin_parse(&back, xr_chat_origin_name(o)) == XR_OK && back == o, "name of %d", (int)o);
}

/* The part after "<prefix>_<ms>_", when the token has one. */
static const char *suffix_of(const char *tok, size_t len, const xr_chat_token_info *t, size_t *slen) {
  const char *ms = tok + t->prefix_len + 1;
  const char *us = memchr(ms, '_', len - t->prefix_len - 1);
  FUZZ_CHECK(us != NULL, "no '_' after the time");
  *slen = (size_t)(tok + len - us - 1);
  return us + 1;
}

static void check_classified(const char *tok, size_t len) {
  xr_chat_token_info t;
  memset(&t, 0xa5, sizeof t);
  xr_chat_origin o = xr_chat_origin_of(&t, tok, len);
  FUZZ_CHECK(o == t.origin && o == xr_chat_origin_of(NULL, tok, len), "origin differs between calls");
  check_known(t.origin);
  check_known(t.shape_of);
  if (memchr(tok, '\0', len)) FUZZ_CHECK(o == XR_CHAT_ORIGIN_UNKNOWN && t.prefix == NULL, "a token with NUL is known");

  if (t.prefix) {
    FUZZ_CHECK(t.prefix == tok && t.prefix_len > 0 && t.prefix_len < len && tok[t.prefix_len] == '_' &&
                   all_in(tok, t.prefix_len, prefix_chars),
               "prefix of %zu bytes", t.prefix_len);
  } else {
    FUZZ_CHECK(t.prefix_len == 0 && o == XR_CHAT_ORIGIN_UNKNOWN && t.created_ms == -1, "no prefix, yet known");
  }
  FUZZ_CHECK(t.created_ms >= -1, "created_ms %lld", (long long)t.created_ms);
  if (t.created_ms >= 0) {
    char digits[24];
    int n = snprintf(digits, sizeof digits, "%lld", (long long)t.created_ms);
    const char *ms = tok + t.prefix_len + 1;
    size_t rest = len - t.prefix_len - 1;
    /* leading zeros are allowed; the value is the decimal */
    size_t z = 0;
    while (z + 1 < rest && ms[z] == '0' && ms[z + 1] >= '0' && ms[z + 1] <= '9') z++;
    FUZZ_CHECK(rest > z + (size_t)n && memcmp(ms + z, digits, (size_t)n) == 0 && ms[z + (size_t)n] == '_',
               "created_ms %s is not the token's time", digits);
  }

  size_t slen = 0;
  const char *suffix = NULL;
  switch (o) {
  case XR_CHAT_ORIGIN_UNKNOWN: break;
  case XR_CHAT_ORIGIN_TS_PG:
    FUZZ_CHECK(prefix_is(&t, "pg") && len == 3 + 36 && t.created_ms == -1, "pg token shape");
    break;
  case XR_CHAT_ORIGIN_TS_NODE_REDIS:
  case XR_CHAT_ORIGIN_TS_IOREDIS:
  case XR_CHAT_ORIGIN_TS_MEMORY:
    suffix = suffix_of(tok, len, &t, &slen);
    FUZZ_CHECK(prefix_is(&t, o == XR_CHAT_ORIGIN_TS_NODE_REDIS ? "redis" : o == XR_CHAT_ORIGIN_TS_IOREDIS ? "ioredis" : "mem") &&
                   slen >= 1 && slen <= 13 && all_in(suffix, slen, b36) && t.shape_of == o,
               "TS token shape");
    break;
  case XR_CHAT_ORIGIN_PYTHON_REDIS:
  case XR_CHAT_ORIGIN_PYTHON_IOREDIS:
    suffix = suffix_of(tok, len, &t, &slen);
    FUZZ_CHECK(prefix_is(&t, o == XR_CHAT_ORIGIN_PYTHON_REDIS ? "redis" : "ioredis") && slen == 32 &&
                   all_in(suffix, slen, hex) && t.shape_of == o,
               "Python token shape");
    break;
  case XR_CHAT_ORIGIN_CROSSREDIS:
    suffix = suffix_of(tok, len, &t, &slen);
    FUZZ_CHECK(t.prefix_len <= XR_TOKEN_PREFIX_MAX &&
                   ((slen == 13 && all_in(suffix, slen, b36)) || (slen == 32 && all_in(suffix, slen, hex))),
               "crossredis token shape");
    break;
  }
}

/* The set of possible writers agrees with the first one, and its text fits. */
static void check_origins(const char *tok, size_t len, const uint8_t *data, size_t size) {
  xr_chat_token_info t;
  xr_chat_origin o = xr_chat_origin_of(&t, tok, len);
  unsigned set = xr_chat_origins(tok, len);
  unsigned both = XR_CHAT_ORIGIN_BIT(XR_CHAT_ORIGIN_CROSSREDIS) | XR_CHAT_ORIGIN_BIT(t.shape_of);
  if (o == XR_CHAT_ORIGIN_CROSSREDIS && t.shape_of != XR_CHAT_ORIGIN_UNKNOWN)
    FUZZ_CHECK(set == both, "a checked token in %s's shape: origins 0x%x", xr_chat_origin_name(t.shape_of), set);
  else
    FUZZ_CHECK(set == XR_CHAT_ORIGIN_BIT(o), "origin %s, origins 0x%x", xr_chat_origin_name(o), set);

  char text[XR_CHAT_ORIGINS_TEXT_MAX];
  unsigned any = set;
  if (size >= 4) memcpy(&any, data + size - 4, 4); /* any set, bits outside the enum included */
  const unsigned sets[] = {set, any, 0};
  for (size_t k = 0; k < sizeof sets / sizeof sets[0]; k++) {
    size_t n = xr_chat_origins_text(sets[k], text, sizeof text);
    FUZZ_CHECK(n < sizeof text && strlen(text) == n, "origins text of 0x%x: %zu bytes", sets[k], n);
    char small[8];
    size_t cap = size ? data[0] % (sizeof small + 1) : 0;
    FUZZ_CHECK(xr_chat_origins_text(sets[k], cap ? small : NULL, cap) == n, "length into %zu bytes", cap);
    if (cap) FUZZ_CHECK(strlen(small) == (n < cap ? n : cap - 1) && !memcmp(small, text, strlen(small)), "truncated");
  }
  if (set != XR_CHAT_ORIGIN_BIT(XR_CHAT_ORIGIN_UNKNOWN)) {
    xr_chat_origins_text(set, text, sizeof text);
    FUZZ_CHECK(strstr(text, xr_chat_origin_name(o)) != NULL, "%s not in '%s'", xr_chat_origin_name(o), text);
  }
}

static void check_made(const uint8_t *data, size_t size) {
  if (size < 2 + 8) return;
  xr_token_suffix shape = data[0] & 1 ? XR_TOKEN_HEX32 : XR_TOKEN_BASE36;
  size_t plen = 1 + data[1] % XR_TOKEN_PREFIX_MAX;
  if (size < 2 + plen + 8) return;
  char prefix[XR_TOKEN_PREFIX_MAX + 1];
  for (size_t i = 0; i < plen; i++) prefix[i] = prefix_chars[data[2 + i] % (sizeof prefix_chars - 1)];
  prefix[plen] = '\0';
  uint64_t raw;
  memcpy(&raw, data + 2 + plen, sizeof raw);
  int64_t now_ms = (int64_t)(raw >> 1);
  char tok[XR_TOKEN_MAX];
  int n = xr_token_make(tok, sizeof tok, prefix, plen, now_ms, shape);
  FUZZ_CHECK(n > 0 && (size_t)n < sizeof tok && strlen(tok) == (size_t)n, "xr_token_make: %d", n);
  xr_chat_token_info t;
  xr_chat_origin o = xr_chat_origin_of(&t, tok, (size_t)n);
  FUZZ_CHECK(o == XR_CHAT_ORIGIN_CROSSREDIS && t.created_ms == now_ms && t.prefix_len == plen &&
                 memcmp(t.prefix, prefix, plen) == 0,
             "made %s, read back as %s", tok, xr_chat_origin_name(o));
  check_classified(tok, (size_t)n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  check_classified((const char *)data, size); /* libFuzzer's buffer is exactly size bytes */
  check_origins((const char *)data, size, data, size);
  check_made(data, size);
  return 0;
}
