/* crossredis drain: waits until no Chat SDK lock taken by a given runtime remains, the step of a
 * migration between "stop starting new work on the old runtime" and "turn the old runtime off". */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "crossredis/error.h"
#include "crossredis/token.h"
#include "lock_scan.h"

enum { LIST_AT_MOST = 20, QUIET_PROGRESS_MS = 5000 };

static void drain_usage(FILE *f) {
  fprintf(f,
          "usage: crossredis drain --origin ORIGIN [--url URL] [--prefix PREFIX] [--timeout S]\n"
          "                        [--interval MS] [--json]\n"
          "\n"
          "Waits until no Chat SDK lock taken by ORIGIN remains under <prefix>:lock:, scanning\n"
          "the locks as `crossredis locks` does (read-only) every --interval. Progress goes to\n"
          "stderr when the count changes (and every 5 s): \"drain: 3 ts-ioredis locks left (of 5\n"
          "locks) after 1.2 s\". A scan that fails on the connection is retried until the deadline.\n"
          "\n"
          "  --origin ORIGIN  ts-node-redis, ts-ioredis, ts-memory, ts-pg, python-redis,\n"
          "                   python-ioredis, crossredis or unknown (the origin `crossredis locks`\n"
          "                   shows)\n"
          "  --url URL        the server (default $REDIS_URL, else redis://127.0.0.1:6379):\n"
          "                   redis://[[user]:password@]host[:port][/db], unix:///path, or\n"
          "                   rediss://...?ca_file=&cert_file=&key_file=&server_name=&insecure=\n"
          "  --prefix P       the Chat SDK key prefix (default chat-sdk)\n"
          "  --timeout S      give up after S seconds (default 60; fractions allowed)\n"
          "  --interval MS    milliseconds between scans (default 250)\n"
          "  --json           print {\"origin\", \"drained\", \"left\": [thread ids], \"seconds\"} at the end\n"
          "\n"
          "Exit status: 0 no lock of ORIGIN left (\"drain: no ts-ioredis lock left after 2.4 s\"),\n"
          "1 some still held at the deadline (\"drain: 2 ts-ioredis locks still held after 60 s:\n"
          "<thread ids>\") or the server failed, 2 wrong command line.\n");
}

static const char *plural(size_t n, const char *one, const char *many) { return n == 1 ? one : many; }

