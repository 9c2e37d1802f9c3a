/* The toolhive session cycle from C (bench/README.md, "session_cycle"): RedisStorage's Store then
 * Load (SPEC.md 2.1), `set thv:proxy:session:<id> <record> ex 7200` then `getex <key> ex 7200`,
 * through crossredis's session store on one TCP connection; bench/sessions/run compares it with the
 * real toolhive v0.66.0 RedisStorage (go-redis) in the same run.
 *
 *   xr-seq  per cycle: xr_session_store (the session as an xr_session), xr_session_load (the record
 *           read back into an xr_session_record); cycle i on session i % 64
 *   xr-c64  per 64 cycles: an xr_session_batch of the 64 stores (session_json: the sessions'
 *           records), exec; then one of the 64 loads, exec: 64 operations in flight on one
 *           pipeline, where Go's go-c64 runs 64 goroutines over go-redis's connection pool
 *
 * The 64 sessions: ids 5e55104e-be4c-4000-8000-<k as 12 hex digits>, type "mcp", fixed times with
 * nanoseconds and three metadata entries (the owner among them), the values of every runtime's
 * side of the benchmark. Every load is checked (id, type, owner); a failed call or check ends the
 * program with status 1.
 *
 * Usage:
 *   session_cycle MODE --url redis://host:port [-n CYCLES] [-w WARMUP]
 *       one mode: WARMUP cycles (default 640), then CYCLES timed (xr-c64: rounded up to a multiple
 *       of 64); prints "MODE CYCLES SECONDS CYCLES_PER_S"
 *   session_cycle worker --url redis://host:port
 *       the store opened once, "ready {versions}"; then per stdin line "MODE N" one run, answered
 *       "MODE CYCLES SECONDS CPU_SECONDS" (bench/sessions/suite.py drives it) */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <crossredis/alloc.h>
#include <crossredis/client.h>
#include <crossredis/crossredis.h>
#include <crossredis/error.h>
#include <crossredis/session.h>

#include "bench_util.h"

enum { NSESSIONS = 64 };

static const char CREATED_AT[] = "2026-12-05T09:00:00.123456789Z";
static const char UPDATED_AT[] = "2026-12-05T09:30:00.987654321Z";
static const char OWNER[] = "user:bench@example.com";

typedef enum mode { XR_SEQ, XR_C64, NMODES } mode;
static const char *const MODE_NAMES[NMODES] = {"xr-seq", "xr-c64"};

typedef struct bench {
  xr_client *client;
  xr_session_storage *st;
  xr_session_batch *batch;
  char ids[NSESSIONS][40];
  size_t id_len[NSESSIONS];
  xr_session_pair meta[3];
  xr_session sessions[NSESSIONS];
  char *records[NSESSIONS]; /* each session's record as toolhive writes it: the batch's session_json */
  size_t record_len[NSESSIONS];
} bench;

static void open_bench(bench *b, const char *url) {
  xr_client_options o = XR_CLIENT_OPTIONS_INIT;
  o.pool_size = 1;
  o.connect_timeout_ms = BENCH_CONNECT_TIMEOUT_MS;
  o.command_timeout_ms = BENCH_COMMAND_TIMEOUT_MS;
  bench_check(xr_client_open_url(&b->client, url, &o), "xr_client_open_url");
  xr_session_options so = XR_SESSION_OPTIONS_INIT; /* RedisStorage's: thv:proxy:session:, 2 h */
  bench_check(xr_session_storage_new(&b->st, b->client, &so), "xr_session_storage_new");
  bench_check(xr_session_batch_new(&b->batch, b->st), "xr_session_batch_new");

  static const char *const keys[3] = {"backend_sid", "backend_url", XR_SESSION_BINDING_KEY};
  static const char *const values[3] = {"mcp-session-7f3a9c2e", "http://127.0.0.1:8080/mcp", OWNER};
  for (size_t i = 0; i < 3; i++)
    b->meta[i] = (xr_session_pair){keys[i], strlen(keys[i]), values[i], strlen(values[i])};
  xr_time created, updated;
  bench_check(xr_time_parse_rfc3339(&created, CREATED_AT, sizeof CREATED_AT - 1), "created_at");
  bench_check(xr_time_parse_rfc3339(&updated, UPDATED_AT, sizeof UPDATED_AT - 1), "updated_at");
  for (size_t k = 0; k < NSESSIONS; k++) {
    b->id_len[k] = (size_t)snprintf(b->ids[k], sizeof b->ids[k], "5e55104e-be4c-4000-8000-%012zx", k);
    b->sessions[k] = (xr_session){.id = b->ids[k], .id_len = b->id_len[k], .type = "mcp", .type_len = 3,
                                  .created_at = created, .updated_at = updated, .metadata = b->meta,
                                  .metadata_count = 3};
    bench_check(xr_session_write(&b->records[k], &b->record_len[k], &b->sessions[k], XR_GO_DEFAULT), "record");
  }
}

static void close_bench(bench *b) {
  for (size_t k = 0; k < NSESSIONS; k++) xr_free(b->records[k]);
  xr_session_batch_free(b->batch);
  xr_session_storage_free(b->st);
  xr_client_close(b->client);
}

static bool span_is(const char *p, size_t n, const char *want) { return n == strlen(want) && memcmp(p, want, n) == 0; }

