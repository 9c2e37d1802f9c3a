/* The origin of a Chat SDK lock token (chat_origin.h): which runtime's shape it has and whether
 * crossredis's check characters pass (SPEC.md 1.3). */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "crossredis/chat_origin.h"
#include "codec/token_internal.h"
#include "base/internal.h"

/* ---- origin ---------------------------------------------------------------------------------- */

typedef enum writer { W_OTHER, W_REDIS, W_IOREDIS, W_MEM } writer;

static writer writer_of(const char *prefix, size_t len) {
  if (len == 5 && memcmp(prefix, "redis", 5) == 0) return W_REDIS;
  if (len == 7 && memcmp(prefix, "ioredis", 7) == 0) return W_IOREDIS;
  if (len == 3 && memcmp(prefix, "mem", 3) == 0) return W_MEM;
  return W_OTHER;
}

static xr_chat_origin ts_origin(writer w) {
  return w == W_REDIS     ? XR_CHAT_ORIGIN_TS_NODE_REDIS
         : w == W_IOREDIS ? XR_CHAT_ORIGIN_TS_IOREDIS
         : w == W_MEM     ? XR_CHAT_ORIGIN_TS_MEMORY
                          : XR_CHAT_ORIGIN_UNKNOWN;
}

static xr_chat_origin python_origin(writer w) {
  return w == W_REDIS     ? XR_CHAT_ORIGIN_PYTHON_REDIS
         : w == W_IOREDIS ? XR_CHAT_ORIGIN_PYTHON_IOREDIS
                          : XR_CHAT_ORIGIN_UNKNOWN;
}

/* crypto.randomUUID()'s text: 8-4-4-4-12 lower-case hex digits. */
static bool is_uuid(const char *s, size_t len) {
  if (len != 36) return false;
  for (size_t i = 0; i < 36; i++) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !is_hex((unsigned char)s[i])) return false;
  }
  return true;
}

/* What classify() finds: the public part, and whether the token is also a valid token of the
 * upstream writer whose shape it has (a checked token in that writer's shape). */
typedef struct token_reading {
  xr_chat_token_info info;
  bool also_upstream;
} token_reading;

static void classify(token_reading *r, const char *s, size_t len) {
  xr_chat_token_info *t = &r->info;
  if (s == NULL || len == 0 || memchr(s, '\0', len) != NULL) return;
  size_t i = 0;
  while (i < len && is_prefix_char((unsigned char)s[i])) i++;
  if (i == 0 || i == len || s[i] != '_') return;
  t->prefix = s;
  t->prefix_len = i;
  const char *rest = s + i + 1;
  size_t rest_len = len - i - 1;

  if (i == 2 && memcmp(s, "pg", 2) == 0 && is_uuid(rest, rest_len)) {
    t->origin = t->shape_of = XR_CHAT_ORIGIN_TS_PG;
    return;
  }

  size_t nd = 0;
  uint64_t ms = 0;
  bool overflow = false;
  while (nd < rest_len && nd <= 20 && is_digit((unsigned char)rest[nd])) {
    unsigned d = (unsigned)(rest[nd] - '0');
    if (ms > (UINT64_C(0x7fffffffffffffff) - d) / 10) overflow = true;
    ms = ms * 10 + d;
    nd++;
  }
  if (nd == 0 || nd > 20 || nd == rest_len || rest[nd] != '_' || overflow) return;
  t->created_ms = (int64_t)ms;
  const char *suffix = rest + nd + 1;
  size_t slen = rest_len - nd - 1;

  bool b36 = slen > 0, hex = slen > 0;
  for (size_t k = 0; k < slen && b36; k++) {
    unsigned char c = (unsigned char)suffix[k];
    b36 = is_b36(c);
    hex = hex && is_hex(c);
  }
  writer w = writer_of(s, i);
  bool ts_shape = b36 && slen <= B36_RANDOM + 2;
  bool py_shape = hex && slen == HEX_RANDOM + 2;

  xr_token_suffix shape = slen == B36_RANDOM + 2 ? XR_TOKEN_BASE36 : XR_TOKEN_HEX32;
  if (i <= XR_TOKEN_PREFIX_MAX && ((ts_shape && slen == B36_RANDOM + 2) || py_shape)) {
    char check[2];
    xr_token_put_check(check, s, len - 2, shape);
    if (check[0] == s[len - 2] && check[1] == s[len - 1]) {
      t->origin = XR_CHAT_ORIGIN_CROSSREDIS;
      t->shape_of = shape == XR_TOKEN_BASE36 ? ts_origin(w) : python_origin(w);
      /* The same bytes are a valid token of that writer, which passes the check by chance. */
      r->also_upstream = t->shape_of != XR_CHAT_ORIGIN_UNKNOWN;
      return;
    }
  }
  if (ts_shape)
    t->origin = t->shape_of = ts_origin(w);
  else if (py_shape)
    t->origin = t->shape_of = python_origin(w);
}

