/* The seam between the core and crossredis_tls: the core opens the TCP connection and hands it to
 * the TLS configuration's `connect`, which runs the handshake. The core never links OpenSSL. */
#ifndef CROSSREDIS_TLS_HOOK_H
#define CROSSREDIS_TLS_HOOK_H

#include <hiredis/hiredis.h>

#include "crossredis/client.h"

typedef struct xr_tls_vtable {
  /* Runs the TLS handshake on a connected context. Returns 0, or an XR_E* code with the last
   * error recorded (a certificate that does not verify is XR_ETLS with the reason). */
  int (*connect)(xr_tls *t, redisContext *rc, const char *host);
  /* Writes OpenSSL's reason for the calling thread's latest TLS failure (an alert the server sent,
   * say) into buf; 0 when it has none. */
  int (*last_failure)(xr_tls *t, char *buf, size_t size);
  void (*retain)(xr_tls *t);
  void (*release)(xr_tls *t);
} xr_tls_vtable;

/* Every xr_tls starts with this header. */
struct xr_tls {
  const xr_tls_vtable *vt;
};

#endif
