/* The lock cycle of the Chat SDK state (SPEC.md 1.2): acquire = SET <prefix>:lock:<id> <token> PX
 * 30000 NX, release = the compare-and-delete script by EVALSHA. crossredis against a raw hiredis
 * loop sending the same two commands, each on one TCP connection:
 *
 *   raw-seq    per cycle: an OpenSSL RAND_bytes token "redis_<ms>_<32 hex>" (the Python port's
 *              shape, made the way C code would), SET, EVALSHA, one round trip each
 *   xr-seq     per cycle: xr_chat_acquire_lock, xr_chat_release_lock (client pool of 1)
 *   raw-batch  per 64 cycles: one pipeline of 64 SETs on 64 ids, then one of the 64 EVALSHAs
 *   xr-batch   per 64 cycles: an xr_chat_batch of 64 acquires, exec, then one of 64 releases with
 *              the tokens the acquires returned, exec
 *
 * (A release needs its acquire's token, so acquire and release of one lock cannot share a
 * pipeline; both batch modes send the same two pipelines.) Every reply is checked: a cycle that
 * did not acquire or did not release ends the program with status 1, so a broken benchmark cannot
 * report a ratio.
 *
 * Usage:
 *   lock_cycle MODE [-n CYCLES] [-w WARMUP] (--url redis://host:port | --host H --port P)
 *       one mode: WARMUP cycles, then CYCLES timed; prints "MODE CYCLES SECONDS OPS_PER_S"
 *   lock_cycle suite [--seq N] [--batch N] [-r REPEATS] [-w WARMUP] [--xr-suffix base36|hex32]
 *                    [--url URL | --host H --port P]
 *       every mode, interleaved (raw, xr, raw, xr, ...; the order flips each repeat), after one
 *       warm-up each (default: one run's worth); defaults 2000 sequential and 12800 batched cycles,
 *       31 repeats; prints per mode "MODE<TAB>CYCLES<TAB>MEDIAN<TAB>MIN<TAB>MAX<TAB>RUNS" (ops/s,
 *       RUNS in repeat order, comma-separated).
 *       Without --url it starts a throwaway redis-server (tests/harness).
 *   lock_cycle serve
 *       starts a throwaway redis-server on a free loopback port, prints its URL, and keeps it
 *       until stdin closes or SIGTERM (for bench/run).
 *
 * The crossredis modes use XR_CHAT_OPTIONS_INIT (the TS adapter's redis_<ms>_<13 base36> token);
 * --xr-suffix hex32 makes them write the raw loop's token shape instead.
 *
 * On a Redis Cluster (--url redis+cluster://host:port,...) the same four modes run with the 64 lock
 * keys spread over the masters by their slots. The raw loop is what C code without a cluster
 * library does (Debian has no hiredis-cluster or libvalkey): the slot map read once with CLUSTER
 * SLOTS, one hiredis context per master (the script loaded on each), each command's slot computed
 * with the core's xr_key_slot and sent to its master's context; a raw batch appends each command to
 * its master's context, writes every context's buffer out, then reads the replies in order. The
 * crossredis modes open the client on the seeds (XR_TOPOLOGY_CLUSTER, one connection per node):
 * its own slot map, routing and per-node pipelines. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>
#include <openssl/rand.h>

#include <crossredis/chat.h>
#include <crossredis/client.h>
#include <crossredis/error.h>
#include <crossredis/keys.h>

#include "bench_util.h"
#include "redis_server.h"

enum { DEPTH = 64, NIDS = 64, TTL_MS = 30000 };
enum { NSLOTS = 16384, MAX_MASTERS = 64 };

/* The release script as the TS adapters send it (tests/vectors/chat-ts-node-redis.monitor.txt). */
static const char RELEASE_SCRIPT[] =
    "\n      if redis.call(\"get\", KEYS[1]) == ARGV[1] then\n        return redis.call(\"del\", KEYS[1])\n"
    "      else\n        return 0\n      end\n    ";
