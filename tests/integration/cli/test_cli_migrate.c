/* crossredis migrate plan|copy|verify against a real server, and the load test of a migration
 * window: writers and readers through a window while `crossredis migrate copy` runs and the old
 * shape's keys with a TTL expire, on a standalone server and on the Cluster (where a member's old
 * and new keys live on different slots). MPP's hard cut-over is reproduced first on the same data
 * (a new-shape-only reader misses every live old key, a new-shape-only writer starts a value from
 * nothing, the old keys without TTL are orphaned), then the window and the command show none of it.
 * Also: the dry run writes nothing, reruns resume, bad family files and command lines. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "itest.h"
#include "clitest.h"
#include "crossredis/family.h"
#include "crossredis/window.h"
#include "topology.h"

static xrt_server *server;
static xr_client *chk; /* the standalone server's */
static char standalone_url[128];
static char dir[64];

static int group_setup(void **state) {
  (void)state;
  snprintf(dir, sizeof dir, "/tmp/xr-migrate-XXXXXX");
  if (!mkdtemp(dir)) return -1;
  return clitest_open_checker(&server, &chk, standalone_url, sizeof standalone_url);
}

static int group_teardown(void **state) {
  (void)state;
  itest_close_with_checker(server, chk);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  return system(cmd) == 0 ? 0 : -1;
}

/* Writes a family file for old "<prefix>:sess:<id:segment>" -> new "<prefix>:sess:{s:<id:segment>}"
 * into path. */
static void write_family(char *path, size_t size, const char *prefix) {
  snprintf(path, size, "%s/%s.json", dir, prefix);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fprintf(f,
          "{\"families\": [{\"name\": \"sessions\", \"old\": \"%s:sess:<id:segment>\",\n"
          " \"new\": \"%s:sess:{s:<id:segment>}\", \"notes\": \"test\"}]}\n",
          prefix, prefix);
  fclose(f);
}

static xr_family *family_of(const char *prefix) {
  char old_p[128], new_p[128];
  snprintf(old_p, sizeof old_p, "%s:sess:<id:segment>", prefix);
  snprintf(new_p, sizeof new_p, "%s:sess:{s:<id:segment>}", prefix);
  xr_family *f = NULL;
  XR_OK(xr_family_new(&f, "sessions", old_p, strlen(old_p), new_p, strlen(new_p)));
  return f;
}

static long long int_cmd(xr_client *c, const char *cmd, const char *key) {
  xr_reply *r = NULL;
  XR_OK(itest_cmd(c, &r, cmd, key, NULL));
  long long v = xr_reply_integer(r);
  xr_reply_free(r);
  return v;
}

static long long json_int(const char *text, const char *name) {
  json_error_t e;
  json_t *root = json_loads(text, 0, &e);
  if (!root) fail_msg("not JSON (%s): %s", e.text, text);
  long long v = json_integer_value(json_object_get(root, name));
  json_decref(root);
  return v;
}

/* ---- the command's output ------------------------------------------------------------------------ */

