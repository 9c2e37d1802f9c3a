/* Lock tokens: the upstream runtimes' shapes filled from the system CSPRNG, crossredis's check
 * characters, and the origin of a token (SPEC.md 1.3). */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "crossredis/token.h"
#include "base/decimal.h"
#include "base/internal.h"

/* ---- random bytes ---------------------------------------------------------------------------- */

/* One getrandom(2) call serves about twenty tokens. */
#define RNG_BUF 256

typedef struct rng_state {
  size_t pos, end; /* buf[pos..end) has not been handed out yet */
  unsigned char buf[RNG_BUF];
} rng_state;

static _Thread_local rng_state tls_rng;

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static bool atfork_registered;

/* After fork() the child runs only the thread that forked; its buffer holds bytes the parent
 * will also hand out, so the child forgets them. */
static void rng_forget_in_child(void) {
  rng_state *r = &tls_rng;
  memset(r->buf, 0, sizeof r->buf);
  r->pos = r->end = 0;
}

static void register_atfork(void) {
  atfork_registered = pthread_atfork(NULL, NULL, rng_forget_in_child) == 0;
}

static int sys_random(unsigned char *out, size_t n) {
  while (n > 0) {
    ssize_t got = getrandom(out, n, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      char why[128];
      if (strerror_r(e, why, sizeof why) != 0) snprintf(why, sizeof why, "errno %d", e);
      return xr_fail(XR_EIO, "the system random source failed: %s", why);
    }
    out += got;
    n -= (size_t)got;
  }
  return XR_OK;
}

static int rng_read(rng_state *r, unsigned char *out, size_t n) {
  size_t avail = r->end - r->pos;
  if (n <= avail) {
    memcpy(out, r->buf + r->pos, n);
    r->pos += n;
    return XR_OK;
  }
  if (n > RNG_BUF) return sys_random(out, n);
  memcpy(out, r->buf + r->pos, avail);
  out += avail;
  n -= avail;
  r->pos = r->end = 0;
  /* Registered before the first bytes are buffered in any thread. Without the handler a
   * buffer would not be fork-safe, so every request then goes to the kernel. */
  pthread_once(&atfork_once, register_atfork);
  if (!atfork_registered) return sys_random(out, n);
  int rc = sys_random(r->buf, RNG_BUF);
  if (rc != XR_OK) return rc;
  r->end = RNG_BUF;
  memcpy(out, r->buf, n);
  r->pos = n;
  return XR_OK;
}

/* n random bytes, read in place from the buffer when it holds enough, else copied into
 * scratch (room for n); NULL when the random source failed (recorded). */
static const unsigned char *rng_take(rng_state *r, unsigned char *scratch, size_t n) {
  if (r->end - r->pos >= n) {
    const unsigned char *p = r->buf + r->pos;
    r->pos += n;
    return p;
  }
  return rng_read(r, scratch, n) == XR_OK ? scratch : NULL;
}

int xr_random_bytes(void *buf, size_t n) {
  if (n == 0) return XR_OK;
  if (buf == NULL) return xr_fail(XR_EINVAL, "random bytes: buffer is NULL");
  return rng_read(&tls_rng, buf, n);
}

/* ---- check characters ------------------------------------------------------------------------ */

#define B36_ALPHABET "0123456789abcdefghijklmnopqrstuvwxyz"
static const char B36[] = B36_ALPHABET;
static const char HEX[] = "0123456789abcdef";

#define B36_RANDOM 11 /* random characters of a base36 suffix; 2 check characters follow */
#define HEX_RANDOM 30 /* random hex digits of a hex32 suffix (15 bytes); 2 check digits follow */

/* A random byte to a base36 character: b % 36 for b < 252 (7 * 36), NUL for 252..255, which are
 * rejected because they would favour the first four characters. */
#define B36_X7                                                                                   \
  B36_ALPHABET B36_ALPHABET B36_ALPHABET B36_ALPHABET B36_ALPHABET B36_ALPHABET B36_ALPHABET
