/* Bytes from Redis (keys, tokens) shown to people and written into JSON: keys are binary-safe,
 * a terminal and JSON want text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* The length of the valid UTF-8 sequence at s (1 to 4), or 0 when the bytes there are not one
 * (overlong forms, surrogates and code points past U+10FFFF are not). */
static size_t utf8_sequence(const unsigned char *s, size_t n) {
  unsigned char c = s[0];
  if (c < 0x80) return 1;
  size_t len;
  unsigned char lo = 0x80, hi = 0xbf; /* the range of the second byte */
  if (c >= 0xc2 && c <= 0xdf) {
    len = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    len = 3;
    if (c == 0xe0) lo = 0xa0;
    if (c == 0xed) hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    len = 4;
    if (c == 0xf0) lo = 0x90;
    if (c == 0xf4) hi = 0x8f;
  } else {
    return 0;
  }
  if (n < len || s[1] < lo || s[1] > hi) return 0;
  for (size_t k = 2; k < len; k++)
    if ((s[k] & 0xc0) != 0x80) return 0;
  return len;
}

char *cli_text_escape(const char *s, size_t len) {
  const unsigned char *u = (const unsigned char *)s;
  char *out = cli_xmalloc(len * 4 + 1);
  size_t o = 0;
  for (size_t i = 0; i < len;) {
    size_t n = utf8_sequence(u + i, len - i);
    if (n > 1) {
      memcpy(out + o, u + i, n);
      o += n;
      i += n;
    } else if (n == 1 && u[i] >= 0x20 && u[i] < 0x7f && u[i] != '\\') {
      out[o++] = (char)u[i++];
    } else if (u[i] == '\\') {
      out[o++] = '\\';
      out[o++] = '\\';
      i++;
    } else {
      static const char hex[] = "0123456789abcdef";
      out[o++] = '\\';
      out[o++] = 'x';
      out[o++] = hex[u[i] >> 4];
      out[o++] = hex[u[i] & 0xf];
      i++;
    }
  }
  out[o] = '\0';
  return out;
}

/* j, a JSON string of n bytes jansson made; it aborts when there was no memory for it. */
static json_t *made(json_t *j, size_t n) {
  if (!j) {
    fprintf(stderr, "crossredis: out of memory (a JSON string of %zu bytes)\n", n);
    abort();
  }
  return j;
}

json_t *cli_json_string(const char *s, size_t len) {
  const unsigned char *u = (const unsigned char *)s;
  char *text = cli_xmalloc(len * 3 + 1);
  size_t o = 0;
  for (size_t i = 0; i < len;) {
    size_t n = utf8_sequence(u + i, len - i);
    if (n) {
      memcpy(text + o, u + i, n);
      o += n;
      i += n;
    } else {
      memcpy(text + o, "\xef\xbf\xbd", 3); /* U+FFFD */
      o += 3;
      i++;
    }
  }
  json_t *j = json_stringn(text, o);
  free(text);
  return made(j, o);
}

bool cli_utf8_valid(const char *s, size_t len) {
  const unsigned char *u = (const unsigned char *)s;
  for (size_t i = 0; i < len;) {
    size_t n = utf8_sequence(u + i, len - i);
    if (!n) return false;
    i += n;
  }
  return true;
}

json_t *cli_json_base64(const char *s, size_t len) {
  static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const unsigned char *u = (const unsigned char *)s;
  char *out = cli_xmalloc((len + 2) / 3 * 4 + 1);
  size_t o = 0;
  for (size_t i = 0; i < len; i += 3) {
    unsigned v = (unsigned)u[i] << 16 | (i + 1 < len ? (unsigned)u[i + 1] << 8 : 0) | (i + 2 < len ? u[i + 2] : 0);
    out[o++] = abc[v >> 18];
    out[o++] = abc[(v >> 12) & 63];
    out[o++] = i + 1 < len ? abc[(v >> 6) & 63] : '=';
    out[o++] = i + 2 < len ? abc[v & 63] : '=';
  }
  json_t *j = json_stringn(out, o);
  free(out);
  return made(j, o);
}

/* One base64 character's value; -1 for any other byte. */
static int b64_value(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  return c == '+' ? 62 : c == '/' ? 63 : -1;
}

bool cli_base64_decode(const char *s, size_t len, char **out, size_t *out_len) {
  *out = NULL;
  *out_len = 0;
  if (len % 4) return false;
  size_t pad = len && s[len - 1] == '=' ? (len > 1 && s[len - 2] == '=' ? 2 : 1) : 0;
  char *buf = cli_xmalloc(len / 4 * 3 + 1);
  size_t o = 0;
  for (size_t i = 0; i < len; i += 4) {
    unsigned v = 0;
    for (size_t k = 0; k < 4; k++) {
      bool padded = i + 4 == len && k >= 4 - pad;
      int d = padded ? 0 : b64_value((unsigned char)s[i + k]);
      if (d < 0) {
        free(buf);
        return false;
      }
      v = v << 6 | (unsigned)d;
    }
    buf[o++] = (char)(v >> 16);
    if (!(i + 4 == len && pad == 2)) buf[o++] = (char)(v >> 8 & 255);
    if (!(i + 4 == len && pad >= 1)) buf[o++] = (char)(v & 255);
  }
  buf[o] = '\0';
  *out = buf;
  *out_len = o;
  return true;
}
