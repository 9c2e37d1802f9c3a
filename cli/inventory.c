/* crossredis inventory: which keys a server or Cluster holds, by declared pattern, with owners,
 * TTLs, memory, slots and the Cluster readiness of each unit, as a table or JSON. Read-only, at a
 * bounded rate (crossredis/inventory.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "crossredis/alloc.h"
#include "crossredis/error.h"
#include "crossredis/inventory.h"

static void inventory_usage(FILE *f) {
  fprintf(f,
          "usage: crossredis inventory [--url URL] [--match GLOB] [--patterns FILE] [--max-keys N]\n"
          "                            [--rate OPS/S] [--count N] [--samples N] [--max-shapes N]\n"
          "                            [--prefix SYSTEM=PREFIX]... [--json]\n"
          "\n"
          "Lists the keys of a server (every master of a Cluster) by declared pattern: how many, of\n"
          "which types, their TTLs and keys without expiry, memory, slots, samples, and the runtime\n"
          "that owns them where the value tells it (a Chat SDK lock's token, a toolhive session's\n"
          "type, a Chat SDK queue entry's TS or Python spelling). Patterns come from --patterns first,\n"
          "then the built-in ones: the Chat SDK (upstream and tagged layouts), toolhive proxy and vMCP\n"
          "sessions, ayepi's work engine and cache, xp's buffers and registry. A key no pattern\n"
          "matches is generalised per ':' segment ({uuid}, {sha256}, {hex32}, {number}) and listed as\n"
          "unclassified. Units (the patterns one operation touches together) get a Cluster readiness\n"
          "verdict: ready when their keys share a hash tag for every value, else not ready, plus the\n"
          "instances seen with keys on different slots.\n"
          "\n"
          "Read-only: SCAN, then per key TYPE, PTTL, MEMORY USAGE and GET or LINDEX 0 for owners,\n"
          "pipelined per SCAN page. A user without MEMORY USAGE gets memory \"unknown\" and a warning.\n"
          "\n"
          "  --url URL          the server (default $REDIS_URL, else redis://127.0.0.1:6379):\n"
          "                     redis://[[user]:password@]host[:port][/db], unix:///path,\n"
          "                     redis+cluster://host:port,..., redis+sentinel://..., rediss://...\n"
          "  --match GLOB       only keys SCAN MATCH GLOB returns (default: every key)\n"
          "  --patterns FILE    declared patterns, tried before the built-in ones:\n"
          "                     {\"patterns\": [{\"pattern\": \"mpp:browser:session:<id:uuid>\",\n"
          "                     \"owner\", \"readers\": [...], \"writers\": [...], \"ttl_policy\":\n"
          "                     \"required\"|\"none\"|\"any\", \"tier\": \"R0\"..\"R4\", \"notes\", \"unit\"}]}\n"
          "                     pattern: literal bytes and fields <name> or <name:class> (any,\n"
          "                     segment, uuid, sha256, hex32, number; \\< for a literal '<')\n"
          "  --max-keys N       stop after N keys (default: all)\n"
          "  --rate OPS/S       at most OPS/S commands per second (default %d; 0: no bound); the\n"
          "                     scan sleeps between pipelines of a tenth of a second's commands,\n"
          "                     so N commands take >= N/OPS seconds\n"
          "  --count N          SCAN COUNT hint (default 1000)\n"
          "  --samples N        sample keys per pattern and shape (default 3)\n"
          "  --max-shapes N     distinct unclassified shapes listed (default 1000; then \"(other)\")\n"
          "  --prefix S=P       the key prefix of system S for the built-in patterns: chat\n"
          "                     (chat-sdk), session (thv:proxy:session:), vmcp (thv:vmcp:session:),\n"
          "                     ayepi (\"\"), ayepi-cache (ayepi:cache:), xp (xp:)\n"
          "  --json             one JSON object instead of the table:\n"
          "                     {\"keys\", \"scanned\", \"vanished\", \"nodes\", \"commands\",\n"
          "                     \"elapsed_ms\", \"rate\", \"truncated\", \"match\", \"memory\":\n"
          "                     \"measured\"|\"unknown\", \"patterns\": [{\"pattern\", \"source\", \"system\",\n"
          "                     \"owner\", \"readers\", \"writers\", \"ttl_policy\", \"tier\", \"unit\",\n"
          "                     \"notes\", \"count\", \"types\": {type: n}, \"ttl\": {\"min_ms\",\n"
          "                     \"max_ms\", \"without_expiry\"}, \"memory\": {\"total_bytes\",\n"
          "                     \"max_bytes\"}|null, \"samples\", \"slots\": {\"distinct\", \"some\"},\n"
          "                     \"owners\": {runtime: n}, \"warnings\"}], \"unclassified\": [{\"shape\",\n"
          "                     \"count\", \"types\", \"ttl\", \"memory\", \"samples\", \"slots\"}],\n"
          "                     \"units\": [{\"unit\", \"patterns\", \"ready\", \"verdict\", \"observed\":\n"
          "                     {\"instances\", \"split\", \"examples\"}}], \"warnings\"}\n"
          "\n"
          "Progress goes to stderr every 10,000 keys. Exit status: 0 reported, 1 failed (cannot\n"
          "connect, a command refused, ...), 2 wrong command line or patterns file.\n",
          XR_INVENTORY_DEFAULT_RATE);
}

static void on_progress(void *ctx, const xr_inventory_progress *p) {
  (void)ctx;
  fprintf(stderr, "inventory: %llu keys scanned, %llu classified, %llu commands, node %zu of %zu, %.1f s\n",
          (unsigned long long)p->scanned, (unsigned long long)p->classified, (unsigned long long)p->commands,
          p->node < p->nodes ? p->node + 1 : p->nodes, p->nodes, p->elapsed_s);
}

/* The file's bytes (malloc'd, NUL after them); NULL after saying why. */
static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "crossredis inventory: --patterns %s: %s\n", path, strerror(errno));
    return NULL;
  }
  size_t cap = 4096, n = 0;
  char *buf = cli_xmalloc(cap);
  for (size_t got; (got = fread(buf + n, 1, cap - n - 1, f)) > 0;) {
    n += got;
    if (cap - n - 1 == 0) buf = cli_xrealloc(buf, cap *= 2);
  }
  bool bad = ferror(f);
  fclose(f);
  if (bad) {
    fprintf(stderr, "crossredis inventory: --patterns %s: cannot read it\n", path);
    free(buf);
    return NULL;
  }
  buf[n] = '\0';
  *len = n;
  return buf;
}