static void test_plan_copy_verify(void **state) {
  (void)state;
  XR_OK(itest_cmd(chk, NULL, "FLUSHALL", NULL));
  char fam[128];
  write_family(fam, sizeof fam, "pcv");
  for (int i = 0; i < 5; i++) {
    char k[64];
    snprintf(k, sizeof k, "pcv:sess:t%d", i);
    XR_OK(itest_cmd(chk, NULL, "SET", k, "v", "PX", "600000", NULL));
    snprintf(k, sizeof k, "pcv:sess:n%d", i);
    XR_OK(itest_cmd(chk, NULL, "RPUSH", k, "a", "b", NULL));
  }
  XR_OK(itest_cmd(chk, NULL, "RPUSH", "pcv:sess:{s:n0}", "newer", NULL)); /* n0 moved already, and written since */
  XR_OK(itest_cmd(chk, NULL, "SET", "pcv:sess:x:y", "not the shape", NULL));
  clitest_result r;
  clitest_run(&r, NULL, "migrate", "plan", "--family", fam, "--url", standalone_url, NULL);
  CLITEST_STATUS(&r, 0);
  CLITEST_HAS(&r, out, "family sessions: pcv:sess:<id:segment> -> pcv:sess:{s:<id:segment>}");
  CLITEST_HAS(&r, out, "old-shape keys              10");
  CLITEST_HAS(&r, out, "with a TTL                 5   the last expires 20");
  CLITEST_HAS(&r, out, "without a TTL              5   never expire");
  CLITEST_HAS(&r, out, "new key already there        1");
  CLITEST_HAS(&r, out, "  pcv:sess:n");
  clitest_result_free(&r);
  /* the dry run writes nothing */
  clitest_run(&r, NULL, "migrate", "copy", "--family", fam, "--url", standalone_url, NULL);
  CLITEST_STATUS(&r, 0);
  CLITEST_HAS(&r, out, "dry run (add --apply to write): would move 5 keys (those without a TTL)");
  clitest_result_free(&r);
  assert_int_equal(int_cmd(chk, "EXISTS", "pcv:sess:{s:n1}"), 0);
  assert_int_equal(int_cmd(chk, "EXISTS", "pcv:sess:n1"), 1);
  /* verify: keys left -> 1 */
  clitest_run(&r, NULL, "migrate", "verify", "--family", fam, "--url", standalone_url, NULL);
  CLITEST_STATUS(&r, 1);
  CLITEST_HAS(&r, out, "10 old-shape keys left");
  clitest_result_free(&r);
  /* copy --apply: the keys without a TTL; n0's new key is newer and stays */
  clitest_run(&r, NULL, "migrate", "copy", "--family", fam, "--url", standalone_url, "--apply", "--json", NULL);
  CLITEST_STATUS(&r, 0);
  assert_int_equal(json_int(r.out, "chosen"), 5);
  assert_int_equal(json_int(r.out, "copied"), 4);
  assert_int_equal(json_int(r.out, "kept_newer"), 1);
  assert_int_equal(json_int(r.out, "deleted"), 5);
  assert_int_equal(json_int(r.out, "changed"), 0);
  clitest_result_free(&r);
  assert_int_equal(int_cmd(chk, "EXISTS", "pcv:sess:n1"), 0);
  assert_int_equal(int_cmd(chk, "LLEN", "pcv:sess:{s:n1}"), 2);
  assert_int_equal(int_cmd(chk, "PTTL", "pcv:sess:{s:n1}"), -1);
  assert_int_equal(int_cmd(chk, "LLEN", "pcv:sess:{s:n0}"), 1); /* never overwritten */
  /* a rerun resumes: nothing without a TTL is left */
  clitest_run(&r, NULL, "migrate", "copy", "--family", fam, "--url", standalone_url, "--apply", NULL);
  CLITEST_STATUS(&r, 0);
  CLITEST_HAS(&r, out, "without a TTL              0");
  CLITEST_HAS(&r, out, "copied                  0");
  CLITEST_HAS(&r, out, "5 old-shape keys left (with a TTL: they expire)");
  clitest_result_free(&r);
  /* --all moves the rest with their expiry */
  long long expiry = int_cmd(chk, "PEXPIRETIME", "pcv:sess:t3");
  clitest_run(&r, NULL, "migrate", "copy", "--family", fam, "--url", standalone_url, "--apply", "--all", NULL);
  CLITEST_STATUS(&r, 0);
  CLITEST_HAS(&r, out, "copied                  5");
  CLITEST_HAS(&r, out, "every old-shape key seen was moved");
  clitest_result_free(&r);
  assert_int_equal(int_cmd(chk, "PEXPIRETIME", "pcv:sess:{s:t3}"), expiry);
  clitest_run(&r, NULL, "migrate", "verify", "--family", fam, "--url", standalone_url, NULL);
  CLITEST_STATUS(&r, 0);
  CLITEST_HAS(&r, out, "no old-shape key left: the window may close");
  clitest_result_free(&r);
  itest_assert_get(chk, "pcv:sess:x:y", "not the shape");
}

