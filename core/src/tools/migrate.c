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
  xr_batch *b;      /* the look, and the DUMPs */
  xr_batch *b2;     /* the scripts, built from b's replies */
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

/* One page's keys and what the run learns of each. */
typedef struct page {
  const char *const *keys;
  const size_t *lens;
  size_t n;
  char **new_keys;
  size_t *new_lens;
  bool *chosen;   /* to move */
  int *at;        /* the key's operation in the batch at hand; -1: none */
  const char **dump;
  size_t *dump_lens;
  long long *pexp;
} page;

static void page_free(page *p) {
  for (size_t i = 0; p->new_keys && i < p->n; i++) xr_free(p->new_keys[i]);
  xr_free(p->new_keys);
  xr_free(p->new_lens);
  xr_free(p->chosen);
  xr_free(p->at);
  xr_free(p->dump);
  xr_free(p->dump_lens);
  xr_free(p->pexp);
}

static int page_init(page *p, const char *const *keys, const size_t *lens, size_t n) {
  memset(p, 0, sizeof *p);
  p->keys = keys;
  p->lens = lens;
  p->n = n;
  p->new_keys = xr_calloc(n, sizeof *p->new_keys);
  p->new_lens = xr_calloc(n, sizeof *p->new_lens);
  p->chosen = xr_calloc(n, sizeof *p->chosen);
  p->at = xr_calloc(n, sizeof *p->at);
  p->dump = xr_calloc(n, sizeof *p->dump);
  p->dump_lens = xr_calloc(n, sizeof *p->dump_lens);
  p->pexp = xr_calloc(n, sizeof *p->pexp);
  if (!p->new_keys || !p->new_lens || !p->chosen || !p->at || !p->dump || !p->dump_lens || !p->pexp)
    return xr_fail_nomem();
  return XR_OK;
}

/* The look: PEXPIRETIME of each old key and EXISTS of its new key, in one pipeline. */
static int look(run *r, page *p) {
  xr_migrate_stats *s = r->s;
  int rc = XR_OK;
  xr_batch_clear(r->b);
  for (size_t i = 0; !rc && i < p->n; i++) {
    rc = xr_family_new_key_of(r->f, &p->new_keys[i], &p->new_lens[i], p->keys[i], p->lens[i]);
    if (rc) break;
    const char *pexp[] = {"PEXPIRETIME", p->keys[i]}, *ex[] = {"EXISTS", p->new_keys[i]};
    size_t pl[] = {11, p->lens[i]}, el[] = {6, p->new_lens[i]};
    int at = xr_batch_add(r->b, 2, pexp, pl);
    if (at >= 0) at = xr_batch_add(r->b, 2, ex, el);
    if (at < 0) rc = at;
  }
  if (!rc) rc = exec_batch(r);
  for (size_t i = 0; !rc && i < p->n; i++) {
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
    p->chosen[i] = r->kind == RUN_COPY && (pexp == -1 || r->o.all);
    if (p->chosen[i]) s->chosen++;
    if (r->kind == RUN_PLAN ? pexp == -1 : !p->chosen[i]) add_example(s, p->keys[i], p->lens[i]);
  }
  return rc;
}

/* Runs r->b2 as built, each chosen key's result (0 or 1) into *flags (NULL: just checked). */
static int run_scripts(run *r, page *p, bool *flags) {
  int rc = XR_OK;
  size_t any = 0;
  for (size_t i = 0; i < p->n; i++) any += p->at[i] >= 0;
  if (any) rc = throttle(r, any);
  if (!rc && any) rc = xr_client_exec(r->c, r->b2);
  for (size_t i = 0; !rc && i < p->n; i++)
    if (p->at[i] >= 0) {
      long long v = int_at(r->b2, (size_t)p->at[i], &rc);
      if (flags) flags[i] = v == 1;
    }
  return rc;
}

/* The move: DUMP + PEXPIRETIME of the chosen keys in one pipeline, the guarded RESTOREs in a
 * second, the compare-and-deletes of the old keys in a third. */
