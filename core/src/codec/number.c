/* Numbers in JSON text as each runtime writes them: the shortest decimal that reads back as the
 * same double (V8, CPython's repr and Go's strconv agree on it) in each one's notation; integers
 * through the core's decimal formatter (base/decimal.h). */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crossredis/json.h"
#include "base/decimal.h"
#include "base/internal.h"
#include "codec/json_internal.h"
#include "codec/number.h"

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
  out->k = (int)xr_dec_u64(out->d, (uint64_t)v);
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
  uint64_t magnitude = (uint64_t)(e < 0 ? -e : e);
  size_t width = xr_dec_len(magnitude);
  if (width < (size_t)min_exp_digits) width = (size_t)min_exp_digits;
  *p++ = 'e';
  *p++ = e < 0 ? '-' : '+';
  xr_dec_fixed(p, magnitude, width);
  return p + width;
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

size_t xr_number_format(char *buf, double v, xr_json_dialect d) {
  char *end = d == XR_JSON_PYTHON ? format_python(buf, v) : format_js_or_go(buf, v, d == XR_JSON_GO);
  *end = '\0';
  return (size_t)(end - buf);
}

int xr_json_format_double(char *buf, size_t size, double v, xr_json_dialect dialect) {
  if (!buf || size < XR_NUMBER_BUF) return xr_fail(XR_EINVAL, "number buffer needs %d bytes", XR_NUMBER_BUF);
  if (!xr_json_valid_dialect(dialect)) return xr_fail(XR_EINVAL, "unknown JSON dialect %d", (int)dialect);
  if (!isfinite(v)) return xr_fail(XR_EINVAL, "%s has no JSON number form", isnan(v) ? "NaN" : "infinity");
  return (int)xr_number_format(buf, v, dialect);
}

void xr_number_put_real(xr_buf *b, double v, xr_json_dialect d) {
  char num[XR_NUMBER_BUF];
  xr_buf_append(b, num, xr_number_format(num, v, d));
}

void xr_number_put_integer(xr_buf *b, int64_t v, xr_json_dialect d) {
  if (d == XR_JSON_JS) {
    xr_number_put_real(b, (double)v, d);
  } else {
    char text[XR_DEC_MAX];
    xr_buf_append(b, text, xr_dec_i64(text, v));
  }
}
