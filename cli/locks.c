/* crossredis locks: every Chat SDK lock under a prefix, with its TTL and the runtime that took it
 * (from the token's shape), as a table or JSON. Read-only. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "crossredis/client.h"
#include "crossredis/lock_scan.h"

static void locks_usage(FILE *f) {
  fprintf(f,
          "usage: crossredis locks [--url URL] [--prefix PREFIX] [--json] [--count N]\n"
          "\n"
          "Lists every Chat SDK lock (<prefix>:lock:<thread id>) with the milliseconds it has left\n"
          "and the runtime that took it, told from its token: ts-node-redis, ts-ioredis, ts-memory,\n"
          "ts-pg, python-redis, python-ioredis, crossredis or unknown. Where the token's shape cannot\n"
          "tell, both writers are named: a token that passes crossredis's check in an upstream shape\n"
          "is \"crossredis or python-redis\" (crossredis writes it, and the Python port does too once\n"
          "in 256 tokens; a TS adapter once in 1296). Read-only: SCAN with MATCH (the prefix's glob\n"
          "characters escaped), then GET and PTTL per key, pipelined per SCAN page. A key that\n"
          "expires while it is read is left out.\n"
          "\n"
          "  --url URL      the server (default $REDIS_URL, else redis://127.0.0.1:6379):\n"
          "                 redis://[[user]:password@]host[:port][/db], unix:///path, or\n"
          "                 rediss://...?ca_file=&cert_file=&key_file=&server_name=&insecure=\n"
          "  --prefix P     the Chat SDK key prefix (default chat-sdk)\n"
          "  --json         one JSON object instead of the table:\n"
          "                 {\"prefix\", \"locks\": [{\"thread\", \"key\", \"token\", \"ttl_ms\", \"origin\",\n"
          "                 \"origins\", \"certain\", \"shape\"}], \"by_origin\": {origin: count}}; ttl_ms\n"
          "                 -1: no TTL; origins: every writer the token may come from, origin the\n"
          "                 first of them, certain: whether that is the only one; shape: the upstream\n"
          "                 writer whose token shape it has; by_origin counts by the origins joined\n"
          "                 with \" or \" (\"crossredis or ts-node-redis\": 2). JSON holds text: a key,\n"
          "                 thread id or token that is not valid UTF-8 shows each bad byte as U+FFFD\n"
          "                 and comes exactly as base64 in key_b64/thread_b64/token_b64 too (only\n"
          "                 then), the form that addresses the real key\n"
          "  --count N      SCAN COUNT hint (default 1000)\n"
          "\n"
          "Progress goes to stderr every 10,000 keys scanned. Exit status: 0 listed, 1 failed\n"
          "(cannot connect, authentication, ...), 2 wrong command line.\n");
}

void cli_lock_scan_progress(void *ctx, size_t scanned, size_t locks) {
  fprintf(stderr, "%s: %zu keys scanned, %zu %s\n", (const char *)ctx, scanned, locks, cli_plural(locks, "lock", "locks"));
}

void cli_lock_scan_skipped(void *ctx, const char *key, size_t key_len) {
  (void)ctx;
  char *shown = cli_text_escape(key, key_len);
  fprintf(stderr, "crossredis: skipping %s: not a string, so not a Chat SDK lock\n", shown);
  free(shown);
}

static void print_table(const xr_lock_list *l, const char *prefix) {
  size_t n = xr_lock_list_count(l);
  if (n == 0) {
    printf("no lock under %s:lock:\n", prefix);
    return;
  }
  char **threads = cli_xmalloc(n * sizeof *threads), **tokens = cli_xmalloc(n * sizeof *tokens);
  char(*origins)[XR_CHAT_ORIGINS_TEXT_MAX] = cli_xmalloc(n * sizeof *origins);
  int tw = 6, ow = 6;
  for (size_t i = 0; i < n; i++) {
    const xr_lock_entry *k = xr_lock_list_at(l, i);
    threads[i] = cli_text_escape(k->thread, k->thread_len);
    tokens[i] = cli_text_escape(k->token, k->token_len);
    xr_chat_origins_text(k->origins, origins[i], sizeof origins[i]);
    int w = (int)strlen(threads[i]), o = (int)strlen(origins[i]);
    if (w > tw) tw = w;
    if (o > ow) ow = o;
  }
  printf("%-*s  %10s  %-*s  %s\n", tw, "thread", "ttl ms", ow, "origin", "token");
  for (size_t i = 0; i < n; i++) {
    char ttl[32];
    int64_t ttl_ms = xr_lock_list_at(l, i)->ttl_ms;
    if (ttl_ms < 0)
      snprintf(ttl, sizeof ttl, "none");
    else
      snprintf(ttl, sizeof ttl, "%lld", (long long)ttl_ms);
    printf("%-*s  %10s  %-*s  %s\n", tw, threads[i], ttl, ow, origins[i], tokens[i]);
    free(threads[i]);
    free(tokens[i]);
  }
  free(threads);
  free(tokens);
  free(origins);
}

/* "5 locks: 2 ts-node-redis, 1 ts-ioredis, 2 crossredis or ts-node-redis" */
static void print_summary(const xr_lock_list *l) {
  xr_lock_origin_count sets[XR_LOCK_ORIGIN_SETS_MAX];
  size_t n = xr_lock_list_count_origins(l, sets, XR_LOCK_ORIGIN_SETS_MAX), locks = xr_lock_list_count(l);
  printf("\n%zu lock%s", locks, locks == 1 ? "" : "s");
  for (size_t k = 0; k < n; k++) {
    char text[XR_CHAT_ORIGINS_TEXT_MAX];
    xr_chat_origins_text(sets[k].origins, text, sizeof text);
    printf("%s%zu %s", k ? ", " : ": ", sets[k].n, text);
  }
  putchar('\n');
}