_Static_assert(sizeof B36_X7 == 252 + 1, "7 alphabets, then zeros");
static const char b36_of_byte[256] = B36_X7;

/* FNV-1a, 32 bits, over "crossredis:" followed by the token up to its check characters. The
 * state after the salt is folded at compile time. */
#define FNV_PRIME 16777619u
#define FNV_STEP(h, c) ((uint32_t)(((uint32_t)(h) ^ (uint32_t)(c)) * FNV_PRIME))
#define FNV_SALTED                                                                               \
  FNV_STEP(FNV_STEP(FNV_STEP(FNV_STEP(FNV_STEP(FNV_STEP(FNV_STEP(FNV_STEP(FNV_STEP(FNV_STEP(      \
      FNV_STEP(2166136261u, 'c'), 'r'), 'o'), 's'), 's'), 'r'), 'e'), 'd'), 'i'), 's'), ':')

static uint32_t check_hash(const char *p, size_t n) {
  const unsigned char *u = (const unsigned char *)p;
  uint32_t h = FNV_SALTED;
  size_t i = 0;
  for (; i + 4 <= n; i += 4)
    h = FNV_STEP(FNV_STEP(FNV_STEP(FNV_STEP(h, u[i]), u[i + 1]), u[i + 2]), u[i + 3]);
  for (; i < n; i++) h = FNV_STEP(h, u[i]);
  return h;
}

/* Writes the two check characters of a token whose first n bytes are at p. */
static void put_check(char out[2], const char *p, size_t n, xr_token_suffix shape) {
  uint32_t h = check_hash(p, n);
  if (shape == XR_TOKEN_BASE36) {
    unsigned v = (unsigned)(h % 1296u);
    out[0] = B36[v / 36];
    out[1] = B36[v % 36];
  } else {
    out[0] = HEX[(h >> 4) & 0xfu];
    out[1] = HEX[h & 0xfu];
  }
}

/* [A-Za-z0-9-] as a bitmap over the bytes: '-' is 45, '0'..'9' 48..57, 'A'..'Z' 65..90,
 * 'a'..'z' 97..122. */
static const uint64_t prefix_chars[4] = {
    (UINT64_C(1) << 45) | (UINT64_C(0x3ff) << 48),
    (UINT64_C(0x3ffffff) << 1) | (UINT64_C(0x3ffffff) << 33),
    0,
    0,
};

static bool is_prefix_char(unsigned char c) { return (prefix_chars[c >> 6] >> (c & 63)) & 1; }
static bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static bool is_b36(unsigned char c) { return is_digit(c) || (c >= 'a' && c <= 'z'); }
static bool is_hex(unsigned char c) { return is_digit(c) || (c >= 'a' && c <= 'f'); }

/* ---- making tokens --------------------------------------------------------------------------- */

static int check_prefix(const char *prefix, size_t len) {
  if (prefix == NULL && len > 0) return xr_fail(XR_EINVAL, "token prefix is NULL");
  if (len == 0) return xr_fail(XR_EINVAL, "token prefix is empty");
  if (len > XR_TOKEN_PREFIX_MAX)
    return xr_fail(XR_EINVAL, "token prefix is %zu bytes long; at most %d", len,
                   XR_TOKEN_PREFIX_MAX);
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)prefix[i];
    if (is_prefix_char(c)) continue;
    if (c >= 0x20 && c < 0x7f)
      return xr_fail(XR_EINVAL, "token prefix holds '%c' at offset %zu; allowed: A-Z a-z 0-9 -",
                     c, i);
    return xr_fail(XR_EINVAL,
                   "token prefix holds byte 0x%02x at offset %zu; allowed: A-Z a-z 0-9 -", c, i);
  }
  return XR_OK;
}

