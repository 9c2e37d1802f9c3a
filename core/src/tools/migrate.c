/* plan, copy and verify of a key family's move to its new shape (crossredis/migrate.h). */
#include <string.h>
#include <time.h>

#include "base/internal.h"
#include "crossredis/migrate.h"
#include "crossredis/window.h"
#include "net/client_internal.h"
#include "tools/window_internal.h"

typedef enum { RUN_PLAN, RUN_COPY, RUN_VERIFY } run_kind;

typedef struct run {
  run_kind kind;
  xr_client *c;
  const xr_family *f;
  xr_migrate_options o;
  xr_migrate_stats *s;
  xr_window *w;     /* copy --apply: its guarded restore and compare-and-delete */
  xr_batch *b;
  int64_t start_ms; /* the rate bound: ops so far against the time since start */
  uint64_t ops;
} run;

void xr_migrate_stats_clear(xr_migrate_stats *s) {
  if (!s) return;
  for (size_t i = 0; i < s->n_examples; i++) xr_free(s->examples[i]);
  memset(s, 0, sizeof *s);
}

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until `ops` more commands keep the run within its rate. */
static int throttle(run *r, size_t ops) {
  r->ops += ops;
  if (r->o.rate <= 0) return XR_OK;
  int64_t due = r->start_ms + (int64_t)(r->ops * 1000 / (uint64_t)r->o.rate);
  int64_t now = mono_ms();
  return due > now ? xr_client_sleep(r->c, due - now) : XR_OK;
}

static int exec_batch(run *r) {
  int rc = throttle(r, xr_batch_count(r->b));
  return rc ? rc : xr_client_exec(r->c, r->b);
}

static void add_example(xr_migrate_stats *s, const char *key, size_t len) {
  if (s->n_examples >= XR_MIGRATE_EXAMPLES) return;
  char *k = xr_strndup(key, len);
  if (!k) return;
  s->examples[s->n_examples] = k;
  s->example_lens[s->n_examples++] = len;
}

static long long int_at(const xr_batch *b, size_t i, int *rc) {
  const xr_reply *rep;
  const char *why;
  int code = xr_batch_result(b, i, &rep, &why);
  if (code) {
    *rc = xr_fail(code, "%s", why ? why : xr_strerror(code));
    return 0;
  }
  return xr_reply_integer(rep);
}

/* Moves one old key: DUMP + PEXPIRETIME at b[at], [at + 1]. */
static int move_one(run *r, const char *old_key, size_t old_len, const char *new_key, size_t new_len, size_t at) {
  const xr_reply *dump;
  const char *why;
  int rc = xr_batch_result(r->b, at, &dump, &why);
  if (rc) return xr_fail(rc, "DUMP of an old key: %s", why ? why : xr_strerror(rc));
  long long pexp = int_at(r->b, at + 1, &rc);
  if (rc) return rc;
  size_t dump_len;
  const char *bytes = xr_reply_str(dump, &dump_len);
  if (!bytes || pexp == -2) {
    r->s->vanished++;
    return XR_OK;
  }
  int restored = 0, deleted = 0;
  if ((rc = throttle(r, 2))) return rc;
  rc = xr_window_restore(r->w, &restored, new_key, new_len, bytes, dump_len, pexp);
  if (!rc) rc = xr_window_delete_if_same(r->w, &deleted, old_key, old_len, bytes, dump_len);
  if (rc) return rc;
  if (restored) r->s->copied++;
  else r->s->kept_newer++;
  if (deleted) r->s->deleted++;
  else {
    r->s->changed++;
    add_example(r->s, old_key, old_len);
  }
  return XR_OK;
}