static void test_bad_input(void **state) {
  (void)state;
  char path[128];
  snprintf(path, sizeof path, "%s/collide.json", dir);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs("{\"name\": \"counts\", \"old\": \"count:<n>\", \"new\": \"count:<n:number>\"}", f);
  fclose(f);
  clitest_result r;
  clitest_run(&r, NULL, "migrate", "plan", "--family", path, "--url", standalone_url, NULL);
  CLITEST_STATUS(&r, 2);
  CLITEST_HAS(&r, err, "family counts: the old and new shapes collide: key 'count:");
  clitest_result_free(&r);
  snprintf(path, sizeof path, "%s/bad.json", dir);
  f = fopen(path, "w");
  assert_non_null(f);
  fputs("{\"families\": [{\"name\": \"a\", \"old\": \"a:<id\", \"new\": \"b:<id>\"}]}", f);
  fclose(f);
  clitest_run(&r, NULL, "migrate", "plan", "--family", path, "--url", standalone_url, NULL);
  CLITEST_STATUS(&r, 2);
  CLITEST_HAS(&r, err, "families[0]: family a: the old shape");
  clitest_result_free(&r);
  clitest_run(&r, NULL, "migrate", "plan", "--family", "/nonexistent.json", "--url", standalone_url, NULL);
  CLITEST_STATUS(&r, 2);
  CLITEST_HAS(&r, err, "cannot read the family file /nonexistent.json");
  clitest_result_free(&r);
  clitest_run(&r, NULL, "migrate", "--family", path, NULL);
  CLITEST_STATUS(&r, 2);
  CLITEST_HAS(&r, err, "say plan, copy or verify");
  clitest_result_free(&r);
  clitest_run(&r, NULL, "migrate", "plan", "--apply", "--family", path, NULL);
  CLITEST_STATUS(&r, 2);
  CLITEST_HAS(&r, err, "--apply and --all are for copy, not plan");
  clitest_result_free(&r);
  clitest_run(&r, NULL, "migrate", "copy", "--rate", "-3", "--family", path, NULL);
  CLITEST_STATUS(&r, 2);
  CLITEST_HAS(&r, err, "--rate wants a whole number from 0 up");
  clitest_result_free(&r);
}

/* --rate bounds the Redis commands per second: a lower bound on the time, not a speed test. */
static void test_rate(void **state) {
  (void)state;
  XR_OK(itest_cmd(chk, NULL, "FLUSHALL", NULL));
  char fam[128];
  write_family(fam, sizeof fam, "rate");
  for (int i = 0; i < 100; i++) {
    char k[64];
    snprintf(k, sizeof k, "rate:sess:k%d", i);
    XR_OK(itest_cmd(chk, NULL, "SET", k, "v", NULL));
  }
  clitest_result r;
  long long t0 = itest_now_ms();
  clitest_run(&r, NULL, "migrate", "plan", "--family", fam, "--url", standalone_url, "--rate", "400", NULL);
  long long took = itest_now_ms() - t0;
  CLITEST_STATUS(&r, 0);
  CLITEST_HAS(&r, out, "without a TTL            100");
  clitest_result_free(&r);
  /* 100 keys: a SCAN, then PEXPIRETIME + EXISTS each: 201 commands at 400/s */
  if (took < 450) fail_msg("plan of 100 keys at 400 commands/s took %lld ms, less than 500 ms", took);
  /* copy: 6 commands per key (look, DUMP + PEXPIRETIME, RESTORE, compare-and-delete) */
  t0 = itest_now_ms();
  clitest_run(&r, NULL, "migrate", "copy", "--apply", "--family", fam, "--url", standalone_url, "--rate", "1000", NULL);
  took = itest_now_ms() - t0;
  CLITEST_STATUS(&r, 0);
  CLITEST_HAS(&r, out, "copied                  100");
  clitest_result_free(&r);
  if (took < 550) fail_msg("copy of 100 keys at 1000 commands/s took %lld ms, less than 600 ms", took);
}

/* ---- the load test ------------------------------------------------------------------------------- */

enum { MEMBERS = 240, WRITERS = 2, READERS = 3, TTL_MIN_MS = 1500 };