static int move(run *r, page *p) {
  xr_migrate_stats *s = r->s;
  int rc = XR_OK;
  xr_batch_clear(r->b);
  for (size_t i = 0; !rc && i < p->n; i++) {
    p->at[i] = -1;
    if (!p->chosen[i]) continue;
    const char *dump[] = {"DUMP", p->keys[i]}, *pexp[] = {"PEXPIRETIME", p->keys[i]};
    size_t dl[] = {4, p->lens[i]}, pl[] = {11, p->lens[i]};
    int k = xr_batch_add(r->b, 2, dump, dl);
    if (k >= 0 && (rc = xr_batch_add(r->b, 2, pexp, pl)) >= 0) rc = XR_OK;
    if (k < 0) rc = k;
    p->at[i] = k;
  }
  if (!rc && xr_batch_count(r->b)) rc = exec_batch(r);
  xr_batch_clear(r->b2);
  for (size_t i = 0; !rc && i < p->n; i++) {
    if (p->at[i] < 0) continue;
    const xr_reply *d;
    const char *why;
    size_t at = (size_t)p->at[i];
    p->at[i] = -1;
    rc = xr_batch_result(r->b, at, &d, &why);
    if (rc) {
      rc = xr_fail(rc, "DUMP of an old key: %s", why ? why : xr_strerror(rc));
      break;
    }
    p->pexp[i] = int_at(r->b, at + 1, &rc);
    p->dump[i] = xr_reply_str(d, &p->dump_lens[i]);
    if (rc) break;
    if (!p->dump[i] || p->pexp[i] == -2) {
      s->vanished++;
      continue;
    }
    int k = xr_window_add_restore(r->w, r->b2, p->new_keys[i], p->new_lens[i], p->dump[i], p->dump_lens[i], p->pexp[i]);
    if (k < 0) rc = k;
    p->at[i] = k;
  }
  bool *done = rc ? NULL : xr_calloc(p->n ? p->n : 1, sizeof *done);
  if (!rc && !done) rc = xr_fail_nomem();
  if (!rc) rc = run_scripts(r, p, done);
  for (size_t i = 0; !rc && i < p->n; i++)
    if (p->at[i] >= 0) {
      if (done[i]) s->copied++;
      else s->kept_newer++;
    }
  if (!rc) xr_batch_clear(r->b2);
  for (size_t i = 0; !rc && i < p->n; i++) {
    if (p->at[i] < 0) continue;
    int k = xr_window_add_delete_if_same(r->w, r->b2, p->keys[i], p->lens[i], p->dump[i], p->dump_lens[i]);
    if (k < 0) rc = k;
    p->at[i] = k;
  }
  if (!rc) rc = run_scripts(r, p, done);
  for (size_t i = 0; !rc && i < p->n; i++) {
    if (p->at[i] < 0) continue;
    if (done[i]) s->deleted++;
    else {
      s->changed++;
      add_example(s, p->keys[i], p->lens[i]);
    }
  }
  xr_free(done);
  return rc;
}

static int on_page(void *ctx, const char *const *keys, const size_t *lens, size_t n) {
  run *r = ctx;
  xr_migrate_stats *s = r->s;
  int rc = XR_OK;
  s->scanned += n;
  if (r->kind == RUN_VERIFY || n == 0) {
    for (size_t i = 0; i < n; i++) add_example(s, keys[i], lens[i]);
  } else {
    page p;
    rc = page_init(&p, keys, lens, n);
    if (!rc) rc = look(r, &p);
    if (!rc && r->kind == RUN_COPY && r->o.apply) rc = move(r, &p);
    page_free(&p);
  }
  if (!rc && r->o.progress) r->o.progress(r->o.progress_ctx, s);
  return rc;
}

static int migrate_run(run_kind kind, xr_client *c, const xr_family *f, const xr_migrate_options *opts,
                       xr_migrate_stats *stats) {
  if (stats) memset(stats, 0, sizeof *stats);
  if (!c || !f || !stats) return xr_fail(XR_EINVAL, "migrate: the client, the family and the stats are required");
  run r = {kind, c, f, XR_MIGRATE_OPTIONS_INIT, stats, NULL, NULL, NULL, mono_ms(), 0};
  if (opts) {
    if (opts->version < 1 || opts->version > XR_MIGRATE_OPTIONS_VERSION)
      return xr_fail(XR_EINVAL, "migrate: options version %u is not 1..%d", opts->version, XR_MIGRATE_OPTIONS_VERSION);
    r.o = *opts;
  }
  if (r.o.count < 0) return xr_fail(XR_EINVAL, "migrate: count must be >= 0 (0: 1000), got %d", r.o.count);
  if (r.o.rate < 0) return xr_fail(XR_EINVAL, "migrate: rate must be >= 0 (0: no bound), got %lld", (long long)r.o.rate);
  int rc = xr_batch_new(&r.b);
  if (!rc) rc = xr_batch_new(&r.b2);
  if (!rc && kind == RUN_COPY && r.o.apply) rc = xr_window_new(&r.w, c, f, NULL);
  if (!rc) rc = xr_family_scan_old(c, f, r.o.count, on_page, &r);
  xr_window_free(r.w);
  xr_batch_free(r.b);
  xr_batch_free(r.b2);
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