int xr_token_make(char *buf, size_t size, const char *prefix, size_t prefix_len, int64_t now_ms,
                  xr_token_suffix shape) {
  if (buf != NULL && size > 0) buf[0] = '\0';
  if (buf == NULL) return xr_fail(XR_EINVAL, "token buffer is NULL");
  int rc = check_prefix(prefix, prefix_len);
  if (rc != XR_OK) return rc;
  if (now_ms < 0)
    return xr_fail(XR_EINVAL, "token time now_ms is negative (%lld)", (long long)now_ms);
  size_t suffix_len;
  if (shape == XR_TOKEN_BASE36)
    suffix_len = B36_RANDOM + 2;
  else if (shape == XR_TOKEN_HEX32)
    suffix_len = HEX_RANDOM + 2;
  else
    return xr_fail(XR_EINVAL, "unknown token suffix shape %d", (int)shape);

  char digits[XR_DEC_MAX];
  size_t nd = xr_dec_u64(digits, (uint64_t)now_ms);

  size_t len = prefix_len + 1 + nd + 1 + suffix_len;
  if (size < len + 1)
    return xr_fail(XR_EINVAL, "token buffer too small: %zu bytes, the token needs %zu", size,
                   len + 1);

  char *p = buf;
  memcpy(p, prefix, prefix_len);
  p += prefix_len;
  *p++ = '_';
  memcpy(p, digits, nd);
  p += nd;
  *p++ = '_';

  rng_state *r = &tls_rng;
  unsigned char scratch[HEX_RANDOM / 2];
  if (shape == XR_TOKEN_BASE36) {
    size_t have = 0;
    while (have < B36_RANDOM) {
      size_t need = B36_RANDOM - have;
      const unsigned char *b = rng_take(r, scratch, need);
      if (b == NULL) {
        buf[0] = '\0';
        return XR_EIO;
      }
      for (size_t i = 0; i < need; i++) {
        char c = b36_of_byte[b[i]];
        if (c != '\0') p[have++] = c;
      }
    }
    p += B36_RANDOM;
  } else {
    const unsigned char *b = rng_take(r, scratch, HEX_RANDOM / 2);
    if (b == NULL) {
      buf[0] = '\0';
      return XR_EIO;
    }
    for (size_t i = 0; i < HEX_RANDOM / 2; i++) {
      p[2 * i] = HEX[b[i] >> 4];
      p[2 * i + 1] = HEX[b[i] & 0xfu];
    }
    p += HEX_RANDOM;
  }
  put_check(p, buf, len - 2, shape);
  buf[len] = '\0';
  return (int)len;
}

/* ---- origin ---------------------------------------------------------------------------------- */

typedef enum writer { W_OTHER, W_REDIS, W_IOREDIS, W_MEM } writer;

static writer writer_of(const char *prefix, size_t len) {
  if (len == 5 && memcmp(prefix, "redis", 5) == 0) return W_REDIS;
  if (len == 7 && memcmp(prefix, "ioredis", 7) == 0) return W_IOREDIS;
  if (len == 3 && memcmp(prefix, "mem", 3) == 0) return W_MEM;
  return W_OTHER;
}

static xr_token_origin ts_origin(writer w) {
  return w == W_REDIS     ? XR_ORIGIN_TS_NODE_REDIS
         : w == W_IOREDIS ? XR_ORIGIN_TS_IOREDIS
         : w == W_MEM     ? XR_ORIGIN_TS_MEMORY
                          : XR_ORIGIN_UNKNOWN;
}

static xr_token_origin python_origin(writer w) {
  return w == W_REDIS     ? XR_ORIGIN_PYTHON_REDIS
         : w == W_IOREDIS ? XR_ORIGIN_PYTHON_IOREDIS
                          : XR_ORIGIN_UNKNOWN;
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
  xr_token_info info;
  bool also_upstream;
} token_reading;