static const char LOCK_PREFIX[] = "chat-sdk:lock:";

typedef enum mode { RAW_SEQ, XR_SEQ, RAW_BATCH, XR_BATCH, NMODES } mode;
static const char *const MODE_NAMES[NMODES] = {"raw-seq", "xr-seq", "raw-batch", "xr-batch"};

typedef struct bench {
  const char *host;
  int port;
  const char *nodes; /* Cluster seeds "host:port,..."; NULL: one server (host, port) */
  xr_token_suffix xr_suffix;
  char ids[NIDS][16]; /* thread ids "bench:<j>" */
  size_t id_len[NIDS];
  /* raw: one context (standalone), or one per master with the slot map (Cluster) */
  redisContext *rc;
  int nmasters;
  redisContext *mc[MAX_MASTERS];
  unsigned char slot_master[NSLOTS]; /* index into mc */
  redisContext *batch_ctx[DEPTH];    /* the context each command of a raw batch went to */
  char sha[41];
  char keys[DEPTH][64];
  size_t key_len[DEPTH];
  char tokens[DEPTH][64];
  size_t token_len[DEPTH];
  /* crossredis */
  xr_client *client;
  xr_chat *chat;
  xr_chat_batch *batch;
  xr_chat_lock locks[DEPTH];
} bench;

/* ---- the raw hiredis loop ------------------------------------------------------------------- */

