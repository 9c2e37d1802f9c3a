/* A client configuration: the client's options set one by one by name, checked as they are set,
 * then opened. What the bindings hand to the core: Python's keywords and Node's option object
 * cross as one item each, and every value is judged here, so C, Python and Node accept and refuse
 * the same inputs with the same words. The options are described once, in client_options.def.
 *
 *   xr_client_config *cfg;
 *   xr_client_config_new(&cfg);
 *   xr_client_config_set_text(cfg, "url", url, strlen(url));        // parsed now
 *   xr_client_config_set_integer(cfg, "pool_size", 4);
 *   xr_tls_client_open_config(&client, cfg);                         // or xr_client_open_config
 *   xr_client_config_free(cfg);
 *
 * What wins: the defaults (XR_CLIENT_OPTIONS_INIT), then what the URL says, then every other
 * option set. `sentinels` (with `master_name`) asks for a Sentinel, `cluster_nodes` for a Cluster,
 * as redis+sentinel:// and redis+cluster:// URLs do. TLS is asked for by a rediss:// URL or by setting any TLS option (ca_file, ca_pem,
 * cert_file, key_file, cert_pem, key_pem, server_name, insecure; insecure false too), and the
 * server is verified unless insecure is true: against the CA given, else the system's. A TLS
 * option set wins over the URL's; ca_pem wins over a ca_file from either.
 *
 * Messages never hold the value of a secret option (password, key_pem), nor a piece of a URL that
 * holds credentials.
 *
 * Thread safety: set from one thread; once set, any number of threads may open clients from it
 * at once (opening only reads it). */
#ifndef CROSSREDIS_CONFIG_H
#define CROSSREDIS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client.h"
#include "export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xr_client_config xr_client_config;

/* What an option holds, and so which setter takes it. */
typedef enum xr_option_kind {
  XR_OPTION_TEXT = 1,    /* bytes with a length, no NUL: xr_client_config_set_text */
  XR_OPTION_SECRET = 2,  /* text never shown (a password, a private key) */
  XR_OPTION_INTEGER = 3, /* xr_client_config_set_integer, within min..max */
  XR_OPTION_BOOLEAN = 4  /* xr_client_config_set_boolean */
} xr_option_kind;

/* One row of client_options.def, for bindings that make their option tables from it. */
typedef struct xr_client_option_info {
  const char *name;      /* the C and Python spelling: "pool_size" */
  const char *node_name; /* Node's: "poolSize"; "tls.caFile" for { tls: { caFile } } */
  xr_option_kind kind;
  int64_t min, max;      /* XR_OPTION_INTEGER: the values allowed; 0 for the other kinds */
  const char *doc;       /* one line */
} xr_client_option_info;

/* Row i of the table, in the order of client_options.def; NULL past the last. Static storage. */
XR_API const xr_client_option_info *xr_client_option_info_at(size_t i);

/* An empty configuration (every option at its default). Free with xr_client_config_free. */
XR_API int xr_client_config_new(xr_client_config **out);
XR_API void xr_client_config_free(xr_client_config *c);

/* Sets option `name` (the C spelling) to a value of its kind; setting it again replaces the value.
 * XR_EINVAL "unknown option <name>" for a name the table does not have, or naming the setter the
 * option's kind takes. Text is `len` bytes (UTF-8 from the bindings) and may not hold a NUL or an
 * encoded UTF-16 surrogate (WTF-8: what a Python or JS string with a lone surrogate becomes):
 * XR_EINVAL "<name>: contains NUL (U+0000) at index 3", "<name>: not valid Unicode (a lone
 * surrogate U+D800 at index 1)", the index counting characters. The url is parsed now (XR_EINVAL
 * "URL: ...", see xr_url_parse). An integer outside the option's range is XR_ERANGE
 * ("db must be >= 0, got -1", "pool_size must be at most 4096, got 5000"). */
XR_API int xr_client_config_set_text(xr_client_config *c, const char *name, const char *value, size_t len);
XR_API int xr_client_config_set_integer(xr_client_config *c, const char *name, int64_t value);
XR_API int xr_client_config_set_boolean(xr_client_config *c, const char *name, bool value);

/* Opens a client as the configuration says (see xr_client_open). A configuration that asks for
 * TLS fails with XR_EUNSUPPORTED saying to open it with xr_tls_client_open_config (tls.h), which
 * lives in crossredis_tls so that programs without TLS do not link OpenSSL. */
XR_API int xr_client_open_config(xr_client **out, const xr_client_config *c);

/* What the configuration resolves to, for crossredis_tls: `opts` (its strings borrowed from c,
 * opts->tls and opts->sentinel_tls NULL) and, when TLS is asked for, the TLS settings in `tls` (an
 * xr_tls_options of tls.h, its strings borrowed from c). Returns which connections take TLS:
 * XR_CONFIG_TLS_NODES (the data nodes) | XR_CONFIG_TLS_SENTINELS (a Sentinel's sentinels), 0 for
 * none, or a negative code (XR_EINVAL: sentinels and cluster_nodes both set, master_name without
 * sentinels). */
#define XR_CONFIG_TLS_NODES 1
#define XR_CONFIG_TLS_SENTINELS 2
struct xr_tls_options;
XR_API int xr_client_config_resolve(const xr_client_config *c, xr_client_options *opts,
                                    struct xr_tls_options *tls);

#ifdef __cplusplus
}
#endif
#endif
