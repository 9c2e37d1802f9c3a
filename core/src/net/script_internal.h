#ifndef CROSSREDIS_SCRIPT_INTERNAL_H
#define CROSSREDIS_SCRIPT_INTERNAL_H

#include <stdatomic.h>
#include <stddef.h>

struct xr_script {
  char *body;
  size_t len;
  char sha1[41];
  /* A hint, not a fact about any one server: once some server ran the script by EVAL, later calls
   * try EVALSHA first; a server that answers NOSCRIPT gets EVAL. */
  atomic_int loaded;
};

#endif
