/* crossredis locks: every Chat SDK lock under a prefix, with its TTL and the runtime that took it
 * (from the token's shape), as a table or JSON. Read-only. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "crossredis/client.h"
#include "lock_scan.h"

enum { ORIGIN_COUNT = XR_ORIGIN_CROSSREDIS + 1 };

static void locks_usage(FILE *f) {
  fprintf(f,
          "usage: crossredis locks [--url URL] [--prefix PREFIX] [--json] [--count N]\n"
          "\n"
          "Lists every Chat SDK lock (<prefix>:lock:<thread id>) with the milliseconds it has left\n"
          "and the runtime that took it, told from its token: ts-node-redis, ts-ioredis, ts-memory,\n"
          "ts-pg, python-redis, python-ioredis, crossredis or unknown. Read-only: SCAN with MATCH\n"
          "(the prefix's glob characters escaped), then GET and PTTL per key, pipelined per SCAN\n"
          "page. A key that expires while it is read is left out.\n"
          "\n"
          "  --url URL      the server (default $REDIS_URL, else redis://127.0.0.1:6379):\n"
          "                 redis://[[user]:password@]host[:port][/db], unix:///path, or\n"
          "                 rediss://...?ca_file=&cert_file=&key_file=&server_name=&insecure=\n"
          "  --prefix P     the Chat SDK key prefix (default chat-sdk)\n"
          "  --json         one JSON object instead of the table:\n"
          "                 {\"prefix\", \"locks\": [{\"thread\", \"key\", \"token\", \"ttl_ms\", \"origin\",\n"
          "                 \"shape\"}], \"by_origin\": {origin: count}}; ttl_ms -1: no TTL; shape: the\n"
          "                 upstream writer whose token shape it has (for crossredis tokens)\n"
          "  --count N      SCAN COUNT hint (default 1000)\n"
          "\n"
          "Progress goes to stderr every 10,000 keys scanned. Exit status: 0 listed, 1 failed\n"
          "(cannot connect, authentication, ...), 2 wrong command line.\n");
}

static void print_table(const cli_lock_list *l, const char *prefix) {
  if (l->n == 0) {
    printf("no lock under %s:lock:\n", prefix);
    return;
  }
  char **threads = cli_xmalloc(l->n * sizeof *threads), **tokens = cli_xmalloc(l->n * sizeof *tokens);
  int tw = 6, ow = 6;
  for (size_t i = 0; i < l->n; i++) {
    threads[i] = cli_text_escape(l->v[i].thread, l->v[i].thread_len);
    tokens[i] = cli_text_escape(l->v[i].token, l->v[i].token_len);
    int w = (int)strlen(threads[i]), o = (int)strlen(xr_token_origin_name(l->v[i].origin));
    if (w > tw) tw = w;
    if (o > ow) ow = o;
  }
  printf("%-*s  %10s  %-*s  %s\n", tw, "thread", "ttl ms", ow, "origin", "token");
  for (size_t i = 0; i < l->n; i++) {
    char ttl[32];
    if (l->v[i].ttl_ms < 0)
      snprintf(ttl, sizeof ttl, "none");
    else
      snprintf(ttl, sizeof ttl, "%lld", l->v[i].ttl_ms);
    printf("%-*s  %10s  %-*s  %s\n", tw, threads[i], ttl, ow, xr_token_origin_name(l->v[i].origin), tokens[i]);
    free(threads[i]);
    free(tokens[i]);
  }
  free(threads);
  free(tokens);
}

static void count_origins(const cli_lock_list *l, size_t counts[ORIGIN_COUNT]) {
  memset(counts, 0, ORIGIN_COUNT * sizeof *counts);
  for (size_t i = 0; i < l->n; i++) counts[(unsigned)l->v[i].origin < ORIGIN_COUNT ? l->v[i].origin : 0]++;
}

/* "5 locks: 2 ts-node-redis, 1 ts-ioredis, 2 crossredis" */
static void print_summary(const cli_lock_list *l) {
  size_t counts[ORIGIN_COUNT];
  count_origins(l, counts);
  printf("\n%zu lock%s", l->n, l->n == 1 ? "" : "s");
  const char *sep = ": ";
  for (unsigned o = 1; o <= ORIGIN_COUNT; o++) { /* the known origins first, unknown last */
    unsigned k = o % ORIGIN_COUNT;
    if (!counts[k]) continue;
    printf("%s%zu %s", sep, counts[k], xr_token_origin_name((xr_token_origin)k));
    sep = ", ";
  }
  putchar('\n');
}

