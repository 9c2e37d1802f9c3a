/* Two digits per division, from a table of the pairs 00..99. */
#include <string.h>

#include "base/decimal.h"

static const char pairs[] = "0001020304050607080910111213141516171819202122232425262728293031"
                            "3233343536373839404142434445464748495051525354555657585960616263"
                            "6465666768697071727374757677787980818283848586878889909192939495"
                            "96979899";
_Static_assert(sizeof pairs == 200 + 1, "00 to 99");

size_t xr_dec_len(uint64_t v) {
  for (size_t n = 1;; n += 4, v /= 10000) {
    if (v < 10) return n;
    if (v < 100) return n + 1;
    if (v < 1000) return n + 2;
    if (v < 10000) return n + 3;
  }
}

void xr_dec_fixed(char *out, uint64_t v, size_t width) {
  char *p = out + width;
  while (p - out >= 2) {
    p -= 2;
    memcpy(p, pairs + 2 * (v % 100), 2);
    v /= 100;
  }
  if (p > out) *--p = (char)('0' + v % 10);
}

size_t xr_dec_u64(char *out, uint64_t v) {
  size_t n = xr_dec_len(v);
  xr_dec_fixed(out, v, n);
  return n;
}

size_t xr_dec_i64(char *out, int64_t v) {
  if (v >= 0) return xr_dec_u64(out, (uint64_t)v);
  *out = '-';
  return 1 + xr_dec_u64(out + 1, 0 - (uint64_t)v);
}
