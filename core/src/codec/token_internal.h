/* What making a lock token (codec/token.c) and reading its origin (chat/chat_origin.c) share: the
 * suffix lengths, the check characters and the character classes. */
#ifndef CROSSREDIS_CODEC_TOKEN_INTERNAL_H
#define CROSSREDIS_CODEC_TOKEN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crossredis/token.h"

#define B36_RANDOM 11 /* random characters of a base36 suffix; 2 check characters follow */
#define HEX_RANDOM 30 /* random hex digits of a hex32 suffix (15 bytes); 2 check digits follow */

/* Writes the two check characters of a token whose first n bytes are at p. */
void xr_token_put_check(char out[2], const char *p, size_t n, xr_token_suffix shape);

/* [A-Za-z0-9-] as a bitmap over the bytes: '-' is 45, '0'..'9' 48..57, 'A'..'Z' 65..90,
 * 'a'..'z' 97..122. */
static const uint64_t xr_token_prefix_chars[4] = {
    (UINT64_C(1) << 45) | (UINT64_C(0x3ff) << 48),
    (UINT64_C(0x3ffffff) << 1) | (UINT64_C(0x3ffffff) << 33),
    0,
    0,
};

static inline bool is_prefix_char(unsigned char c) { return (xr_token_prefix_chars[c >> 6] >> (c & 63)) & 1; }
static inline bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static inline bool is_b36(unsigned char c) { return is_digit(c) || (c >= 'a' && c <= 'z'); }
static inline bool is_hex(unsigned char c) { return is_digit(c) || (c >= 'a' && c <= 'f'); }

#endif