/* "redis_<Date.now()>_<32 hex>": what the Python port writes (secrets.token_hex(16)), in C. */
static size_t raw_token(char *buf, size_t size) {
  unsigned char rnd[16];
  if (RAND_bytes(rnd, sizeof rnd) != 1) bench_fail("RAND_bytes failed");
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  int n = snprintf(buf, size, "redis_%lld_", (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
  static const char hex[] = "0123456789abcdef";
  for (size_t i = 0; i < sizeof rnd; i++) {
    buf[n++] = hex[rnd[i] >> 4];
    buf[n++] = hex[rnd[i] & 15];
  }
  buf[n] = '\0';
  return (size_t)n;
}

static size_t raw_key(char *buf, const char *id, size_t len) {
  memcpy(buf, LOCK_PREFIX, sizeof LOCK_PREFIX - 1);
  memcpy(buf + sizeof LOCK_PREFIX - 1, id, len);
  buf[sizeof LOCK_PREFIX - 1 + len] = '\0';
  return sizeof LOCK_PREFIX - 1 + len;
}

static void raw_fail(const redisContext *rc, const char *what) {
  bench_fail("%s: %s", what, rc->errstr[0] ? rc->errstr : "no reply");
}

static redisContext *raw_connect(const char *host, int port) {
  redisOptions o = {0};
  struct timeval ct = {BENCH_CONNECT_TIMEOUT_MS / 1000, 0}, cmd = {BENCH_COMMAND_TIMEOUT_MS / 1000, 0};
  REDIS_OPTIONS_SET_TCP(&o, host, port);
  o.connect_timeout = &ct; /* the same timeouts as the crossredis client's defaults */
  o.command_timeout = &cmd;
  redisContext *rc = redisConnectWithOptions(&o);
  if (!rc || rc->err) bench_fail("cannot connect to %s:%d: %s", host, port, rc ? rc->errstr : "?");
  return rc;
}

static void raw_load_script(bench *b, redisContext *rc) {
  redisReply *r = redisCommand(rc, "SCRIPT LOAD %s", RELEASE_SCRIPT);
  if (!r) raw_fail(rc, "SCRIPT LOAD");
  if (r->type != REDIS_REPLY_STRING || r->len != 40) bench_fail("SCRIPT LOAD: unexpected reply");
  memcpy(b->sha, r->str, 41); /* the same SHA on every node */
  freeReplyObject(r);
}

/* Cluster: the slot map from CLUSTER SLOTS of the first seed that answers, one context per master,
 * the script loaded on each. */
static void raw_open_cluster(bench *b) {
  char seeds[1024];
  snprintf(seeds, sizeof seeds, "%s", b->nodes);
  redisReply *slots = NULL;
  for (char *save = NULL, *seed = strtok_r(seeds, ",", &save); seed && !slots; seed = strtok_r(NULL, ",", &save)) {
    char *colon = strrchr(seed, ':');
    if (!colon) bench_fail("--url: seed %s has no port", seed);
    *colon = '\0';
    redisContext *rc = raw_connect(seed, atoi(colon + 1));
    slots = redisCommand(rc, "CLUSTER SLOTS");
    if (slots && slots->type != REDIS_REPLY_ARRAY) bench_fail("CLUSTER SLOTS: unexpected reply");
    redisFree(rc);
  }
  if (!slots) bench_fail("CLUSTER SLOTS: no seed answered");
  char hosts[MAX_MASTERS][64];
  int ports[MAX_MASTERS];
  size_t covered = 0;
  for (size_t i = 0; i < slots->elements; i++) {
    const redisReply *range = slots->element[i];
    if (range->type != REDIS_REPLY_ARRAY || range->elements < 3 || range->element[2]->type != REDIS_REPLY_ARRAY ||
        range->element[2]->elements < 2)
      bench_fail("CLUSTER SLOTS: unexpected range");
    const redisReply *master = range->element[2];
    const char *host = master->element[0]->str;
    int port = (int)master->element[1]->integer;
    int m = 0;
    while (m < b->nmasters && !(ports[m] == port && strcmp(hosts[m], host) == 0)) m++;
    if (m == b->nmasters) {
      if (m == MAX_MASTERS) bench_fail("CLUSTER SLOTS: more than %d masters", MAX_MASTERS);
      snprintf(hosts[m], sizeof hosts[m], "%s", host);
      ports[m] = port;
      b->mc[m] = raw_connect(host, port);
      raw_load_script(b, b->mc[m]);
      b->nmasters++;
    }
    for (long long s = range->element[0]->integer; s <= range->element[1]->integer; s++, covered++)
      b->slot_master[s] = (unsigned char)m;
  }
  freeReplyObject(slots);
  if (covered != NSLOTS) bench_fail("CLUSTER SLOTS: %zu of %d slots served", covered, NSLOTS);
}

static void raw_open(bench *b) {
  if (b->nodes) {
    raw_open_cluster(b);
    return;
  }
  b->rc = raw_connect(b->host, b->port);
  raw_load_script(b, b->rc);
}

/* The context that serves `key`: the one server's, or its slot's master's (xr_key_slot). */
static redisContext *raw_ctx(const bench *b, const char *key, size_t len) {
  return b->nodes ? b->mc[b->slot_master[xr_key_slot(key, len)]] : b->rc;
}

/* Writes every context's output buffer out (a raw batch's pipelines all leave before any reply is
 * read, as crossredis's per-node batches do). */
static void raw_flush(bench *b) {
  redisContext *const *ctx = b->nodes ? b->mc : &b->rc;
  int n = b->nodes ? b->nmasters : 1;
  for (int m = 0; m < n; m++) {
    int done = 0;
    while (!done)
      if (redisBufferWrite(ctx[m], &done) != REDIS_OK) raw_fail(ctx[m], "write");
  }
}

static bool raw_is_ok(const redisReply *r) {
  return r->type == REDIS_REPLY_STATUS && r->len == 2 && memcmp(r->str, "OK", 2) == 0;
}
static bool raw_is_one(const redisReply *r) { return r->type == REDIS_REPLY_INTEGER && r->integer == 1; }

static void raw_append_set(redisContext *rc, const char *key, size_t key_len, const char *token, size_t token_len) {
  const char *argv[6] = {"SET", key, token, "PX", "30000", "NX"};
  const size_t lens[6] = {3, key_len, token_len, 2, 5, 2};
  if (redisAppendCommandArgv(rc, 6, argv, lens) != REDIS_OK) raw_fail(rc, "SET");
}

static void raw_append_release(const bench *b, redisContext *rc, const char *key, size_t key_len, const char *token,
                               size_t token_len) {
  const char *argv[5] = {"EVALSHA", b->sha, "1", key, token};
  const size_t lens[5] = {7, 40, 1, key_len, token_len};
  if (redisAppendCommandArgv(rc, 5, argv, lens) != REDIS_OK) raw_fail(rc, "EVALSHA");
}

static redisReply *raw_reply(redisContext *rc, const char *what) {
  void *r;
  if (redisGetReply(rc, &r) != REDIS_OK || !r) raw_fail(rc, what);
  return r;
}

static void bench_raw_seq(bench *b, long cycles) {
  for (long i = 0; i < cycles; i++) {
    const size_t j = (size_t)i % NIDS;
    char key[64], token[64];
    size_t key_len = raw_key(key, b->ids[j], b->id_len[j]);
    size_t token_len = raw_token(token, sizeof token);
    redisContext *rc = raw_ctx(b, key, key_len);
    const char *set[6] = {"SET", key, token, "PX", "30000", "NX"};
    const size_t set_lens[6] = {3, key_len, token_len, 2, 5, 2};
    redisReply *r = redisCommandArgv(rc, 6, set, set_lens);
    if (!r) raw_fail(rc, "SET");
    bool ok = raw_is_ok(r);
    freeReplyObject(r);
    if (!ok) bench_fail("raw-seq: cycle %ld: %s not acquired", i, key);
    const char *rel[5] = {"EVALSHA", b->sha, "1", key, token};
    const size_t rel_lens[5] = {7, 40, 1, key_len, token_len};
    r = redisCommandArgv(rc, 5, rel, rel_lens);
    if (!r) raw_fail(rc, "EVALSHA");
    ok = raw_is_one(r);
    freeReplyObject(r);
    if (!ok) bench_fail("raw-seq: cycle %ld: %s not released", i, key);
  }
}

static void bench_raw_batch(bench *b, long cycles) {
  for (long done = 0; done < cycles; done += DEPTH) {
    for (size_t j = 0; j < DEPTH; j++) {
      b->key_len[j] = raw_key(b->keys[j], b->ids[j], b->id_len[j]);
      b->token_len[j] = raw_token(b->tokens[j], sizeof b->tokens[j]);
      b->batch_ctx[j] = raw_ctx(b, b->keys[j], b->key_len[j]);
      raw_append_set(b->batch_ctx[j], b->keys[j], b->key_len[j], b->tokens[j], b->token_len[j]);
    }
    raw_flush(b);
    for (size_t j = 0; j < DEPTH; j++) { /* each context's replies come in its commands' order */
      redisReply *r = raw_reply(b->batch_ctx[j], "SET");
      bool ok = raw_is_ok(r);
      freeReplyObject(r);
      if (!ok) bench_fail("raw-batch: %s not acquired", b->keys[j]);
    }
    for (size_t j = 0; j < DEPTH; j++)
      raw_append_release(b, b->batch_ctx[j], b->keys[j], b->key_len[j], b->tokens[j], b->token_len[j]);
    raw_flush(b);
    for (size_t j = 0; j < DEPTH; j++) {
      redisReply *r = raw_reply(b->batch_ctx[j], "EVALSHA");
      bool ok = raw_is_one(r);
      freeReplyObject(r);
      if (!ok) bench_fail("raw-batch: %s not released", b->keys[j]);
    }
  }
}

/* ---- crossredis ------------------------------------------------------------------------------ */

static void xr_open(bench *b) {
  xr_client_options o = XR_CLIENT_OPTIONS_INIT;
  if (b->nodes) {
    o.topology = XR_TOPOLOGY_CLUSTER;
    o.nodes = b->nodes;
  } else {
    o.host = b->host;
    o.port = b->port;
  }
  o.pool_size = 1; /* per node on a Cluster */
  o.connect_timeout_ms = BENCH_CONNECT_TIMEOUT_MS;
  o.command_timeout_ms = BENCH_COMMAND_TIMEOUT_MS;
  bench_check(xr_client_open(&b->client, &o), "xr_client_open");
  xr_chat_options co = XR_CHAT_OPTIONS_INIT;
  co.token_suffix = b->xr_suffix;
  bench_check(xr_chat_new(&b->chat, b->client, &co), "xr_chat_new");
  bench_check(xr_chat_batch_new(&b->batch, b->chat), "xr_chat_batch_new");
}

static void xr_close(bench *b) {
  if (b->batch) xr_chat_batch_free(b->batch);
  if (b->chat) xr_chat_free(b->chat);
  if (b->client) xr_client_close(b->client);
}

static void bench_xr_seq(bench *b, long cycles) {
  for (long i = 0; i < cycles; i++) {
    const size_t j = (size_t)i % NIDS;
    bool acquired = false, released = false;
    xr_chat_lock lock;
    bench_check(xr_chat_acquire_lock(b->chat, &acquired, &lock, b->ids[j], b->id_len[j], TTL_MS), "acquire");
    if (!acquired) bench_fail("xr-seq: cycle %ld: %s not acquired", i, b->ids[j]);
    bench_check(xr_chat_release_lock(b->chat, &released, b->ids[j], b->id_len[j], lock.token, lock.token_len),
             "release");
    if (!released) bench_fail("xr-seq: cycle %ld: %s not released", i, b->ids[j]);
  }
}

static void bench_xr_batch(bench *b, long cycles) {
  for (long done = 0; done < cycles; done += DEPTH) {
    xr_chat_batch_clear(b->batch);
    for (size_t j = 0; j < DEPTH; j++)
      if (xr_chat_batch_acquire_lock(b->batch, b->ids[j], b->id_len[j], TTL_MS) < 0) bench_check(-1, "batch acquire");
    bench_check(xr_chat_batch_exec(b->batch), "exec (acquires)");
    for (size_t j = 0; j < DEPTH; j++) {
      bool acquired = false;
      bench_check(xr_chat_batch_lock(b->batch, j, &acquired, &b->locks[j]), "acquire");
      if (!acquired) bench_fail("xr-batch: %s not acquired", b->ids[j]);
    }
    xr_chat_batch_clear(b->batch);
    for (size_t j = 0; j < DEPTH; j++)
      if (xr_chat_batch_release_lock(b->batch, b->ids[j], b->id_len[j], b->locks[j].token, b->locks[j].token_len) < 0)
        bench_check(-1, "batch release");
    bench_check(xr_chat_batch_exec(b->batch), "exec (releases)");
    for (size_t j = 0; j < DEPTH; j++) {
      bool released = false;
      bench_check(xr_chat_batch_bool(b->batch, j, &released), "release");
      if (!released) bench_fail("xr-batch: %s not released", b->ids[j]);
    }
  }
}


/* ---- running --------------------------------------------------------------------------------- */

static void open_mode(bench *b, mode m) {
  if ((m == RAW_SEQ || m == RAW_BATCH) && !b->rc && !b->nmasters) raw_open(b);
  if ((m == XR_SEQ || m == XR_BATCH) && !b->client) xr_open(b);
}

/* A lock left by an interrupted earlier run would make the first cycles fail for 30 s. */
static void clear_locks(bench *b) {
  if (!b->rc && !b->nmasters) raw_open(b);
  for (size_t j = 0; j < NIDS; j++) {
    char key[64];
    size_t len = raw_key(key, b->ids[j], b->id_len[j]);
    redisContext *rc = raw_ctx(b, key, len);
    redisReply *r = redisCommand(rc, "DEL %s", key);
    if (!r) raw_fail(rc, "DEL");
    freeReplyObject(r);
  }
}

static long round_cycles(mode m, long cycles) {
  return (m == RAW_BATCH || m == XR_BATCH) ? (cycles + DEPTH - 1) / DEPTH * DEPTH : cycles;
}

/* Runs `cycles` cycles of m; returns the seconds they took. */
static double run_mode(bench *b, mode m, long cycles) {
  double t0 = bench_now_s();
  switch (m) {
  case RAW_SEQ: bench_raw_seq(b, cycles); break;
  case XR_SEQ: bench_xr_seq(b, cycles); break;
  case RAW_BATCH: bench_raw_batch(b, cycles); break;
  case XR_BATCH: bench_xr_batch(b, cycles); break;
  default: break;
  }
  return bench_now_s() - t0;
}

/* The measured runs, apart from the warm-ups, so that a profile can collect only them
 * (valgrind --tool=callgrind --toggle-collect=timed_run). */
static __attribute__((noinline, noclone)) double timed_run(bench *b, mode m, long cycles) {
  return run_mode(b, m, cycles);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static volatile sig_atomic_t stop_serving;
static void on_signal(int sig) {
  (void)sig;
  stop_serving = 1;
}

static int serve(void) {
  xrt_server *srv;
  char err[XRT_ERR_SIZE];
  if (xrt_server_start(&srv, NULL, err) != 0) bench_fail("cannot start redis-server: %s", err);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal; /* no SA_RESTART: the read below returns */
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  printf("%s\n", xrt_server_url(srv));
  fflush(stdout);
  while (!stop_serving && getchar() != EOF) {
  }
  xrt_server_free(srv);
  return 0;
}

static void usage(void) {
  fputs("usage: lock_cycle raw-seq|xr-seq|raw-batch|xr-batch [-n CYCLES] [-w WARMUP] [--xr-suffix base36|hex32]\n"
        "                  (--url redis://host:port | --url redis+cluster://host:port,... | --host H --port P)\n"
        "       lock_cycle suite [--seq N] [--batch N] [-r REPEATS] [-w WARMUP] [--xr-suffix base36|hex32]\n"
        "                  [--url redis://host:port | --url redis+cluster://host:port,... | --host H --port P]\n"
        "       lock_cycle serve\n",
        stderr);
  exit(2);
}

int main(int argc, char **argv) {
  bench_prog = "lock_cycle";
  if (argc < 2) usage();
  const char *what = argv[1];
  if (strcmp(what, "serve") == 0) return serve();

  bench *b = calloc(1, sizeof *b);
  if (!b) bench_fail("out of memory");
  b->xr_suffix = XR_TOKEN_BASE36;
  const char *url = NULL;
  long cycles = 10000, seq_cycles = 2000, batch_cycles = 12800, warmup = -1, repeats = 31;
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) usage();
    if (strcmp(a, "--url") == 0) url = v;
    else if (strcmp(a, "--host") == 0) b->host = v;
    else if (strcmp(a, "--port") == 0) b->port = (int)bench_parse_long(v, 1, usage);
    else if (strcmp(a, "-n") == 0) cycles = bench_parse_long(v, 1, usage);
    else if (strcmp(a, "--seq") == 0) seq_cycles = bench_parse_long(v, 1, usage);
    else if (strcmp(a, "--batch") == 0) batch_cycles = bench_parse_long(v, 1, usage);
    else if (strcmp(a, "-w") == 0) warmup = bench_parse_long(v, 0, usage);
    else if (strcmp(a, "-r") == 0) {
      repeats = bench_parse_long(v, 1, usage);
      if (repeats > 64) usage();
    }
    else if (strcmp(a, "--xr-suffix") == 0) {
      if (strcmp(v, "base36") == 0) b->xr_suffix = XR_TOKEN_BASE36;
      else if (strcmp(v, "hex32") == 0) b->xr_suffix = XR_TOKEN_HEX32;
      else usage();
    } else usage();
    i++;
  }
  if (url) {
    xr_url *u;
    bench_check(xr_url_parse(&u, url), "--url");
    if (u->tls || u->unix_path || u->password || u->username || u->db > 0 ||
        (u->topology != XR_TOPOLOGY_STANDALONE && u->topology != XR_TOPOLOGY_CLUSTER))
      bench_fail("--url: only redis://host:port or redis+cluster://host:port,... (plain TCP, no AUTH, db 0)");
    if (u->topology == XR_TOPOLOGY_CLUSTER) {
      b->nodes = strdup(u->nodes); /* the program's lifetime */
      b->host = "cluster";
      b->port = 1;
    } else {
      b->host = strdup(u->host ? u->host : "127.0.0.1"); /* the program's lifetime */
      b->port = u->port > 0 ? u->port : 6379;
    }
    xr_url_free(u);
  }
  for (size_t j = 0; j < NIDS; j++) {
    int n = snprintf(b->ids[j], sizeof b->ids[j], "bench:%zu", j);
    b->id_len[j] = (size_t)n;
  }

  int m = -1;
  for (int k = 0; k < NMODES; k++)
    if (strcmp(what, MODE_NAMES[k]) == 0) m = k;

  if (m >= 0) { /* one mode */
    if (!b->host || !b->port) usage();
    cycles = round_cycles(m, cycles);
    if (warmup < 0) warmup = 100;
    warmup = round_cycles(m, warmup);
    clear_locks(b);
    open_mode(b, m);
    if (warmup) run_mode(b, m, warmup);
    double s = timed_run(b, m, cycles);
    printf("%s %ld %.6f %.0f\n", MODE_NAMES[m], cycles, s, (double)cycles / s);
    return 0;
  }
  if (strcmp(what, "suite") != 0) usage();

  xrt_server *srv = NULL;
  if (!b->host) {
    char err[XRT_ERR_SIZE];
    if (xrt_server_start(&srv, NULL, err) != 0) bench_fail("cannot start redis-server: %s", err);
    b->host = xrt_server_host(srv);
    b->port = xrt_server_port(srv);
  } else if (!b->port) {
    usage();
  }
  double *runs = calloc((size_t)NMODES * (size_t)repeats, sizeof *runs);
  if (!runs) bench_fail("out of memory");
  long n[NMODES];
  clear_locks(b);
  for (int k = 0; k < NMODES; k++) {
    n[k] = round_cycles(k, k == RAW_SEQ || k == XR_SEQ ? seq_cycles : batch_cycles);
    open_mode(b, k);
    run_mode(b, k, round_cycles(k, warmup >= 0 ? warmup : n[k]));
  }
  /* Interleaved, the order flipping each repeat, so that drift and other load on the machine fall
   * on both sides alike; bench/run compares the runs of one repeat pairwise. */
  static const mode order[2][NMODES] = {{RAW_SEQ, XR_SEQ, RAW_BATCH, XR_BATCH}, {XR_SEQ, RAW_SEQ, XR_BATCH, RAW_BATCH}};
  for (long r = 0; r < repeats; r++)
    for (int k = 0; k < NMODES; k++) {
      mode md = order[r % 2][k];
      runs[md * repeats + r] = (double)n[md] / timed_run(b, md, n[md]);
    }
  for (int k = 0; k < NMODES; k++) {
    double *x = runs + k * repeats;
    printf("%s\t%ld\t", MODE_NAMES[k], n[k]);
    double sorted[64];
    long nr = repeats;
    memcpy(sorted, x, (size_t)nr * sizeof *x);
    qsort(sorted, (size_t)nr, sizeof *sorted, cmp_double);
    double median = nr % 2 ? sorted[nr / 2] : (sorted[nr / 2 - 1] + sorted[nr / 2]) / 2;
    printf("%.0f\t%.0f\t%.0f\t", median, sorted[0], sorted[nr - 1]);
    for (long r = 0; r < repeats; r++) printf("%s%.0f", r ? "," : "", x[r]);
    printf("\n");
  }
  free(runs);
  xr_close(b);
  if (b->rc) redisFree(b->rc);
  for (int k = 0; k < b->nmasters; k++) redisFree(b->mc[k]);
  xrt_server_free(srv);
  free(b);
  return 0;
}