static int print_json(const cli_lock_list *l, const char *prefix) {
  json_t *root = json_object(), *locks = json_array(), *by = json_object();
  json_object_set_new(root, "prefix", cli_json_string(prefix, strlen(prefix)));
  for (size_t i = 0; i < l->n; i++) {
    const cli_lock *k = &l->v[i];
    json_t *o = json_object();
    json_object_set_new(o, "thread", cli_json_string(k->thread, k->thread_len));
    json_object_set_new(o, "key", cli_json_string(k->key, k->key_len));
    json_object_set_new(o, "token", cli_json_string(k->token, k->token_len));
    json_object_set_new(o, "ttl_ms", json_integer(k->ttl_ms));
    json_object_set_new(o, "origin", json_string(xr_token_origin_name(k->origin)));
    json_object_set_new(o, "shape", json_string(xr_token_origin_name(k->shape)));
    json_array_append_new(locks, o);
  }
  size_t counts[ORIGIN_COUNT];
  count_origins(l, counts);
  for (unsigned o = 1; o <= ORIGIN_COUNT; o++) {
    unsigned k = o % ORIGIN_COUNT;
    if (counts[k]) json_object_set_new(by, xr_token_origin_name((xr_token_origin)k), json_integer((json_int_t)counts[k]));
  }
  json_object_set_new(root, "locks", locks);
  json_object_set_new(root, "by_origin", by);
  int rc = json_dumpf(root, stdout, JSON_COMPACT);
  putchar('\n');
  json_decref(root);
  if (rc != 0) {
    fprintf(stderr, "crossredis locks: cannot write the JSON output\n");
    return CLI_FAILED;
  }
  return CLI_OK;
}

int cli_locks(int argc, char **argv) {
  const char *url = cli_default_url(), *prefix = "chat-sdk", *count_text = NULL;
  bool json = false;
  for (int i = 1; i < argc; i++) {
    int m;
    if (cli_is_help(argv[i])) {
      locks_usage(stdout);
      return CLI_OK;
    } else if ((m = cli_flag_value(argc, argv, &i, "--url", &url, "locks")) ||
               (m = cli_flag_value(argc, argv, &i, "--prefix", &prefix, "locks")) ||
               (m = cli_flag_value(argc, argv, &i, "--count", &count_text, "locks"))) {
      if (m < 0) return CLI_USAGE;
    } else if (!strcmp(argv[i], "--json")) {
      json = true;
    } else {
      return cli_usage_error("locks", locks_usage, "unexpected argument '%s'", argv[i]);
    }
  }
  long count = 1000;
  if (count_text && !cli_parse_long(count_text, 1, 1000000000L, &count))
    return cli_usage_error("locks", locks_usage, "--count wants a whole number from 1 up, not '%s'", count_text);
  xr_client *c = cli_connect("locks", url);
  if (!c) return CLI_FAILED;
  cli_lock_list l = {0};
  int status = CLI_OK;
  if (cli_lock_scan(&l, c, prefix, count, "locks") != 0) {
    status = cli_fail("locks");
  } else if (json) {
    status = print_json(&l, prefix);
  } else {
    print_table(&l, prefix);
    if (l.n) print_summary(&l);
  }
  cli_lock_list_free(&l);
  xr_client_close(c);
  return status;
}
