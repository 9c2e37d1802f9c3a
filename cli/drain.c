/* crossredis drain: waits until no Chat SDK lock taken by a given runtime remains, the step of a
 * migration between "stop starting new work on the old runtime" and "turn the old runtime off". */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "crossredis/error.h"
#include "crossredis/lock_scan.h"
#include "crossredis/tls.h"
#include "crossredis/token.h"

enum { LIST_AT_MOST = 20, QUIET_PROGRESS_MS = 5000, SCAN_GRACE_MS = 500 };

static void drain_usage(FILE *f) {
  fprintf(f,
          "usage: crossredis drain --origin ORIGIN [--url URL] [--prefix PREFIX] [--timeout S]\n"
          "                        [--interval MS] [--json]\n"
          "\n"
          "Waits until no Chat SDK lock possibly taken by ORIGIN remains under <prefix>:lock:,\n"
          "scanning the locks as `crossredis locks` does (read-only) every --interval. A lock counts\n"
          "when ORIGIN is one of the writers its token may come from: where the token's shape cannot\n"
          "tell (a token that passes crossredis's check in an upstream shape is crossredis's or, once\n"
          "in 256 hex / 1296 base36 tokens, the upstream writer's), drain waits for it and says so.\n"
          "Progress goes to stderr when the count changes (and every 5 s): \"drain: 3 ts-ioredis\n"
          "locks left (of 5 locks) after 1.2 s, 1 of them possibly crossredis instead\". A scan that\n"
          "fails on the connection is retried until the deadline.\n"
          "\n"
          "  --origin ORIGIN  ts-node-redis, ts-ioredis, ts-memory, ts-pg, python-redis,\n"
          "                   python-ioredis, crossredis or unknown (a name `crossredis locks`\n"
          "                   shows)\n"
          "  --url URL        the server (default $REDIS_URL, else redis://127.0.0.1:6379):\n"
          "                   redis://[[user]:password@]host[:port][/db], unix:///path, or\n"
          "                   rediss://...?ca_file=&cert_file=&key_file=&server_name=&insecure=\n"
          "  --prefix P       the Chat SDK key prefix (default chat-sdk)\n"
          "  --timeout S      give up after S seconds (default 60; fractions allowed). Every wait\n"
          "                   for the server ends by then, the URL's own timeouts cut to it, so a\n"
          "                   server that stops answering does not hold drain past it (a scan\n"
          "                   started just before it gets 0.5 s; --timeout 0 scans once)\n"
          "  --interval MS    milliseconds between scans (default 250)\n"
          "  --json           print {\"origin\", \"drained\", \"left\": [thread ids], \"uncertain\": [the\n"
          "                   thread ids in left whose token may be another writer's], \"seconds\"}\n"
          "                   at the end\n"
          "\n"
          "Exit status: 0 no lock of ORIGIN left (\"drain: no ts-ioredis lock left after 2.4 s\"),\n"
          "1 some still held at the deadline (\"drain: 2 ts-ioredis locks still held after 60 s:\n"
          "<thread ids>\", as the last scan that finished found them) or the server failed or did\n"
          "not answer by the deadline, 2 wrong command line (a URL that cannot be parsed too).\n");
}