static void classify(token_reading *r, const char *s, size_t len) {
  xr_token_info *t = &r->info;
  if (s == NULL || len == 0 || memchr(s, '\0', len) != NULL) return;
  size_t i = 0;
  while (i < len && is_prefix_char((unsigned char)s[i])) i++;
  if (i == 0 || i == len || s[i] != '_') return;
  t->prefix = s;
  t->prefix_len = i;
  const char *rest = s + i + 1;
  size_t rest_len = len - i - 1;

  if (i == 2 && memcmp(s, "pg", 2) == 0 && is_uuid(rest, rest_len)) {
    t->origin = t->shape_of = XR_ORIGIN_TS_PG;
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
    put_check(check, s, len - 2, shape);
    if (check[0] == s[len - 2] && check[1] == s[len - 1]) {
      t->origin = XR_ORIGIN_CROSSREDIS;
      t->shape_of = shape == XR_TOKEN_BASE36 ? ts_origin(w) : python_origin(w);
      /* The same bytes are a valid token of that writer, which passes the check by chance. */
      r->also_upstream = t->shape_of != XR_ORIGIN_UNKNOWN;
      return;
    }
  }
  if (ts_shape)
    t->origin = t->shape_of = ts_origin(w);
  else if (py_shape)
    t->origin = t->shape_of = python_origin(w);
}

static token_reading read_token(const char *token, size_t len) {
  token_reading r = {{XR_ORIGIN_UNKNOWN, XR_ORIGIN_UNKNOWN, -1, NULL, 0}, false};
  classify(&r, token, len);
  return r;
}

xr_token_origin xr_token_origin_of(xr_token_info *info, const char *token, size_t len) {
  token_reading r = read_token(token, len);
  if (info != NULL) *info = r.info;
  return r.info.origin;
}

unsigned xr_token_origins(const char *token, size_t len) {
  token_reading r = read_token(token, len);
  unsigned set = XR_ORIGIN_BIT(r.info.origin);
  if (r.also_upstream) set |= XR_ORIGIN_BIT(r.info.shape_of);
  return set;
}

static const char *const origin_names[] = {
    [XR_ORIGIN_UNKNOWN] = "unknown",
    [XR_ORIGIN_TS_NODE_REDIS] = "ts-node-redis",
    [XR_ORIGIN_TS_IOREDIS] = "ts-ioredis",
    [XR_ORIGIN_TS_MEMORY] = "ts-memory",
    [XR_ORIGIN_TS_PG] = "ts-pg",
    [XR_ORIGIN_PYTHON_REDIS] = "python-redis",
    [XR_ORIGIN_PYTHON_IOREDIS] = "python-ioredis",
    [XR_ORIGIN_CROSSREDIS] = "crossredis",
};
#define ORIGIN_COUNT (sizeof origin_names / sizeof origin_names[0])

const char *xr_token_origin_name(xr_token_origin origin) {
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

size_t xr_token_origins_text(unsigned origins, char *buf, size_t size) {
  size_t n = 0;
  bool any = false;
  /* crossredis first (xr_token_origin_of's answer), then the others in enum order */
  for (unsigned k = 0; k <= ORIGIN_COUNT; k++) {
    unsigned o = k == 0 ? (unsigned)XR_ORIGIN_CROSSREDIS : k - 1;
    if ((k > 0 && o == (unsigned)XR_ORIGIN_CROSSREDIS) || !(origins & XR_ORIGIN_BIT(o))) continue;
    if (any) put_text(buf, size, &n, " or ");
    put_text(buf, size, &n, origin_names[o]);
    any = true;
  }
  if (!any) put_text(buf, size, &n, origin_names[XR_ORIGIN_UNKNOWN]);
  if (buf != NULL && size > 0) buf[n < size - 1 ? n : size - 1] = '\0';
  return n;
}

int xr_token_origin_parse(xr_token_origin *out, const char *name) {
  if (out == NULL) return xr_fail(XR_EINVAL, "token origin: out is NULL");
  if (name == NULL) return xr_fail(XR_EINVAL, "token origin name is NULL");
  for (unsigned o = 0; o < ORIGIN_COUNT; o++) {
    if (strcmp(name, origin_names[o]) == 0) {
      *out = (xr_token_origin)o;
      return XR_OK;
    }
  }
  return xr_fail(XR_EINVAL,
                 "unknown token origin \"%.64s\"; valid names: ts-node-redis, ts-ioredis, "
                 "ts-memory, ts-pg, python-redis, python-ioredis, crossredis, unknown",
                 name);
}
