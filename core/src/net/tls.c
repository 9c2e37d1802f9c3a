/* crossredis_tls: the TLS configuration (an OpenSSL SSL_CTX with the CA, client certificate and
 * verification settings) and the handshake on a connection the core opened, run by hiredis_ssl. */
#include <arpa/inet.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stddef.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <hiredis/hiredis_ssl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "crossredis/tls.h"
#include "base/internal.h"
#include "net/tls_hook.h"

typedef struct xr_tls_impl {
  struct xr_tls base;
  atomic_int refs;
  SSL_CTX *ctx;
  char *server_name;
  int insecure;
} xr_tls_impl;

/* The newest OpenSSL error as text, for messages. */
static const char *ssl_error_text(char *buf, size_t size) {
  unsigned long e = ERR_peek_last_error();
  if (e == 0) return "unknown OpenSSL error";
  ERR_error_string_n(e, buf, size);
  return buf;
}

static int load_ca_pem(SSL_CTX *ctx, const char *pem) {
  BIO *bio = BIO_new_mem_buf(pem, -1);
  if (!bio) return -1;
  X509_STORE *store = SSL_CTX_get_cert_store(ctx);
  int added = 0;
  X509 *x;
  while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
    if (X509_STORE_add_cert(store, x) == 1) added++;
    X509_free(x);
  }
  ERR_clear_error(); /* the read loop ends on a "no start line" error */
  BIO_free(bio);
  return added > 0 ? 0 : -1;
}

static int load_cert_pem(SSL_CTX *ctx, const char *pem) {
  BIO *bio = BIO_new_mem_buf(pem, -1);
  if (!bio) return -1;
  X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
  int rc = x && SSL_CTX_use_certificate(ctx, x) == 1 ? 0 : -1;
  X509_free(x);
  BIO_free(bio);
  return rc;
}

static int load_key_pem(SSL_CTX *ctx, const char *pem) {
  BIO *bio = BIO_new_mem_buf(pem, -1);
  if (!bio) return -1;
  EVP_PKEY *k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
  int rc = k && SSL_CTX_use_PrivateKey(ctx, k) == 1 ? 0 : -1;
  EVP_PKEY_free(k);
  BIO_free(bio);
  return rc;
}

/* OpenSSL's reason for the failed handshake in `reason`; 1 when it says the peer answered
 * something that is not TLS (a plain Redis port answering an error line, an HTTP server). */
static int not_tls(char *reason, size_t size) {
  unsigned long e = ERR_peek_last_error();
  const char *r = e ? ERR_reason_error_string(e) : NULL;
  snprintf(reason, size, "%s", r ? r : "");
  return r && (strstr(r, "wrong version number") || strstr(r, "packet length too long") ||
               strstr(r, "record layer failure") || strstr(r, "http request"));
}

static int tls_connect(xr_tls *t, redisContext *rc, const char *host) {
  xr_tls_impl *impl = (xr_tls_impl *)t;
  const char *name = impl->server_name ? impl->server_name : host;
  char ebuf[256];
  SSL *ssl = SSL_new(impl->ctx);
  if (!ssl) return xr_fail(XR_ETLS, "TLS: cannot create a session: %s", ssl_error_text(ebuf, sizeof ebuf));

  unsigned char ip[16];
  int is_ip = inet_pton(AF_INET, name, ip) == 1 || inet_pton(AF_INET6, name, ip) == 1;
  if (!is_ip && SSL_set_tlsext_host_name(ssl, name) != 1) {
    SSL_free(ssl);
    return xr_fail(XR_ETLS, "TLS: cannot set the server name %s", name);
  }
  if (!impl->insecure) {
    X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
    int ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, name) : X509_VERIFY_PARAM_set1_host(param, name, 0);
    if (ok != 1) {
      SSL_free(ssl);
      return xr_fail(XR_ETLS, "TLS: cannot check the certificate against %s", name);
    }
  }
  if (redisInitiateSSL(rc, ssl) != REDIS_OK) {
    char reason[160] = "";
    long vr = SSL_get_verify_result(ssl);
    int code = XR_ETLS;
    if (!impl->insecure && vr != X509_V_OK)
      xr_fail(code, "TLS certificate verify failed: %s (server %s)", X509_verify_cert_error_string(vr), name);
    else if (not_tls(reason, sizeof reason))
      xr_fail(code, "TLS handshake with %s failed: the server does not speak TLS on this port (%s): use redis:// for "
              "a plain port", name, reason);
    else
      xr_fail(code, "TLS handshake with %s failed: %s", name,
              reason[0] ? reason : (rc->errstr[0] && !strstr(rc->errstr, "(null)") ? rc->errstr : "the server closed the connection"));
    SSL_free(ssl); /* hiredis leaves the SSL object with us when the handshake fails */
    return code;
  }
  return XR_OK;
}