static void sleep_ms(double ms) {
  if (ms <= 0) return;
  struct timespec ts = {(time_t)(ms / 1000), (long)((ms - (double)(time_t)(ms / 1000) * 1000) * 1e6)};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

/* The locks `origin` may have taken in `all`, by index (in thread order); of them, in uidx, those
 * whose token may also be another writer's (*uncertain of them, those writers in *others). */
static size_t of_origin(const xr_lock_list *all, xr_chat_origin origin, size_t *idx, size_t *uidx, size_t *uncertain,
                        unsigned *others) {
  size_t n = 0;
  *uncertain = 0;
  *others = 0;
  for (size_t i = 0; i < xr_lock_list_count(all); i++) {
    unsigned set = xr_lock_list_at(all, i)->origins;
    if (!(set & XR_CHAT_ORIGIN_BIT(origin))) continue;
    idx[n++] = i;
    if (xr_lock_origins_uncertain(set)) {
      uidx[(*uncertain)++] = i;
      *others |= set & ~XR_CHAT_ORIGIN_BIT(origin);
    }
  }
  return n;
}

/* "t1, t2, t3 and 7 more" on stream f. */
static void print_threads(FILE *f, const xr_lock_list *all, const size_t *idx, size_t n) {
  for (size_t i = 0; i < n && i < LIST_AT_MOST; i++) {
    const xr_lock_entry *k = xr_lock_list_at(all, idx[i]);
    char *t = cli_text_escape(k->thread, k->thread_len);
    fprintf(f, "%s%s", i ? ", " : "", t);
    free(t);
  }
  if (n > LIST_AT_MOST) fprintf(f, " and %zu more", n - LIST_AT_MOST);
}

/* ", 1 of them possibly crossredis instead" when some of the locks may be another writer's. */
static void print_uncertain(FILE *f, size_t uncertain, unsigned others) {
  if (!uncertain) return;
  char text[XR_CHAT_ORIGINS_TEXT_MAX];
  xr_chat_origins_text(others, text, sizeof text);
  fprintf(f, ", %zu of them possibly %s instead", uncertain, text);
}

static json_t *thread_ids(const xr_lock_list *all, const size_t *idx, size_t n) {
  json_t *a = json_array();
  for (size_t i = 0; i < n; i++) {
    const xr_lock_entry *k = xr_lock_list_at(all, idx[i]);
    json_array_append_new(a, cli_json_string(k->thread, k->thread_len));
  }
  return a;
}

static int print_json(const char *origin, bool drained, const xr_lock_list *all, const size_t *idx, size_t n,
                      const size_t *uidx, size_t uncertain, double seconds, const char *error) {
  json_t *root = json_object();
  json_object_set_new(root, "origin", json_string(origin));
  json_object_set_new(root, "drained", json_boolean(drained));
  json_object_set_new(root, "left", thread_ids(all, idx, n));
  json_object_set_new(root, "uncertain", thread_ids(all, uidx, uncertain));
  json_object_set_new(root, "seconds", json_real((double)(long long)(seconds * 1000 + 0.5) / 1000));
  if (error) json_object_set_new(root, "error", cli_json_string(error, strlen(error)));
  int rc = json_dumpf(root, stdout, JSON_COMPACT | JSON_REAL_PRECISION(12));
  putchar('\n');
  json_decref(root);
  return rc == 0 ? CLI_OK : CLI_FAILED;
}

/* Failures a later scan may not have: the connection, not the request. */
static bool transient(int code) {
  return code == XR_ECONNECT || code == XR_EIO || code == XR_ETIMEOUT || code == XR_ECLOSED;
}

/* The scans' I/O, every wait bounded by the deadline: a client whose connect and reply timeouts
 * are at most the time left when it is opened, and a loop connection of its own whose replies
 * are waited for with poll(2) until the deadline, then abandoned. A connection that failed is
 * dropped with its client; the next scan opens both again, bounded by what is left then. */
typedef struct deadline_io {
  const char *url;
  xr_client *c;
  xr_loop_conn *lc;
  double deadline; /* cli_monotonic_ms() */
} deadline_io;

static void io_drop(deadline_io *d) {
  xr_loop_conn_close(d->lc);
  xr_client_close(d->c);
  d->lc = NULL;
  d->c = NULL;
}

/* `url` without its connect_timeout_ms and timeout_ms options: they come from io_open. */
static char *without_timeouts(const char *url) {
  size_t n = strlen(url);
  char *out = cli_xmalloc(n + 1);
  const char *q = strchr(url, '?');
  size_t o = q ? (size_t)(q - url) : n;
  memcpy(out, url, o);
  for (const char *p = q ? q + 1 : NULL; p && *p;) {
    const char *end = strchr(p, '&');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (strncmp(p, "connect_timeout_ms=", 19) != 0 && strncmp(p, "timeout_ms=", 11) != 0) {
      char sep = o == (size_t)(q - url) ? '?' : '&';
      out[o++] = sep;
      memcpy(out + o, p, len);
      o += len;
    }
    p = end ? end + 1 : NULL;
  }
  out[o] = '\0';
  return out;
}

/* `ms` rounded up, as an int (at most a day: --timeout goes up to 10^7 s). */
static int whole_ms(double ms) { return ms >= 86400000.0 ? 86400000 : (int)ms + 1; }

/* A timeout (<= 0: none) no longer than `left` milliseconds. */
static int bounded(int timeout_ms, double left) { return timeout_ms > 0 && timeout_ms < left ? timeout_ms : whole_ms(left); }

static int io_open(deadline_io *d) {
  double left = d->deadline - cli_monotonic_ms();
  if (left < 1) return xr_error_set(XR_ETIMEOUT, "the deadline (--timeout) passed before a connection was made");
  /* The URL's own timeouts (or the defaults), cut to what is left. */
  xr_client_options base = XR_CLIENT_OPTIONS_INIT;
  xr_url *u = NULL;
  int rc = xr_url_parse(&u, d->url);
  if (rc != 0) return rc;
  base.connect_timeout_ms = bounded(u->connect_timeout_ms >= 0 ? u->connect_timeout_ms : base.connect_timeout_ms, left);
  base.command_timeout_ms = bounded(u->command_timeout_ms >= 0 ? u->command_timeout_ms : base.command_timeout_ms, left);
  base.pool_size = 1;
  xr_url_free(u);
  char *url = without_timeouts(d->url);
  rc = xr_tls_client_open_url(&d->c, url, &base);
  free(url);
  if (rc == 0) rc = xr_loop_conn_open(&d->lc, d->c);
  if (rc != 0) io_drop(d);
  return rc;
}

static int exec_by_deadline(void *ctx, xr_batch *b) {
  deadline_io *d = ctx;
  if (d->lc && xr_loop_conn_broken(d->lc)) io_drop(d);
  int wait = 0, rc;
  if (!d->lc && (rc = io_open(d)) != 0) return rc;
  rc = xr_loop_conn_start(d->lc, b, &wait);
  while (rc == 0 && wait) {
    double left = d->deadline - cli_monotonic_ms();
    if (left <= 0) {
      xr_loop_conn_cancel(d->lc, XR_ETIMEOUT);
      return xr_error_set(XR_ETIMEOUT, "no reply from %s before the deadline (--timeout)", xr_client_address(d->c));
    }
    struct pollfd p = {xr_loop_conn_fd(d->lc), (short)(wait == XR_WAIT_WRITE ? POLLOUT : POLLIN), 0};
    int ready = poll(&p, 1, whole_ms(left));
    if (ready < 0 && errno != EINTR) {
      int e = errno;
      xr_loop_conn_cancel(d->lc, XR_EIO);
      return xr_error_set(XR_EIO, "waiting for %s: poll: %s", xr_client_address(d->c), strerror(e));
    }
    if (ready > 0) rc = xr_loop_conn_continue(d->lc, &wait);
  }
  return rc;
}

int cli_drain(int argc, char **argv) {
  const char *url_flag = NULL, *url = NULL, *prefix = "chat-sdk", *origin_name = NULL, *timeout_text = NULL,
             *interval_text = NULL;
  bool json = false;
  for (int i = 1; i < argc; i++) {
    int m;
    if (cli_is_help(argv[i])) {
      drain_usage(stdout);
      return CLI_OK;
    } else if ((m = cli_flag_value(argc, argv, &i, "--url", &url_flag, "drain")) ||
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
  xr_chat_origin origin;
  if (!origin_name) return cli_usage_error("drain", drain_usage, "--origin is required");
  if (xr_chat_origin_parse(&origin, origin_name) != 0)
    return cli_usage_error("drain", drain_usage, "--origin: %s", xr_error_last()->message);
  double timeout_s = 60;
  long interval_ms = 250;
  if (timeout_text && !cli_parse_seconds(timeout_text, 1e7, &timeout_s))
    return cli_usage_error("drain", drain_usage, "--timeout wants seconds (e.g. 60 or 0.5), not '%s'", timeout_text);
  if (interval_text && !cli_parse_long(interval_text, 1, 3600000L, &interval_ms))
    return cli_usage_error("drain", drain_usage, "--interval wants milliseconds from 1 up, not '%s'", interval_text);
  if (cli_server_url("drain", url_flag, drain_usage, &url) != CLI_OK) return CLI_USAGE;

  /* Every wait ends by the deadline, except that a scan started just before it (the last one, or
   * the only one of --timeout 0) gets SCAN_GRACE_MS to finish. */
  double t0 = cli_monotonic_ms(), deadline = t0 + timeout_s * 1000;
  deadline_io io = {url, NULL, NULL, deadline > t0 + SCAN_GRACE_MS ? deadline : t0 + SCAN_GRACE_MS};
  if (io_open(&io) != 0) return cli_fail("drain");

  xr_lock_list *all = NULL, *next = NULL;
  xr_lock_scan_options scan = XR_LOCK_SCAN_OPTIONS_INIT;
  scan.prefix = prefix;
  scan.exec = exec_by_deadline;
  scan.exec_ctx = &io;
  scan.skipped = cli_lock_scan_skipped;
  size_t *idx = NULL, *uidx = NULL, left = 0, uncertain = 0, last_left = (size_t)-1, last_total = (size_t)-1;
  unsigned others = 0;
  double last_progress = -QUIET_PROGRESS_MS, elapsed = 0;
  bool ok = false, scanned = false, failing = false;
  char secs[32], *error = NULL;
  int status = CLI_FAILED;
  for (;;) {
    double now = cli_monotonic_ms();
    io.deadline = deadline > now + SCAN_GRACE_MS ? deadline : now + SCAN_GRACE_MS;
    int rc = xr_lock_scan(&next, io.c, &scan); /* the client: every master of a Cluster; NULL after a drop: the server exec reopens */
    elapsed = cli_monotonic_ms() - t0;
    if (rc != 0) {
      free(error);
      error = cli_redact(xr_error_last()->message);
      if (!transient(rc)) break;
      if (!failing) fprintf(stderr, "drain: a scan failed, retrying until the deadline: %s\n", error);
      failing = true;
    } else {
      if (failing) fprintf(stderr, "drain: scanning again\n");
      failing = false;
      free(error);
      error = NULL;
      scanned = true;
      xr_lock_list_free(all); /* the last complete scan is what the end reports */
      all = next;
      next = NULL;
      size_t total = xr_lock_list_count(all);
      idx = cli_xrealloc(idx, (total ? total : 1) * sizeof *idx);
      uidx = cli_xrealloc(uidx, (total ? total : 1) * sizeof *uidx);
      left = of_origin(all, origin, idx, uidx, &uncertain, &others);
      if (left == 0) {
        ok = true;
        break;
      }
      if (left != last_left || total != last_total || elapsed - last_progress >= QUIET_PROGRESS_MS) {
        fprintf(stderr, "drain: %zu %s %s left (of %zu %s) after %s s", left, origin_name, cli_plural(left, "lock", "locks"),
                total, cli_plural(total, "lock", "locks"), cli_format_seconds(secs, sizeof secs, elapsed / 1000));
        print_uncertain(stderr, uncertain, others);
        fputc('\n', stderr);
        last_left = left;
        last_total = total;
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
  } else if (!scanned) {
    fprintf(stderr, "crossredis: drain: %s\n", error ? error : "no scan finished");
  } else {
    if (error) fprintf(stderr, "drain: the last scan failed (%s); the one before it found:\n", error);
    fprintf(stderr, "drain: %zu %s %s still held after %s s: ", left, origin_name, cli_plural(left, "lock", "locks"), secs);
    print_threads(stderr, all, idx, left);
    if (uncertain) {
      print_uncertain(stderr, uncertain, others);
      fputs(": ", stderr);
      print_threads(stderr, all, uidx, uncertain);
    }
    fputc('\n', stderr);
  }
  if (json) {
    if (!scanned) left = 0;
    int jrc = print_json(origin_name, ok, all, idx, left, uidx, uncertain, elapsed / 1000, error);
    if (jrc != CLI_OK) status = CLI_FAILED;
  }
  free(error);
  free(idx);
  free(uidx);
  xr_lock_list_free(all);
  io_drop(&io);
  return status;
}