typedef struct load {
  xr_client *c;      /* the code under test's client */
  xr_client *chk;    /* the checker's */
  const char *prefix;
  char ids[MEMBERS][16];
  long long expires_at[MEMBERS]; /* wall ms; 0: no TTL */
  int acked[MEMBERS];            /* writes acknowledged per member (no-TTL members only) */
  pthread_mutex_t mu;
  volatile int stop;
  long long reads, misses, writes;
  char first_miss[160];
  int failed;
  char failure[256];
  xr_window *w_copy, *w_plain; /* readers with and without copy_forward; writers use w_copy */
} load;

static const char *key_of(const load *l, char *buf, size_t size, int member, int new_shape) {
  if (new_shape) snprintf(buf, size, "%s:sess:{s:%s}", l->prefix, l->ids[member]);
  else snprintf(buf, size, "%s:sess:%s", l->prefix, l->ids[member]);
  return buf;
}

/* Old-shape data: every member a list ["init"], every other one without a TTL, the rest expiring
 * 1.5 to 4 s from now (during the run). */
static void populate(load *l) {
  long long now = itest_wall_ms();
  for (int i = 0; i < MEMBERS; i++) {
    snprintf(l->ids[i], sizeof l->ids[i], "m%03d", i);
    char k[128];
    key_of(l, k, sizeof k, i, 0);
    XR_OK(itest_cmd(l->chk, NULL, "RPUSH", k, "init", NULL));
    l->acked[i] = 0;
    l->expires_at[i] = 0;
    if (i % 2) {
      long long ttl = TTL_MIN_MS + (i * 2500LL) / MEMBERS;
      char t[24];
      snprintf(t, sizeof t, "%lld", ttl);
      XR_OK(itest_cmd(l->chk, NULL, "PEXPIRE", k, t, NULL));
      l->expires_at[i] = now + ttl;
    }
  }
}

static void load_fail(load *l, const char *fmt, ...) {
  pthread_mutex_lock(&l->mu);
  if (!l->failed) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->failure, sizeof l->failure, fmt, ap);
    va_end(ap);
    l->failed = 1;
  }
  l->stop = 1;
  pthread_mutex_unlock(&l->mu);
}

static void *writer(void *arg) {
  load *l = arg;
  unsigned seed = (unsigned)(uintptr_t)pthread_self();
  while (!l->stop) {
    int m = (int)(rand_r(&seed) % MEMBERS) & ~3; /* a quarter of the members: no TTL, every 4th */
    xr_key_span v = {l->ids[m], strlen(l->ids[m])};
    const char *push[] = {"RPUSH", "w"};
    int rc = xr_window_write(l->w_copy, NULL, &v, 1, 2, push, NULL);
    pthread_mutex_lock(&l->mu); /* each acknowledged RPUSH is one more element, concurrent or not */
    if (!rc) l->acked[m]++, l->writes++;
    pthread_mutex_unlock(&l->mu);
    if (rc) load_fail(l, "write %s: %s", l->ids[m], xr_error_last()->message);
  }
  return NULL;
}

static void *reader(void *arg) {
  load *l = arg;
  unsigned seed = (unsigned)(uintptr_t)pthread_self() ^ 0x5bd1e995u;
  int n = 0;
  while (!l->stop) {
    /* readers that copy forward read the first half of the members; the others read any: the
     * second half's members without a TTL that no writer touches move by `migrate copy` alone */
    int copying = n++ % 2;
    int m = (int)(rand_r(&seed) % (copying ? MEMBERS / 2 : MEMBERS));
    xr_key_span v = {l->ids[m], strlen(l->ids[m])};
    const char *lrange[] = {"LRANGE", "0", "-1"};
    long long before = itest_wall_ms();
    xr_reply *r = NULL;
    int rc = xr_window_read(copying ? l->w_copy : l->w_plain, &r, &v, 1, 3, lrange, NULL);
    if (rc) {
      load_fail(l, "read %s: %s", l->ids[m], xr_error_last()->message);
      break;
    }
    /* a value that surely existed during the whole read: no TTL, or one ending well after it (a
     * read under valgrind, scripts/test's XR_TEST_VALGRIND, may take much longer) */
    int must_exist = !l->expires_at[m] || l->expires_at[m] > before + (getenv("XR_TEST_VALGRIND") ? 5000 : 1000);
    pthread_mutex_lock(&l->mu);
    l->reads++;
    if (must_exist && xr_reply_count(r) == 0) {
      if (!l->misses) snprintf(l->first_miss, sizeof l->first_miss, "%s", l->ids[m]);
      l->misses++;
    }
    pthread_mutex_unlock(&l->mu);
    xr_reply_free(r);
  }
  return NULL;
}