static int on_page(void *ctx, const char *const *keys, const size_t *lens, size_t n) {
  run *r = ctx;
  xr_migrate_stats *s = r->s;
  int rc = XR_OK;
  s->scanned += n;
  if (r->kind == RUN_VERIFY || n == 0) {
    for (size_t i = 0; i < n; i++) add_example(s, keys[i], lens[i]);
    goto done;
  }
  /* the look: PEXPIRETIME old, EXISTS new */
  char **new_keys = xr_calloc(n, sizeof *new_keys);
  size_t *new_lens = xr_calloc(n, sizeof *new_lens);
  bool *chosen = xr_calloc(n, sizeof *chosen);
  if (!new_keys || !new_lens || !chosen) rc = xr_fail_nomem();
  xr_batch_clear(r->b);
  for (size_t i = 0; !rc && i < n; i++) {
    rc = xr_family_new_key_of(r->f, &new_keys[i], &new_lens[i], keys[i], lens[i]);
    if (rc) break;
    const char *pexp[] = {"PEXPIRETIME", keys[i]}, *ex[] = {"EXISTS", new_keys[i]};
    size_t pl[] = {11, lens[i]}, el[] = {6, new_lens[i]};
    int at = xr_batch_add(r->b, 2, pexp, pl);
    if (at >= 0) at = xr_batch_add(r->b, 2, ex, el);
    if (at < 0) rc = at;
  }
  if (!rc) rc = exec_batch(r);
  for (size_t i = 0; !rc && i < n; i++) {
    long long pexp = int_at(r->b, 2 * i, &rc);
    long long present = rc ? 0 : int_at(r->b, 2 * i + 1, &rc);
    if (rc) break;
    if (pexp == -2) {
      s->vanished++;
      continue;
    }
    if (pexp == -1) s->without_ttl++;
    else {
      s->with_ttl++;
      if (pexp > s->last_expiry_ms) s->last_expiry_ms = pexp;
    }
    if (present) s->new_present++;
    chosen[i] = r->kind == RUN_COPY && (pexp == -1 || r->o.all);
    if (chosen[i]) s->chosen++;
    if (r->kind == RUN_PLAN ? pexp == -1 : !chosen[i]) add_example(s, keys[i], lens[i]);
  }
  /* the move: DUMP + PEXPIRETIME of each chosen key in one pipeline, then one by one */
  if (!rc && r->kind == RUN_COPY && r->o.apply) {
    xr_batch_clear(r->b);
    size_t *at = xr_calloc(n, sizeof *at);
    if (!at) rc = xr_fail_nomem();
    size_t any = 0;
    for (size_t i = 0; !rc && i < n; i++) {
      if (!chosen[i]) continue;
      const char *dump[] = {"DUMP", keys[i]}, *pexp[] = {"PEXPIRETIME", keys[i]};
      size_t dl[] = {4, lens[i]}, pl[] = {11, lens[i]};
      int k = xr_batch_add(r->b, 2, dump, dl);
      if (k >= 0 && xr_batch_add(r->b, 2, pexp, pl) < 0) k = -1;
      if (k < 0) rc = k;
      at[i] = (size_t)k;
      any++;
    }
    if (!rc && any) rc = exec_batch(r);
    for (size_t i = 0; !rc && any && i < n; i++)
      if (chosen[i]) rc = move_one(r, keys[i], lens[i], new_keys[i], new_lens[i], at[i]);
    xr_free(at);
  }
  for (size_t i = 0; new_keys && i < n; i++) xr_free(new_keys[i]);
  xr_free(new_keys);
  xr_free(new_lens);
  xr_free(chosen);
done:
  if (!rc && r->o.progress) r->o.progress(r->o.progress_ctx, s);
  return rc;
}

static int migrate_run(run_kind kind, xr_client *c, const xr_family *f, const xr_migrate_options *opts,
                       xr_migrate_stats *stats) {
  if (stats) memset(stats, 0, sizeof *stats);
  if (!c || !f || !stats) return xr_fail(XR_EINVAL, "migrate: the client, the family and the stats are required");
  run r = {kind, c, f, XR_MIGRATE_OPTIONS_INIT, stats, NULL, NULL, mono_ms(), 0};
  if (opts) {
    if (opts->version < 1 || opts->version > XR_MIGRATE_OPTIONS_VERSION)
      return xr_fail(XR_EINVAL, "migrate: options version %u is not 1..%d", opts->version, XR_MIGRATE_OPTIONS_VERSION);
    r.o = *opts;
  }
  if (r.o.count < 0) return xr_fail(XR_EINVAL, "migrate: count must be >= 0 (0: 1000), got %d", r.o.count);
  if (r.o.rate < 0) return xr_fail(XR_EINVAL, "migrate: rate must be >= 0 (0: no bound), got %lld", (long long)r.o.rate);
  int rc = xr_batch_new(&r.b);
  if (!rc && kind == RUN_COPY && r.o.apply) rc = xr_window_new(&r.w, c, f, NULL);
  if (!rc) rc = xr_family_scan_old(c, f, r.o.count, on_page, &r);
  xr_window_free(r.w);
  xr_batch_free(r.b);
  if (rc && rc != XR_ENOMEM)
    return xr_fail(rc, "migrate %s: %s", xr_family_name(f), xr_error_last()->message);
  return rc;
}

int xr_migrate_plan(xr_client *c, const xr_family *f, const xr_migrate_options *opts, xr_migrate_stats *stats) {
  return migrate_run(RUN_PLAN, c, f, opts, stats);
}

int xr_migrate_copy(xr_client *c, const xr_family *f, const xr_migrate_options *opts, xr_migrate_stats *stats) {
  return migrate_run(RUN_COPY, c, f, opts, stats);
}

int xr_migrate_verify(xr_client *c, const xr_family *f, const xr_migrate_options *opts, xr_migrate_stats *stats) {
  return migrate_run(RUN_VERIFY, c, f, opts, stats);
}