/* The writers of a set as JSON names, in the order xr_chat_origins_text writes them. */
static json_t *origin_names(unsigned origins) {
  json_t *a = json_array();
  for (unsigned k = 0; k <= XR_CHAT_ORIGIN_CROSSREDIS + 1; k++) {
    unsigned o = k == 0 ? (unsigned)XR_CHAT_ORIGIN_CROSSREDIS : k - 1;
    if ((k > 0 && o == (unsigned)XR_CHAT_ORIGIN_CROSSREDIS) || !(origins & XR_CHAT_ORIGIN_BIT(o))) continue;
    json_array_append_new(a, json_string(xr_chat_origin_name((xr_chat_origin)o)));
  }
  return a;
}

static int print_json(const xr_lock_list *l, const char *prefix) {
  json_t *root = json_object(), *locks = json_array(), *by = json_object();
  json_object_set_new(root, "prefix", cli_json_string(prefix, strlen(prefix)));
  for (size_t i = 0; i < xr_lock_list_count(l); i++) {
    const xr_lock_entry *k = xr_lock_list_at(l, i);
    json_t *o = json_object();
    json_object_set_new(o, "thread", cli_json_string(k->thread, k->thread_len));
    json_object_set_new(o, "key", cli_json_string(k->key, k->key_len));
    /* JSON holds text: bytes that are not UTF-8 are also given exactly, in base64 */
    if (!cli_utf8_valid(k->key, k->key_len)) {
      json_object_set_new(o, "key_b64", cli_json_base64(k->key, k->key_len));
      if (!cli_utf8_valid(k->thread, k->thread_len))
        json_object_set_new(o, "thread_b64", cli_json_base64(k->thread, k->thread_len));
    }
    json_object_set_new(o, "token", cli_json_string(k->token, k->token_len));
    if (!cli_utf8_valid(k->token, k->token_len))
      json_object_set_new(o, "token_b64", cli_json_base64(k->token, k->token_len));
    json_object_set_new(o, "ttl_ms", json_integer(k->ttl_ms));
    json_object_set_new(o, "origin", json_string(xr_chat_origin_name(k->origin)));
    json_object_set_new(o, "origins", origin_names(k->origins));
    json_object_set_new(o, "certain", json_boolean(!xr_lock_origins_uncertain(k->origins)));
    json_object_set_new(o, "shape", json_string(xr_chat_origin_name(k->shape)));
    json_array_append_new(locks, o);
  }
  xr_lock_origin_count sets[XR_LOCK_ORIGIN_SETS_MAX];
  size_t n = xr_lock_list_count_origins(l, sets, XR_LOCK_ORIGIN_SETS_MAX);
  for (size_t k = 0; k < n; k++) {
    char text[XR_CHAT_ORIGINS_TEXT_MAX];
    xr_chat_origins_text(sets[k].origins, text, sizeof text);
    json_object_set_new(by, text, json_integer((json_int_t)sets[k].n));
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
  const char *url_flag = NULL, *url = NULL, *prefix = "chat-sdk", *count_text = NULL;
  bool json = false;
  for (int i = 1; i < argc; i++) {
    int m;
    if (cli_is_help(argv[i])) {
      locks_usage(stdout);
      return CLI_OK;
    } else if ((m = cli_flag_value(argc, argv, &i, "--url", &url_flag, "locks")) ||
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
  if (cli_server_url("locks", url_flag, locks_usage, &url) != CLI_OK) return CLI_USAGE;
  xr_client *c = cli_connect("locks", url);
  if (!c) return CLI_FAILED;
  xr_lock_list *l = NULL;
  xr_lock_scan_options o = XR_LOCK_SCAN_OPTIONS_INIT;
  o.prefix = prefix;
  o.count = (int)count;
  o.progress = cli_lock_scan_progress;
  o.progress_ctx = "locks";
  o.skipped = cli_lock_scan_skipped;
  int status = CLI_OK;
  if (xr_lock_scan(&l, c, &o) != 0) {
    status = cli_fail("locks");
  } else if (json) {
    status = print_json(l, prefix);
  } else {
    print_table(l, prefix);
    if (xr_lock_list_count(l)) print_summary(l);
  }
  xr_lock_list_free(l);
  xr_client_close(c);
  return status;
}
