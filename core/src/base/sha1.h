/* SHA-1 for script digests (EVALSHA names a script by the SHA-1 of its body). Not for security. */
#ifndef CROSSREDIS_SHA1_H
#define CROSSREDIS_SHA1_H

#include <stddef.h>

/* Writes the 40 lower-case hex digits of SHA-1(data) and a NUL into hex. */
void xr_sha1_hex(char hex[41], const void *data, size_t len);

#endif
