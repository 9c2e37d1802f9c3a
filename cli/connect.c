/* Connecting to the server a subcommand works on. */
#include "cli.h"
#include "crossredis/tls.h"

xr_client *cli_connect(const char *cmd, const char *url) {
  xr_client *c = NULL;
  /* Opening checks the server (AUTH, SELECT, PING), so a wrong address, password or certificate
   * fails here with the library's own message. */
  if (xr_tls_client_open_url(&c, url, NULL) != 0) {
    cli_fail(cmd);
    return NULL;
  }
  return c;
}