static void check_record(const xr_session_record *r, const bench *b, size_t k) {
  const xr_session *s = &r->s;
  bool owned = false;
  for (size_t i = 0; i < s->metadata_count; i++)
    if (span_is(s->metadata[i].key, s->metadata[i].key_len, XR_SESSION_BINDING_KEY))
      owned = span_is(s->metadata[i].value, s->metadata[i].value_len, OWNER);
  if (!span_is(s->id, s->id_len, b->ids[k]) || !span_is(s->type, s->type_len, "mcp") || !owned)
    bench_fail("load %s: got id %.*s type %.*s (owner %s)", b->ids[k], (int)s->id_len, s->id, (int)s->type_len,
               s->type, owned ? "as stored" : "not as stored");
}

static void bench_xr_seq(bench *b, long cycles) {
  for (long i = 0; i < cycles; i++) {
    const size_t k = (size_t)i % NSESSIONS;
    xr_session_record r;
    bench_check(xr_session_store(b->st, &b->sessions[k]), "xr_session_store");
    bench_check(xr_session_load(b->st, &r, b->ids[k], b->id_len[k]), "xr_session_load");
    check_record(&r, b, k);
    xr_session_record_clear(&r);
  }
}

static void bench_xr_c64(bench *b, long cycles) {
  for (long done = 0; done < cycles; done += NSESSIONS) {
    xr_session_batch_clear(b->batch);
    for (size_t k = 0; k < NSESSIONS; k++)
      if (xr_session_batch_store(b->batch, b->records[k], b->record_len[k]) < 0) bench_check(-1, "batch store");
    bench_check(xr_session_batch_exec(b->batch), "exec (stores)");
    for (size_t k = 0; k < NSESSIONS; k++) {
      xr_result res;
      bench_check(xr_session_batch_result(b->batch, k, &res), "store");
      xr_result_clear(&res);
    }
    xr_session_batch_clear(b->batch);
    for (size_t k = 0; k < NSESSIONS; k++)
      if (xr_session_batch_load(b->batch, b->ids[k], b->id_len[k]) < 0) bench_check(-1, "batch load");
    bench_check(xr_session_batch_exec(b->batch), "exec (loads)");
    for (size_t k = 0; k < NSESSIONS; k++) {
      xr_result res;
      bench_check(xr_session_batch_result(b->batch, k, &res), "load");
      /* fields: id, type, created_at, updated_at, data, metadata (Go's JSON object text, NUL-terminated), raw */
      const xr_arg *f = res.fields;
      if (!span_is(f[0].data, f[0].len, b->ids[k]) || !span_is(f[1].data, f[1].len, "mcp") ||
          !strstr(f[5].data, OWNER))
        bench_fail("load %s: got id %.*s type %.*s metadata %.*s", b->ids[k], (int)f[0].len, f[0].data,
                   (int)f[1].len, f[1].data, (int)f[5].len, f[5].data);
      xr_result_clear(&res);
    }
  }
}

static long round_cycles(mode m, long cycles) {
  return m == XR_C64 ? (cycles + NSESSIONS - 1) / NSESSIONS * NSESSIONS : cycles;
}

/* Runs the cycles of m; the seconds they took. Apart from the warm-up, so that a profile can
 * collect only the timed runs (valgrind --tool=callgrind --toggle-collect=timed_run). */
static __attribute__((noinline, noclone)) double timed_run(bench *b, mode m, long cycles) {
  double t0 = bench_now_s();
  if (m == XR_SEQ) bench_xr_seq(b, cycles);
  else bench_xr_c64(b, cycles);
  return bench_now_s() - t0;
}

static void usage(void) {
  fputs("usage: session_cycle xr-seq|xr-c64 --url redis://host:port [-n CYCLES] [-w WARMUP]\n"
        "       session_cycle worker --url redis://host:port\n",
        stderr);
  exit(2);
}

static int mode_of(const char *name) {
  for (int k = 0; k < NMODES; k++)
    if (strcmp(name, MODE_NAMES[k]) == 0) return k;
  return -1;
}

static double run_line(void *ctx, const char *name, long *cycles) {
  int m = mode_of(name);
  if (m < 0) bench_fail("worker: unknown mode %s (xr-seq, xr-c64)", name);
  *cycles = round_cycles(m, *cycles);
  return timed_run(ctx, m, *cycles);
}

int main(int argc, char **argv) {
  bench_prog = "session_cycle";
  if (argc < 2) usage();
  const char *what = argv[1], *url = NULL;
  long cycles = 10000, warmup = 640;
  for (int i = 2; i < argc; i += 2) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) usage();
    if (strcmp(a, "--url") == 0) url = v;
    else if (strcmp(a, "-n") == 0) cycles = bench_parse_long(v, 1, usage);
    else if (strcmp(a, "-w") == 0) warmup = bench_parse_long(v, 0, usage);
    else usage();
  }
  int m = mode_of(what);
  if (!url || (m < 0 && strcmp(what, "worker") != 0)) usage();

  bench *b = calloc(1, sizeof *b);
  if (!b) bench_fail("out of memory");
  open_bench(b, url);
  if (m < 0) {
    char versions[128];
    snprintf(versions, sizeof versions, "{\"crossredis\": \"%s\"}", xr_version());
    bench_worker(b, versions, run_line);
  } else {
    cycles = round_cycles(m, cycles);
    if (warmup) timed_run(b, m, round_cycles(m, warmup));
    double s = timed_run(b, m, cycles);
    printf("%s %ld %.6f %.0f\n", MODE_NAMES[m], cycles, s, (double)cycles / s);
  }
  close_bench(b);
  free(b);
  return 0;
}
