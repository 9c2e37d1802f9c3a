/* Lock tokens: the upstream runtimes' shapes filled from the system CSPRNG, with crossredis's check
 * characters (SPEC.md 1.3); chat/chat_origin.c reads them back. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "crossredis/token.h"
#include "codec/token_internal.h"
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

int xr_uuid4(char out[XR_UUID4_LEN + 1]) {
  static const char hex[] = "0123456789abcdef";
  if (!out) return xr_fail(XR_EINVAL, "uuid4: out is NULL");
  unsigned char b[16];
  int rc = xr_random_bytes(b, sizeof b);
  if (rc) return rc;
  b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
  b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* variant 10 (RFC 4122) */
  char *w = out;
  for (size_t i = 0; i < sizeof b; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10) *w++ = '-';
    *w++ = hex[b[i] >> 4];
    *w++ = hex[b[i] & 15];
  }
  *w = '\0';
  return XR_OK;
}

/* ---- check characters ------------------------------------------------------------------------ */

#define B36_ALPHABET "0123456789abcdefghijklmnopqrstuvwxyz"
static const char B36[] = B36_ALPHABET;
static const char HEX[] = "0123456789abcdef";


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
void xr_token_put_check(char out[2], const char *p, size_t n, xr_token_suffix shape) {
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
  xr_token_put_check(p, buf, len - 2, shape);
  buf[len] = '\0';
  return (int)len;
}