static token_reading read_token(const char *token, size_t len) {
  token_reading r = {{XR_CHAT_ORIGIN_UNKNOWN, XR_CHAT_ORIGIN_UNKNOWN, -1, NULL, 0}, false};
  classify(&r, token, len);
  return r;
}

xr_chat_origin xr_chat_origin_of(xr_chat_token_info *info, const char *token, size_t len) {
  token_reading r = read_token(token, len);
  if (info != NULL) *info = r.info;
  return r.info.origin;
}

unsigned xr_chat_origins(const char *token, size_t len) {
  token_reading r = read_token(token, len);
  unsigned set = XR_CHAT_ORIGIN_BIT(r.info.origin);
  if (r.also_upstream) set |= XR_CHAT_ORIGIN_BIT(r.info.shape_of);
  return set;
}

static const char *const origin_names[] = {
    [XR_CHAT_ORIGIN_UNKNOWN] = "unknown",
    [XR_CHAT_ORIGIN_TS_NODE_REDIS] = "ts-node-redis",
    [XR_CHAT_ORIGIN_TS_IOREDIS] = "ts-ioredis",
    [XR_CHAT_ORIGIN_TS_MEMORY] = "ts-memory",
    [XR_CHAT_ORIGIN_TS_PG] = "ts-pg",
    [XR_CHAT_ORIGIN_PYTHON_REDIS] = "python-redis",
    [XR_CHAT_ORIGIN_PYTHON_IOREDIS] = "python-ioredis",
    [XR_CHAT_ORIGIN_CROSSREDIS] = "crossredis",
};
#define ORIGIN_COUNT (sizeof origin_names / sizeof origin_names[0])

const char *xr_chat_origin_name(xr_chat_origin origin) {
  unsigned o = (unsigned)origin;
  return o < ORIGIN_COUNT ? origin_names[o] : "unknown";
}

/* Appends s at buf[*n] as far as size - 1 allows; *n counts the whole text. */
static void put_text(char *buf, size_t size, size_t *n, const char *s) {
  size_t len = strlen(s);
  if (buf != NULL && *n + 1 < size) {
    size_t room = size - 1 - *n;
    memcpy(buf + *n, s, len < room ? len : room);
  }
  *n += len;
}

size_t xr_chat_origins_text(unsigned origins, char *buf, size_t size) {
  size_t n = 0;
  bool any = false;
  /* crossredis first (xr_chat_origin_of's answer), then the others in enum order */
  for (unsigned k = 0; k <= ORIGIN_COUNT; k++) {
    unsigned o = k == 0 ? (unsigned)XR_CHAT_ORIGIN_CROSSREDIS : k - 1;
    if ((k > 0 && o == (unsigned)XR_CHAT_ORIGIN_CROSSREDIS) || !(origins & XR_CHAT_ORIGIN_BIT(o))) continue;
    if (any) put_text(buf, size, &n, " or ");
    put_text(buf, size, &n, origin_names[o]);
    any = true;
  }
  if (!any) put_text(buf, size, &n, origin_names[XR_CHAT_ORIGIN_UNKNOWN]);
  if (buf != NULL && size > 0) buf[n < size - 1 ? n : size - 1] = '\0';
  return n;
}

int xr_chat_origin_parse(xr_chat_origin *out, const char *name) {
  if (out == NULL) return xr_fail(XR_EINVAL, "token origin: out is NULL");
  if (name == NULL) return xr_fail(XR_EINVAL, "token origin name is NULL");
  for (unsigned o = 0; o < ORIGIN_COUNT; o++) {
    if (strcmp(name, origin_names[o]) == 0) {
      *out = (xr_chat_origin)o;
      return XR_OK;
    }
  }
  return xr_fail(XR_EINVAL,
                 "unknown token origin \"%.64s\"; valid names: ts-node-redis, ts-ioredis, "
                 "ts-memory, ts-pg, python-redis, python-ioredis, crossredis, unknown",
                 name);
}
