/* TLS for crossredis clients: OpenSSL through hiredis_ssl, in its own library (crossredis_tls)
 * so that programs without TLS do not link OpenSSL.
 *
 * Peer verification is on by default: the server's certificate must chain to the given CA (or the
 * system's roots when none is given) and match the host name or IP address connected to (or
 * server_name). `insecure` turns verification off and says so in its name. */
#ifndef CROSSREDIS_TLS_H
#define CROSSREDIS_TLS_H

#include <stddef.h>

#include "client.h"
#include "config.h"
#include "export.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XR_TLS_OPTIONS_VERSION 1

typedef struct xr_tls_options {
  unsigned version;        /* XR_TLS_OPTIONS_VERSION */
  const char *ca_file;     /* PEM file of trusted CAs */
  const char *ca_pem;      /* or PEM text in memory (NUL-terminated) */
  const char *cert_file;   /* client certificate (mutual TLS), PEM file */
  const char *key_file;   /* its private key, PEM file */
  const char *cert_pem;    /* or the certificate as PEM text */
  const char *key_pem;     /* or the key as PEM text */
  const char *server_name; /* SNI and the name checked in the certificate; NULL: the host */
  int insecure;            /* 1: do not verify the server (tests only) */
} xr_tls_options;

#define XR_TLS_OPTIONS_INIT {XR_TLS_OPTIONS_VERSION, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0}

/* Makes a TLS configuration: loads the CA, certificate and key now, so a missing file or a key
 * that does not match its certificate fails here (XR_ETLS naming the file). */
XR_API int xr_tls_new(xr_tls **out, const xr_tls_options *opts);

/* Drops the caller's reference. NULL is ok. */
XR_API void xr_tls_free(xr_tls *t);

/* Opens a client from any URL the core accepts; for rediss:// the TLS configuration comes from
 * the URL's ca_file, cert_file, key_file, server_name and insecure options, or from base->tls
 * when the URL names none of them. */
XR_API int xr_tls_client_open_url(xr_client **out, const char *url, const xr_client_options *base);

/* Opens a client as the configuration says (config.h), with TLS when it asks for it: a rediss://
 * URL or any TLS option (ca_pem wins over ca_file; an option set wins over the URL's). The TLS
 * configuration is made here and dropped once the client holds it, so a missing CA file or a key
 * that does not match its certificate fails here (XR_ETLS naming the file). */
XR_API int xr_tls_client_open_config(xr_client **out, const xr_client_config *c);

#ifdef __cplusplus
}
#endif
#endif