/* --prefix S=P into the options; false for an unknown system. */
static bool set_prefix(xr_inventory_options *o, const char *arg) {
  static const char *const systems[] = {"chat", "session", "vmcp", "ayepi", "ayepi-cache", "xp"};
  const char **fields[] = {&o->chat_prefix, &o->session_prefix, &o->vmcp_prefix, &o->ayepi_prefix,
                           &o->ayepi_cache_prefix, &o->xp_prefix};
  const char *eq = strchr(arg, '=');
  if (!eq) return false;
  for (size_t i = 0; i < sizeof systems / sizeof systems[0]; i++) {
    if (strlen(systems[i]) == (size_t)(eq - arg) && !strncmp(arg, systems[i], (size_t)(eq - arg))) {
      *fields[i] = eq + 1;
      return true;
    }
  }
  return false;
}

int cli_inventory(int argc, char **argv) {
  const char *url_flag = NULL, *url = NULL, *patterns_path = NULL, *text[6] = {NULL};
  const char *names[6] = {"--max-keys", "--rate", "--count", "--samples", "--max-shapes", "--match"};
  bool json = false;
  xr_inventory_options o = XR_INVENTORY_OPTIONS_INIT;
  for (int i = 1; i < argc; i++) {
    int m = 0;
    const char *prefix = NULL;
    if (cli_is_help(argv[i])) {
      inventory_usage(stdout);
      return CLI_OK;
    }
    if ((m = cli_flag_value(argc, argv, &i, "--url", &url_flag, "inventory")) ||
        (m = cli_flag_value(argc, argv, &i, "--patterns", &patterns_path, "inventory"))) {
      if (m < 0) return CLI_USAGE;
      continue;
    }
    if ((m = cli_flag_value(argc, argv, &i, "--prefix", &prefix, "inventory"))) {
      if (m < 0) return CLI_USAGE;
      if (!set_prefix(&o, prefix))
        return cli_usage_error("inventory", inventory_usage,
                               "--prefix wants SYSTEM=PREFIX with SYSTEM chat, session, vmcp, ayepi, ayepi-cache "
                               "or xp, not '%s'", prefix);
      continue;
    }
    for (size_t k = 0; k < 6 && !m; k++) m = cli_flag_value(argc, argv, &i, names[k], &text[k], "inventory");
    if (m < 0) return CLI_USAGE;
    if (m) continue;
    if (!strcmp(argv[i], "--json")) json = true;
    else return cli_usage_error("inventory", inventory_usage, "unexpected argument '%s'", argv[i]);
  }
  long v[5] = {0, XR_INVENTORY_DEFAULT_RATE, 1000, 3, 1000};
  const long lo[5] = {1, 0, 1, 0, 1};
  for (size_t k = 0; k < 5; k++)
    if (text[k] && !cli_parse_long(text[k], lo[k], 1000000000L, &v[k]))
      return cli_usage_error("inventory", inventory_usage, "%s wants a whole number from %ld up, not '%s'", names[k],
                             lo[k], text[k]);
  o.max_keys = (uint64_t)v[0];
  o.rate = v[1] == 0 ? XR_INVENTORY_UNLIMITED : v[1];
  o.count = (int)v[2];
  o.samples = v[3] == 0 ? -1 : (int)v[3];
  o.max_shapes = (size_t)v[4];
  o.match = text[5];
  o.progress = on_progress;
  xr_inventory_patterns *patterns = NULL;
  if (patterns_path) {
    size_t len = 0;
    char *body = read_file(patterns_path, &len);
    if (!body) return CLI_USAGE;
    int rc = xr_inventory_patterns_load(&patterns, body, len, patterns_path);
    free(body);
    if (rc) {
      fprintf(stderr, "crossredis inventory: %s\n", xr_error_last()->message);
      return CLI_USAGE;
    }
    o.patterns = patterns;
  }
  if (cli_server_url("inventory", url_flag, inventory_usage, &url) != CLI_OK) {
    xr_inventory_patterns_free(patterns);
    return CLI_USAGE;
  }
  xr_client *c = cli_connect("inventory", url);
  if (!c) {
    xr_inventory_patterns_free(patterns);
    return CLI_FAILED;
  }
  xr_inventory_report *r = NULL;
  int status = CLI_OK;
  char *out = NULL;
  size_t out_len = 0;
  if (xr_inventory_run(&r, c, &o) != 0) {
    status = cli_fail("inventory");
  } else if ((json ? xr_inventory_report_json(r, &out, &out_len) : xr_inventory_report_table(r, &out, &out_len)) != 0) {
    status = cli_fail("inventory");
  } else {
    fwrite(out, 1, out_len, stdout);
    if (json) putchar('\n');
    if (fflush(stdout) != 0) status = CLI_FAILED;
  }
  xr_free(out);
  xr_inventory_report_free(r);
  xr_inventory_patterns_free(patterns);
  xr_client_close(c);
  return status;
}