static void sleep_ms(double ms) {
  if (ms <= 0) return;
  struct timespec ts = {(time_t)(ms / 1000), (long)((ms - (double)(time_t)(ms / 1000) * 1000) * 1e6)};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

/* The locks of `origin` in `all`, by index. */
static size_t of_origin(const cli_lock_list *all, xr_token_origin origin, size_t *idx) {
  size_t n = 0;
  for (size_t i = 0; i < all->n; i++)
    if (all->v[i].origin == origin) idx[n++] = i;
  return n;
}

/* "t1, t2, t3 and 7 more" on stream f. */
static void print_threads(FILE *f, const cli_lock_list *all, const size_t *idx, size_t n) {
  for (size_t i = 0; i < n && i < LIST_AT_MOST; i++) {
    char *t = cli_text_escape(all->v[idx[i]].thread, all->v[idx[i]].thread_len);
    fprintf(f, "%s%s", i ? ", " : "", t);
    free(t);
  }
  if (n > LIST_AT_MOST) fprintf(f, " and %zu more", n - LIST_AT_MOST);
}

static int print_json(const char *origin, bool drained, const cli_lock_list *all, const size_t *idx, size_t n,
                      double seconds, const char *error) {
  json_t *root = json_object(), *left = json_array();
  json_object_set_new(root, "origin", json_string(origin));
  json_object_set_new(root, "drained", json_boolean(drained));
  for (size_t i = 0; i < n; i++)
    json_array_append_new(left, cli_json_string(all->v[idx[i]].thread, all->v[idx[i]].thread_len));
  json_object_set_new(root, "left", left);
  json_object_set_new(root, "seconds", json_real((double)(long long)(seconds * 1000 + 0.5) / 1000));
  if (error) json_object_set_new(root, "error", cli_json_string(error, strlen(error)));
  int rc = json_dumpf(root, stdout, JSON_COMPACT | JSON_REAL_PRECISION(12));
  putchar('\n');
  json_decref(root);
  return rc == 0 ? CLI_OK : CLI_FAILED;
}

/* Failures a later scan may not have: the connection, not the request. */
static bool transient(int code) { return code == XR_ECONNECT || code == XR_EIO || code == XR_ETIMEOUT; }

int cli_drain(int argc, char **argv) {
  const char *url = cli_default_url(), *prefix = "chat-sdk", *origin_name = NULL, *timeout_text = NULL,
             *interval_text = NULL;
  bool json = false;
  for (int i = 1; i < argc; i++) {
    int m;
    if (cli_is_help(argv[i])) {
      drain_usage(stdout);
      return CLI_OK;
    } else if ((m = cli_flag_value(argc, argv, &i, "--url", &url, "drain")) ||
               (m = cli_flag_value(argc, argv, &i, "--prefix", &prefix, "drain")) ||
               (m = cli_flag_value(argc, argv, &i, "--origin", &origin_name, "drain")) ||
               (m = cli_flag_value(argc, argv, &i, "--timeout", &timeout_text, "drain")) ||
               (m = cli_flag_value(argc, argv, &i, "--interval", &interval_text, "drain"))) {
      if (m < 0) return CLI_USAGE;
    } else if (!strcmp(argv[i], "--json")) {
      json = true;
    } else {
      return cli_usage_error("drain", drain_usage, "unexpected argument '%s'", argv[i]);
    }
  }
  xr_token_origin origin;
  if (!origin_name) return cli_usage_error("drain", drain_usage, "--origin is required");
  if (xr_token_origin_parse(&origin, origin_name) != 0)
    return cli_usage_error("drain", drain_usage, "--origin: %s", xr_error_last()->message);
  double timeout_s = 60;
  long interval_ms = 250;
  if (timeout_text && !cli_parse_seconds(timeout_text, 1e7, &timeout_s))
    return cli_usage_error("drain", drain_usage, "--timeout wants seconds (e.g. 60 or 0.5), not '%s'", timeout_text);
  if (interval_text && !cli_parse_long(interval_text, 1, 3600000L, &interval_ms))
    return cli_usage_error("drain", drain_usage, "--interval wants milliseconds from 1 up, not '%s'", interval_text);

  double t0 = cli_monotonic_ms();
  xr_client *c = cli_connect("drain", url);
  if (!c) return CLI_FAILED;

  cli_lock_list all = {0};
  size_t *idx = NULL, left = 0, last_left = (size_t)-1, last_total = (size_t)-1;
  double last_progress = -QUIET_PROGRESS_MS, elapsed = 0;
  bool ok = false, scanned = false, failing = false;
  char secs[32], *error = NULL;
  int status = CLI_FAILED;
  for (;;) {
    cli_lock_list_free(&all);
    int rc = cli_lock_scan(&all, c, prefix, 1000, NULL);
    elapsed = cli_monotonic_ms() - t0;
    if (rc != 0) {
      free(error);
      error = strdup(xr_error_last()->message);
      if (!transient(rc)) break;
      if (!failing) fprintf(stderr, "drain: a scan failed, retrying until the deadline: %s\n", error);
      failing = true;
    } else {
      if (failing) fprintf(stderr, "drain: scanning again\n");
      failing = false;
      free(error);
      error = NULL;
      scanned = true;
      idx = cli_xrealloc(idx, (all.n ? all.n : 1) * sizeof *idx);
      left = of_origin(&all, origin, idx);
      if (left == 0) {
        ok = true;
        break;
      }
      if (left != last_left || all.n != last_total || elapsed - last_progress >= QUIET_PROGRESS_MS) {
        fprintf(stderr, "drain: %zu %s %s left (of %zu %s) after %s s\n", left, origin_name, plural(left, "lock", "locks"),
                all.n, plural(all.n, "lock", "locks"), cli_format_seconds(secs, sizeof secs, elapsed / 1000));
        last_left = left;
        last_total = all.n;
        last_progress = elapsed;
      }
    }
    double remaining = timeout_s * 1000 - elapsed;
    if (remaining <= 0) break;
    sleep_ms(remaining < (double)interval_ms ? remaining : (double)interval_ms);
  }
  cli_format_seconds(secs, sizeof secs, elapsed / 1000);
  if (ok) {
    if (!json) printf("drain: no %s lock left after %s s\n", origin_name, secs);
    status = CLI_OK;
  } else if (error) {
    fprintf(stderr, "crossredis: drain: %s\n", error);
  } else {
    fprintf(stderr, "drain: %zu %s %s still held after %s s: ", left, origin_name, plural(left, "lock", "locks"), secs);
    print_threads(stderr, &all, idx, left);
    fputc('\n', stderr);
  }
  if (json) {
    if (!scanned) left = 0;
    int jrc = print_json(origin_name, ok, &all, idx, error ? 0 : left, elapsed / 1000, error);
    if (jrc != CLI_OK) status = CLI_FAILED;
  }
  free(error);
  free(idx);
  cli_lock_list_free(&all);
  xr_client_close(c);
  return status;
}