/* Old-shape keys now, and how many of them have no TTL. */
static long long old_keys_left(load *l, long long *without_ttl) {
  *without_ttl = 0;
  long long n = 0;
  for (int i = 0; i < MEMBERS; i++) {
    char k[128];
    key_of(l, k, sizeof k, i, 0);
    long long pttl = int_cmd(l->chk, "PTTL", k);
    if (pttl == -2) continue;
    n++;
    if (pttl == -1) (*without_ttl)++;
  }
  return n;
}

static void wait_for_expiry(const load *l) {
  long long last = 0;
  for (int i = 0; i < MEMBERS; i++)
    if (l->expires_at[i] > last) last = l->expires_at[i];
  long long wait = last + 300 - itest_wall_ms();
  if (wait > 0) usleep((useconds_t)wait * 1000);
}

/* MPP's hard cut-over: the code switches to the new shape in one go. */
static void hard_cut_over(load *l) {
  populate(l);
  long long misses = 0, orphans = 0;
  for (int i = 0; i < MEMBERS; i += 1) {
    char k[128];
    xr_reply *r = NULL;
    XR_OK(itest_cmd(l->c, &r, "LRANGE", key_of(l, k, sizeof k, i, 1), "0", "-1", NULL));
    misses += xr_reply_count(r) == 0;
    xr_reply_free(r);
  }
  /* a write to the new shape alone starts the value from nothing */
  char k[128];
  XR_OK(itest_cmd(l->c, NULL, "RPUSH", key_of(l, k, sizeof k, 0, 1), "w", NULL));
  long long len_after_write = int_cmd(l->chk, "LLEN", k);
  wait_for_expiry(l);
  old_keys_left(l, &orphans);
  print_message("hard cut-over: %lld of %d reads missed a live value, a write left a list of %lld (of 2), "
                "%lld old keys without TTL orphaned\n",
                misses, MEMBERS, len_after_write, orphans);
  assert_int_equal(misses, MEMBERS);
  assert_int_equal(len_after_write, 1);
  assert_int_equal(orphans, MEMBERS / 2);
  /* clean up for the window's run */
  for (int i = 0; i < MEMBERS; i++) {
    XR_OK(itest_cmd(l->chk, NULL, "DEL", key_of(l, k, sizeof k, i, 0), NULL));
    XR_OK(itest_cmd(l->chk, NULL, "DEL", key_of(l, k, sizeof k, i, 1), NULL));
  }
}

