/* The server a subcommand works on: its URL (from --url, $REDIS_URL or the default), checked
 * before anything else runs, and the connection to it. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "crossredis/error.h"
#include "crossredis/tls.h"

static const char DEFAULT_URL[] = "redis://127.0.0.1:6379";

char *cli_url_problem(const char *url) {
  cli_secrets_add_url(url);
  xr_url *u = NULL;
  if (xr_url_parse(&u, url) == 0) {
    xr_url_free(u);
    return NULL;
  }
  char *why = cli_redact(xr_error_last()->message);
  /* A parse error may quote a piece of the URL ("bad port 'pa'"), and a password that holds a
   * '/' or '?' is cut short by the parser, so a quoted piece can be part of it: with a password
   * in the URL, every quoted piece is masked. */
  size_t start, n;
  if (cli_url_password_span(url, strlen(url), &start, &n)) {
    char *masked = cli_mask_quoted(why);
    free(why);
    why = masked;
  }
  return why;
}

int cli_check_url(const char *cmd, const char *url, const char *from, void (*usage)(FILE *)) {
  char *why = cli_url_problem(url);
  if (!why) return CLI_OK;
  char *shown = cli_url_redact(url);
  int rc = CLI_USAGE;
  if (!strcmp(from, "REDIS_URL")) {
    fprintf(stderr,
            "crossredis %s: the environment variable REDIS_URL (%s) is not a URL crossredis can use: %s\n"
            "(set it to redis://[[user]:password@]host[:port][/db], rediss://... or unix:///path, or pass --url)\n",
            cmd, shown, why);
  } else {
    rc = cli_usage_error(cmd, usage, "%s %s: %s", from, shown, why);
  }
  free(shown);
  free(why);
  return rc;
}

/* Overwrites the password inside the argv string `arg` with '*': /proc/<pid>/cmdline (what ps
 * shows) reads this memory. */
static void hide_in_argv(char *arg) {
  size_t start, n;
  char *url = strstr(arg, "://") ? arg : NULL;
  if (url && cli_url_password_span(url, strlen(url), &start, &n)) memset(url + start, '*', n);
}

int cli_flag_url(const char *cmd, const char *name, const char *value, void (*usage)(FILE *), const char **url) {
  /* the values, kept to the end while their argv bytes are masked */
  typedef struct kept {
    struct kept *next;
    char text[];
  } kept;
  static kept *all;
  size_t len = strlen(value) + 1;
  kept *k = cli_xmalloc(sizeof *k + len);
  memcpy(k->text, value, len);
  k->next = all;
  all = k;
  hide_in_argv((char *)value);
  *url = k->text;
  return cli_check_url(cmd, k->text, name, usage);
}

int cli_server_url(const char *cmd, const char *flag, void (*usage)(FILE *), const char **url) {
  const char *env = getenv("REDIS_URL");
  if (flag) return cli_flag_url(cmd, "--url", flag, usage, url);
  if (env && *env) {
    *url = env;
    return cli_check_url(cmd, env, "REDIS_URL", usage);
  }
  *url = DEFAULT_URL;
  return CLI_OK;
}

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