static int tls_last_failure(xr_tls *t, char *buf, size_t size) {
  XR_UNUSED(t);
  unsigned long e = ERR_peek_last_error();
  const char *reason = e ? ERR_reason_error_string(e) : NULL;
  ERR_clear_error();
  if (!reason || size == 0) return 0;
  snprintf(buf, size, "%s", reason);
  return 1;
}

static void tls_retain(xr_tls *t) { atomic_fetch_add(&((xr_tls_impl *)t)->refs, 1); }

static void tls_release(xr_tls *t) {
  xr_tls_impl *impl = (xr_tls_impl *)t;
  if (atomic_fetch_sub(&impl->refs, 1) != 1) return;
  SSL_CTX_free(impl->ctx);
  xr_free(impl->server_name);
  xr_free(impl);
}

static const xr_tls_vtable tls_vtable = {tls_connect, tls_last_failure, tls_retain, tls_release};

int xr_tls_new(xr_tls **out, const xr_tls_options *o) {
  char ebuf[256];
  if (!out || !o) return xr_fail(XR_EINVAL, "xr_tls_new: out and options are required");
  *out = NULL;
  if (o->version != XR_TLS_OPTIONS_VERSION)
    return xr_fail(XR_EINVAL, "xr_tls_new: options version %u, expected %u (use XR_TLS_OPTIONS_INIT)",
                   o->version, XR_TLS_OPTIONS_VERSION);
  if (o->ca_file && o->ca_pem) return xr_fail(XR_EINVAL, "TLS: give ca_file or ca_pem, not both");
  if (o->cert_file && o->cert_pem) return xr_fail(XR_EINVAL, "TLS: give cert_file or cert_pem, not both");
  if (o->key_file && o->key_pem) return xr_fail(XR_EINVAL, "TLS: give key_file or key_pem, not both");
  int has_cert = o->cert_file || o->cert_pem, has_key = o->key_file || o->key_pem;
  if (has_cert != has_key) return xr_fail(XR_EINVAL, "TLS: a client certificate needs its key, and a key its certificate");

  xr_tls_impl *impl = xr_calloc(1, sizeof *impl);
  if (!impl) return xr_fail_nomem();
  impl->base.vt = &tls_vtable;
  atomic_init(&impl->refs, 1);
  impl->insecure = o->insecure != 0;
  int rc = XR_ETLS;
  ERR_clear_error();
  impl->ctx = SSL_CTX_new(TLS_client_method());
  if (!impl->ctx) {
    xr_fail(XR_ETLS, "TLS: cannot create a context: %s", ssl_error_text(ebuf, sizeof ebuf));
    goto fail;
  }
  SSL_CTX_set_min_proto_version(impl->ctx, TLS1_2_VERSION);
  SSL_CTX_set_verify(impl->ctx, impl->insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
  if (o->ca_file) {
    if (SSL_CTX_load_verify_locations(impl->ctx, o->ca_file, NULL) != 1) {
      xr_fail(XR_ETLS, "TLS: cannot load the CA file %s: %s", o->ca_file, ssl_error_text(ebuf, sizeof ebuf));
      goto fail;
    }
  } else if (o->ca_pem) {
    if (load_ca_pem(impl->ctx, o->ca_pem) != 0) {
      xr_fail(XR_ETLS, "TLS: the CA PEM text holds no certificate");
      goto fail;
    }
  } else if (SSL_CTX_set_default_verify_paths(impl->ctx) != 1) {
    xr_fail(XR_ETLS, "TLS: cannot load the system's CA certificates: %s", ssl_error_text(ebuf, sizeof ebuf));
    goto fail;
  }
  if (o->cert_file && SSL_CTX_use_certificate_chain_file(impl->ctx, o->cert_file) != 1) {
    xr_fail(XR_ETLS, "TLS: cannot load the client certificate %s: %s", o->cert_file, ssl_error_text(ebuf, sizeof ebuf));
    goto fail;
  }
  if (o->cert_pem && load_cert_pem(impl->ctx, o->cert_pem) != 0) {
    xr_fail(XR_ETLS, "TLS: cannot read the client certificate PEM text");
    goto fail;
  }
  if (o->key_file && SSL_CTX_use_PrivateKey_file(impl->ctx, o->key_file, SSL_FILETYPE_PEM) != 1) {
    xr_fail(XR_ETLS, "TLS: cannot load the private key %s: %s", o->key_file, ssl_error_text(ebuf, sizeof ebuf));
    goto fail;
  }
  if (o->key_pem && load_key_pem(impl->ctx, o->key_pem) != 0) {
    xr_fail(XR_ETLS, "TLS: cannot read the private key PEM text");
    goto fail;
  }
  if (has_cert && SSL_CTX_check_private_key(impl->ctx) != 1) {
    xr_fail(XR_ETLS, "TLS: the private key does not match the client certificate");
    goto fail;
  }
  if (o->server_name && !(impl->server_name = xr_strndup(o->server_name, strlen(o->server_name)))) {
    rc = xr_fail_nomem();
    goto fail;
  }
  *out = &impl->base;
  return XR_OK;
fail:
  ERR_clear_error();
  tls_release(&impl->base);
  return rc;
}

void xr_tls_free(xr_tls *t) {
  if (t) t->vt->release(t);
}

int xr_tls_client_open_url(xr_client **out, const char *url, const xr_client_options *base) {
  if (!out || !url) return xr_fail(XR_EINVAL, "xr_tls_client_open_url: out and url are required");
  *out = NULL;
  xr_url *u = NULL;
  int rc = xr_url_parse(&u, url);
  if (rc != XR_OK) return rc;
  xr_client_options opts = XR_CLIENT_OPTIONS_INIT;
  if (base && base->version == XR_CLIENT_OPTIONS_VERSION) opts = *base;
  else if (base) memcpy(&opts, base, offsetof(xr_client_options, topology)), opts.version = XR_CLIENT_OPTIONS_VERSION;
  int sentinel_tls = u->topology == XR_TOPOLOGY_SENTINEL && xr_url_sentinel_tls(u);
  xr_tls *own = NULL;
  if ((u->tls || sentinel_tls) && (u->ca_file || u->cert_file || u->key_file || u->server_name || u->insecure || !opts.tls)) {
    xr_tls_options to = XR_TLS_OPTIONS_INIT;
    to.ca_file = u->ca_file;
    to.cert_file = u->cert_file;
    to.key_file = u->key_file;
    to.server_name = u->server_name;
    to.insecure = u->insecure;
    rc = xr_tls_new(&own, &to);
    if (rc != XR_OK) {
      xr_url_free(u);
      return rc;
    }
    opts.tls = own;
  }
  if (sentinel_tls && !opts.sentinel_tls) opts.sentinel_tls = opts.tls;
  if (!sentinel_tls) opts.sentinel_tls = NULL;
  if (!u->tls) opts.tls = NULL;
  xr_url_apply(u, &opts);
  rc = xr_client_open(out, &opts);
  xr_tls_free(own); /* the client holds its own reference */
  xr_url_free(u);
  return rc;
}

int xr_tls_client_open_config(xr_client **out, const xr_client_config *c) {
  if (!out || !c) return xr_fail(XR_EINVAL, "xr_tls_client_open_config: out and the configuration are required");
  *out = NULL;
  xr_client_options opts;
  xr_tls_options to;
  int rc = xr_client_config_resolve(c, &opts, &to);
  if (rc < 0) return rc;
  xr_tls *own = NULL;
  if (rc) {
    int want = rc;
    if ((rc = xr_tls_new(&own, &to)) != XR_OK) return rc;
    if (want & XR_CONFIG_TLS_NODES) opts.tls = own;
    if (want & XR_CONFIG_TLS_SENTINELS) opts.sentinel_tls = own;
  }
  rc = xr_client_open(out, &opts);
  xr_tls_free(own); /* the client holds its own reference */
  return rc;
}