static void run_load(const char *url, xr_client *c, xr_client *checker, const char *prefix) {
  load *l = calloc(1, sizeof *l);
  assert_non_null(l);
  l->c = c;
  l->chk = checker;
  l->prefix = prefix;
  pthread_mutex_init(&l->mu, NULL);
  hard_cut_over(l);

  /* the window */
  xr_family *f = family_of(prefix);
  xr_window_options o = XR_WINDOW_OPTIONS_INIT;
  o.copy_forward = 1;
  XR_OK(xr_window_new(&l->w_copy, c, f, &o));
  o.copy_forward = 0;
  XR_OK(xr_window_new(&l->w_plain, c, f, &o));
  populate(l);
  char fam[128];
  write_family(fam, sizeof fam, prefix);
  pthread_t w[WRITERS], r[READERS];
  for (int i = 0; i < WRITERS; i++) assert_int_equal(pthread_create(&w[i], NULL, writer, l), 0);
  for (int i = 0; i < READERS; i++) assert_int_equal(pthread_create(&r[i], NULL, reader, l), 0);
  /* migrate copy while they run, slow enough to overlap them (and the expiries) */
  clitest_result res;
  long long t0 = itest_now_ms();
  clitest_run(&res, NULL, "migrate", "copy", "--family", fam, "--url", url, "--apply", "--rate", "400", "--count", "20",
              "--json", NULL);
  long long copy_ms = itest_now_ms() - t0;
  CLITEST_STATUS(&res, 0);
  long long copied = json_int(res.out, "copied"), changed = json_int(res.out, "changed");
  long long kept = json_int(res.out, "kept_newer");
  clitest_result_free(&res);
  wait_for_expiry(l); /* the old shape's keys with a TTL are gone by now, under load */
  l->stop = 1;
  for (int i = 0; i < WRITERS; i++) pthread_join(w[i], NULL);
  for (int i = 0; i < READERS; i++) pthread_join(r[i], NULL);
  if (l->failed) fail_msg("%s", l->failure);
  /* a rerun finishes what was written while the first one ran */
  clitest_run(&res, NULL, "migrate", "copy", "--family", fam, "--url", url, "--apply", "--json", NULL);
  CLITEST_STATUS(&res, 0);
  long long rerun_deleted = json_int(res.out, "deleted");
  assert_int_equal(json_int(res.out, "changed"), 0);
  clitest_result_free(&res);
  clitest_run(&res, NULL, "migrate", "verify", "--family", fam, "--url", url, NULL);
  CLITEST_STATUS(&res, 0);
  CLITEST_HAS(&res, out, "no old-shape key left");
  clitest_result_free(&res);
  size_t remaining = 99;
  XR_OK(xr_window_close(l->w_copy, &remaining));
  assert_int_equal(remaining, 0);
  long long orphans = 0;
  assert_int_equal(old_keys_left(l, &orphans), 0);
  /* every member without a TTL is in the new shape whole: "init" plus every acknowledged write */
  long long lost = 0;
  for (int i = 0; i < MEMBERS; i += 2) {
    char k[128];
    long long len = int_cmd(l->chk, "LLEN", key_of(l, k, sizeof k, i, 1));
    if (len != 1 + l->acked[i]) {
      if (!lost) print_message("member %s: %lld elements, expected %d\n", l->ids[i], len, 1 + l->acked[i]);
      lost++;
    }
  }
  print_message("window: %lld reads (%lld missed a live value), %lld writes (%lld members short), copy %lld ms: "
                "%lld copied, %lld newer kept, %lld changed meanwhile (%lld deleted by the rerun); "
                "%lld old-shape keys left, %lld without TTL\n",
                l->reads, l->misses, l->writes, lost, copy_ms, copied, kept, changed, rerun_deleted,
                old_keys_left(l, &orphans), orphans);
  if (l->misses) fail_msg("%lld reads missed a live value (first: %s)", l->misses, l->first_miss);
  assert_int_equal(lost, 0);
  assert_true(l->reads > 100);
  assert_true(l->writes > 100);
  assert_true(copy_ms > 1000); /* it did overlap the load */
  assert_true(copied > 0);     /* members only the command moved */
  assert_true(kept > 0);       /* members a window had copied forward first */
  xr_window_free(l->w_copy);
  xr_window_free(l->w_plain);
  xr_family_free(f);
  pthread_mutex_destroy(&l->mu);
  free(l);
}

static void test_load_standalone(void **state) {
  (void)state;
  XR_OK(itest_cmd(chk, NULL, "FLUSHALL", NULL));
  xr_client *c = NULL;
  XR_OK(xr_client_open_url(&c, standalone_url, NULL));
  run_load(standalone_url, c, chk, "load");
  xr_client_close(c);
}

static void test_load_cluster(void **state) {
  (void)state;
  xrt_topology *t = NULL;
  xr_client *c = NULL, *cchk = NULL;
  char url[512];
  CLITEST_CLUSTER(t, c, url);
  XR_OK(xr_client_open_url(&cchk, url, NULL));
  char prefix[48];
  snprintf(prefix, sizeof prefix, "xrt-%ld-load", (long)getpid());
  run_load(url, c, cchk, prefix);
  xr_client_close(cchk);
  xr_client_close(c);
  xrt_topology_free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_plan_copy_verify),
      cmocka_unit_test(test_bad_input),
      cmocka_unit_test(test_rate),
      cmocka_unit_test(test_load_standalone),
      cmocka_unit_test(test_load_cluster),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
